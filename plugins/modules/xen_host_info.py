#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: xen_host_info
short_description: Read a Xen dom0's hypervisor facts and its running domains from xl
version_added: 0.1.0
description:
  - Runs C(xl info), C(xl list) and C(xl list -l) on a Xen dom0 and returns the hypervisor's version,
    memory and CPU counts, capabilities and command line, and every running domain with its type, memory,
    vCPUs and state, in RV(xen).
  - RV(xen.can_live_migrate_pv) is true only when Xen reports C(shadow) in C(virt_caps). Debian's Xen 4.17
    is built without shadow paging, so PV guests cannot be live-migrated there (PVH and HVM guests use
    HAP and can).
  - RV(xen.hvm_capable) says whether HVM and PVH guests can run (C(hvm) and C(hap) or C(shadow) in
    C(virt_caps)); RV(xen.device_model) is the QEMU device model HVM guests need, where the platform
    installs it (Debian's C(qemu-system-xen), SUSE's or upstream's path), or null.
  - Also returns, in RV(live), what a live migration onto or off this host depends on - its bridges, the
    filesystem mounted at each of O(mount_points) (the shared image store), the entries of O(autostart_dir),
    any C(xl migrate) (or C(consolidation.xen.xl_domain) job) still running, and this boot's id and start
    time (RV(live.boot), which C(unfence.yml) compares with a fence record) - so that one task reads a
    host's whole live state.
  - Read-only; it changes nothing, so it runs the same in check mode.
  - Fails, naming the host, when C(xl) is not installed or the host is not a Xen dom0
    (C(/proc/xen/capabilities) lacks C(control_d)).
author:
  - consolidation.xen maintainers (@consolidation-xen)
options:
  mount_points:
    description: Paths whose mounted filesystem type to report in RV(live.mounts) (for example the image store).
    type: list
    elements: path
    default: []
  maintenance_file:
    description:
      - The file where C(maintain.yml) keeps this host's maintenance record (JSON; the inventory's
        C(xen_maintenance_file)); returned as RV(live.maintenance).
    type: path
    default: /var/lib/consolidation-xen/maintenance.json
  autostart_dir:
    description: A directory (xendomains' autostart directory) whose entries to list in RV(live.autostart).
    type: path
extends_documentation_fragment:
  - consolidation.xen.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Domains whose config libxl cannot retrieve are missing from C(xl list -l); they are still listed
    (from C(xl list)) with their C(type) null.
seealso:
  - name: xl(1)
    description: The Xen 4.17 xl reference (info, list).
    link: https://xenbits.xen.org/docs/4.17-testing/man/xl.1.html
  - module: consolidation.xen.xl_domain
"""

EXAMPLES = r"""
- name: Read the hypervisor and its guests
  consolidation.xen.xen_host_info:
  register: xen_host

- name: Read the live state an evacuation checks, too
  consolidation.xen.xen_host_info:
    mount_points: [/srv/xen/images]
    autostart_dir: /etc/xen/auto
  register: xen_live

- name: Refuse PV guests where they cannot be live-migrated
  ansible.builtin.assert:
    that: xen_host.xen.can_live_migrate_pv or (xen_host.xen.domains | selectattr('type', 'eq', 'pv') | list) == []
    fail_msg: "{{ inventory_hostname }} runs PV guests but its Xen cannot live-migrate them"
"""

RETURN = r"""
xen:
  description: The dom0's hypervisor facts and domains.
  returned: success
  type: dict
  contains:
    host:
      description: This host's name (as C(platform.node()) gives it).
      type: str
      sample: blade1
    version:
      description: Xen's version (C(xen_version) of C(xl info)).
      type: str
      sample: 4.17.7
    total_memory_mb:
      description: The machine's memory as Xen sees it, in MiB.
      type: int
      sample: 2047
    free_memory_mb:
      description: Memory not allocated to Xen, any domain or a claim, in MiB.
      type: int
      sample: 1000
    nr_cpus:
      description: Physical CPUs (threads) Xen runs on.
      type: int
      sample: 8
    virt_caps:
      description: Xen's virtualization capabilities.
      type: list
      elements: str
      sample: [pv, hvm, hap, gnttab-v1, gnttab-v2]
    hw_caps:
      description: The CPU feature words, as C(xl info) prints them.
      type: str
      sample: 0fcbf3fd:f6d8320b:ec500800:00000075:00000005:01884329:00000204:00000000
    xen_commandline:
      description: Xen's boot command line.
      type: str
      sample: placeholder dom0_mem=1024M,max:1024M dom0_max_vcpus=1
    scheduler:
      description: Xen's scheduler.
      type: str
      sample: credit2
    can_live_migrate_pv:
      description: Whether PV guests can be live-migrated (C(shadow) in RV(xen.virt_caps)).
      type: bool
    hvm_capable:
      description: Whether HVM and PVH guests can run (C(hvm), and C(hap) or C(shadow), in RV(xen.virt_caps)).
      type: bool
    device_model:
      description: The QEMU device model HVM guests need, or null when none is installed.
      type: str
      sample: /usr/libexec/xen-qemu-system-i386
    dom0:
      description: Domain-0 (keys as in RV(xen.domains)).
      type: dict
      sample: {name: Domain-0, domid: 0, type: pv, memory_mb: 1024, max_memory_mb: 1024, vcpus: 1, state: r-----}
    domains:
      description:
        - The guests (every domain but Domain-0), in C(xl list) order, each with C(name), C(domid), C(type)
          (V(pv), V(pvh), V(hvm) or null), C(memory_mb) (current), C(max_memory_mb) (null when unknown),
          C(vcpus) (online), C(state) (the six positions C(r b p s c d) of C(xl list), for example
          C(-b----)), C(bridges) (the bridges of its NICs) and C(cpuid_masked) (its config sets a CPUID policy).
      type: list
      elements: dict
    info:
      description: Every field of C(xl info), parsed (whole numbers as int, C(virt_caps) as a list).
      type: dict
live:
  description: The rest of the host's live state that moving guests onto or off it depends on.
  returned: success
  type: dict
  contains:
    bridges:
      description: The names of the host's bridge interfaces, sorted.
      type: list
      elements: str
      sample: [xenbr0]
    mounts:
      description: Each of O(mount_points) with the filesystem type mounted there (the top one), or null when
        nothing is mounted there.
      type: dict
      sample: {/srv/xen/images: nfs4}
    autostart:
      description: The entries of O(autostart_dir), sorted; null when it does not exist or was not asked for.
      type: list
      elements: str
      sample: [g1.cfg, g3.cfg]
    maintenance:
      description: The maintenance record of O(maintenance_file) (C(roll), C(hosts), C(state) V(pending), V(out) or
        V(done), C(since), C(started)); null when there is none. A file that is not such JSON is returned as
        C(state=out) and C(unreadable=true) (and C(error)), so that every planner keeps guests off the host until
        someone looks.
      type: dict
      sample: {roll: 20261205T070000Z, hosts: [blade1, blade2], state: out, since: "2026-12-05T07:02:11Z"}
    migrations:
      description: Processes that are migrations still running here, as C(PID COMMAND LINE) - the sending
        C(xl migrate) (not the receiving C(xl migrate-receive), which stays on as the domain's monitor) or a
        C(consolidation.xen.xl_domain) job of an earlier run.
      type: list
      elements: str
      sample: ["2315 /usr/lib/xen-4.17/bin/xl migrate g2 blade1"]
    boot:
      description: This boot's id (C(/proc/sys/kernel/random/boot_id)) and its start time in epoch seconds
        (C(btime) of C(/proc/stat)); either is null when it cannot be read.
      type: dict
      sample: {id: 0f4c9a4e-7d7b-4a59-9a3e-6f0f6f1b2c3d, time: 1764925200}
"""

import json
import os
import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.consolidation.xen.plugins.module_utils import xl as xlutil
from ansible_collections.consolidation.xen.plugins.module_utils.contract import BY_NAME

# module-level, so unit tests can point it at a file of their own
CAPABILITIES = xlutil.CAPABILITIES
SYS_NET = xlutil.SYS_NET
PROC = xlutil.PROC
MOUNTINFO = "/proc/self/mountinfo"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
PROC_STAT = "/proc/stat"
# where every playbook looks when the inventory does not say: the contract's default of xen_maintenance_file
MAINTENANCE_FILE = BY_NAME["xen_maintenance_file"].default
# Where libxl finds QEMU for HVM guests: Debian's qemu-system-xen, upstream's default libexec path, SUSE's
# system QEMU (qemu-x86, which its xen-tools requires).
DEVICE_MODELS = ("/usr/libexec/xen-qemu-system-i386", "/usr/lib/xen/bin/qemu-system-i386", "/usr/bin/qemu-system-i386")


def _run(module, host, argv):
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="%s: xl %s failed (rc=%s): %s" % (host, " ".join(argv[1:]), rc, (err or out).strip()),
                         host=host, rc=rc, stdout=out, stderr=err, cmd=argv)
    return out


def main():
    module = AnsibleModule(argument_spec=dict(mount_points=dict(type="list", elements="path", default=[]),
                                              autostart_dir=dict(type="path"),
                                              maintenance_file=dict(type="path", default=MAINTENANCE_FILE)),
                           supports_check_mode=True)
    host = platform.node()
    xl_bin = module.get_bin_path("xl")
    if not xl_bin:
        module.fail_json(msg="%s: xl is not installed (no xl in PATH or sbin); is this a Xen dom0?" % host, host=host)
    problem = xlutil.dom0_problem(CAPABILITIES)
    if problem:
        module.fail_json(msg="%s is not a Xen dom0: %s" % (host, problem), host=host)
    info_text = _run(module, host, [xl_bin, "info"])
    list_text = _run(module, host, [xl_bin, "list"])
    long_text = _run(module, host, [xl_bin, "list", "-l"])
    try:
        info = xlutil.parse_info(info_text)
        doms = xlutil.domains(list_text, long_text)
    except xlutil.XlParseError as exc:
        module.fail_json(msg="%s: %s" % (host, exc), host=host)
    missing = [k for k in ("xen_version", "total_memory", "free_memory", "nr_cpus") if k not in info]
    if missing:
        module.fail_json(msg="%s: xl info lacks %s" % (host, ", ".join(missing)), host=host, info=info)
    dom0 = [d for d in doms if d["domid"] == 0]
    virt_caps = info.get("virt_caps", [])
    xen = dict(
        host=host,
        version=info["xen_version"],
        total_memory_mb=info["total_memory"],
        free_memory_mb=info["free_memory"],
        nr_cpus=info["nr_cpus"],
        virt_caps=virt_caps,
        hw_caps=info.get("hw_caps"),
        xen_commandline=info.get("xen_commandline"),
        scheduler=info.get("xen_scheduler"),
        can_live_migrate_pv="shadow" in virt_caps,
        hvm_capable="hvm" in virt_caps and ("hap" in virt_caps or "shadow" in virt_caps),
        device_model=next((p for p in DEVICE_MODELS if os.access(p, os.X_OK)), None),
        dom0=dom0[0] if dom0 else None,
        domains=[d for d in doms if d["domid"] != 0],
        info=info,
    )
    module.exit_json(changed=False, xen=xen, live=_live(module))


def _live(module):
    mounts = {}
    if module.params["mount_points"]:
        with open(MOUNTINFO) as f:
            text = f.read()
        mounts = {p: xlutil.mount_fstype(text, p) for p in module.params["mount_points"]}
    autostart_dir = module.params["autostart_dir"]
    return dict(
        bridges=xlutil.bridges(SYS_NET),
        mounts=mounts,
        autostart=xlutil.entries(autostart_dir) if autostart_dir else None,
        migrations=xlutil.migrations(PROC, own_pid=os.getpid()),
        maintenance=_record(module.params["maintenance_file"]),
        boot=_boot(),
    )


def _boot():
    """This boot's id and start time (epoch s): unfence.yml's proof that the host booted since it was fenced."""
    boot = {"id": None, "time": None}
    try:
        with open(BOOT_ID) as f:
            boot["id"] = f.read().strip() or None
    except OSError:
        pass
    try:
        with open(PROC_STAT) as f:
            for line in f:
                if line.startswith("btime "):
                    boot["time"] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return boot


def _record(path):
    if not path:
        return None
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"state": "out", "unreadable": True, "error": str(exc)}
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return {"state": "out", "unreadable": True, "error": "not a JSON object: %r" % text[:200]}
    return record


if __name__ == "__main__":
    main()
