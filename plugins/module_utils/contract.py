# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory contract: every variable the collection reads from an inventory, defined once.

Each :class:`Var` says where the variable lives (``scope``), its type (``kind``) and unit, its
default, and which consumers read it under which key (``keys``: ``engine`` for the placement
engine's mappings, ``xl`` for the xl config renderer, ``filer`` for the filer plan). The engine,
the xl renderer (guests role) and the filer plan all read guests and hosts through this table
(:func:`typed_vars`, :func:`engine_host`, :func:`engine_guest`, :func:`xl_guest`), and the preflight
(``preflight.py``) validates the whole inventory with it before any host is contacted. README's
variable table and the roles' argument specs are checked against it by a unit test.

Scopes:
  ``host``   on each dom0 (inventory group ``xen_hosts``)
  ``guest``  on each guest (group ``xen_guests``; never contacted)
  ``filer``  on each filer (group ``filers``): what the filer plan reads
  ``run``    cluster-wide run options (group ``all`` or ``-e``), read as the controller sees them

Pure Python, no Ansible import.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re

from ansible_collections.consolidation.xen.plugins.module_utils.failover import DEFAULT_MAX_SCENARIOS
from ansible_collections.consolidation.xen.plugins.module_utils.units import (
    SizeError,
    ValueTypeError,
    parse_bool,
    parse_number,
    parse_size_mb,
    parse_whole,
)

# One name pattern for guests and hosts: xl domain names, config and image file names, qtree, XFS
# project and export policy names all derive from it. Starts with a letter or digit; no '/', no
# white space, no shell or exports(5) metacharacters.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", re.ASCII)
NAME_RULE = "1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit"
# Linux interface names (bridges, NICs): IFNAMSIZ 16 with the NUL.
IFNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$", re.ASCII)
# A DNS name (RFC 1123 labels, '_' tolerated) for ssh destinations and BMC addresses.
DNS_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$",
                    re.ASCII)
# A backup's name on a Linux filer (filer.backup): its UTC start time, sortable (2026-12-06T013000Z).
BACKUP_NAME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$")
UNSAFE_RE = re.compile(r"[\"'\\\x00-\x1f\x7f]")

GROUPS = {"host": "xen_hosts", "guest": "xen_guests", "filer": "filers"}
PLAYBOOKS = ("plan", "site", "evacuate", "failover", "rebalance", "maintain", "unfence", "restore", "verify")


class Var:
    """One inventory variable. ``check(value, ctx)`` returns the typed value or raises ValueError."""

    __slots__ = ("name", "scope", "kind", "unit", "default", "keys", "consumers", "doc", "choices", "minimum",
                 "maximum", "required", "playbooks")

    def __init__(self, name, scope, kind, doc, default=None, unit=None, keys=None, consumers=(), choices=None,
                 minimum=None, maximum=None, required=False, playbooks=None):
        self.name = name
        self.scope = scope
        self.kind = kind
        self.doc = doc
        self.default = default
        self.unit = unit
        self.keys = dict(keys or {})
        self.consumers = tuple(sorted(set(consumers) | set(self.keys) | set(playbooks or ())))
        self.choices = tuple(choices) if choices else None
        self.minimum = minimum
        self.maximum = maximum
        self.required = required
        self.playbooks = tuple(playbooks) if playbooks else None

    def check(self, value, ctx=None):
        """The typed value; ``ValueError`` (message without the variable name) when it is not one."""
        return _CHECKS[self.kind](self, value, ctx or {})


# --------------------------------------------------------------------------------------------------
# kinds


def _k_size(var, value, ctx):
    try:
        return parse_size_mb(value, allow_zero=bool(var.minimum == 0))
    except SizeError as exc:
        raise ValueError(str(exc)) from None


def _k_int(var, value, ctx):
    return parse_whole(value, minimum=var.minimum, maximum=var.maximum)


def _k_bool(var, value, ctx):
    return parse_bool(value)


def _k_number(var, value, ctx):
    return parse_number(value, minimum_exclusive=var.minimum)


def _k_choice(var, value, ctx):
    if not isinstance(value, str) or value not in var.choices:
        raise ValueError("must be one of %s, got %r" % (", ".join(var.choices), value))
    return value


def _k_name(var, value, ctx):
    return check_name(value)


def _member(scope, value, ctx):
    """A name of the inventory group of ``scope`` (host, guest), when the preflight passed the group's names."""
    check_name(value)
    names = ctx.get(scope + "s")
    if names is not None and value not in names:
        raise ValueError("%r is not a %s of group %s (%s)" % (value, scope, GROUPS[scope], ", ".join(names) or "none"))
    return value


def _k_host(var, value, ctx):
    return _member("host", value, ctx)


def _k_guest(var, value, ctx):
    return _member("guest", value, ctx)


def _k_backup_name(var, value, ctx):
    if value == "latest" or (isinstance(value, str) and BACKUP_NAME_RE.match(value)):
        return value
    raise ValueError("expected latest or a backup's name, its UTC time such as 2026-12-06T013000Z, got %r" % (value,))


def _k_string(var, value, ctx):
    if not isinstance(value, str):
        raise ValueError("expected a string, got %r" % (value,))
    if UNSAFE_RE.search(value):
        raise ValueError("must not contain quotes, backslashes, newlines or other control characters: %r" % (value,))
    return value


def _k_path(var, value, ctx):
    return check_path(value)


def _k_address(var, value, ctx):
    return check_address(value)


def _k_cidr(var, value, ctx):
    if not isinstance(value, str) or UNSAFE_RE.search(value) or " " in value or "/" not in value:
        raise ValueError("expected an address with its prefix length, such as 192.0.2.11/24, got %r" % (value,))
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError("%r is not an address with a prefix length (192.0.2.11/24)" % (value,)) from None
    if str(iface) != value:
        raise ValueError("write %r in canonical form: %s" % (value, iface))
    return value


def _k_ifname(var, value, ctx):
    return check_ifname(value)


def _k_ifnames(var, value, ctx):
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("expected a non-empty list of interface names, got %r" % (value,))
    return [check_ifname(v) for v in value]


def _k_destination(var, value, ctx):
    return check_destination(value)


def _k_mapping(var, value, ctx):
    if not isinstance(value, dict):
        raise ValueError("expected a mapping, got %r" % (value,))
    return value


def _k_raw(var, value, ctx):
    # Validated by its consumer (the xl renderer, the filer plan), which names this variable.
    return value


_CHECKS = {
    "size": _k_size, "int": _k_int, "bool": _k_bool, "number": _k_number, "choice": _k_choice, "name": _k_name,
    "host": _k_host, "guest": _k_guest, "backup_name": _k_backup_name, "string": _k_string, "path": _k_path,
    "address": _k_address, "cidr": _k_cidr,
    "ifname": _k_ifname, "ifnames": _k_ifnames, "destination": _k_destination, "mapping": _k_mapping,
    "raw": _k_raw,
}


def check_name(value):
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError("%r is not a valid name (%s)" % (value, NAME_RULE))
    return value


def check_path(value):
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError("expected an absolute path, got %r" % (value,))
    if UNSAFE_RE.search(value) or re.search(r"\s", value):
        raise ValueError("must not contain white space, quotes, backslashes or control characters: %r" % (value,))
    if posixpath.normpath(value) != value and not (value.endswith("/") and posixpath.normpath(value) == value[:-1]):
        raise ValueError("%r is not a normalised path (no '.', '..' or '//' parts): write %s"
                         % (value, posixpath.normpath(value)))
    return value


def check_address(value):
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("expected an IP address such as 192.0.2.10, got %r" % (value,))
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("%r is not a single IP address in canonical form (no prefix, no leading zeros)"
                         % (value,)) from None
    if str(ip) != value:
        raise ValueError("write %r in canonical form: %s" % (value, ip))
    return value


def check_ifname(value):
    if not isinstance(value, str) or not IFNAME_RE.match(value):
        raise ValueError("%r is not an interface name (1-15 of A-Z a-z 0-9 _ . -, not starting with - or .)"
                         % (value,))
    return value


def check_destination(value):
    """An ssh or IPMI destination: a DNS name or an IP address; never an option (leading '-')."""
    if isinstance(value, str) and value.startswith("-"):
        raise ValueError("%r starts with '-': it would be read as a command-line option" % (value,))
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
        if DNS_RE.match(value):
            return value
    raise ValueError("expected a host name or an IP address, got %r" % (value,))


# --------------------------------------------------------------------------------------------------
# the table

_XL_ACTIONS = ("destroy", "restart", "rename-restart", "preserve", "coredump-destroy", "coredump-restart",
               "soft-reset")

VARS = (
    # ---- dom0s: the engine's host model
    Var("xen_host_memory", "host", "size", "physical memory", unit="MiB", required=True,
        keys={"engine": "memory_mb"}),
    Var("xen_host_cpus", "host", "int", "physical CPUs (cores)", minimum=1, required=True, keys={"engine": "cpus"}),
    Var("xen_host_dom0_memory", "host", "size", "fixed dom0 memory (dom0_mem=X,max:X), subtracted from capacity",
        unit="MiB", required=True, keys={"engine": "dom0_memory_mb"}, consumers=("dom0",)),
    Var("xen_host_state", "host", "choice", "active, maintenance (no guests placed) or down", default="active",
        choices=("active", "maintenance", "down"), keys={"engine": "state"}),
    Var("xen_host_max_hvm", "host", "int", "hard cap on HVM guests on this host", minimum=0,
        keys={"engine": "max_hvm"}),
    Var("xen_host_vcpu_ratio", "host", "number", "vCPUs allowed per pCPU", default=4, minimum=0,
        keys={"engine": "vcpu_ratio"}),
    Var("xen_host_hap", "host", "bool", "CPU has EPT/NPT; false counts shadow paging (8 MiB/GiB for HVM)",
        default=True, keys={"engine": "hap"}),
    Var("xen_host_shadow_paging", "host", "bool", "Xen is built with shadow paging (SUSE's is, Debian 12's 4.17 "
        "is not): with xen_host_hap false, HVM and PVH guests run only where this is true",
        default=True, keys={"engine": "shadow_paging"}),
    Var("xen_host_xen_reserve", "host", "size", "memory the hypervisor keeps (default min(memory/16, 128 MiB))",
        unit="MiB", minimum=0, keys={"engine": "xen_reserve_mb"}),
    Var("xen_host_failure_domain", "host", "name", "what fails with this host (a blade chassis, a rack, a power "
        "feed); xen_tolerate_domains proves the loss of whole domains (default: the host alone)",
        keys={"engine": "domain"}),
    Var("xen_host_storage_address", "host", "address", "the dom0's address as the filer sees it (image export); "
        "required with a filer", keys={"filer": "xen_host_storage_address"}),
    Var("xen_host_bmc", "host", "mapping", "IPMI BMC {address, user, password, port (623)} for fencing in "
        "failover.yml; password from a vault", consumers=("failover",)),
    # ---- dom0s: role variables the preflight checks (their defaults are the roles')
    Var("dom0_ssh_address", "host", "destination", "the name or address the other dom0s reach this one at "
        "(xl migrate, ssh trust)", default="{{ inventory_hostname }}", consumers=("dom0", "evacuate")),
    Var("dom0_bridge_enabled", "host", "bool", "write the guest bridge", default=False, consumers=("dom0",)),
    Var("dom0_bridge_name", "host", "ifname", "bridge name", default="br0", consumers=("dom0",)),
    Var("dom0_bridge_ports", "host", "ifnames", "NICs enslaved to the bridge", default=["eth0"], consumers=("dom0",)),
    Var("dom0_bridge_address", "host", "cidr", "the bridge's address with prefix (192.0.2.11/24); null: DHCP",
        consumers=("dom0",)),
    Var("dom0_bridge_gateway", "host", "address", "default gateway through the bridge", consumers=("dom0",)),
    Var("dom0_bridge_backend", "host", "choice", "ifupdown or networkd (Debian), wicked (SLES); null: the OS's",
        choices=("ifupdown", "networkd", "wicked"), consumers=("dom0",)),
    Var("guests_image_dir", "host", "path", "the shared image store, the same path on every dom0",
        default="/srv/xen/images", consumers=("guests", "evacuate")),
    Var("guests_default_bridge", "host", "ifname", "bridge of NICs without xen_guest_bridge", default="br0",
        consumers=("guests",)),
    Var("guests_default_disks", "host", "raw", "disks of a guest without xen_guest_disks",
        default=[{"name": "root", "size": "10G"}], consumers=("guests",)),
    Var("guests_vnc_listen", "host", "string", "VNC listen address of HVM guests without xen_guest_vnc_listen",
        default="127.0.0.1", consumers=("guests",)),
    Var("guests_cpuid", "host", "raw", "CPUID mask for every guest (xl cpuid syntax)", consumers=("guests",)),
    Var("guests_shutdown_timeout", "host", "int", "seconds site.yml waits for a guest set to stopped or absent to "
        "shut down (xl shutdown)", default=120, minimum=1, maximum=3600, consumers=("guests",)),
    Var("guests_shutdown_force", "host", "bool", "xl destroy (pull the plug) a guest set to stopped or absent that "
        "did not shut down within guests_shutdown_timeout", default=False, consumers=("guests",)),
    # ---- guests: the engine's guest model
    Var("xen_guest_memory", "guest", "size", "memory", unit="MiB", required=True,
        keys={"engine": "memory_mb", "xl": "memory_mb"}),
    Var("xen_guest_maxmem", "guest", "size", "balloon ceiling; capacity counts the larger of the two", unit="MiB",
        keys={"engine": "maxmem_mb", "xl": "maxmem_mb"}),
    Var("xen_guest_vcpus", "guest", "int", "vCPUs (must not exceed a host's pCPUs)", default=1, minimum=1,
        maximum=512, keys={"engine": "vcpus", "xl": "vcpus"}),
    Var("xen_guest_type", "guest", "choice", "pv, pvh or hvm", default="pvh", choices=("pv", "pvh", "hvm"),
        keys={"engine": "type", "xl": "type"}),
    Var("xen_guest_host", "guest", "host", "pin: runs on this host (restarts elsewhere if it fails, when movable)",
        keys={"engine": "host"}),
    Var("xen_guest_anti_affinity", "guest", "name", "group name: at most one member per host, also after failover",
        keys={"engine": "anti_affinity"}),
    Var("xen_guest_movable", "guest", "bool", "false: never migrated or restarted elsewhere", default=True,
        keys={"engine": "movable"}),
    Var("xen_guest_priority", "guest", "choice", "restart class: high, normal or low; failover restarts the higher "
        "first, a failure domain's loss is proven for xen_domain_protect and up", default="normal",
        choices=("high", "normal", "low"), keys={"engine": "priority"}),
    Var("xen_guest_state", "guest", "choice", "desired state: running; stopped (site.yml shuts it down and unlinks "
        "it, config and data kept; no capacity reserved, never restarted or moved); absent (also its config "
        "and its export removed; data kept unless filer_purge)", default="running",
        choices=("running", "stopped", "absent"), keys={"engine": "state", "filer": "xen_guest_state"},
        consumers=("guests", "failover", "evacuate", "rebalance")),
    Var("xen_guest_current_host", "guest", "host", "where it runs now; the planner keeps it there when valid",
        keys={"engine": "current_host"}),
    # ---- guests: the filer plan
    Var("xen_guest_address", "guest", "address", "the guest's address as the filer sees it (its export's only "
        "client); required with a data area", keys={"filer": "xen_guest_address"}, consumers=("failover",)),
    Var("xen_guest_check_port", "guest", "int", "TCP port failover.yml waits on after restarting the guest (a "
        "service's port: a stronger sign of life than ping); needs xen_guest_address", minimum=1, maximum=65535,
        consumers=("failover",)),
    Var("xen_guest_data", "guest", "raw", "true (role defaults) or {quota, soft_quota, files, root_squash}: the "
        "guest's own qtree with a tree quota", default=False, keys={"filer": "xen_guest_data"}),
    # ---- guests: the xl config (validated by the xl renderer, plugins/module_utils/xlcfg.py)
    Var("xen_guest_maxvcpus", "guest", "int", "xl maxvcpus", minimum=1, maximum=512, keys={"xl": "maxvcpus"}),
    Var("xen_guest_uuid", "guest", "raw", "pin a UUID (default: uuid5 of the name)", keys={"xl": "uuid"}),
    Var("xen_guest_kernel", "guest", "path", "direct kernel boot (PV, PVH)", keys={"xl": "kernel"}),
    Var("xen_guest_ramdisk", "guest", "path", "initramfs for direct boot", keys={"xl": "ramdisk"}),
    Var("xen_guest_cmdline", "guest", "raw", "kernel command line", keys={"xl": "cmdline"}),
    Var("xen_guest_bootloader", "guest", "raw", "e.g. pygrub (PV, PVH)", keys={"xl": "bootloader"}),
    Var("xen_guest_bootloader_args", "guest", "raw", "list of bootloader arguments", keys={"xl": "bootloader_args"}),
    Var("xen_guest_firmware", "guest", "raw", "PV: pvgrub32/pvgrub64; HVM: bios, uefi, seabios, ovmf or a path",
        keys={"xl": "firmware"}),
    Var("xen_guest_os", "guest", "raw", "windows (adds viridian; needs hvm), linux, other", keys={"xl": "os"}),
    Var("xen_guest_vnc", "guest", "raw", "HVM console on or off (default on)", keys={"xl": "vnc"}),
    Var("xen_guest_vnc_listen", "guest", "raw", "HVM VNC listen address (default guests_vnc_listen)",
        keys={"xl": "vnc_listen"}),
    Var("xen_guest_vnc_display", "guest", "raw", "fixed VNC display (default: any free one)",
        keys={"xl": "vnc_display"}),
    Var("xen_guest_vga", "guest", "raw", "HVM graphics: stdvga (default), cirrus, qxl or none", keys={"xl": "vga"}),
    Var("xen_guest_videoram", "guest", "raw", "HVM video memory in MiB (taken from the guest's memory)",
        keys={"xl": "videoram"}),
    Var("xen_guest_viridian", "guest", "raw", "HVM Hyper-V enlightenments (default: on for xen_guest_os windows)",
        keys={"xl": "viridian"}),
    Var("xen_guest_usb_tablet", "guest", "raw", "HVM USB tablet, VNC's absolute pointer (default on)",
        keys={"xl": "usb_tablet"}),
    Var("xen_guest_usbversion", "guest", "raw", "HVM USB controller version 1-3 (needs xen_guest_usb_tablet off)",
        keys={"xl": "usbversion"}),
    Var("xen_guest_serial", "guest", "raw", "HVM serial port (default pty)", keys={"xl": "serial"}),
    Var("xen_guest_boot", "guest", "raw", "HVM boot order of c (disk), d (CD), n (network)", keys={"xl": "boot"}),
    Var("xen_guest_disks", "guest", "raw", "list of {name, size, format, vdev, access, path, devtype} "
        "(default guests_default_disks)", keys={"xl": "disks"}),
    Var("xen_guest_bridge", "guest", "raw", "bridge of the single NIC (default guests_default_bridge)",
        keys={"xl": "bridge"}),
    Var("xen_guest_mac", "guest", "raw", "MAC of the single NIC (default derived from the name)", keys={"xl": "mac"}),
    Var("xen_guest_vifs", "guest", "raw", "several NICs: list of {bridge, mac, model, type, vifname, rate, mtu}",
        keys={"xl": "vifs"}),
    Var("xen_guest_cpuid", "guest", "raw", "CPUID mask for this guest (default guests_cpuid)", keys={"xl": "cpuid"}),
    Var("xen_guest_cpu_weight", "guest", "raw", "xl cpu_weight", keys={"xl": "cpu_weight"}),
    Var("xen_guest_cap", "guest", "raw", "xl cap", keys={"xl": "cap"}),
    Var("xen_guest_on_crash", "guest", "choice", "xl on_crash", choices=_XL_ACTIONS, keys={"xl": "on_crash"}),
    Var("xen_guest_on_reboot", "guest", "choice", "xl on_reboot", choices=_XL_ACTIONS, keys={"xl": "on_reboot"}),
    Var("xen_guest_on_poweroff", "guest", "choice", "xl on_poweroff", choices=_XL_ACTIONS,
        keys={"xl": "on_poweroff"}),
    Var("xen_guest_xl_extra", "guest", "raw", "further xl keys {key: value}, checked like the rest",
        keys={"xl": "extra"}),
    # ---- filers: what the filer plan reads (the role's defaults)
    Var("filer_image_volume", "filer", "raw", "volume of the image store", default="xen_images",
        keys={"filer": "image_volume"}),
    Var("filer_image_size", "filer", "raw", "its size", default="500G", keys={"filer": "image_size"}),
    Var("filer_image_junction", "filer", "raw", "its junction path (default /<volume>)",
        keys={"filer": "image_junction"}),
    Var("filer_data_volume", "filer", "raw", "volume of the guests' data areas", default="xen_data",
        keys={"filer": "data_volume"}),
    Var("filer_data_size", "filer", "raw", "its size", default="1T", keys={"filer": "data_size"}),
    Var("filer_data_junction", "filer", "raw", "its junction path (default /<volume>)",
        keys={"filer": "data_junction"}),
    Var("filer_quota", "filer", "raw", "default tree quota of a data area", default="10G", keys={"filer": "quota"}),
    Var("filer_soft_quota", "filer", "raw", "default soft quota (size or percentage)", keys={"filer": "soft_quota"}),
    Var("filer_files", "filer", "raw", "default file limit", keys={"filer": "files"}),
    Var("filer_root_squash", "filer", "raw", "default root squash of guest exports", default=True,
        keys={"filer": "root_squash"}),
    Var("filer_policy_prefix", "filer", "raw", "prefix of export policy names", default="xen_",
        keys={"filer": "policy_prefix"}),
    Var("filer_backend", "filer", "choice", "ontap (netapp.ontap over REST) or linux (kernel nfsd on the filer)",
        choices=("ontap", "linux"), keys={"filer": "backend"}, consumers=("restore",)),
    Var("filer_linux_backup", "filer", "raw", "linux backend: backups of the data area to a second disk, "
        "{dest, keep, on_calendar, own_filesystem, timer} (null: none)", keys={"filer": "linux_backup"},
        consumers=("restore",)),
    # ---- run options (group all or -e), read as the controller sees them
    Var("xen_tolerate", "run", "int", "host failures to survive", default=1, minimum=0, maximum=64,
        keys={"engine": "tolerate"}),
    Var("xen_tolerate_domains", "run", "int", "whole failure domains (xen_host_failure_domain) to survive at once, "
        "for the guests of priority xen_domain_protect and up", default=0, minimum=0, maximum=64,
        keys={"engine": "tolerate_domains"}),
    Var("xen_domain_protect", "run", "choice", "lowest priority class restarted when a whole failure domain fails",
        default="high", choices=("high", "normal", "low"), keys={"engine": "domain_protect"}),
    Var("xen_overhead", "run", "bool", "count Xen's per-guest overhead (libxl 4.17)", default=True,
        keys={"engine": "overhead"}),
    Var("xen_placement_strategy", "run", "choice", "spread or pack as the first construction tried",
        default="spread", choices=("spread", "pack"), keys={"engine": "strategy"}),
    Var("xen_max_scenarios", "run", "int", "failure sets simulated exactly; beyond, a sound conservative bound",
        default=DEFAULT_MAX_SCENARIOS, minimum=1, maximum=10 ** 7, keys={"engine": "max_scenarios"}),
    Var("xen_capacity_shape", "run", "mapping", "the guest shape the headroom is reported for",
        default={"memory_mb": "1G", "vcpus": 1, "type": "pvh"}, keys={"engine": "capacity_shape"}),
    Var("xen_allow_degraded", "run", "bool", "accept a failed proof (all guests placed, not N-k safe), loudly",
        default=False, keys={"engine": "allow_degraded"}),
    Var("host", "run", "host", "the dom0 to drain (evacuate.yml), that died (failover.yml) or to unfence "
        "(unfence.yml)", required=True, playbooks=("evacuate", "failover", "unfence")),
    Var("parallel", "run", "int", "guests moved at once by evacuate.yml", default=1, minimum=1, maximum=64,
        playbooks=("evacuate",)),
    Var("max_moves", "run", "int", "at most this many moves in one rebalance.yml run", minimum=1,
        playbooks=("rebalance",)),
    Var("maintain", "run", "raw", "hosts to roll: all, a failure domain, a host, or a list of them (a list or "
        "comma-separated): plan.yml prints the maintenance schedule and its exposure ledger, maintain.yml rolls them",
        required=("maintain",), playbooks=("plan", "maintain")),
    Var("batch", "run", "int", "hosts maintained at once (fewer where capacity does not allow)", default=1, minimum=1,
        maximum=64, playbooks=("plan", "maintain")),
    Var("maintain_min_tolerate", "run", "int", "host failures every maintenance state must survive (default: "
        "xen_tolerate)", minimum=0, maximum=64, playbooks=("plan", "maintain")),
    Var("maintain_tasks", "run", "path", "the operator's task file maintain.yml runs on each host while it is out "
        "(e.g. a package upgrade), before its reboot", playbooks=("maintain",)),
    Var("maintain_reboot_timeout", "run", "int", "seconds maintain.yml waits for a rebooted dom0 to answer again",
        default=900, minimum=30, maximum=7200, playbooks=("maintain",)),
    Var("xen_maintenance_file", "run", "path", "where each dom0 keeps its maintenance record (maintain.yml's "
        "marker: a host out takes no guest in any playbook, site.yml starts none there)",
        default="/var/lib/consolidation-xen/maintenance.json",
        consumers=("guests", "maintain", "evacuate", "failover", "rebalance")),
    Var("failover_fence_timeout", "run", "int", "seconds failover.yml waits for an SSH banner from the dead host "
        "(one that sends it is alive: refused)",
        default=30, minimum=1, maximum=3600, playbooks=("failover",)),
    Var("guest", "run", "guest", "the guest whose data area restore.yml brings back", required=("restore",),
        playbooks=("restore",)),
    Var("snapshot", "run", "backup_name", "the backup restore.yml restores from: latest or a backup's name (its UTC "
        "time, as the filer's backup directory lists them)", default="latest", playbooks=("restore",)),
    Var("restore_mode", "run", "choice", "overwrite (files from the backup replace today's, nothing is deleted), "
        "missing (only files absent today come back) or exact (the data area becomes the backup: newer files are "
        "deleted)", default="overwrite", choices=("overwrite", "missing", "exact"), playbooks=("restore",)),
    Var("plan_report", "run", "path", "where plan.yml writes its HTML report (an absolute path on the controller, in a "
        "directory that exists; default plan-report.html in the directory ansible-playbook runs from)",
        playbooks=("plan",)),
    Var("failover_ping_retries", "run", "int", "tries (ping, or its xen_guest_check_port; 3 s apart) failover.yml "
        "waits for a restarted guest",
        default=30, minimum=0, maximum=1000, playbooks=("failover",)),
)

BY_NAME = {v.name: v for v in VARS}
SCOPE_VARS = {scope: tuple(v for v in VARS if v.scope == scope) for scope in ("host", "guest", "filer", "run")}
XL_KEY_TO_VAR = {v.keys["xl"]: v.name for v in VARS if "xl" in v.keys}
ENGINE_HOST_KEY_TO_VAR = {v.keys["engine"]: v.name for v in SCOPE_VARS["host"] if "engine" in v.keys}
ENGINE_GUEST_KEY_TO_VAR = {v.keys["engine"]: v.name for v in SCOPE_VARS["guest"] if "engine" in v.keys}
ENGINE_RUN_KEY_TO_VAR = {v.keys["engine"]: v.name for v in SCOPE_VARS["run"] if "engine" in v.keys}


def names(scope):
    """Every variable name of one scope (what a filter reads from hostvars)."""
    return tuple(v.name for v in SCOPE_VARS[scope])


def typed_vars(scope, where, raw, problems, ctx=None, playbook=None):
    """``{var: typed value or None}`` for one host/guest/filer, or the run options.

    ``raw`` holds the inventory values (unset variables absent; a null counts as unset). Each problem
    is appended to ``problems`` as ``"<where>: <variable>: <what is wrong>"``.
    """
    out = {}
    for var in SCOPE_VARS[scope]:
        if var.playbooks is not None and playbook not in var.playbooks:
            continue
        value = raw.get(var.name)
        if value is None:
            # required: True, or the playbooks that require it
            if var.required is True or (isinstance(var.required, tuple) and playbook in var.required):
                hint = _unit_hint(var)
                if var.kind == "host" and ctx and ctx.get("hosts") is not None:
                    hint = ": -e %s=<one of %s>" % (var.name, ", ".join(ctx["hosts"]) or "no dom0 in the inventory")
                problems.append("%s%s: required%s" % (where, var.name, hint))
            out[var.name] = var.default if not _is_template(var.default) else None
            continue
        try:
            out[var.name] = var.check(value, ctx)
        except ValueError as exc:
            problems.append("%s%s: %s" % (where, var.name, exc))
            out[var.name] = None
    return out


def check_values(values, where, ctx=None):
    """Problems with the given ``{variable: value}`` (contract variables only; nulls are unset).

    For a role that checks its own settings where it runs without the preflight (roles/dom0).
    """
    problems = []
    for name, value in sorted((values or {}).items()):
        var = BY_NAME.get(name)
        if var is None:
            problems.append("%s%s: not a variable of the inventory contract" % (where, name))
        elif value is not None:
            try:
                var.check(value, ctx)
            except ValueError as exc:
                problems.append("%s%s: %s" % (where, name, exc))
    return problems


def _unit_hint(var):
    return " (%s, e.g. 2048 or '2G')" % var.unit if var.unit else ""


def _is_template(value):
    return isinstance(value, str) and "{{" in value


def engine_host(name, typed):
    """A host mapping in the engine's contract from a host's typed variables."""
    item = {"name": name}
    for var in SCOPE_VARS["host"]:
        key = var.keys.get("engine")
        if key and typed.get(var.name) is not None:
            item[key] = typed[var.name]
    return item


def engine_guest(name, typed):
    """A guest mapping in the engine's contract from a guest's typed variables."""
    item = {"name": name}
    for var in SCOPE_VARS["guest"]:
        key = var.keys.get("engine")
        if key and typed.get(var.name) is not None:
            item[key] = typed[var.name]
    return item


def xl_guest(name, typed, default_disks, vnc_listen):
    """A guest mapping for the xl renderer (xlcfg.render) from a guest's typed variables.

    Unset variables are left out so the renderer's defaults apply; a guest without disks gets
    ``default_disks``, an HVM guest with VNC on and no listen address gets ``vnc_listen``.
    """
    item = {"name": name}
    for var in SCOPE_VARS["guest"]:
        key = var.keys.get("xl")
        if key and typed.get(var.name) is not None:
            item[key] = typed[var.name]
    if "disks" not in item:
        item["disks"] = default_disks
    if item.get("type") == "hvm" and "vnc_listen" not in item:
        try:
            vnc_on = parse_bool(item.get("vnc", True))
        except ValueTypeError:
            vnc_on = True  # the renderer names xen_guest_vnc
        if vnc_on:
            item["vnc_listen"] = vnc_listen
    return item


def filer_defaults(typed):
    """The filer plan's defaults (filer.DEFAULT_KEYS) from a filer's typed variables."""
    out = {}
    for var in SCOPE_VARS["filer"]:
        out[var.keys["filer"]] = typed.get(var.name)
    for kind in ("image", "data"):
        if out.get("%s_junction" % kind) is None and isinstance(out.get("%s_volume" % kind), str):
            out["%s_junction" % kind] = "/" + out["%s_volume" % kind]
    for key in ("soft_quota", "files"):
        out.setdefault(key, None)
    return out


def translate(message):
    """Name the inventory variable in a consumer's message (``guest g1: memory_mb:`` -> ``xen_guest_memory``)."""
    match = _MESSAGE_RE.match(message)
    if not match:
        return message
    what, name, field, rest = match.groups()
    base = re.split(r"[.\[]", field, maxsplit=1)[0]
    suffix = field[len(base):]
    table = ENGINE_HOST_KEY_TO_VAR if what == "host" else dict(ENGINE_GUEST_KEY_TO_VAR, **XL_KEY_TO_VAR)
    var = table.get(base)
    if var is None:
        return "%s %s: %s%s" % (what, name, field, rest)
    return "%s %s: %s%s%s" % (what, name, var, suffix, rest)


_MESSAGE_RE = re.compile(r"^(guest|host) '?([^':\s]+)'?: ([A-Za-z_][A-Za-z0-9_.\[\]]*)(:.*)$", re.S)
