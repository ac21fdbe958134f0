# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where every guest runs, chosen so that the N-k proof passes.

A portfolio of constructions is tried in order of preference, each checked by the failover proof,
and the first that passes wins:

1. keep every guest on its ``current_host`` where that is valid (fewest moves), place the rest
   spread out (worst fit by free share; HVM guests onto the host with the fewest HVM guests);
2. the same, packing the rest onto as few hosts as possible (best fit decreasing over the first m
   hosts, m growing): packing leaves whole hosts free, which is what large guests need to survive
   a failure (placement-anchors.md section 3: spread needs 18 hosts where 12 suffice);
3. 1 and 2 again without keeping current hosts;
4. a repair pass: move guests off the hosts whose failure strands guests;
5. on small clusters, an exhaustive search, so a failure there means no N-k-safe placement exists.
"""

from __future__ import annotations

import bisect
import heapq

from ansible_collections.consolidation.xen.plugins.module_utils.bounds import lower_bounds
from ansible_collections.consolidation.xen.plugins.module_utils.failover import (
    DEFAULT_MAX_SCENARIOS,
    check_failover,
)
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout

SEARCH_BUDGET = 300000  # host visits
EXHAUSTIVE_MAX_HOSTS = 6
EXHAUSTIVE_MAX_GUESTS = 12
REPAIR_ROUNDS = 60
REPAIR_EVALUATIONS = 400
REPAIR_TARGETS = 8


def _order(guest):
    # Large and constrained first; the name makes ties deterministic.
    return (-guest.max_footprint, -guest.vcpus, guest.anti_affinity is None, not guest.is_hvm, guest.name)


class Candidate:
    __slots__ = ("layout", "unplaced", "failover", "strategy")

    def __init__(self, layout, unplaced, failover, strategy):
        self.layout = layout
        self.unplaced = unplaced
        self.failover = failover
        self.strategy = strategy

    @property
    def ok(self):
        return not self.unplaced and self.failover["ok"]


def _unplaced_reason(layout, guest):
    hosts = layout.cluster.hosts
    if guest.pin is not None:
        host = layout.cluster.host_by_name[guest.pin]
        return "pinned to %s: %s" % (host.name, layout.why_not(guest, host) or "no room")
    why = [layout.why_not(guest, h) for h in hosts if h.active]
    why = [w for w in why if w]
    if len(why) > 4:
        why = why[:4] + ["%d more hosts" % (len(why) - 4)]
    return "no active host can take it: " + "; ".join(why)


def _seed(cluster, keep_current, frozen=()):
    """Frozen guests, pins, then current hosts where valid. Returns (layout, free guests, unplaced pins).

    Frozen guests stay on their current host whatever it holds (live state is what it is).
    """
    layout = Layout(cluster)
    unplaced = []
    for guest in cluster.guests:
        if guest.name in frozen:
            layout.place(guest, cluster.host_by_name[guest.current_host])
    pinned = sorted((g for g in cluster.guests if g.pin is not None and g.name not in frozen), key=_order)
    for guest in pinned:
        host = cluster.host_by_name[guest.pin]
        if layout.can_place(guest, host):
            layout.place(guest, host)
        else:
            unplaced.append({"guest": guest.name, "reason": _unplaced_reason(layout, guest)})
    rest = [g for g in cluster.guests if g.pin is None and g.name not in frozen]
    free = []
    if keep_current:
        current = sorted((g for g in rest if g.current_host is not None), key=_order)
        for guest in current:
            host = cluster.host_by_name.get(guest.current_host)
            if host is not None and layout.can_place(guest, host):
                layout.place(guest, host)
            else:
                free.append(guest)
        free.extend(g for g in rest if g.current_host is None)
    else:
        free = rest
    free.sort(key=_order)
    return layout, free, unplaced


def spread(layout, guests):
    """Worst fit by free memory share; HVM guests go to the fewest-HVM host first. Returns unplaced.

    Two lazy heaps (by free share; by HVM count then free share) with one current entry per host.
    """
    active = layout.cluster.active_hosts
    version = {h.index: 0 for h in active}

    def share(h):
        return -(layout.free_mb(h) / h.capacity_mb)

    by_free = [(share(h), h.index, 0, h) for h in active]
    heapq.heapify(by_free)
    by_hvm = None
    unplaced = []
    for guest in guests:
        if guest.is_hvm:
            if by_hvm is None:
                by_hvm = [(layout.hvm[h.index], share(h), h.index, version[h.index], h) for h in active]
                heapq.heapify(by_hvm)
            heap = by_hvm
        else:
            heap = by_free
        aside, chosen = [], None
        while heap:
            entry = heapq.heappop(heap)
            host = entry[-1]
            if entry[-2] != version[host.index]:
                continue  # stale
            if layout.can_place(guest, host):
                chosen = host
                break
            aside.append(entry)
        for entry in aside:
            heapq.heappush(heap, entry)
        if chosen is None:
            unplaced.append(guest)
            continue
        layout.place(guest, chosen)
        h = chosen.index
        version[h] += 1
        heapq.heappush(by_free, (share(chosen), h, version[h], chosen))
        if by_hvm is not None:
            heapq.heappush(by_hvm, (layout.hvm[h], share(chosen), h, version[h], chosen))
    return unplaced


def pack(layout, guests, hosts):
    """Best fit decreasing onto ``hosts`` only (the rest stay empty as failover room). Returns unplaced.

    Hosts sit in a list sorted by free memory; each guest takes the first host, from the smallest
    free memory that could hold it upwards, that passes every constraint.
    """
    frees = sorted((layout.free_mb(h), h.index) for h in hosts)
    by_index = {h.index: h for h in hosts}
    unplaced = []
    for guest in guests:
        need = min(guest._fp_hap, guest._fp_shadow)
        i = bisect.bisect_left(frees, (need, -1))
        chosen = None
        while i < len(frees):
            host = by_index[frees[i][1]]
            if layout.can_place(guest, host):
                chosen = host
                break
            i += 1
        if chosen is None:
            unplaced.append(guest)
            continue
        del frees[i]
        layout.place(guest, chosen)
        bisect.insort(frees, (layout.free_mb(chosen), chosen.index))
    return unplaced


def _pack_sizes(first, last):
    """m = first, first+1, ... while small; then growing steps, so large clusters take O(log H) tries."""
    m, step = first, 1
    while m < last:
        yield m
        if m - first >= 8:
            step *= 2
        m += step
    yield last


def _evaluate(cluster, layout, unplaced, strategy, tolerate, max_scenarios):
    if unplaced:
        return Candidate(layout, unplaced, {"ok": False, "tolerate": tolerate, "method": "skipped"}, strategy)
    failover = check_failover(cluster, layout, tolerate, max_scenarios, fail_fast=True, detail=True)
    return Candidate(layout, unplaced, failover, strategy)


def _pack_orders(cluster, base):
    """Host orders for packing: hosts already in use first, then the largest."""
    active = sorted(cluster.active_hosts, key=lambda h: (-base.used_mb[h.index], -h.capacity_mb, h.index))
    return active


def _constructions(cluster, keep_current, tolerate, max_scenarios, strategy, frozen):
    """Yield candidates in order of preference."""
    seeds = [True, False] if keep_current and any(g.current_host for g in cluster.guests) else [False]
    if frozen:
        seeds = [True]
    bounds = lower_bounds(cluster, tolerate)
    for keep in seeds:
        base, free, pin_unplaced = _seed(cluster, keep, frozen)
        label = "keep-current+" if keep else ""
        order = ["spread", "pack"] if strategy == "spread" else ["pack", "spread"]
        for kind in order:
            if kind == "spread":
                layout = base.copy()
                unplaced = spread(layout, free)
                yield _evaluate(cluster, layout, [u.name for u in unplaced] + pin_unplaced, label + "spread",
                                tolerate, max_scenarios)
                continue
            hosts = _pack_orders(cluster, base)
            first = max(1, min(len(hosts), bounds["fluid_hosts"] - tolerate))
            for m in _pack_sizes(first, len(hosts)):
                layout = base.copy()
                unplaced = pack(layout, free, hosts[:m])
                if unplaced and m < len(hosts):
                    continue  # m hosts are too few; try m + 1
                candidate = _evaluate(cluster, layout, [u.name for u in unplaced] + pin_unplaced,
                                      "%spack(%d)" % (label, m), tolerate, max_scenarios)
                yield candidate
                if candidate.ok:
                    break


def _all_scenarios(result):
    """The host failure sets, then the whole-domain ones."""
    return result["scenarios"] + ((result.get("domains") or {}).get("scenarios") or [])


def _stranded_mb(cluster, layout, tolerate, max_scenarios):
    result = check_failover(cluster, layout, tolerate, max_scenarios, detail=True)
    if result["method"] != "exact":
        return (0 if result["ok"] else 1), result
    total = 0
    guests = cluster.guest_by_name
    for sc in _all_scenarios(result):
        total += sum(guests[n].max_footprint for n in sc["stranded"])
    return total, result


def repair(cluster, layout, tolerate, max_scenarios, rounds=REPAIR_ROUNDS, frozen=(), evaluations=REPAIR_EVALUATIONS):
    """Greedy local search: move one guest at a time to lower the stranded memory over all scenarios.

    Each round tries the movable guests of the hosts whose failure strands guests against the
    roomiest other hosts, and (making room or lifting an anti-affinity block where the restarts
    would go, as a whole failure domain's loss needs) the guests of those other hosts onto the
    failing ones, and keeps the single move that lowers stranded memory most. Bounded by ``rounds``
    and by ``evaluations`` failover checks, so it stays cheap on large clusters.
    """
    score, result = _stranded_mb(cluster, layout, tolerate, max_scenarios)
    if result["method"] != "exact":
        return layout, result
    spent = 0
    for _round in range(rounds):
        if score == 0 or spent >= evaluations:
            break
        suspects = set()
        for sc in _all_scenarios(result):
            if not sc["ok"]:
                suspects.update(cluster.host_by_name[name].index for name in sc["failed"])
        targets = sorted((h for h in cluster.active_hosts if h.index not in suspects),
                         key=lambda h: (-layout.free_mb(h), h.index))[:REPAIR_TARGETS]
        suspect_hosts = sorted((cluster.hosts[h] for h in suspects), key=lambda h: (-layout.free_mb(h), h.index))
        moves = [(h, target) for h in sorted(suspects) for target in targets]
        moves += [(target.index, h) for target in targets for h in suspect_hosts[:REPAIR_TARGETS]]
        best = None
        for h, target in moves:
            for guest in sorted(layout.members[h], key=_order):
                if guest.pin is not None or not guest.movable or guest.name in frozen:
                    continue
                if spent >= evaluations:
                    break
                layout.remove(guest)
                if layout.can_place(guest, target):
                    layout.place(guest, target)
                    spent += 1
                    new_score, new_result = _stranded_mb(cluster, layout, tolerate, max_scenarios)
                    layout.remove(guest)
                    if new_score < score and (best is None or new_score < best[0]):
                        best = (new_score, guest, target, new_result)
                layout.place(guest, cluster.hosts[h])
        if best is None:
            break
        score, guest, target, result = best
        layout.remove(guest)
        layout.place(guest, target)
    return layout, result


def exhaustive(cluster, tolerate, max_scenarios, budget=SEARCH_BUDGET, frozen=()):
    """Depth-first search over every assignment (identical hosts in identical states tried once).

    Returns (layout or None, complete) where ``complete`` says the whole space was searched.
    """
    base, free, pin_unplaced = _seed(cluster, keep_current=False, frozen=frozen)
    if pin_unplaced:
        return None, True
    layout = base
    nodes = [0]
    guests = free

    class _Out(Exception):
        pass

    def dfs(i):
        if i == len(guests):
            return check_failover(cluster, layout, tolerate, max_scenarios, fail_fast=True, detail=False)["ok"]
        nodes[0] += 1
        if nodes[0] > budget:
            raise _Out()
        guest = guests[i]
        seen = set()
        for host in cluster.active_hosts:
            nodes[0] += 1
            if not layout.can_place(guest, host):
                continue
            state = (host.capacity_mb, host.vcpu_capacity, host.cpus, host.hap, host.hvm_capable, host.max_hvm,
                     layout.used_mb[host.index], layout.used_vcpus[host.index], layout.hvm[host.index],
                     frozenset(layout.groups[host.index]),
                     tuple(sorted(g.name for g in layout.members[host.index] if g.pin is not None)),
                     tuple(sorted((g.max_footprint, g.vcpus, g.type, g.anti_affinity or "", g.movable)
                                  for g in layout.members[host.index])))
            if state in seen:
                continue
            seen.add(state)
            layout.place(guest, host)
            if dfs(i + 1):
                return True
            layout.remove(guest)
        return False

    try:
        found = dfs(0)
    except _Out:
        return None, False
    return (layout if found else None), True


def place(cluster, tolerate=None, max_scenarios=DEFAULT_MAX_SCENARIOS, keep_current=True, strategy="spread",
          search_budget=SEARCH_BUDGET, frozen=()):
    """Choose a placement and prove it. Returns the report of :func:`placement_report`.

    ``frozen`` names guests that must stay on their ``current_host`` (an evacuation moves only the
    drained hosts' guests).
    """
    if strategy not in ("spread", "pack"):
        raise ValueError("strategy: must be 'spread' or 'pack', got %r" % (strategy,))
    frozen = frozenset(frozen)
    tolerate = cluster.tolerate if tolerate is None else tolerate
    best = None
    tried = []
    for candidate in _constructions(cluster, keep_current, tolerate, max_scenarios, strategy, frozen):
        tried.append(candidate.strategy)
        if candidate.ok:
            best = candidate
            break
        if best is None or _worse(best, candidate):
            best = candidate
    search = None
    if not best.ok and not best.unplaced:
        layout, result = repair(cluster, best.layout.copy(), tolerate, max_scenarios, frozen=frozen)
        tried.append("repair")
        candidate = Candidate(layout, [], result, best.strategy + "+repair")
        if candidate.ok or _worse(best, candidate):
            best = candidate
    if not best.ok and _small(cluster, frozen):
        layout, complete = exhaustive(cluster, tolerate, max_scenarios, search_budget, frozen)
        tried.append("exhaustive")
        search = "complete" if complete else "budget exhausted"
        if layout is not None:
            best = Candidate(layout, [], {"ok": True}, "exhaustive")
    return placement_report(cluster, best, tolerate, max_scenarios, tried, search)


def _small(cluster, frozen):
    """Exhaustive search only where it finishes quickly (small clusters, as in the oracle tests)."""
    free = sum(1 for g in cluster.guests if g.name not in frozen and g.pin is None)
    return len(cluster.active_hosts) <= EXHAUSTIVE_MAX_HOSTS and free <= EXHAUSTIVE_MAX_GUESTS


def _worse(a, b):
    """True when candidate ``b`` is better than ``a`` (fewer unplaced, then passes)."""
    return (len(b.unplaced), not b.failover["ok"]) < (len(a.unplaced), not a.failover["ok"])


def placement_report(cluster, candidate, tolerate, max_scenarios, tried, search):
    layout = candidate.layout
    failover = candidate.failover
    if not (failover.get("ok") and "scenarios" in failover):
        # failing candidates were checked fail-fast: report every scenario
        failover = check_failover(cluster, layout, tolerate, max_scenarios, detail=True)
    unplaced = []
    by_name = cluster.guest_by_name
    for item in candidate.unplaced:
        if isinstance(item, dict):
            unplaced.append(item)
        else:
            unplaced.append({"guest": item, "reason": _unplaced_reason(layout, by_name[item])})
    hosts = cluster.hosts
    moves = sorted(g.name for g in cluster.guests
                   if g.current_host is not None and layout.host_of[g.index] >= 0
                   and hosts[layout.host_of[g.index]].name != g.current_host)
    ok = not unplaced and failover["ok"]
    report = {
        "ok": ok,
        "assignments": layout.assignments(),
        "unplaced": unplaced,
        "hosts": layout.host_report(),
        "failover": failover,
        "bounds": dict(lower_bounds(cluster, tolerate), hosts_used=sum(1 for m in layout.members if m)),
        "moves": moves,
        "strategy": candidate.strategy,
        "tried": tried,
        "search": search,
        "reasons": [],
        # desired state stopped or absent (xen_guest_state): no capacity reserved, never restarted
        "not_reserved": dict(sorted(cluster.not_running.items())),
    }
    if not ok:
        report["reasons"] = explain(cluster, report, search)
    return report


def explain(cluster, report, search):
    reasons = []
    for item in report["unplaced"]:
        reasons.append("guest %s cannot be placed: %s" % (item["guest"], item["reason"]))
    failover = report["failover"]
    if not failover["ok"]:
        if failover.get("method") == "bound":
            b = failover["bound"]
            reasons.append("N-%d not proven by the conservative bound (demand %d MiB, slack units %s < 2); "
                           "raise max_scenarios for an exact check" % (failover["tolerate"], b["demand_mb"],
                                                                       b["slack_units"]))
        for sc in failover.get("scenarios", []):
            if sc["ok"]:
                continue
            first = sc["stranded"][0] if sc["stranded"] else None
            if sc["short_mb"] or sc["short_vcpus"]:
                short = "short %d MiB / %d vCPUs" % (sc["short_mb"], sc["short_vcpus"])
            else:
                short = "enough free memory and vCPUs in total, but no single survivor can take it"
            reasons.append("if %s fail(s): %s stranded, %s%s" % (
                ", ".join(sc["failed"]), ", ".join(sc["stranded"]), short,
                " (%s: %s)" % (first, sc["reasons"].get(first, "")) if first else ""))
        domains = failover.get("domains") or {}
        for sc in domains.get("scenarios", []):
            if sc["ok"]:
                continue
            short = ("short %d MiB / %d vCPUs" % (sc["short_mb"], sc["short_vcpus"])
                     if sc["short_mb"] or sc["short_vcpus"] else "no single survivor can take it")
            reasons.append("if failure domain(s) %s fail (%s): %s stranded (priority %s and up must restart), %s" % (
                ", ".join(sc["domains"]), ", ".join(sc["failed"]), ", ".join(sc["stranded"]), domains["protect"],
                short))
        if domains and not domains.get("scenarios") and not domains["ok"]:
            reasons.append("failure domains: %d to tolerate, %d with an active host"
                           % (domains["tolerate"], len(cluster.domains)))
        groups = {}
        for g in cluster.guests:
            if g.anti_affinity is not None and g.movable:
                groups.setdefault(g.anti_affinity, []).append(g.name)
        for name, members in sorted(groups.items()):
            need = len(members) + failover["tolerate"]
            if need > len(cluster.active_hosts):
                reasons.append("anti_affinity group %s has %d guests (%s): surviving %d failure(s) needs %d active "
                               "hosts, %d are active" % (name, len(members), ", ".join(members), failover["tolerate"],
                                                         need, len(cluster.active_hosts)))
    b = report["bounds"]
    if b["binpack_hosts"] > b["active_hosts"]:
        reasons.append("lower bound: these guests need at least %d active hosts to survive %d failure(s), "
                       "%d are active" % (b["binpack_hosts"], b["tolerate"], b["active_hosts"]))
    safe = "N-%d-safe" % failover["tolerate"]
    if failover.get("domains"):
        safe = "N-%d and failure-domain-safe" % failover["tolerate"]
    if search == "complete":
        reasons.append("exhaustive search: no %s placement exists on these hosts" % safe)
    elif search == "budget exhausted":
        reasons.append("no %s placement found (heuristics, repair and a bounded exhaustive search)" % safe)
    elif not report["unplaced"]:
        reasons.append("no %s placement found by spread, pack and repair; the exhaustive search runs only "
                       "up to %d hosts and %d guests to place" % (safe, EXHAUSTIVE_MAX_HOSTS, EXHAUSTIVE_MAX_GUESTS))
    return reasons
