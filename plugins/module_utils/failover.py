# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The N-k proof with real-HA semantics: when hosts fail, only their guests restart elsewhere.

For every set of ``tolerate`` active hosts that may fail together, the failed hosts' movable guests
are re-packed onto the survivors' residual capacity, largest first, onto the survivor with the most
free memory (xapi's ``biggest_fit_decreasing``). HVM guests prefer the survivor with the fewest HVM
guests. When that greedy pass strands a guest and the scenario is small, an exhaustive search
settles it, so a scenario is reported failed only when no restart plan exists (or the search budget
ran out, which is said). Past ``max_scenarios`` failure sets the check switches to a sound
conservative bound (see :func:`_bound_check`) and says so in ``method``.
"""

from __future__ import annotations

import heapq
import itertools
import math

from ansible_collections.consolidation.xen.plugins.module_utils.fit import fail_mode, why_not
from ansible_collections.consolidation.xen.plugins.module_utils.model import PRIORITIES

DEFAULT_MAX_SCENARIOS = 5000
EXACT_ITEMS = 12
EXACT_BUDGET = 20000


class _Overlay:
    """Restarts added on top of a layout, without copying it."""

    __slots__ = ("layout", "mb", "vcpus", "hvm", "groups")

    def __init__(self, layout):
        self.layout = layout
        self.mb = {}
        self.vcpus = {}
        self.hvm = {}
        self.groups = {}

    def free_mb(self, host):
        return host.capacity_mb - self.layout.used_mb[host.index] - self.mb.get(host.index, 0)

    def free_vcpus(self, host):
        return host.vcpu_capacity - self.layout.used_vcpus[host.index] - self.vcpus.get(host.index, 0)

    def _usage(self, host):
        h = host.index
        layout = self.layout
        return (layout.used_mb[h] + self.mb.get(h, 0), layout.used_vcpus[h] + self.vcpus.get(h, 0),
                layout.hvm[h] + self.hvm.get(h, 0), layout.groups[h], self.groups.get(h, ()))

    def why_not(self, guest, host):
        """Why ``guest`` cannot restart on ``host`` now, or None: the fit rule on layout + restarts.

        A pin does not hold on restart: a movable pinned guest restarts elsewhere when its host fails
        (README, ``xen_guest_host``).
        """
        used_mb, used_vcpus, hvm, groups, more_groups = self._usage(host)
        return why_not(guest, host, used_mb, used_vcpus, hvm, groups, more_groups, True)

    def fits(self, guest, host):
        """``why_not(guest, host) is None``, without building the sentence (the greedy's hot path)."""
        h = host.index
        layout = self.layout
        return fail_mode(guest, host, layout.used_mb[h] + self.mb.get(h, 0),
                         layout.used_vcpus[h] + self.vcpus.get(h, 0), layout.hvm[h] + self.hvm.get(h, 0),
                         layout.groups[h], self.groups.get(h, ()), True) is None

    def add(self, guest, host):
        h = host.index
        self.mb[h] = self.mb.get(h, 0) + guest.footprint(host)
        self.vcpus[h] = self.vcpus.get(h, 0) + guest.vcpus
        if guest.is_hvm:
            self.hvm[h] = self.hvm.get(h, 0) + 1
        if guest.anti_affinity is not None:
            self.groups.setdefault(h, set()).add(guest.anti_affinity)

    def undo(self, guest, host):
        h = host.index
        self.mb[h] -= guest.footprint(host)
        self.vcpus[h] -= guest.vcpus
        if guest.is_hvm:
            self.hvm[h] -= 1
        if guest.anti_affinity is not None:
            self.groups[h].discard(guest.anti_affinity)


def _restart_order(guest):
    # Largest first; among equals the constrained ones (group, HVM) first.
    return (-guest.max_footprint, -guest.vcpus, guest.anti_affinity is None, not guest.is_hvm, guest.name)


def _priority_order(guest):
    # Higher priority classes first, then as _restart_order: when not all fit, the lowest classes strand.
    return (-guest.priority,) + _restart_order(guest)


def _greedy(items, survivors, overlay):
    """Largest first onto the roomiest survivor; HVM guests onto the survivor with fewest HVM guests.

    Two lazy heaps (by free memory, and by HVM count then free memory) hold one current entry per
    survivor; an entry whose version is stale is dropped when popped.
    """
    restarts, stranded = {}, []
    version = {h.index: 0 for h in survivors}
    by_free = [(-overlay.free_mb(h), h.index, 0, h) for h in survivors]
    heapq.heapify(by_free)
    by_hvm = None
    layout_hvm = overlay.layout.hvm
    for guest in items:
        if guest.is_hvm:
            if by_hvm is None:
                by_hvm = [(layout_hvm[h.index] + overlay.hvm.get(h.index, 0), -overlay.free_mb(h), h.index,
                           version[h.index], h) for h in survivors]
                heapq.heapify(by_hvm)
            heap = by_hvm
        else:
            heap = by_free
        aside = []
        chosen = None
        smallest_need = min(guest._fp_hap, guest._fp_shadow)
        while heap:
            entry = heapq.heappop(heap)
            host = entry[-1]
            if entry[-2] != version[host.index]:
                continue  # stale
            aside.append(entry)
            if heap is by_free and -entry[0] < smallest_need:
                break  # the roomiest survivor left is too small: so is every other one
            if overlay.fits(guest, host):
                chosen = host
                aside.pop()
                break
        for entry in aside:
            heapq.heappush(heap, entry)
        if chosen is None:
            stranded.append(guest)
            continue
        overlay.add(guest, chosen)
        restarts[guest.name] = chosen
        h = chosen.index
        version[h] += 1
        free = overlay.free_mb(chosen)
        heapq.heappush(by_free, (-free, h, version[h], chosen))
        if by_hvm is not None:
            heapq.heappush(by_hvm, (layout_hvm[h] + overlay.hvm.get(h, 0), -free, h, version[h], chosen))
    return restarts, stranded


def _exhaustive(items, survivors, overlay, budget):
    """Backtracking search for a restart plan. Returns (plan or None, exhausted_budget)."""
    plan = {}
    nodes = [0]

    def dfs(i):
        if i == len(items):
            return True
        nodes[0] += 1
        if nodes[0] > budget:
            raise _Budget()
        # Forward check: every guest still to restart needs some survivor that could take it now.
        for later in items[i:]:
            if not any(overlay.fits(later, host) for host in survivors):
                return False
        guest = items[i]
        seen_states = set()
        for host in survivors:
            if not overlay.fits(guest, host):
                continue
            # Survivors in the same residual state are interchangeable for this guest.
            state = (overlay.free_mb(host), overlay.free_vcpus(host), host.hap, host.hvm_capable, host.cpus,
                     host.max_hvm,
                     overlay.layout.hvm[host.index] + overlay.hvm.get(host.index, 0),
                     frozenset(overlay.layout.groups[host.index] | overlay.groups.get(host.index, set())))
            if state in seen_states:
                continue
            seen_states.add(state)
            overlay.add(guest, host)
            plan[guest.name] = host
            if dfs(i + 1):
                return True
            overlay.undo(guest, host)
            del plan[guest.name]
        return False

    try:
        found = dfs(0)
    except _Budget:
        return None, True
    return (dict(plan) if found else None), False


class _Budget(Exception):
    pass


def restart_scenario(cluster, layout, failed, exact_items=EXACT_ITEMS, exact_budget=EXACT_BUDGET, detail=True,
                     min_priority=0):
    """Re-place the guests of the hosts in ``failed`` (host indices) on the other active hosts.

    Only movable guests of priority rank ``min_priority`` and up restart; the others of the failed
    hosts are returned as ``left_down``. When no plan restarts them all, the one reported restarts the
    higher classes first, so that only the lowest classes strand.
    """
    failed_set = set(failed)
    items, unprotected, left_down = [], [], []
    for f in failed:
        for guest in layout.members[f]:
            if not guest.movable:
                unprotected.append(guest)
            elif guest.priority < min_priority:
                left_down.append(guest)
            else:
                items.append(guest)
    items.sort(key=_restart_order)
    survivors = [h for h in cluster.active_hosts if h.index not in failed_set]
    overlay = _Overlay(layout)
    restarts, stranded = _greedy(items, survivors, overlay) if items else ({}, [])
    exhaustive = True
    if stranded and len(items) <= exact_items:
        plan, out_of_budget = _exhaustive(items, survivors, _Overlay(layout), exact_budget)
        if plan is not None:
            restarts, stranded = plan, []
            overlay = _Overlay(layout)
            for guest in items:
                overlay.add(guest, plan[guest.name])
        exhaustive = not out_of_budget
    elif stranded:
        exhaustive = False
    if stranded and len({g.priority for g in items}) > 1:
        by_priority = _Overlay(layout)
        p_restarts, p_stranded = _greedy(sorted(items, key=_priority_order), survivors, by_priority)
        if not p_stranded or (max(g.priority for g in p_stranded), len(p_stranded)) < (
                max(g.priority for g in stranded), len(stranded)):
            restarts, stranded, overlay = p_restarts, p_stranded, by_priority
    result = {"ok": not stranded, "stranded": stranded, "restarts": restarts, "unprotected": unprotected,
              "left_down": left_down, "proven": not stranded or exhaustive}
    if detail:
        result["short_mb"], result["short_vcpus"], result["reasons"] = _shortfall(stranded, survivors, overlay)
    return result


def _shortfall(stranded, survivors, overlay):
    if not stranded:
        return 0, 0, {}
    need_mb = sum(g.max_footprint for g in stranded)
    need_vcpus = sum(g.vcpus for g in stranded)
    free_mb = sum(max(0, overlay.free_mb(h)) for h in survivors)
    free_vcpus = sum(max(0, overlay.free_vcpus(h)) for h in survivors)
    reasons = {}
    for guest in stranded:
        if not survivors:
            reasons[guest.name] = "no surviving active host"
            continue
        blocks = [overlay.why_not(guest, h) or "host %s: room taken by other restarts" % h.name
                  for h in survivors]
        if len(blocks) > 4:
            blocks = blocks[:4] + ["%d more" % (len(blocks) - 4)]
        reasons[guest.name] = "needs %d MiB and %d vCPU(s); %s" % (guest.max_footprint, guest.vcpus, "; ".join(blocks))
    return max(0, need_mb - free_mb), max(0, need_vcpus - free_vcpus), reasons


def _scenario_entry(hosts, failed, outcome):
    return {
        "failed": [hosts[f].name for f in failed],
        "ok": outcome["ok"],
        "proven": outcome["proven"],
        "restarts": {name: host.name for name, host in sorted(outcome["restarts"].items())},
        "stranded": [g.name for g in outcome["stranded"]],
        "unprotected": sorted(g.name for g in outcome["unprotected"]),
        "left_down": sorted(g.name for g in outcome["left_down"]),
        "short_mb": outcome["short_mb"],
        "short_vcpus": outcome["short_vcpus"],
        "reasons": outcome["reasons"],
    }


def check_failover(cluster, layout, tolerate=None, max_scenarios=DEFAULT_MAX_SCENARIOS, fail_fast=False,
                   detail=True):
    """Prove that the layout survives the loss of any ``tolerate`` active hosts, and of any
    ``cluster.tolerate_domains`` whole failure domains for the guests of the protected classes.

    Returns ``{"tolerate", "ok", "method", "scenarios_total", "scenarios", "unprotected", "domains"}``;
    ``method`` is ``exact`` (every failure set simulated) or ``bound`` (conservative, see
    :func:`_bound_check`; ``bound`` then holds its figures). ``domains`` is the whole-domain part,
    always simulated: ``{"tolerate", "protect" (lowest class restarted), "ok", "scenarios_total",
    "scenarios"}`` (each scenario also names its ``domains``), or None when no domain failure is asked.
    ``ok`` covers both parts, ``hosts_ok`` the host failure sets alone.
    """
    k = cluster.tolerate if tolerate is None else tolerate
    active = [h.index for h in cluster.active_hosts]
    unprotected = sorted(g.name for h in active for g in layout.members[h] if not g.movable)
    result = {"tolerate": k, "ok": True, "method": "exact", "scenarios": [], "unprotected": unprotected,
              "scenarios_total": math.comb(len(active), k) if k <= len(active) else 0, "domains": None}
    hosts_ok = _check_hosts(cluster, layout, k, active, max_scenarios, fail_fast, detail, result)
    result["ok"] = result["hosts_ok"] = hosts_ok
    if not hosts_ok and fail_fast:
        return result
    if cluster.tolerate_domains:
        result["domains"] = _check_domains(cluster, layout, fail_fast, detail)
        result["ok"] = hosts_ok and result["domains"]["ok"]
        if fail_fast and not result["domains"]["ok"]:
            result["first_failure"] = result["domains"].get("first_failure")
    return result


def _check_hosts(cluster, layout, k, active, max_scenarios, fail_fast, detail, result):
    if k == 0:
        result["scenarios_total"] = 0
        return True
    if k >= len(active):
        result["method"] = "impossible"
        return False
    if result["scenarios_total"] > max_scenarios:
        result["method"] = "bound"
        result["bound"] = _bound_check(cluster, layout, k)
        return result["bound"]["ok"]
    hosts = cluster.hosts
    ok = True
    for failed in itertools.combinations(active, k):
        if k == 1 and not layout.members[failed[0]]:
            if detail:
                result["scenarios"].append({"failed": [hosts[failed[0]].name], "ok": True, "restarts": {},
                                            "stranded": [], "unprotected": [], "left_down": [], "short_mb": 0,
                                            "short_vcpus": 0, "reasons": {}})
            continue
        outcome = restart_scenario(cluster, layout, failed, detail=detail)
        if not outcome["ok"]:
            ok = False
        if detail:
            result["scenarios"].append(_scenario_entry(hosts, failed, outcome))
        if fail_fast and not outcome["ok"]:
            result["first_failure"] = [hosts[f].name for f in failed]
            return False
    return ok


def _check_domains(cluster, layout, fail_fast, detail):
    """Every set of ``tolerate_domains`` failure domains lost at once: the failed hosts' guests of the
    protected classes restart on the active hosts outside them (the survivors keep all their guests)."""
    d = cluster.tolerate_domains
    names = sorted(cluster.domains)
    out = {"tolerate": d, "protect": PRIORITIES[cluster.domain_protect], "ok": True,
           "scenarios_total": math.comb(len(names), d) if d <= len(names) else 0, "scenarios": []}
    if d >= len(names):
        out["ok"] = False
        return out
    hosts = cluster.hosts
    for combo in itertools.combinations(names, d):
        failed = sorted(i for name in combo for i in cluster.domains[name])
        outcome = restart_scenario(cluster, layout, failed, detail=detail, min_priority=cluster.domain_protect)
        if not outcome["ok"]:
            out["ok"] = False
        if detail:
            entry = _scenario_entry(hosts, failed, outcome)
            entry["domains"] = list(combo)
            out["scenarios"].append(entry)
        if fail_fast and not outcome["ok"]:
            out["first_failure"] = [hosts[f].name for f in failed]
            return out
    return out


def _bound_check(cluster, layout, k):
    """A sound sufficient condition for surviving any ``k`` failures, in O(H log H + G).

    Every restarted guest is at most ``s`` MiB and ``v`` vCPUs (the largest movable guest), so a
    survivor keeps accepting guests while its free memory is >= s and free vCPUs >= v; its
    "slack" is what it can absorb before that stops. Greedy restarting can only strand a guest
    once every survivor allowed to take it has used up its slack. The demand is at most the sum of
    the ``k`` largest host loads. Survivors allowed to take a guest are all but the ``k`` failed,
    those too small in pCPUs, those that cannot run HVM or PVH guests (when one moves), those with
    max_hvm 0, those already at their HVM cap and those holding a member of its anti-affinity group,
    each counted at its worst. With slack normalised
    per resource, the condition is: the sum of the smallest ``allowed`` normalised slacks >= 2
    (one unit for memory exhaustion, one for vCPU exhaustion).
    """
    active = cluster.active_hosts
    movable = [g for h in active for g in layout.members[h.index] if g.movable]
    if not movable:
        return {"ok": True, "demand_mb": 0, "demand_vcpus": 0, "allowed_hosts": len(active) - k, "slack_units": None}
    s_mb = max(g.max_footprint for g in movable)
    s_v = max(g.vcpus for g in movable)
    loads_mb = sorted((sum(g.max_footprint for g in layout.members[h.index] if g.movable) for h in active),
                      reverse=True)
    loads_v = sorted((sum(g.vcpus for g in layout.members[h.index] if g.movable) for h in active), reverse=True)
    demand_mb = sum(loads_mb[:k])
    demand_v = sum(loads_v[:k])
    blocked = sum(1 for h in active if h.cpus < s_v)
    if any(g.type != "pv" for g in movable):
        blocked += sum(1 for h in active if not h.hvm_capable and h.cpus >= s_v)
    hvm = [g for g in movable if g.is_hvm]
    capped = [h for h in active if h.max_hvm is not None]
    if hvm and capped:
        blocked += sum(1 for h in capped if h.max_hvm == 0)
        c_min = min((h.max_hvm for h in capped if h.max_hvm > 0), default=None)
        total_hvm = sum(layout.hvm[h.index] for h in active)
        if c_min:
            blocked += min(len(capped), (total_hvm - 1) // c_min)
    group_sizes = {}
    for g in movable:
        if g.anti_affinity is not None:
            group_sizes[g.anti_affinity] = group_sizes.get(g.anti_affinity, 0) + 1
    blocked += max(group_sizes.values(), default=1) - 1
    allowed = len(active) - k - blocked
    units = []
    for h in active:
        slack_mb = max(0, layout.free_mb(h) - s_mb)
        slack_v = max(0, layout.free_vcpus(h) - s_v)
        u_mb = slack_mb / demand_mb if demand_mb else float("inf")
        u_v = slack_v / demand_v if demand_v else float("inf")
        units.append(min(u_mb, u_v))
    units.sort()
    total = sum(units[:allowed]) if allowed > 0 else 0.0
    return {"ok": allowed > 0 and total >= 2.0, "demand_mb": demand_mb, "demand_vcpus": demand_v,
            "largest_guest_mb": s_mb, "allowed_hosts": allowed, "slack_units": round(total, 3)}
