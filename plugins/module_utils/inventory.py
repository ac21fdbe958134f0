# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory variables (``xen_host_*`` on dom0s, ``xen_guest_*`` on guests) to engine mappings."""

from __future__ import annotations

# inventory variable -> engine key
HOST_VARS = {
    "xen_host_memory": "memory_mb",
    "xen_host_cpus": "cpus",
    "xen_host_dom0_memory": "dom0_memory_mb",
    "xen_host_state": "state",
    "xen_host_max_hvm": "max_hvm",
    "xen_host_vcpu_ratio": "vcpu_ratio",
    "xen_host_hap": "hap",
    "xen_host_xen_reserve": "xen_reserve_mb",
}
GUEST_VARS = {
    "xen_guest_memory": "memory_mb",
    "xen_guest_maxmem": "maxmem_mb",
    "xen_guest_vcpus": "vcpus",
    "xen_guest_type": "type",
    "xen_guest_host": "host",
    "xen_guest_anti_affinity": "anti_affinity",
    "xen_guest_movable": "movable",
    "xen_guest_current_host": "current_host",
}


def _convert(names, hostvars_list, mapping, what):
    if not isinstance(names, (list, tuple)):
        raise ValueError("%s: expected a list of inventory host names, got %r" % (what, names))
    if not isinstance(hostvars_list, (list, tuple)) or len(hostvars_list) != len(names):
        raise ValueError("%s: expected one hostvars mapping per name" % what)
    out = []
    for name, hv in zip(names, hostvars_list):
        item = {"name": name}
        for var, key in mapping.items():
            if var in hv and hv[var] is not None:
                item[key] = hv[var]
        out.append(item)
    return out


def model_from_inventory(host_names, host_vars, guest_names, guest_vars):
    """``{"hosts": [...], "guests": [...]}`` in the engine's contract from inventory variables."""
    return {
        "hosts": _convert(host_names, host_vars, HOST_VARS, "xen_hosts"),
        "guests": _convert(guest_names, guest_vars, GUEST_VARS, "xen_guests"),
    }
