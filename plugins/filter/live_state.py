# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter live_state: what read_live.yml left on every dom0, as the check modules take it.

Documentation lives beside this file (live_state.yml).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.module_utils.live import live_inputs
from ansible_collections.consolidation.xen.plugins.plugin_utils.plain import to_plain

# The facts playbooks/tasks/read_live.yml sets on each dom0 -> live_inputs() keys.
_FACTS = {"__evac_xen": "xen", "__evac_bridge_names": "bridges", "__evac_store_ok": "store_ok",
          "__evac_migrating": "migrating", "__evac_ssh_ok": "ssh_ok", "__evac_maintenance": "maintenance",
          "__evac_boot": "boot", "__evac_autostart": "autostart"}


def live_state(hostvars, host_names, guest_names, drain=None, dead=False):
    try:
        dom0s = {}
        for name in [str(n) for n in host_names or []]:
            hv = hostvars[name]
            dom0s[name] = {key: to_plain(hv[fact]) for fact, key in _FACTS.items() if fact in hv}
        common = None
        if drain is not None and str(drain) in dom0s:
            dv = hostvars[str(drain)]
            common = to_plain(dv["guests_cpuid"]) if "guests_cpuid" in dv else None
        masked = [str(g) for g in guest_names or []
                  if common is not None or to_plain(hostvars[str(g)].get("xen_guest_cpuid")) is not None]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("live_state: cannot read the live state of %s" % exc) from None
    return live_inputs(dom0s, masked, drain=None if drain is None else str(drain), dead=bool(dead))


class FilterModule:
    def filters(self):
        return {"live_state": live_state}
