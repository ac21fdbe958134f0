# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory variables (``xen_host_*`` on dom0s, ``xen_guest_*`` on guests) to engine mappings.

Read through the inventory contract (contract.py): each value is typed there (strictly: no
silent coercion) and mapped to the engine's key; any problem is a ValueError naming the host or
guest and the inventory variable.
"""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils import contract

# inventory variable -> engine key (from the contract)
HOST_VARS = {v.name: v.keys["engine"] for v in contract.SCOPE_VARS["host"] if "engine" in v.keys}
GUEST_VARS = {v.name: v.keys["engine"] for v in contract.SCOPE_VARS["guest"] if "engine" in v.keys}


def _check_lists(names, hostvars_list, what):
    if not isinstance(names, (list, tuple)):
        raise ValueError("%s: expected a list of inventory host names, got %r" % (what, names))
    if not isinstance(hostvars_list, (list, tuple)) or len(hostvars_list) != len(names):
        raise ValueError("%s: expected one hostvars mapping per name" % what)


def model_from_inventory(host_names, host_vars, guest_names, guest_vars):
    """``{"hosts": [...], "guests": [...]}`` in the engine's contract from inventory variables."""
    _check_lists(host_names, host_vars, "xen_hosts")
    _check_lists(guest_names, guest_vars, "xen_guests")
    problems = []
    ctx = {"hosts": [str(n) for n in host_names]}
    hosts, guests = [], []
    for name, hv in zip(host_names, host_vars):
        typed = contract.typed_vars("host", "host %s: " % name, _engine_only(hv, HOST_VARS), problems, ctx)
        hosts.append(contract.engine_host(str(name), typed))
    for name, gv in zip(guest_names, guest_vars):
        typed = contract.typed_vars("guest", "guest %s: " % name, _engine_only(gv, GUEST_VARS), problems, ctx)
        guests.append(contract.engine_guest(str(name), typed))
    if problems:
        raise ValueError("; ".join(problems))
    return {"hosts": hosts, "guests": guests}


def _engine_only(values, mapping):
    return {k: v for k, v in (values or {}).items() if k in mapping and v is not None}
