#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: xl_configs
short_description: Write every Xen guest's xl config on a dom0 in one task, and this host's autostart links
version_added: 0.1.0
description:
  - Renders the xl config (xl.cfg(5), Xen 4.17) of B(every) guest in O(guests) into O(config_dir) as
    C(<name>.cfg), so any dom0 can start any guest after a host failure, and links into O(autostart_dir)
    only the guests named in O(autostart) (the ones the plan assigns to this host). Every other link in
    O(autostart_dir) that points at a config this module manages is removed, so a guest never starts on
    two hosts after a reboot.
  - One task handles all guests of a host; a re-run that changes nothing reads the files and writes none.
  - The output is deterministic (fixed key order, no timestamps), so the same guest list gives
    byte-identical files on every host. Each file starts with a marker comment; O(purge) and the
    autostart clean-up only ever touch files that carry it.
  - Each guest gets a stable UUID (uuid5 of a fixed collection namespace and the guest name) and, unless
    given, a stable MAC per NIC derived from the guest name in Xen's OUI C(00:16:3e) with the fourth octet
    >= 0x80, so it can never clash with a random MAC that xl makes up (those have it < 0x80).
  - Invalid combinations that xl would refuse at C(xl create) time (xl.cfg's list, for example C(kernel)
    with C(firmware), a PV or PVH guest with no way to boot, C(usbversion) with a USB tablet, HVM with
    memory below maxmem) fail the task before anything is written, naming the guest and the field. All
    broken guests are reported at once.
  - Guest types and live migration. C(pvh) (the default) and C(hvm) guests live-migrate on any Xen 4.17
    dom0. C(pv) guests cannot be live-migrated on Debian's Xen 4.17 (built without shadow paging, which PV
    log-dirty mode needs); they still start and restart on any host. The result lists them in
    RV(not_live_migratable).
  - With O(create_disks), creates missing disk images under O(image_dir) (sparse raw files, or qcow2 with
    C(qemu-img)); an existing image is never overwritten, truncated or resized. Creation is atomic, so
    several dom0s sharing one image store may run it at the same time.
author:
  - consolidation.xen maintainers (@consolidation-xen)
options:
  guests:
    description:
      - Every guest of the cluster, each a mapping. V(name) and V(memory_mb) are required.
      - V(type) (V(pv), V(pvh) or V(hvm); default V(pvh)), V(uuid), V(maxmem_mb) (HVM - must equal
        V(memory_mb)), V(vcpus) (default 1), V(maxvcpus), V(cpu_weight), V(cap), V(cpuid) (overrides
        O(cpuid)).
      - Boot - V(kernel), V(ramdisk), V(cmdline) (direct boot; PV and PVH), V(bootloader) (for example
        V(pygrub)) and V(bootloader_args), V(firmware) (PV - V(pvgrub32) or V(pvgrub64); HVM - V(bios),
        V(uefi), V(seabios), V(ovmf) or a path).
      - HVM - V(os) (V(windows) turns on V(viridian)), V(viridian), V(vga) (default V(stdvga)),
        V(videoram), V(vnc) (default true), V(vnc_listen) (default V(127.0.0.1)), V(vnc_display) (default
        none, and C(vncunused=1)), V(usb_tablet) (default true - C(usb=1), C(usbdevice=['tablet'])),
        V(usbversion), V(serial) (default V(pty)), V(boot).
      - V(disks) - a list of mappings with V(name) (default C(disk<index>)), V(size) (MiB or C(10G); needed
        to create it), V(format) (V(raw) or V(qcow2), ...; default V(raw)), V(vdev) (default C(xvda), ...;
        C(hda) to C(hdd) on HVM), V(access) (V(rw) or V(ro)), V(path) (default
        C(<image_dir>/<guest>/<name>.img) or C(.qcow2)), V(devtype) (V(cdrom) on HVM).
      - V(bridge) and V(mac) for a single NIC, or V(vifs), a list of mappings with V(bridge), V(mac),
        V(model), V(type), V(vifname), V(rate), V(mtu).
      - V(pci) (BDFs), V(on_poweroff) (default V(destroy)), V(on_reboot) (V(restart)), V(on_crash)
        (V(restart)), V(on_watchdog) (V(destroy)), V(extra) (a mapping of further xl keys, checked with
        the rest).
      - Unknown keys are refused. A key whose value is null counts as not set.
    type: list
    elements: dict
    required: true
  config_dir:
    description: Where the configs go, one C(<name>.cfg) per guest. Created when missing.
    type: path
    default: /etc/xen/domains
  autostart_dir:
    description: The directory xendomains starts guests from at boot (C(XENDOMAINS_AUTO)).
    type: path
    default: /etc/xen/auto
  autostart:
    description:
      - Names of the guests that start on B(this) host at boot (the plan's assignment). Each gets a
        symlink C(<autostart_dir>/<name>.cfg) to its config.
      - Every other symlink in O(autostart_dir) that points at a config this module manages in
        O(config_dir) (or dangles into O(config_dir)) is removed. Other files are left alone; a
        non-managed file in the way of a link fails the task.
    type: list
    elements: str
    default: []
  image_dir:
    description: The image store (the same path on every dom0). Disks without a V(path) live in
      C(<image_dir>/<guest>/). Required when any such disk is listed.
    type: path
  default_bridge:
    description: The bridge of NICs that name none.
    type: str
    default: xenbr0
  cpuid:
    description:
      - A CPUID mask for every guest (a guest's own V(cpuid) wins), so guests can move between CPU
        generations. Either a libxl string (C(host,sse4_1=0)) or a list of xend leaves
        (C(1:ecx=xxxx...)).
    type: raw
  create_disks:
    description: Create missing disk images that have a V(size). Existing images are never touched.
    type: bool
    default: false
  purge:
    description: Remove configs in O(config_dir) that this module wrote (they carry its marker line) for
      guests no longer listed, with their autostart links.
    type: bool
    default: false
  absent:
    description:
      - Guests whose configs (the ones this module wrote) and autostart links are removed from this host
        whatever O(purge) says, for example the inventory's guests whose desired state is V(absent). A
        name may not also be in O(guests).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - consolidation.xen.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Configs are written atomically (temporary file and rename in O(config_dir)) with mode C(0644).
  - Creating qcow2 images needs C(qemu-img) on the host; raw images are created in Python.
seealso:
  - name: xl.cfg(5)
    description: The Xen 4.17 guest configuration reference.
    link: https://xenbits.xen.org/docs/4.17-testing/man/xl.cfg.5.html
"""

EXAMPLES = r"""
- name: Write every guest's config; autostart only the guests the plan puts on this host
  consolidation.xen.xl_configs:
    guests:
      - name: www1
        memory_mb: 1G
        kernel: /srv/xen/boot/vmlinuz
        ramdisk: /srv/xen/boot/initrd.img
        cmdline: root=/dev/xvda1 ro console=hvc0
        disks: [{name: root, size: 10G}]
        bridge: br0
      - name: win-ad1
        type: hvm
        os: windows
        memory_mb: 2G
        vcpus: 2
        vnc_listen: 192.0.2.11
        disks: [{name: system, size: 40G}, {name: install, devtype: cdrom}]
    autostart: [www1]
    image_dir: /srv/xen/images
    create_disks: true
    purge: true

- name: Level every guest to the CPU features of the oldest dom0
  consolidation.xen.xl_configs:
    guests: "{{ guests }}"
    cpuid: host,sse4_1=0
    image_dir: /srv/xen/images
"""

RETURN = r"""
configs:
  description: Every managed guest and its config path.
  returned: always
  type: dict
  sample: {www1: /etc/xen/domains/www1.cfg}
checksums:
  description: SHA-256 of each guest's config text (the same on every host for the same input).
  returned: always
  type: dict
created:
  description: Guests whose config did not exist.
  returned: always
  type: list
  elements: str
updated:
  description: Guests whose config text or mode changed.
  returned: always
  type: list
  elements: str
removed:
  description: Config paths removed by O(purge) or O(absent).
  returned: always
  type: list
  elements: str
autostart:
  description: Guests linked to start on this host.
  returned: always
  type: list
  elements: str
links_created:
  description: Autostart links created (or corrected).
  returned: always
  type: list
  elements: str
links_removed:
  description: Autostart links removed.
  returned: always
  type: list
  elements: str
disks_created:
  description: Disk images created.
  returned: always
  type: list
  elements: str
missing_disks:
  description: Disk images (not CD drives) that do not exist after the run (not created, or no size given).
  returned: always
  type: list
  elements: str
not_live_migratable:
  description: PV guests; they cannot be live-migrated on Debian's Xen 4.17.
  returned: always
  type: list
  elements: str
"""

import errno
import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.consolidation.xen.plugins.module_utils import xlcfg

CONFIG_MODE = 0o644
IMAGE_MODE = 0o600
IMAGE_DIR_MODE = 0o750


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _first_line(path):
    try:
        with open(path, "rb") as f:
            return f.readline().rstrip(b"\r\n").decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def _is_managed(path):
    return _first_line(path) == xlcfg.MARKER


class XlConfigs:
    """Read what is there, work out the changes, apply them unless in check mode (netapp.ontap's shape)."""

    def __init__(self, module):
        self.module = module
        p = module.params
        self.config_dir = os.path.normpath(p["config_dir"])
        self.autostart_dir = os.path.normpath(p["autostart_dir"])
        self.check = module.check_mode
        self.diffs = []
        self.result = {
            "changed": False, "configs": {}, "checksums": {}, "created": [], "updated": [], "removed": [],
            "autostart": [], "links_created": [], "links_removed": [], "disks_created": [], "missing_disks": [],
            "not_live_migratable": [],
        }

    # -- helpers ---------------------------------------------------------------------------------
    def fail(self, msg, **kwargs):
        # What was done before the failure stays reported: changed, and which files.
        self.module.fail_json(msg=msg, **dict(self.result, **kwargs))

    def diff(self, path, before, after):
        if self.module._diff:
            self.diffs.append({"before_header": path, "after_header": path, "before": before, "after": after})

    def config_path(self, name):
        return os.path.join(self.config_dir, name + ".cfg")

    def ensure_dir(self, path, mode=0o755):
        if os.path.isdir(path):
            return
        if os.path.lexists(path):
            self.fail("%s exists and is not a directory" % path)
        self.result["changed"] = True
        self.diff(path + "/", "absent\n", "directory\n")
        if not self.check:
            os.makedirs(path, mode)

    def write_atomic(self, path, data):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="." + os.path.basename(path) + ".")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, CONFIG_MODE)
            os.replace(tmp, path)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise

    # -- the run ---------------------------------------------------------------------------------
    def run(self):
        p = self.module.params
        rendered, errors = xlcfg.render_all(p["guests"], image_dir=p["image_dir"],
                                            default_bridge=p["default_bridge"], common_cpuid=p["cpuid"])
        if errors:
            self.fail("%d invalid guest(s): %s" % (len(errors), "; ".join(errors)), errors=errors)
        unknown = sorted(set(p["autostart"]) - set(rendered))
        if unknown:
            self.fail("autostart names guest(s) that are not in guests: %s" % ", ".join(unknown))
        both = sorted(set(p["absent"]) & set(rendered))
        if both:
            self.fail("guest(s) both in guests and in absent: %s" % ", ".join(both))

        self.ensure_dir(self.config_dir)
        for name in sorted(rendered):
            self.config(name, *rendered[name])
        if p["purge"]:
            self.purge(set(rendered))
        elif p["absent"]:
            self.purge(set(rendered), only=set(p["absent"]))
        self.ensure_dir(self.autostart_dir)
        self.autostart(set(p["autostart"]), set(rendered))
        self.disks(rendered, p["create_disks"])
        if self.module._diff:
            self.result["diff"] = self.diffs
        return self.result

    def config(self, name, text, info):
        path = self.config_path(name)
        data = text.encode("utf-8")
        self.result["configs"][name] = path
        self.result["checksums"][name] = hashlib.sha256(data).hexdigest()
        if not info["live_migration"]:
            self.result["not_live_migratable"].append(name)
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isfile(path)):
            self.fail("guest %s: %s exists and is not a regular file; remove it" % (name, path))
        current = _read(path) if os.path.isdir(self.config_dir) else None
        if current == data:
            if (os.stat(path).st_mode & 0o7777) != CONFIG_MODE:
                self.result["changed"] = True
                self.result["updated"].append(name)
                if not self.check:
                    os.chmod(path, CONFIG_MODE)
            return
        self.result["changed"] = True
        self.result["created" if current is None else "updated"].append(name)
        self.diff(path, "" if current is None else current.decode("utf-8", "replace"), text)
        if not self.check:
            self.write_atomic(path, data)

    def purge(self, wanted, only=None):
        """Remove the managed configs of guests not in ``wanted`` (only those in ``only``, when given)."""
        if not os.path.isdir(self.config_dir):
            return
        for entry in sorted(os.listdir(self.config_dir)):
            path = os.path.join(self.config_dir, entry)
            if not entry.endswith(".cfg") or entry[:-4] in wanted or (only is not None and entry[:-4] not in only):
                continue
            if os.path.islink(path) or not os.path.isfile(path) or not _is_managed(path):
                continue
            self.result["changed"] = True
            self.result["removed"].append(path)
            self.diff(path, (_read(path) or b"").decode("utf-8", "replace"), "")
            if not self.check:
                os.unlink(path)

    def link_target(self, link):
        """Where a link in autostart_dir points, absolute; None when it is not a symlink."""
        if not os.path.islink(link):
            return None
        target = os.readlink(link)
        return os.path.normpath(os.path.join(self.autostart_dir, target))

    def is_managed_link(self, target):
        if target is None or os.path.dirname(target) != self.config_dir:
            return False
        if target in self.result["removed"]:
            return True  # purged in this run (still on disk in check mode)
        if not os.path.lexists(target):
            return True  # dangles into our config dir: useless, and xendomains would choke on it
        return _is_managed(target)

    def autostart(self, wanted, known):
        desired = {name + ".cfg": self.config_path(name) for name in wanted}
        self.result["autostart"] = sorted(wanted)
        existing = sorted(os.listdir(self.autostart_dir)) if os.path.isdir(self.autostart_dir) else []
        for entry in existing:
            link = os.path.join(self.autostart_dir, entry)
            target = self.link_target(link)
            if entry in desired and target == desired[entry]:
                continue
            if not self.is_managed_link(target):
                if entry in desired:
                    self.fail("guest %s: %s is in the way of its autostart link and is not managed by this "
                              "module; remove it" % (entry[:-4], link))
                continue
            self.result["changed"] = True
            self.result["links_removed"].append(link)
            self.diff(link, "symlink -> %s\n" % os.readlink(link), "")
            if not self.check:
                os.unlink(link)
        for entry in sorted(desired):
            link = os.path.join(self.autostart_dir, entry)
            if self.link_target(link) == desired[entry]:
                continue
            self.result["changed"] = True
            self.result["links_created"].append(link)
            self.diff(link, "", "symlink -> %s\n" % desired[entry])
            if not self.check:
                os.symlink(desired[entry], link)

    def disks(self, rendered, create):
        qemu_img = None
        for name in sorted(rendered):
            for disk in rendered[name][1]["disks"]:
                path = disk["path"]
                if disk["cdrom"] or not path or os.path.lexists(path):
                    continue
                if not create or disk["size_mb"] is None:
                    self.result["missing_disks"].append(path)
                    continue
                if disk["format"] not in ("raw", "qcow2"):
                    self.fail("guest %s: disks (%s): can create only raw and qcow2 images, not %s"
                              % (name, disk["name"], disk["format"]))
                if disk["format"] == "qcow2" and qemu_img is None:
                    qemu_img = self.module.get_bin_path("qemu-img")
                    if qemu_img is None:
                        self.fail("guest %s: disks (%s): qemu-img is needed to create %s" % (name, disk["name"], path))
                self.result["changed"] = True
                self.result["disks_created"].append(path)
                self.diff(path, "absent\n", "%s image, %d MiB (sparse)\n" % (disk["format"], disk["size_mb"]))
                if self.check:
                    continue
                try:
                    self.create_image(path, disk, qemu_img)
                except OSError as exc:
                    self.fail("guest %s: disks (%s): cannot create %s: %s" % (name, disk["name"], path, to_native(exc)))

    def create_image(self, path, disk, qemu_img):
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, IMAGE_DIR_MODE, exist_ok=True)
        size = disk["size_mb"] * 1024 * 1024
        if disk["format"] == "raw":
            # O_EXCL: another dom0 on the same image store may be creating it right now
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, IMAGE_MODE)
            except OSError as exc:
                if exc.errno == errno.EEXIST:
                    self.result["disks_created"].remove(path)
                    return
                raise
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
            return
        # qcow2: build it under a temporary name, then link() it into place, which fails rather than
        # replacing an image that appeared meanwhile
        fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + os.path.basename(path) + ".")
        os.close(fd)
        try:
            rc, out, err = self.module.run_command([qemu_img, "create", "-q", "-f", "qcow2", tmp, str(size)])
            if rc != 0:
                self.fail("qemu-img create %s failed (rc %d): %s" % (path, rc, err or out))
            os.chmod(tmp, IMAGE_MODE)
            try:
                os.link(tmp, path)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
                self.result["disks_created"].remove(path)
        finally:
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            guests=dict(type="list", elements="dict", required=True),
            config_dir=dict(type="path", default="/etc/xen/domains"),
            autostart_dir=dict(type="path", default="/etc/xen/auto"),
            autostart=dict(type="list", elements="str", default=[]),
            image_dir=dict(type="path"),
            default_bridge=dict(type="str", default="xenbr0"),
            cpuid=dict(type="raw"),
            create_disks=dict(type="bool", default=False),
            purge=dict(type="bool", default=False),
            absent=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**XlConfigs(module).run())


if __name__ == "__main__":
    main()
