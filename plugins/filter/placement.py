# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the placement engine: placement, evacuation_plan, capacity, cluster_model.

Documentation lives beside this file, one YAML per filter (placement.yml, ...).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.module_utils import engine
from ansible_collections.consolidation.xen.plugins.module_utils.inventory import (
    GUEST_VARS,
    HOST_VARS,
    model_from_inventory,
)
from ansible_collections.consolidation.xen.plugins.plugin_utils.plain import to_plain as _plain


def _call(name, func, *args, **kwargs):
    try:
        return func(*[_plain(a) for a in args], **{k: _plain(v) for k, v in kwargs.items()})
    except engine.ModelError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from None
    except ValueError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from None


def placement(guests, hosts, tolerate=1, overhead=True, keep_current=True, strategy="spread", max_scenarios=5000,
              tolerate_domains=0, domain_protect="high"):
    return _call("placement", engine.placement, guests, hosts, tolerate=tolerate, overhead=overhead,
                 keep_current=keep_current, strategy=strategy, max_scenarios=max_scenarios,
                 tolerate_domains=tolerate_domains, domain_protect=domain_protect)


def evacuation_plan(guests, hosts, drain, tolerate=1, overhead=True, max_scenarios=5000, current=None):
    return _call("evacuation_plan", engine.evacuation_plan, guests, hosts, drain, tolerate=tolerate,
                 overhead=overhead, max_scenarios=max_scenarios, current=current)


def capacity(guests, hosts, shape, tolerate=1, overhead=True, max_scenarios=5000, limit=1000):
    return _call("capacity", engine.capacity, guests, hosts, shape, tolerate=tolerate, overhead=overhead,
                 max_scenarios=max_scenarios, limit=limit)


def cluster_model(hostvars, host_names, guest_names):
    try:
        host_vars = [_pick(hostvars[n], HOST_VARS) for n in host_names]
        guest_vars = [_pick(hostvars[n], GUEST_VARS) for n in guest_names]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("cluster_model: %s" % exc) from None
    return _call("cluster_model", model_from_inventory, host_names, host_vars, guest_names, guest_vars)


def _pick(hv, mapping):
    # Read only the variables the model uses: each access templates that one value.
    return {var: hv[var] for var in mapping if var in hv}


class FilterModule:
    def filters(self):
        return {
            "placement": placement,
            "evacuation_plan": evacuation_plan,
            "capacity": capacity,
            "cluster_model": cluster_model,
        }
