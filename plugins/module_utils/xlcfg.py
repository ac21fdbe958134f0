# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One guest's settings -> its xl config text (xl.cfg(5), Xen 4.17).

Pure Python, no Ansible import: this runs on the managed dom0 (Python 3.9+) inside the
``xl_configs`` module, and in unit tests and benchmarks on the controller.

The output is deterministic: keys in a fixed order, lists in the order given, no timestamps. Every
dom0 renders every guest, so the same inputs give byte-identical files on every host, and any host
can start any guest after a failure.

Guest types and live migration (``xl migrate``):

* ``pvh`` (the default): live-migrates on any Xen 4.17 dom0 (HAP log-dirty).
* ``hvm``: live-migrates on any Xen 4.17 dom0; Windows guests without PV drivers are suspended by
  Xen itself.
* ``pv``: does NOT live-migrate on Debian's Xen 4.17 (built without shadow paging, which PV log-dirty
  mode needs: ``Failed to enable logdirty``). It starts and restarts anywhere.

A guest mapping (keys not listed are refused, so a typo never silently does nothing):

``name`` (required), ``type`` (pv|pvh|hvm, default pvh), ``uuid`` (default: uuid5 of the name),
``memory_mb`` (required; int MiB or '512M'/'2G'), ``maxmem_mb``, ``vcpus`` (default 1),
``maxvcpus``, ``kernel``/``ramdisk``/``cmdline`` (direct boot), ``bootloader`` (pygrub),
``bootloader_args``, ``firmware``, ``os`` (``windows`` -> viridian), ``viridian``, ``vga``,
``videoram``, ``vnc``, ``vnc_listen`` (default 127.0.0.1), ``vnc_display``, ``usb_tablet``,
``usbversion``, ``serial``, ``boot``, ``disks`` (list), ``bridge``, ``mac``, ``vifs`` (list),
``cpuid``, ``cpu_weight``, ``cap``, ``pci`` (list), ``on_poweroff``, ``on_reboot``, ``on_crash``,
``on_watchdog``, ``extra`` (raw xl keys; checked like the rest).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import uuid

from ansible_collections.consolidation.xen.plugins.module_utils.units import SizeError, parse_size_mb

# The first line of every config this collection writes; purge and the autostart clean-up only
# ever touch files that carry it.
MARKER = "# Managed by consolidation.xen (xl_configs). Local changes are overwritten."

# uuid5 namespace of the collection (itself uuid5(NAMESPACE_URL, "https://galaxy.ansible.com/consolidation/xen")).
# Never change it: every guest's UUID derives from it.
UUID_NAMESPACE = uuid.UUID("64a1a743-4431-59e4-bb86-4fd6b8d9d425")

XEN_OUI = (0x00, 0x16, 0x3E)
GUEST_TYPES = ("pv", "pvh", "hvm")
DEFAULT_TYPE = "pvh"
ACTIONS = ("destroy", "restart", "rename-restart", "preserve", "coredump-destroy", "coredump-restart",
           "soft-reset")
# Sane defaults for a cluster: a crashed guest comes back on the same host.
DEFAULT_ACTIONS = {"on_poweroff": "destroy", "on_reboot": "restart", "on_crash": "restart",
                   "on_watchdog": "destroy"}
DISK_FORMATS = ("raw", "qcow2", "qcow", "vhd", "qed")
IMAGE_SUFFIX = {"raw": "img", "qcow2": "qcow2", "qcow": "qcow", "vhd": "vhd", "qed": "qed"}
MIN_VIDEORAM = {"stdvga": 16, "cirrus": 8}
PV_FIRMWARE = ("pvgrub32", "pvgrub64")
HVM_FIRMWARE = ("bios", "uefi", "seabios", "ovmf")
DEFAULT_VNC_LISTEN = "127.0.0.1"

GUEST_KEYS = frozenset((
    "name", "type", "uuid", "memory_mb", "maxmem_mb", "vcpus", "maxvcpus", "kernel", "ramdisk", "cmdline",
    "bootloader", "bootloader_args", "firmware", "os", "viridian", "vga", "videoram", "vnc", "vnc_listen",
    "vnc_display", "usb_tablet", "usbversion", "serial", "boot", "disks", "bridge", "mac", "vifs", "cpuid",
    "cpu_weight", "cap", "pci", "on_poweroff", "on_reboot", "on_crash", "on_watchdog", "extra",
))
DISK_KEYS = frozenset(("name", "size", "format", "vdev", "access", "path", "devtype"))
VIF_KEYS = frozenset(("bridge", "mac", "model", "type", "vifname", "rate", "mtu"))

# The order keys appear in a rendered config; ``extra`` keys follow, sorted.
KEY_ORDER = (
    "name", "uuid", "type", "memory", "maxmem", "vcpus", "maxvcpus", "cpu_weight", "cap", "cpuid",
    "bootloader", "bootloader_args", "kernel", "ramdisk", "cmdline", "firmware", "boot", "viridian",
    "vga", "videoram", "vnc", "vnclisten", "vncdisplay", "vncunused", "usb", "usbdevice", "usbversion",
    "serial", "disk", "vif", "pci", "on_poweroff", "on_reboot", "on_crash", "on_watchdog",
)
# What ``extra`` may not set, because a first-class option owns it (or it would break identity).
OWNED_KEYS = frozenset(KEY_ORDER)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
BRIDGE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
VDEV_RE = re.compile(r"^(xvd|hd|sd)[a-z]{1,2}$")
XL_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
VIFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
RATE_RE = re.compile(r"^\d+(\.\d+)?[KMG]?[bB]/s(@\d+(ms|us|s))?$")
CPUID_LIBXL_RE = re.compile(r"^host(,[a-z0-9_.]+=[0-9a-zA-Z]+)*$")
CPUID_XEND_RE = re.compile(r"^(0x)?[0-9a-fA-F]+(,(0x)?[0-9a-fA-F]+)?:(e[abcd]x=[01xks]{32})(,e[abcd]x=[01xks]{32})*$")
PCI_RE = re.compile(r"^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7](,[a-z_]+=[0-9a-z]+)*$")
# Characters that cannot appear inside an xl string (no escaping in the cfg syntax we rely on).
UNSAFE_CHARS = re.compile(r"[\"'\\\n\r\x00]")


class GuestConfigError(ValueError):
    """An invalid guest: the message names the guest and the field."""

    def __init__(self, guest, field, message):
        self.guest = guest
        self.field = field
        super().__init__("guest %s: %s: %s" % (guest, field, message))


# --------------------------------------------------------------------------------------------------
# identity


def stable_uuid(name):
    """The guest's UUID: uuid5 of the collection namespace and the name, the same on every host."""
    return str(uuid.uuid5(UUID_NAMESPACE, name))


def stable_mac(name, index=0):
    """A MAC in Xen's OUI derived from the guest name (and the NIC index for the second NIC on).

    The fourth octet always has its top bit set (>= 0x80): libxl's random MACs are
    ``00:16:3e:(r & 0x7f):..``, so these can never clash with a MAC xl made up.
    """
    key = name if index == 0 else "%s#%d" % (name, index)
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    octets = XEN_OUI + (0x80 | (digest[0] & 0x7F), digest[1], digest[2])
    return ":".join("%02x" % o for o in octets)


def normalise_mac(guest, field, mac):
    """A user-given MAC, validated (unicast, not all zero) and in lower case."""
    if not isinstance(mac, str) or not MAC_RE.match(mac):
        raise GuestConfigError(guest, field, "%r is not a MAC address like 00:16:3e:80:12:34" % (mac,))
    mac = mac.lower()
    first = int(mac[:2], 16)
    if first & 1:
        raise GuestConfigError(guest, field, "%s is a multicast address" % mac)
    if mac == "00:00:00:00:00:00":
        raise GuestConfigError(guest, field, "the all-zero MAC is not usable")
    return mac


# --------------------------------------------------------------------------------------------------
# value checks


def _string(guest, field, value, allow_empty=False):
    if not isinstance(value, str):
        raise GuestConfigError(guest, field, "expected a string, got %r" % (value,))
    if not value and not allow_empty:
        raise GuestConfigError(guest, field, "must not be empty")
    if UNSAFE_CHARS.search(value):
        raise GuestConfigError(guest, field, "must not contain quotes, backslashes or newlines: %r" % (value,))
    return value


def _path(guest, field, value):
    _string(guest, field, value)
    if not value.startswith("/"):
        raise GuestConfigError(guest, field, "must be an absolute path, got %r" % (value,))
    # One spelling per file: the shared-image check, the image store and the dom0s compare paths as
    # strings, and a '..' must not reach outside the directory it names.
    if posixpath.normpath(value) != value:
        raise GuestConfigError(guest, field, "%r is not a normalised path (no '.', '..', '//' parts or trailing "
                                             "'/'): write %s" % (value, posixpath.normpath(value)))
    return value


def _int(guest, field, value, minimum=None, maximum=None):
    if isinstance(value, bool):
        raise GuestConfigError(guest, field, "expected an integer, got %r" % (value,))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise GuestConfigError(guest, field, "expected an integer, got %r" % (value,))
    if minimum is not None and value < minimum:
        raise GuestConfigError(guest, field, "must be >= %d, got %d" % (minimum, value))
    if maximum is not None and value > maximum:
        raise GuestConfigError(guest, field, "must be <= %d, got %d" % (maximum, value))
    return value


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _bool(guest, field, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise GuestConfigError(guest, field, "expected a boolean, got %r" % (value,))


def _size(guest, field, value):
    try:
        return parse_size_mb(value)
    except SizeError as exc:
        raise GuestConfigError(guest, field, str(exc)) from None


def _choice(guest, field, value, choices):
    if value not in choices:
        raise GuestConfigError(guest, field, "%r is not one of %s" % (value, ", ".join(choices)))
    return value


def _list(guest, field, value):
    if not isinstance(value, (list, tuple)):
        raise GuestConfigError(guest, field, "expected a list, got %r" % (value,))
    return list(value)


def _default_vdev(guest_type, index):
    letters = "abcdefghijklmnopqrstuvwxyz"
    letter = letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]
    # Windows HVM guests boot from an emulated IDE disk (hdX); xvdX on HVM is PV-only.
    if guest_type == "hvm" and index < 4:
        return "hd" + letter
    return "xvd" + letter


# --------------------------------------------------------------------------------------------------
# disks and vifs


def disk_path(image_dir, guest, disk_name, fmt="raw"):
    """Where a guest's disk image lives on the image store: ``<image_dir>/<guest>/<disk>.<ext>``."""
    return "%s/%s/%s.%s" % (image_dir.rstrip("/") or "", guest, disk_name, IMAGE_SUFFIX[fmt])


def normalise_disks(name, guest_type, disks, image_dir):
    """The guest's disks as mappings with every key filled in (path, format, vdev, access, size_mb)."""
    out = []
    seen_vdev = {}
    seen_name = {}
    for index, disk in enumerate(_list(name, "disks", disks or [])):
        field = "disks[%d]" % index
        if isinstance(disk, str):
            disk = {"name": disk}
        if not isinstance(disk, dict):
            raise GuestConfigError(name, field, "expected a mapping (name, size, format, vdev, ...), got %r" % (disk,))
        unknown = sorted(set(disk) - DISK_KEYS)
        if unknown:
            raise GuestConfigError(name, field, "unknown key(s) %s (known: %s)"
                                   % (", ".join(unknown), ", ".join(sorted(DISK_KEYS))))
        devtype = disk.get("devtype")
        if devtype is not None:
            _choice(name, field + ".devtype", devtype, ("cdrom", "disk"))
        cdrom = devtype == "cdrom"
        fmt = _choice(name, field + ".format", disk.get("format", "raw"), DISK_FORMATS)
        disk_name = disk.get("name", "disk%d" % index)
        if not isinstance(disk_name, str) or not NAME_RE.match(disk_name):
            raise GuestConfigError(name, field + ".name", "%r is not a valid disk name" % (disk_name,))
        if disk_name in seen_name:
            raise GuestConfigError(name, field + ".name", "%r is used twice" % disk_name)
        seen_name[disk_name] = index
        vdev = disk.get("vdev") or _default_vdev(guest_type, index)
        if not isinstance(vdev, str) or not VDEV_RE.match(vdev):
            raise GuestConfigError(name, field + ".vdev", "%r is not a virtual device like xvda, hda or sda" % (vdev,))
        if vdev in seen_vdev:
            raise GuestConfigError(name, field + ".vdev", "%s is already used by disks[%d]" % (vdev, seen_vdev[vdev]))
        seen_vdev[vdev] = index
        access = _choice(name, field + ".access", disk.get("access", "ro" if cdrom else "rw"), ("rw", "ro"))
        if "path" in disk:
            path = disk["path"]
            if path is None or path == "":
                if not cdrom:
                    raise GuestConfigError(name, field + ".path", "only a cdrom may be empty")
                path = ""
            else:
                path = _path(name, field + ".path", path)
        elif cdrom:
            path = ""  # an empty CD drive
        else:
            if not image_dir:
                raise GuestConfigError(name, field + ".path", "no path given and no image_dir to place it in")
            path = disk_path(image_dir, name, disk_name, fmt)
        size_mb = None
        if disk.get("size") is not None:
            if cdrom:
                raise GuestConfigError(name, field + ".size", "a cdrom has no size")
            size_mb = _size(name, field + ".size", disk["size"])
        if cdrom and guest_type != "hvm":
            raise GuestConfigError(name, field + ".devtype", "emulated CD drives exist only on HVM guests")
        out.append({"name": disk_name, "path": path, "format": fmt, "vdev": vdev, "access": access,
                    "cdrom": cdrom, "size_mb": size_mb})
    return out


def _disk_spec(disk):
    parts = ["format=%s" % disk["format"]] if disk["path"] else []
    parts += ["vdev=%s" % disk["vdev"], "access=%s" % disk["access"]]
    if disk["cdrom"]:
        parts.append("devtype=cdrom")
    if disk["path"]:
        parts.append("target=%s" % disk["path"])  # named target= must come last: it swallows commas
    return ", ".join(parts)


def normalise_vifs(name, guest_type, guest, default_bridge):
    """The guest's NICs. ``vifs`` (a list) or the shorthand ``bridge``/``mac`` for one NIC."""
    if "vifs" in guest and guest["vifs"] is not None:
        if "mac" in guest and guest["mac"] is not None:
            raise GuestConfigError(name, "mac", "give the MAC inside vifs when vifs is set")
        vifs = _list(name, "vifs", guest["vifs"])
    else:
        vifs = [{"bridge": guest.get("bridge"), "mac": guest.get("mac")}]
    out = []
    for index, vif in enumerate(vifs):
        field = "vifs[%d]" % index if "vifs" in guest and guest["vifs"] is not None else None
        if not isinstance(vif, dict):
            raise GuestConfigError(name, field or "vifs", "expected a mapping (bridge, mac, ...), got %r" % (vif,))
        unknown = sorted(set(vif) - VIF_KEYS)
        if unknown:
            raise GuestConfigError(name, field, "unknown key(s) %s (known: %s)"
                                   % (", ".join(unknown), ", ".join(sorted(VIF_KEYS))))
        mac_field = field + ".mac" if field else "mac"
        bridge_field = field + ".bridge" if field else "bridge"
        mac = vif.get("mac")
        mac = stable_mac(name, index) if mac is None else normalise_mac(name, mac_field, mac)
        bridge = vif.get("bridge") or guest.get("bridge") or default_bridge
        if not isinstance(bridge, str) or not BRIDGE_RE.match(bridge):
            raise GuestConfigError(name, bridge_field, "%r is not a bridge name (1-15 of A-Z a-z 0-9 _ . -)"
                                   % (bridge,))
        parts = ["mac=%s" % mac, "bridge=%s" % bridge]
        if vif.get("type") is not None:
            if guest_type != "hvm":
                raise GuestConfigError(name, (field or "vifs") + ".type", "type= is for HVM guests only")
            parts.append("type=%s" % _choice(name, (field or "vifs") + ".type", vif["type"], ("ioemu", "vif")))
        if vif.get("model") is not None:
            if guest_type != "hvm":
                raise GuestConfigError(name, (field or "vifs") + ".model", "model= is for HVM guests only")
            parts.append("model=%s" % _choice(name, (field or "vifs") + ".model", vif["model"],
                                              ("e1000", "rtl8139")))
        if vif.get("vifname") is not None:
            if not isinstance(vif["vifname"], str) or not VIFNAME_RE.match(vif["vifname"]):
                raise GuestConfigError(name, (field or "vifs") + ".vifname", "%r is not an interface name"
                                       % (vif["vifname"],))
            parts.append("vifname=%s" % vif["vifname"])
        if vif.get("rate") is not None:
            if not isinstance(vif["rate"], str) or not RATE_RE.match(vif["rate"]):
                raise GuestConfigError(name, (field or "vifs") + ".rate", "%r is not a rate like 10Mb/s or 1MB/s@20ms"
                                       % (vif["rate"],))
            parts.append("rate=%s" % vif["rate"])
        if vif.get("mtu") is not None:
            parts.append("mtu=%d" % _int(name, (field or "vifs") + ".mtu", vif["mtu"], 68, 65535))
        out.append({"mac": mac, "bridge": bridge, "spec": ",".join(parts)})
    return out


# --------------------------------------------------------------------------------------------------
# the guest


def build(guest, image_dir=None, default_bridge="xenbr0", common_cpuid=None):
    """Validate one guest mapping and return ``(keys, info)``.

    ``keys`` is an ordered list of ``(xl key, python value)``; ``info`` holds what the module needs
    besides the text (the normalised disks, NICs, uuid, type).
    """
    if not isinstance(guest, dict):
        raise GuestConfigError("?", "guest", "expected a mapping, got %r" % (guest,))
    name = guest.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise GuestConfigError(name if isinstance(name, str) else repr(name), "name",
                               "expected 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)")
    unknown = sorted(k for k in guest if k not in GUEST_KEYS)
    if unknown:
        raise GuestConfigError(name, ", ".join(unknown), "unknown key(s); known: %s" % ", ".join(sorted(GUEST_KEYS)))
    # ``None`` means "not set" everywhere, so inventory defaults such as ``omit``-less nulls pass through.
    g = {k: v for k, v in guest.items() if v is not None}

    gtype = _choice(name, "type", g.get("type", DEFAULT_TYPE), GUEST_TYPES)
    keys = {}
    keys["name"] = name
    if "uuid" in g:
        try:
            keys["uuid"] = str(uuid.UUID(str(g["uuid"])))
        except ValueError:
            raise GuestConfigError(name, "uuid", "%r is not a UUID" % (g["uuid"],)) from None
    else:
        keys["uuid"] = stable_uuid(name)
    keys["type"] = gtype

    if "memory_mb" not in g:
        raise GuestConfigError(name, "memory_mb", "required")
    memory = _size(name, "memory_mb", g["memory_mb"])
    maxmem = _size(name, "maxmem_mb", g["maxmem_mb"]) if "maxmem_mb" in g else memory
    if maxmem < memory:
        raise GuestConfigError(name, "maxmem_mb", "maxmem (%d MiB) is below memory (%d MiB)" % (maxmem, memory))
    if gtype == "hvm" and maxmem != memory:
        raise GuestConfigError(name, "maxmem_mb", "HVM guests need memory == maxmem (%d != %d MiB): a "
                               "pre-ballooned HVM guest without a balloon driver crashes" % (memory, maxmem))
    keys["memory"] = memory
    keys["maxmem"] = maxmem

    vcpus = _int(name, "vcpus", g.get("vcpus", 1), 1, 512)
    keys["vcpus"] = vcpus
    if "maxvcpus" in g:
        maxvcpus = _int(name, "maxvcpus", g["maxvcpus"], 1, 512)
        if maxvcpus < vcpus:
            raise GuestConfigError(name, "maxvcpus", "maxvcpus (%d) < vcpus (%d)" % (maxvcpus, vcpus))
        keys["maxvcpus"] = maxvcpus
    if "cpu_weight" in g:
        keys["cpu_weight"] = _int(name, "cpu_weight", g["cpu_weight"], 1, 65535)
    if "cap" in g:
        keys["cap"] = _int(name, "cap", g["cap"], 0, 100 * 512)

    cpuid = g.get("cpuid", common_cpuid)
    if cpuid is not None:
        keys["cpuid"] = _cpuid(name, cpuid)

    # --- boot
    os_name = g.get("os")
    if os_name is not None:
        os_name = _choice(name, "os", str(os_name).lower(), ("linux", "windows", "other"))
    if os_name == "windows" and gtype != "hvm":
        raise GuestConfigError(name, "os", "Windows runs only as an HVM guest (type is %s)" % gtype)
    kernel = _path(name, "kernel", g["kernel"]) if "kernel" in g else None
    if os_name == "windows" and kernel:
        raise GuestConfigError(name, "kernel", "Windows boots from its disk, not a Linux kernel (inherited "
                               "from a group's variables?)")
    bootloader = _string(name, "bootloader", g["bootloader"]) if "bootloader" in g else None
    firmware = _string(name, "firmware", g["firmware"]) if "firmware" in g else None
    if "ramdisk" in g and not kernel:
        raise GuestConfigError(name, "ramdisk", "a ramdisk needs a kernel")
    if "cmdline" in g and not kernel:
        raise GuestConfigError(name, "cmdline", "cmdline is for direct kernel boot; set kernel too")
    if kernel and firmware:
        raise GuestConfigError(name, "firmware", "both kernel and firmware specified")
    if kernel and bootloader:
        raise GuestConfigError(name, "bootloader", "both kernel and bootloader specified; choose one way to boot")
    if bootloader and firmware:
        raise GuestConfigError(name, "bootloader", "both bootloader and firmware specified; choose one way to boot")
    if "bootloader_args" in g and not bootloader:
        raise GuestConfigError(name, "bootloader_args", "set without bootloader")
    if gtype == "pv":
        if firmware is not None and firmware not in PV_FIRMWARE:
            raise GuestConfigError(name, "firmware", "PV guests accept only %s, got %r"
                                   % (" or ".join(PV_FIRMWARE), firmware))
        if not (kernel or bootloader or firmware):
            raise GuestConfigError(name, "kernel", "a PV guest needs kernel, bootloader (pygrub) or firmware "
                                   "(pvgrub32/pvgrub64)")
    elif gtype == "pvh":
        if firmware is not None:
            raise GuestConfigError(name, "firmware", "PVH guests have no firmware: boot a kernel directly or "
                                   "with bootloader (pygrub)")
        if not (kernel or bootloader):
            raise GuestConfigError(name, "kernel", "a PVH guest needs a PVH-capable kernel (direct boot) or "
                                   "bootloader (pygrub)")
    else:
        if bootloader:
            raise GuestConfigError(name, "bootloader", "bootloader is for PV and PVH guests, not HVM")
        if firmware is not None and firmware not in HVM_FIRMWARE and not firmware.startswith("/"):
            if firmware == "rombios":
                raise GuestConfigError(name, "firmware", "rombios does not work with the qemu-xen device model")
            raise GuestConfigError(name, "firmware", "%r is not one of %s or an absolute path"
                                   % (firmware, ", ".join(HVM_FIRMWARE)))
    if bootloader:
        keys["bootloader"] = bootloader
        if "bootloader_args" in g:
            keys["bootloader_args"] = [_string(name, "bootloader_args[%d]" % i, a)
                                       for i, a in enumerate(_list(name, "bootloader_args", g["bootloader_args"]))]
    if kernel:
        keys["kernel"] = kernel
        if "ramdisk" in g:
            keys["ramdisk"] = _path(name, "ramdisk", g["ramdisk"])
        if "cmdline" in g:
            keys["cmdline"] = _string(name, "cmdline", g["cmdline"], allow_empty=True)
    if firmware:
        keys["firmware"] = firmware

    # --- HVM devices
    hvm_only = ("viridian", "vga", "videoram", "vnc", "vnc_listen", "vnc_display", "usb_tablet", "usbversion",
                "serial", "boot")
    if gtype != "hvm":
        for key in hvm_only:
            if key in g:
                raise GuestConfigError(name, key, "is an HVM setting; this guest is %s" % gtype)
    else:
        if "boot" in g:
            boot = _string(name, "boot", g["boot"])
            if not re.match(r"^[cdn]{1,3}$", boot):
                raise GuestConfigError(name, "boot", "%r is not a boot order of c (disk), d (CD), n (network)" % boot)
            keys["boot"] = boot
        viridian = _bool(name, "viridian", g["viridian"]) if "viridian" in g else os_name == "windows"
        if viridian:
            keys["viridian"] = 1
        vga = _choice(name, "vga", g.get("vga", "stdvga"), ("stdvga", "cirrus", "qxl", "none"))
        keys["vga"] = vga
        if "videoram" in g:
            videoram = _int(name, "videoram", g["videoram"], 1, 1024)
            if videoram < MIN_VIDEORAM.get(vga, 0):
                raise GuestConfigError(name, "videoram", "%d MiB is below the %d MiB qemu-xen needs for %s"
                                       % (videoram, MIN_VIDEORAM[vga], vga))
            keys["videoram"] = videoram
        if _bool(name, "vnc", g.get("vnc", True)):
            keys["vnc"] = 1
            listen = _string(name, "vnc_listen", g.get("vnc_listen", DEFAULT_VNC_LISTEN))
            if "vnc_display" in g:
                if ":" in listen and not listen.startswith("["):
                    raise GuestConfigError(name, "vnc_display", "vnc_listen %r already carries a display" % listen)
                keys["vnclisten"] = listen
                keys["vncdisplay"] = _int(name, "vnc_display", g["vnc_display"], 0, 65535 - 5900)
            else:
                keys["vnclisten"] = listen
                # a fixed display would clash on whichever host the guest lands on after a failover
                keys["vncunused"] = 1
        else:
            keys["vnc"] = 0
            for key in ("vnc_listen", "vnc_display"):
                if key in g:
                    raise GuestConfigError(name, key, "set while vnc is off")
        tablet = _bool(name, "usb_tablet", g.get("usb_tablet", "usbversion" not in g))
        if tablet and "usbversion" in g:
            raise GuestConfigError(name, "usbversion", "usbversion cannot be combined with usb/usbdevice "
                                   "(usb_tablet); turn usb_tablet off")
        if tablet:
            keys["usb"] = 1
            keys["usbdevice"] = ["tablet"]
        elif "usbversion" in g:
            keys["usbversion"] = _int(name, "usbversion", g["usbversion"], 1, 3)
        keys["serial"] = _string(name, "serial", g.get("serial", "pty"))

    # --- devices
    disks = normalise_disks(name, gtype, g.get("disks"), image_dir)
    if disks:
        keys["disk"] = [_disk_spec(d) for d in disks]
    vifs = normalise_vifs(name, gtype, g, default_bridge)
    if vifs:
        keys["vif"] = [v["spec"] for v in vifs]
    pci = [_string(name, "pci[%d]" % i, p) for i, p in enumerate(_list(name, "pci", g.get("pci", [])))]
    for i, p in enumerate(pci):
        if not PCI_RE.match(p):
            raise GuestConfigError(name, "pci[%d]" % i, "%r is not a PCI BDF like 0000:03:00.0" % p)
    if pci:
        if maxmem > memory:
            raise GuestConfigError(name, "pci", "PCI passthrough cannot be combined with memory < maxmem "
                                   "(populate-on-demand)")
        keys["pci"] = pci

    for action_key, default in sorted(DEFAULT_ACTIONS.items()):
        keys[action_key] = _choice(name, action_key, g.get(action_key, default), ACTIONS)

    # --- raw extras, then the checks xl itself would make on the final key set
    extra = g.get("extra", {})
    if not isinstance(extra, dict):
        raise GuestConfigError(name, "extra", "expected a mapping of xl keys, got %r" % (extra,))
    extras = {}
    for key in sorted(extra):
        field = "extra.%s" % key
        if not isinstance(key, str) or not XL_KEY_RE.match(key):
            raise GuestConfigError(name, field, "not an xl key")
        if key in OWNED_KEYS:
            raise GuestConfigError(name, field, "set it through the guest's own option, not extra")
        extras[key] = _extra_value(name, field, extra[key])
    _check_combinations(name, gtype, keys, extras, memory, maxmem)

    ordered = [(k, keys[k]) for k in KEY_ORDER if k in keys] + sorted(extras.items())
    info = {"name": name, "type": gtype, "uuid": keys["uuid"], "disks": disks,
            "macs": [v["mac"] for v in vifs], "live_migration": gtype != "pv"}
    return ordered, info


def _cpuid(name, cpuid):
    if isinstance(cpuid, str):
        value = _string(name, "cpuid", cpuid)
        if not CPUID_LIBXL_RE.match(value):
            raise GuestConfigError(name, "cpuid", "%r is not a libxl cpuid string like 'host,sse4_1=0'" % value)
        return value
    items = _list(name, "cpuid", cpuid)
    if not items:
        raise GuestConfigError(name, "cpuid", "an empty list masks nothing; leave cpuid unset")
    for i, item in enumerate(items):
        _string(name, "cpuid[%d]" % i, item)
        if not CPUID_XEND_RE.match(item):
            raise GuestConfigError(name, "cpuid[%d]" % i, "%r is not an xend cpuid leaf like '1:ecx=xxxx...' "
                                   "(32 of 0 1 x k s per register)" % item)
    return items


def _extra_value(name, field, value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return _string(name, field, value, allow_empty=True)
    if isinstance(value, (list, tuple)):
        return [_extra_value(name, "%s[%d]" % (field, i), v) for i, v in enumerate(value)]
    raise GuestConfigError(name, field, "expected a string, integer, boolean or list, got %r" % (value,))


def _truthy(value):
    return value not in (None, 0, "0", "", [], False)


def _check_combinations(name, gtype, keys, extras, memory, maxmem):
    """xl.cfg's invalid combinations (xl_parse.c, libxl_create.c) that ``extra`` could still build."""
    merged = dict(keys)
    merged.update(extras)
    builder = merged.get("builder")
    if builder is not None:
        if (builder == "hvm") != (gtype == "hvm"):
            raise GuestConfigError(name, "extra.builder", "builder=%r contradicts type %s" % (builder, gtype))
    if "kernel" in merged and "firmware" in merged:
        raise GuestConfigError(name, "firmware", "both kernel and firmware specified")
    if merged.get("bios") == "rombios" and merged.get("device_model_version", "qemu-xen") == "qemu-xen":
        raise GuestConfigError(name, "extra.bios", "rombios does not work with the qemu-xen device model")
    if "usbversion" in merged and ("usb" in merged or "usbdevice" in merged):
        raise GuestConfigError(name, "usbversion", "usbversion cannot be combined with usb/usbdevice")
    if _truthy(merged.get("nestedhvm")) and _truthy(merged.get("altp2m")) or (
            _truthy(merged.get("nestedhvm")) and _truthy(merged.get("altp2mhvm"))):
        raise GuestConfigError(name, "extra.nestedhvm", "nestedhvm cannot be combined with altp2m")
    if "vnuma" in merged:
        if gtype == "pv":
            raise GuestConfigError(name, "extra.vnuma", "vNUMA is not supported for PV guests")
        if maxmem > memory:
            raise GuestConfigError(name, "extra.vnuma", "vNUMA cannot be combined with memory < maxmem "
                                   "(populate-on-demand)")
    if _truthy(merged.get("stdvga")) and "vga" in keys:
        raise GuestConfigError(name, "extra.stdvga", "deprecated; use the guest's vga option")


# --------------------------------------------------------------------------------------------------
# text


def _value(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"%s"' % value
    # lists: one element per line when long, so a diff points at the disk or NIC that changed
    items = ["'%s'" % v if isinstance(v, str) else str(v) for v in value]
    one_line = "[ %s ]" % ", ".join(items)
    if len(items) <= 1 or len(one_line) <= 80:
        return one_line
    return "[\n    %s\n]" % ",\n    ".join(items)


def render(guest, image_dir=None, default_bridge="xenbr0", common_cpuid=None):
    """``(text, info)``: the guest's complete xl config and the facts about it."""
    keys, info = build(guest, image_dir=image_dir, default_bridge=default_bridge, common_cpuid=common_cpuid)
    lines = [MARKER, "# guest %s (%s): live migration %s" % (
        info["name"], info["type"],
        "supported" if info["live_migration"] else "NOT possible on Debian's Xen (PV needs shadow paging)")]
    width = max(len(pair[0]) for pair in keys)
    for key, value in keys:
        lines.append("%s = %s" % (key.ljust(width), _value(value)))
    return "\n".join(lines) + "\n", info


def render_all(guests, image_dir=None, default_bridge="xenbr0", common_cpuid=None):
    """``({name: (text, info)}, errors)`` for a list of guests; also checks names, UUIDs and MACs are unique.

    Every guest is checked so one run reports every broken guest, not just the first.
    """
    out = {}
    errors = []
    owner_of_mac = {}
    owner_of_uuid = {}
    for index, guest in enumerate(guests):
        try:
            text, info = render(guest, image_dir=image_dir, default_bridge=default_bridge, common_cpuid=common_cpuid)
        except GuestConfigError as exc:
            errors.append(str(exc))
            continue
        name = info["name"]
        if name in out:
            errors.append("guest %s: name: listed twice (guests[%d])" % (name, index))
            continue
        if info["uuid"] in owner_of_uuid:
            errors.append("guest %s: uuid: %s is also guest %s's" % (name, info["uuid"], owner_of_uuid[info["uuid"]]))
            continue
        clash = [m for m in info["macs"] if m in owner_of_mac]
        if clash:
            errors.append("guest %s: mac: %s is also guest %s's; set a MAC for one of them"
                          % (name, clash[0], owner_of_mac[clash[0]]))
            continue
        if len(set(info["macs"])) != len(info["macs"]):
            errors.append("guest %s: mac: two NICs share a MAC" % name)
            continue
        owner_of_uuid[info["uuid"]] = name
        for mac in info["macs"]:
            owner_of_mac[mac] = name
        out[name] = (text, info)
    return out, errors
