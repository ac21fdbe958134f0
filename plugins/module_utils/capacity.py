# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many more guests of one shape fit while the N-k proof still holds (hspace's question)."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.bounds import binpack_hosts, fluid_hosts
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
# Where a re-planned search is cheap enough: clusters of at most this many active hosts try every count
# from the counting bound down with the whole placement (existing guests may move).
EXACT_MAX_HOSTS = 6
EXACT_MAX_TRIES = 20


def capacity(guests, hosts, shape, tolerate=1, overhead=True, max_scenarios=DEFAULT_MAX_SCENARIOS,
             limit=DEFAULT_LIMIT, tolerate_domains=0, domain_protect=DEFAULT_DOMAIN_PROTECT):
    """How many more guests of ``shape`` fit while the proof still holds, and how far that is from the limit.

    ``shape`` is a guest mapping without a name (memory_mb, vcpus, type, maxmem_mb). The existing
    guests are placed first (keeping current hosts) and guests of the shape added one at a time where
    the proof still holds, never moving the existing ones: ``fits_in_place``, with ``limited_by``
    saying what stopped it: ``memory``/``vcpus``/``constraints`` (no host can take one more at all),
    ``failover`` (one more would break the proof), or ``limit``.

    ``bound`` is the counting bound: the most guests of the shape for which the fluid and bin-packing
    lower bounds (memory and vCPUs, k hosts spare) still fit the active hosts; no placement holds
    more. On clusters of up to EXACT_MAX_HOSTS active hosts the whole placement is re-run with
    ``bound``, ``bound - 1``, ... new guests, so existing guests may move: ``fits`` is the best
    count either way and ``moves`` how many existing guests that needs moved from the plan (0 when
    ``fits == fits_in_place``). ``exact`` is true when ``fits`` reaches the bound.
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
              "base_ok": report["ok"], "reasons": [], "fits_in_place": 0, "moves": 0, "exact": False,
              "bound": counting_bound(cluster, shape, overhead, tolerate, limit)}
    if not report["ok"]:
        result["limited_by"] = "base"
        result["reasons"] = ["the current guests do not pass N-%d: " % tolerate] + report["reasons"]
        return result

    assignments = report["assignments"]
    layout = _layout_from(cluster, assignments)
    active = cluster.active_hosts
    placed_on = {}
    existing = len(cluster.guests)
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
    result["fits_in_place"] = result["fits"]
    del cluster.guests[existing:]
    if len(active) <= EXACT_MAX_HOSTS and result["fits"] < result["bound"]:
        _replan(guests, hosts, shape, result, assignments, overhead, tolerate, max_scenarios, tolerate_domains,
                domain_protect)
    result["exact"] = result["fits"] >= result["bound"]
    return result


def counting_bound(cluster, shape, overhead, tolerate, limit):
    """The most guests of ``shape`` (at most ``limit``) that two necessary conditions allow, so no placement
    holds more: every guest fits the active hosts, and the movable ones (they restart when their host
    fails) fit them with ``tolerate`` hosts spare; each by the fluid and the bin-packing lower bounds on
    hosts needed, per resource (memory and vCPUs)."""
    probe = make_guest(dict(shape, name="(new guest)"), 0, overhead)
    active = cluster.active_hosts
    caps = [h.capacity_mb for h in active]
    vcaps = [h.vcpu_capacity for h in active]
    every = ([g.max_footprint for g in cluster.guests], [g.vcpus for g in cluster.guests])
    movable = ([g.max_footprint for g in cluster.guests if g.movable], [g.vcpus for g in cluster.guests if g.movable])

    def need(sizes, vcpus, spare):
        return max(fluid_hosts(sizes, caps, spare), fluid_hosts(vcpus, vcaps, spare), binpack_hosts(sizes, caps, spare))

    def fits(n):
        more = ([probe.max_footprint] * n, [probe.vcpus] * n)
        if need(every[0] + more[0], every[1] + more[1], 0) > len(active):
            return False
        moving = more if probe.movable else ([], [])
        return need(movable[0] + moving[0], movable[1] + moving[1], tolerate) <= len(active)

    if not fits(0):
        return 0
    lo, hi = 0, limit
    if fits(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _replan(guests, hosts, shape, result, assignments, overhead, tolerate, max_scenarios, tolerate_domains,
            domain_protect):
    """Small clusters: the whole placement with ``bound``, ``bound - 1``, ... new guests; the first that
    passes sets ``fits``, ``placed_on`` and ``moves``."""
    for count in range(result["bound"], result["fits"], -1)[:EXACT_MAX_TRIES]:
        # The existing guests start where the plan put them (the placement keeps them there where it can).
        trial = [dict(g, current_host=assignments.get(g.get("name"))) for g in guests]
        trial += [dict(shape, name="__capacity_%d" % i) for i in range(count)]
        cluster = build_cluster(trial, hosts, tolerate=tolerate, overhead=overhead, tolerate_domains=tolerate_domains,
                                domain_protect=domain_protect, max_scenarios=max_scenarios)
        report = place(cluster, tolerate=tolerate, max_scenarios=max_scenarios)
        if not report["ok"]:
            continue
        placed = report["assignments"]
        placed_on = {}
        for i in range(count):
            host = placed["__capacity_%d" % i]
            placed_on[host] = placed_on.get(host, 0) + 1
        result.update(fits=count, placed_on=placed_on,
                      moves=sum(1 for name, host in assignments.items() if placed.get(name) != host))
        return


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
