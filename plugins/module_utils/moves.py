# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One move routine for every plan that live-migrates running guests: evacuation, rebalance and the
maintenance schedule order their migrations with :func:`order_moves`.

Pure Python, no Ansible import.
"""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.failover import DEFAULT_MAX_SCENARIOS, check_failover


def order_moves(cluster, layout, wanted, tolerate=None, limit=None, alternate=False,
                max_scenarios=DEFAULT_MAX_SCENARIOS):
    """Run the ``wanted`` migrations ([(guest, target host)]) on a copy of ``layout``, each when it is valid.

    Candidates are tried largest first (by name on ties); with ``alternate`` one whose target differs from
    the last move's comes first (round-robin over the targets, so that moves run in parallel spread). A
    move runs when the guest fits on its target in the state the moves before it left (a pin does not hold
    a guest that is being moved) and, with ``tolerate``, the N-``tolerate`` proof still holds after it. A
    move that cannot run yet waits; when none can run, or ``limit`` moves ran, the routine stops.

    Returns ``(moves, left, why, layout)``: ``moves`` [{guest, from, to, memory_mb, type}, and ``proof`` with
    ``tolerate``], ``left`` (the guests whose move did not run, by name), ``why`` ({guest: the last reason it
    waited}) and the layout after the moves.
    """
    state = layout.copy()
    hosts = cluster.hosts
    pending = sorted(wanted, key=lambda gt: (-gt[0].max_footprint, gt[0].name))
    limit = len(pending) if limit is None else max(0, int(limit))
    moves, why, last = [], {}, None
    while pending and len(moves) < limit:
        order = pending
        if alternate and last is not None:
            order = [p for p in pending if p[1] is not last] + [p for p in pending if p[1] is last]
        chosen = None
        for guest, target in order:
            reason = state.why_not(guest, target, ignore_pin=True)
            if reason is not None:
                why[guest.name] = "does not fit on %s yet: %s" % (target.name, reason)
                continue
            proof = None
            if tolerate is not None:
                trial = state.copy()
                trial.remove(guest)
                trial.place(guest, target)
                proof = check_failover(cluster, trial, tolerate=tolerate, max_scenarios=max_scenarios, detail=False)
                if not proof["ok"]:
                    why[guest.name] = "moving it to %s now would break the N-%d proof" % (target.name, tolerate)
                    continue
            chosen = (guest, target, proof)
            break
        if chosen is None:
            break
        guest, target, proof = chosen
        source = hosts[state.host_of[guest.index]].name
        state.remove(guest)
        state.place(guest, target)
        pending.remove((guest, target))
        why.pop(guest.name, None)
        move = {"guest": guest.name, "from": source, "to": target.name, "memory_mb": guest.footprint(target),
                "type": guest.type}
        if proof is not None:
            move["proof"] = "N-%d holds (%s)" % (tolerate, proof["method"])
        moves.append(move)
        last = target
    return moves, sorted(g.name for g, _t in pending), why, state


def rebalance(cluster, layout, planned, max_moves=None, max_scenarios=DEFAULT_MAX_SCENARIOS):
    """The moves that bring the running guests of ``layout`` back to ``planned`` ({guest: host}), each once,
    straight to its planned host, in an order where each fits when it runs and the cluster's N-k proof holds
    after it (:func:`order_moves`). Guests that run nowhere are left alone."""
    wanted = [(g, cluster.host_by_name[planned[g.name]]) for g in cluster.guests
              if layout.host_of[g.index] >= 0 and planned.get(g.name)
              and cluster.hosts[layout.host_of[g.index]].name != planned[g.name]]
    moves, left, why, _after = order_moves(cluster, layout, wanted, tolerate=cluster.tolerate, limit=max_moves,
                                           max_scenarios=max_scenarios)
    return {"moves": moves, "left": left, "why": {g: why[g] for g in left if g in why}}
