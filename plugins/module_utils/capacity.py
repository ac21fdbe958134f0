# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many more guests of one shape fit while the N-k proof still holds (hspace's question)."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.failover import DEFAULT_MAX_SCENARIOS, check_failover
from ansible_collections.consolidation.xen.plugins.module_utils.fit import FAIL_MEMORY, FAIL_PCPUS, FAIL_VCPUS
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import (
    DEFAULT_DOMAIN_PROTECT,
    ModelError,
    build_cluster,
    make_guest,
)
from ansible_collections.consolidation.xen.plugins.module_utils.placement import place

DEFAULT_LIMIT = 1000


def capacity(guests, hosts, shape, tolerate=1, overhead=True, max_scenarios=DEFAULT_MAX_SCENARIOS,
             limit=DEFAULT_LIMIT, tolerate_domains=0, domain_protect=DEFAULT_DOMAIN_PROTECT):
    """Add guests of ``shape`` one at a time where the proof still holds; report how many fit.

    ``shape`` is a guest mapping without a name (memory_mb, vcpus, type, maxmem_mb). The existing
    guests are placed first (keeping current hosts); new guests never move them. ``limited_by``
    says what stopped the count: ``memory``/``vcpus``/``constraints`` (no host can take one more at
    all), ``failover`` (one more would break N-k), or ``limit``.
    """
    if not isinstance(shape, dict):
        raise ModelError(["shape: expected a mapping such as {memory_mb: 1G, vcpus: 1}, got %r" % (shape,)])
    probe = dict(shape, name="(new guest)")
    probe.pop("host", None)
    probe.pop("current_host", None)
    build_cluster([probe], hosts, tolerate=0, overhead=overhead)  # validates the shape against the hosts
    cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead, tolerate_domains=tolerate_domains,
                            domain_protect=domain_protect, max_scenarios=max_scenarios)
    report = place(cluster, tolerate=tolerate, max_scenarios=max_scenarios)
    result = {"shape": dict(shape), "tolerate": tolerate, "fits": 0, "limited_by": None, "placed_on": {},
              "base_ok": report["ok"], "reasons": []}
    if not report["ok"]:
        result["limited_by"] = "base"
        result["reasons"] = ["the current guests do not pass N-%d: " % tolerate] + report["reasons"]
        return result

    assignments = report["assignments"]
    layout = _layout_from(cluster, assignments)
    active = cluster.active_hosts
    placed_on = {}
    for i in range(limit):
        guest = make_guest(dict(shape, name="__capacity_%d" % i), len(cluster.guests), overhead)
        cluster.guests.append(guest)
        layout.host_of.append(-1)
        candidates = [h for h in active if layout.can_place(guest, h)]
        if not candidates:
            result["limited_by"] = _why_full(layout, guest, active)
            break
        candidates.sort(key=lambda h: (layout.hvm[h.index] if guest.is_hvm else 0,
                                       -(layout.free_mb(h) / h.capacity_mb), h.index))
        accepted = None
        for host in candidates:
            layout.place(guest, host)
            if check_failover(cluster, layout, tolerate, max_scenarios, fail_fast=True, detail=False)["ok"]:
                accepted = host
                break
            layout.remove(guest)
        if accepted is None:
            result["limited_by"] = "failover"
            break
        placed_on[accepted.name] = placed_on.get(accepted.name, 0) + 1
        result["fits"] += 1
    else:
        result["limited_by"] = "limit"
    result["placed_on"] = placed_on
    return result


def _layout_from(cluster, assignments):
    layout = Layout(cluster)
    for guest in cluster.guests:
        name = assignments.get(guest.name)
        if name is not None:
            layout.place(guest, cluster.host_by_name[name])
    return layout


def _why_full(layout, guest, active):
    modes = {layout.fail_mode(guest, h) for h in active}
    if FAIL_MEMORY in modes:
        return "memory"
    if FAIL_VCPUS in modes or FAIL_PCPUS in modes:
        return "vcpus"
    return "constraints"
