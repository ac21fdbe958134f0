# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling maintenance: take hosts out a batch at a time, move their guests off and back, and account
for every intermediate state (the exposure ledger).

The schedule is a flat list of events, each valid when it runs: ``move`` (one live migration),
``out`` (a batch of emptied hosts goes into maintenance) and ``back`` (it returns). After every event
the ledger says how many host failures the cluster then survives (up to the N-k asked), which guests
would strand in the failure sets it does not survive, and the MiB short. A guest leaves a host going
out straight to its planned host where that one is up and has room, else to the roomiest host that is
not maintained later (so that it moves once more at most: back to its planned host when that returns).

Pure Python, no Ansible import.
"""

from __future__ import annotations

import itertools
import math

from ansible_collections.consolidation.xen.plugins.module_utils.evacuation import with_host_states
from ansible_collections.consolidation.xen.plugins.module_utils.failover import (
    DEFAULT_MAX_SCENARIOS,
    _Overlay,
    check_failover,
    restart_scenario,
)
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import PRIORITIES, ModelError
from ansible_collections.consolidation.xen.plugins.module_utils.moves import order_moves
from ansible_collections.consolidation.xen.plugins.module_utils.placement import place


def resolve_hosts(cluster, maintain):
    """The hosts to maintain, in order, from ``all``, a failure domain, a host name or a list of them."""
    if isinstance(maintain, str):
        maintain = [part.strip() for part in maintain.split(",") if part.strip()]
    if not isinstance(maintain, (list, tuple)) or not maintain:
        raise ModelError(["maintain: expected 'all', a failure domain, a host or a list of them, got %r"
                          % (maintain,)])
    out, errors = [], []
    for item in maintain:
        if item == "all":
            names = [h.name for h in cluster.active_hosts]
        elif item in cluster.host_by_name:
            names = [item]
        elif item in cluster.domains:
            names = [cluster.hosts[i].name for i in cluster.domains[item]]
        else:
            errors.append("maintain: %r is neither 'all', a host nor a failure domain (hosts: %s)"
                          % (item, ", ".join(h.name for h in cluster.hosts)))
            continue
        out.extend(n for n in names if n not in out)
    inactive = [n for n in out if not cluster.host_by_name[n].active]
    if inactive:
        errors.append("maintain: %s not active (state %s); only active hosts are rolled"
                      % (", ".join(inactive), ", ".join(cluster.host_by_name[n].state for n in inactive)))
    if errors:
        raise ModelError(errors)
    return out


def _with_out(cluster, out):
    """``cluster`` with the hosts named in ``out`` in maintenance (same guests, host indices, options)."""
    return with_host_states(cluster, {name: "maintenance" for name in out})


def exposure(cluster, layout, required, max_scenarios=DEFAULT_MAX_SCENARIOS):
    """What the state survives: ``tolerated`` (host failures survived, at most ``required``), ``at_risk``
    (guests stranded in some failure set of size ``required`` it does not survive), ``short_mb`` (the most
    memory short in one of them)."""
    active = len(cluster.active_hosts)
    proof = check_failover(cluster, layout, min(required, active), max_scenarios, detail=True)
    at_risk, short_mb = set(), 0
    for sc in proof["scenarios"]:
        if not sc["ok"]:
            at_risk.update(sc["stranded"])
            short_mb = max(short_mb, sc["short_mb"])
    if proof["hosts_ok"] and required < active:
        tolerated = required
    else:
        if required >= active:  # every host failing at once: nothing survives
            at_risk.update(g.name for h in cluster.active_hosts for g in layout.members[h.index] if g.movable)
            short_mb = max(short_mb, sum(g.max_footprint for h in cluster.active_hosts
                                         for g in layout.members[h.index] if g.movable))
        tolerated = 0
        for k in range(min(required, active) - 1, 0, -1):
            if check_failover(cluster, layout, k, max_scenarios, fail_fast=True, detail=False)["hosts_ok"]:
                tolerated = k
                break
    return {"tolerated": tolerated, "required": required, "at_risk": sorted(at_risk), "short_mb": short_mb,
            "method": proof["method"]}


class _Ledger:
    """The N-k measure of the ledger, kept move by move.

    A full measure (:func:`exposure`) runs at the start and whenever hosts go out or come back. In
    between, each failure set keeps the restart plan found for it; after a migration source -> target
    only the sets holding source or target are simulated again, and the others keep their plan while
    its restarts onto the target (the only host that lost room) still fit there: a plan that fits proves
    the set, so every answer stays sound and the set the plan does not cover is simulated again."""

    def __init__(self, required, max_scenarios):
        self.required = required
        self.max_scenarios = max_scenarios
        self.plans = None  # {failed host indices: {host index: [guests restarted there]}} of the sets that pass

    def full(self, state, layout):
        self.plans = None
        active = [h.index for h in state.active_hosts]
        k = self.required
        if 1 <= k < len(active) and math.comb(len(active), k) <= self.max_scenarios:
            plans = {failed: self._plan(state, layout, failed) for failed in itertools.combinations(active, k)}
            if all(plan is not None for plan in plans.values()):
                self.plans = plans
                return self._passes()
        return exposure(state, layout, self.required, self.max_scenarios)

    def _passes(self):
        return {"tolerated": self.required, "required": self.required, "at_risk": [], "short_mb": 0,
                "method": "exact"}

    def moved(self, state, layout, source, target):
        if self.plans is None or any(plan is None for plan in self.plans.values()):
            return self.full(state, layout)
        for failed, plan in self.plans.items():
            onto = plan.get(target.index)
            touched = source.index in failed or target.index in failed
            if touched or (onto and not self._still_fits(layout, onto, target)):
                self.plans[failed] = self._plan(state, layout, failed)
        if any(plan is None for plan in self.plans.values()):
            return self.full(state, layout)
        return self._passes()

    @staticmethod
    def _plan(state, layout, failed):
        outcome = restart_scenario(state, layout, failed, detail=False)
        if not outcome["ok"]:
            return None
        plan = {}
        by_name = state.guest_by_name
        for name, host in outcome["restarts"].items():
            plan.setdefault(host.index, []).append(by_name[name])
        return plan

    @staticmethod
    def _still_fits(layout, guests, host):
        overlay = _Overlay(layout)
        for guest in guests:
            if not overlay.fits(guest, host):
                return False
            overlay.add(guest, host)
        return True


def _target(layout, cluster, guest, final, later, out):
    """Where ``guest`` goes when its host goes out: its planned host if up and roomy, else the roomiest
    host that is not maintained later (any roomiest host when ``later`` is empty); None when nothing can
    take it."""
    best, best_key = None, None
    for host in cluster.active_hosts:
        if host.name in out or not layout.can_place(guest, host, ignore_pin=True):
            continue
        key = (host.name != final.get(guest.name), host.name in later, -layout.free_mb(host), host.index)
        if best_key is None or key < best_key:
            best, best_key = host, key
    return best


def schedule(cluster, maintain, batch=1, min_tolerate=None, max_scenarios=DEFAULT_MAX_SCENARIOS, final=None):
    """The rolling maintenance of the hosts ``maintain`` (see :func:`resolve_hosts`), ``batch`` at a time.

    Guests start where ``current_host`` says (live state) or, without it, where the engine's placement
    puts them; they end on that placement (the plan with every host up). ``min_tolerate`` (default the
    cluster's ``tolerate``) is the policy: a state that survives fewer host failures breaks it. ``final``
    ({guest: host}) is the plan to end on when the caller has it (the inventory's placement, while
    ``current_host`` holds live state); an empty ``maintain`` (a list) only brings guests home.

    Returns ``ok`` (every host rolled, every guest back on its planned host, the policy held), ``hosts``
    (in order), ``events`` [{step, event: move|out|back, ...}], ``ledger`` (one entry per event, and one
    for the start: {event, step, what, hosts_out, tolerated, required, policy, at_risk, short_mb, method}),
    ``worst`` (the lowest tolerance seen and where), ``final`` {guest: host}, ``left`` (guests not on their
    planned host at the end), ``reasons``, ``skipped`` (hosts that cannot be emptied, left out of the roll)
    and ``proposal`` (lower-priority guests whose shutdown keeps the policy, when it breaks and such guests
    exist).
    """
    if batch is None or isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ModelError(["batch: must be an integer >= 1, got %r" % (batch,)])
    required = cluster.tolerate if min_tolerate is None else min_tolerate
    if isinstance(required, bool) or not isinstance(required, int) or required < 0:
        raise ModelError(["min_tolerate: must be an integer >= 0, got %r" % (min_tolerate,)])
    # The ledger measures up to the N-k asked of the cluster (or the policy, when it asks more).
    measure = max(required, cluster.tolerate)
    order = [] if isinstance(maintain, (list, tuple)) and not maintain else resolve_hosts(cluster, maintain)
    if final is None:
        plan = place(cluster, max_scenarios=max_scenarios)
    else:
        plan = {"assignments": dict(final), "unplaced": []}
    final = plan["assignments"]
    report = {"ok": False, "hosts": order, "batch": batch, "events": [], "ledger": [], "final": final, "left": [],
              "reasons": [], "proposal": [], "worst": None, "skipped": []}
    if plan["unplaced"]:
        report["reasons"] = ["the plan itself places nothing for %s: %s" % (
            ", ".join(u["guest"] for u in plan["unplaced"]), "; ".join(plan.get("reasons") or []))]
        return report

    layout = Layout(cluster)
    for g in cluster.guests:
        host = g.current_host or final.get(g.name)
        if host is not None:
            layout.place(g, cluster.host_by_name[host])
    events, ledger, states = report["events"], report["ledger"], []

    tracker = _Ledger(measure, max_scenarios)

    states_by_out = {}

    def record(what, out, event=None, move=None):
        key = frozenset(out)
        state = states_by_out.get(key)
        if state is None:
            state = states_by_out[key] = _with_out(cluster, out)
        if move is None:
            measured = tracker.full(state, layout)
        else:
            measured = tracker.moved(state, layout, cluster.host_by_name[move["from"]],
                                     cluster.host_by_name[move["to"]])
        entry = dict(measured, what=what, hosts_out=sorted(out), event=event, step=step, policy=required)
        ledger.append(entry)
        if entry["tolerated"] < required:
            states.append((len(ledger) - 1, state, layout.copy()))

    step = 0
    record("start", set())
    # Guests away from their planned host while that host is up and not in the roll (after an evacuation,
    # or a roll interrupted after its host came back) go home first: the roll ends on the plan.
    for move in _plan_back(cluster, layout, final, set(order)):
        guest = cluster.guest_by_name[move["guest"]]
        layout.remove(guest)
        layout.place(guest, cluster.host_by_name[move["to"]])
        events.append(dict(move, step=0, event="move"))
        record("%s: %s -> %s (back)" % (move["guest"], move["from"], move["to"]), set(), len(events) - 1, move)
    remaining = list(order)
    while remaining:
        step += 1
        size = min(batch, len(remaining))
        chosen = None
        while size >= 1:
            group = remaining[:size]
            planned = _plan_out(cluster, layout, group, final, set(remaining[size:]), required, max_scenarios)
            if planned is not None:
                moves, chosen = planned[0], group
                break
            size -= 1
        if chosen is None:
            # This host cannot be emptied: say why, leave it out, roll the others.
            stuck = remaining.pop(0)
            reasons = _why_stuck(cluster, layout.copy(), stuck, final, set(remaining))
            report["reasons"].extend("step %d, %s out: %s" % (step, stuck, r) for r in reasons)
            report["skipped"].append(stuck)
            continue
        for move in moves:
            guest = cluster.guest_by_name[move["guest"]]
            layout.remove(guest)
            layout.place(guest, cluster.host_by_name[move["to"]])
            events.append(dict(move, step=step, event="move"))
            record("%s: %s -> %s" % (move["guest"], move["from"], move["to"]), set(), len(events) - 1, move)
        out = set(chosen)
        events.append({"step": step, "event": "out", "hosts": list(chosen)})
        record("%s out" % ", ".join(chosen), out, len(events) - 1)
        events.append({"step": step, "event": "back", "hosts": list(chosen)})
        remaining = remaining[len(chosen):]
        record("%s back" % ", ".join(chosen), set(), len(events) - 1)
        for move in _plan_back(cluster, layout, final, set(remaining)):
            guest = cluster.guest_by_name[move["guest"]]
            layout.remove(guest)
            layout.place(guest, cluster.host_by_name[move["to"]])
            events.append(dict(move, step=step, event="move"))
            record("%s: %s -> %s (back)" % (move["guest"], move["from"], move["to"]), set(), len(events) - 1, move)

    hosts = cluster.hosts
    report["left"] = sorted(g.name for g in cluster.guests if layout.host_of[g.index] >= 0
                            and hosts[layout.host_of[g.index]].name != final.get(g.name))
    worst = min(ledger, key=lambda e: (e["tolerated"], -len(e["at_risk"]), -e["short_mb"]))
    report["worst"] = {k: worst[k] for k in ("what", "step", "tolerated", "at_risk", "short_mb")}
    report["worst"]["keeps"] = worst["tolerated"] >= measure
    # One reason per step that breaks the policy: its worst state (the others of the step are in the ledger).
    per_step = {}
    for i, state, kept in states:
        e = ledger[i]
        best = per_step.get(e["step"])
        if best is None or (e["tolerated"], -len(e["at_risk"]), -e["short_mb"]) < \
                (ledger[best[0]]["tolerated"], -len(ledger[best[0]]["at_risk"]), -ledger[best[0]]["short_mb"]):
            per_step[e["step"]] = (i, state, kept)
    for step_no in sorted(per_step):
        e = ledger[per_step[step_no][0]]
        below = sum(1 for i, _s, _k in states if ledger[i]["step"] == step_no)
        report["reasons"].append("step %d, %s: survives %d host failure(s), the policy asks %d; at risk: %s (%d MiB "
                                 "short)%s" % (e["step"], e["what"], e["tolerated"], required,
                                               ", ".join(e["at_risk"]) or "-", e["short_mb"],
                                               "" if below == 1 else "; %d states of this step below it" % below))
    if per_step:
        report["proposal"] = _proposal(cluster, [(state, kept) for _i, state, kept in per_step.values()], required,
                                       max_scenarios)
    if report["left"] and not report["reasons"]:
        report["reasons"].append("guests not back on their planned host: %s" % ", ".join(report["left"]))
    report["ok"] = not report["reasons"]
    return report


def _plan_out(cluster, layout, group, final, later, required, max_scenarios):
    """The moves that empty the hosts in ``group``, each valid when it runs; None when one cannot leave.

    The targets avoid the hosts maintained later (a guest put there would move again); when that leaves
    the state with ``group`` out short of ``required`` host failures and spreading over every host does
    better, the spread wins."""
    first = _moves_out(cluster, layout, group, final, later)
    if not later:
        return first  # no host is avoided: spreading over every host is this very choice
    if first is None:
        return _moves_out(cluster, layout, group, final, set())
    state = _with_out(cluster, set(group))
    mine = exposure(state, first[1], required, max_scenarios)["tolerated"]
    if mine >= required:
        return first
    spread = _moves_out(cluster, layout, group, final, set())
    if spread is not None and exposure(state, spread[1], required, max_scenarios)["tolerated"] > mine:
        return spread
    return first


def _moves_out(cluster, layout, group, final, later):
    """Targets chosen largest guest first on a trial layout, then the migrations ordered by moves.order_moves
    (round-robin over the targets); (moves, layout after) or None when a guest cannot leave."""
    trial = layout.copy()
    out = set(group)
    movers = sorted((g for name in group for g in trial.members[cluster.host_by_name[name].index]),
                    key=lambda g: (-g.max_footprint, g.name))
    wanted = []
    for guest in movers:
        if not guest.movable:
            return None
        target = _target(trial, cluster, guest, final, later, out)
        if target is None:
            return None
        trial.remove(guest)
        trial.place(guest, target)
        wanted.append((guest, target))
    moves, left, _why, after = order_moves(cluster, layout, wanted, alternate=True)
    if left:
        return None
    return [{k: m[k] for k in ("guest", "from", "to", "memory_mb")} for m in moves], after


def _why_stuck(cluster, trial, name, final, later):
    host = cluster.host_by_name[name]
    reasons = []
    for guest in sorted(trial.members[host.index], key=lambda g: (-g.max_footprint, g.name)):
        if not guest.movable:
            reasons.append("guest %s is not movable (xen_guest_movable: false): shut it down for the maintenance, "
                           "or leave %s out" % (guest.name, name))
            continue
        target = _target(trial, cluster, guest, final, later, {name})
        if target is None:
            others = [h for h in cluster.active_hosts if h.name != name]
            why = "; ".join(trial.why_not(guest, h, ignore_pin=True) or "" for h in others[:4])
            reasons.append("guest %s (%d MiB) fits on no other host: %s" % (guest.name, guest.max_footprint, why))
            return reasons
        trial.remove(guest)
        trial.place(guest, target)
    return reasons or ["its guests cannot all leave it"]


def _plan_back(cluster, layout, final, later):
    """Moves that bring guests back to their planned hosts that are up now, each valid when it runs
    (moves.order_moves); a guest whose planned host is maintained later waits (it would only move again)."""
    wanted = [(g, cluster.host_by_name[final[g.name]]) for g in cluster.guests
              if layout.host_of[g.index] >= 0 and g.name in final
              and cluster.hosts[layout.host_of[g.index]].name != final[g.name] and final[g.name] not in later]
    moves, _left, _why, _after = order_moves(cluster, layout, wanted)
    return [{k: m[k] for k in ("guest", "from", "to", "memory_mb")} for m in moves]


def _proposal(cluster, states, required, max_scenarios):
    """Lower-priority guests whose shutdown makes every state in ``states`` survive ``required`` failures:
    the lowest classes first, the largest first within a class; [] when even that does not do it."""
    top = max((g.priority for g in cluster.guests), default=0)
    candidates = sorted((g for g in cluster.guests if g.priority < top),
                        key=lambda g: (g.priority, -g.max_footprint, g.name))
    stopped = []
    for state, layout in states:
        trial = layout.copy()
        for g in stopped:
            trial.remove(g)
        pool = [g for g in candidates if g not in stopped]
        while exposure(state, trial, required, max_scenarios)["tolerated"] < required:
            if not pool:
                return []
            # the smallest guest of the lowest class that is enough alone, else the largest of that class
            lowest = [g for g in pool if g.priority == pool[0].priority]
            pick = None
            for g in sorted(lowest, key=lambda g: (g.max_footprint, g.name)):
                probe = trial.copy()
                probe.remove(g)
                if exposure(state, probe, required, max_scenarios)["tolerated"] >= required:
                    pick = g
                    break
            g = pick or pool[0]
            pool.remove(g)
            trial.remove(g)
            stopped.append(g)
    return ["%s (%s, %d MiB)" % (g.name, PRIORITIES[g.priority], g.max_footprint) for g in stopped]
