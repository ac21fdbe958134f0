# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drain hosts: which guests move where, in an order where every move is valid when it runs."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.failover import DEFAULT_MAX_SCENARIOS
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import Host, ModelError
from ansible_collections.consolidation.xen.plugins.module_utils.moves import order_moves
from ansible_collections.consolidation.xen.plugins.module_utils.placement import place


def with_host_states(cluster, states):
    """A copy of ``cluster`` whose hosts named in ``states`` have that state (guests are shared)."""
    hosts = []
    for h in cluster.hosts:
        hosts.append(Host(h.name, h.memory_mb, h.cpus, h.dom0_memory_mb, h.xen_reserve_mb, states.get(h.name, h.state),
                          h.max_hvm, h.vcpu_ratio, h.hap, h.index, h.domain, h.shadow))
    return cluster.with_hosts(hosts)


def evacuation_plan(cluster, drain, tolerate=None, max_scenarios=DEFAULT_MAX_SCENARIOS):
    """Plan moving every guest off the hosts in ``drain``.

    Guests run where ``current_host`` says (live state); guests without it are not running and are
    left alone. Only the drained hosts' guests move. Returns ``ok``, ``moves`` [{guest, from, to}],
    ``refused`` [{guest, reason}] (non-movable or pinned guests: nothing moves then), ``stranded``
    [{guest, reason}], ``failover`` (the N-k proof of the cluster that remains) and ``hosts``.
    """
    if isinstance(drain, str):
        drain = [drain]
    if not isinstance(drain, (list, tuple)) or not drain:
        raise ModelError(["drain: expected a host name or a list of host names, got %r" % (drain,)])
    errors = []
    for name in drain:
        if name not in cluster.host_by_name:
            errors.append("drain: unknown host %r" % (name,))
    if errors:
        raise ModelError(errors)
    tolerate = cluster.tolerate if tolerate is None else tolerate
    drained = set(drain)
    after = with_host_states(cluster, {name: "maintenance" for name in drained})

    movers = [g for g in cluster.guests if g.current_host in drained]
    running = [g for g in cluster.guests if g.current_host is not None]
    refused = []
    for g in movers:
        if not g.movable:
            refused.append({"guest": g.name, "reason": "movable is false (e.g. PCI passthrough or local disks): "
                                                       "shut it down or set movable after fixing that"})
        elif g.pin is not None and g.pin in drained:
            refused.append({"guest": g.name, "reason": "pinned to %s, which is being drained" % g.pin})
    live = Layout(cluster)
    for g in running:
        live.place(g, cluster.host_by_name[g.current_host])
    base = {
        "drain": sorted(drained),
        "refused": refused,
        "moves": [],
        "stranded": [],
        "not_running": sorted(g.name for g in cluster.guests if g.current_host is None),
        # desired state stopped or absent (xen_guest_state): never moved, started or counted here
        "not_reserved": dict(sorted(cluster.not_running.items())),
    }
    if refused:
        base.update(ok=False, failover=None, hosts=live.host_report(),
                    reasons=["refused: %s (%s)" % (r["guest"], r["reason"]) for r in refused])
        return base

    frozen = {g.name for g in running if g.current_host not in drained}
    # Guests that are not running take no capacity now: plan only what runs.
    report = place(_only_running(after, running), tolerate=min(tolerate, max(0, len(after.active_hosts) - 1)),
                   max_scenarios=max_scenarios, keep_current=True, frozen=frozen)
    if tolerate > len(after.active_hosts) - 1:
        report["failover"]["note"] = "only %d active host(s) remain: N-%d cannot hold" % (len(after.active_hosts),
                                                                                          tolerate)
        report["failover"]["ok"] = False
    assignments = report["assignments"]
    stranded = [u for u in report["unplaced"] if u["guest"] in {g.name for g in movers}]
    moves = _order_moves(cluster, live, movers, assignments)
    base.update(
        ok=not stranded and moves is not None,
        moves=moves or [],
        stranded=stranded,
        failover=report["failover"],
        hosts=report["hosts"],
        reasons=[r for r in report["reasons"] if not r.startswith("lower bound")] if stranded else [],
    )
    if stranded:
        base["moves"] = []
        base["reasons"] = ["guest %s cannot leave %s: %s"
                           % (u["guest"], cluster.guest_by_name[u["guest"]].current_host, u["reason"])
                           for u in stranded]
    return base


def _only_running(cluster, running):
    from ansible_collections.consolidation.xen.plugins.module_utils.model import Guest

    guests = []
    for i, g in enumerate(running):
        copy = Guest(g.name, g.memory_mb, g.maxmem_mb, g.vcpus, g.type, g.pin, g.anti_affinity, g.movable,
                     g.current_host, i, overhead=cluster.overhead, priority=g.priority)
        guests.append(copy)
    return cluster.with_hosts(cluster.hosts, guests)


def _order_moves(cluster, live, movers, assignments):
    """Largest first, round-robin over the targets (moves.order_moves); each move is valid in the state the
    moves before it leave. None when one cannot run (it cannot happen: targets only gain, and the final state
    is valid)."""
    hosts = cluster.host_by_name
    wanted = [(g, hosts[assignments[g.name]]) for g in movers if g.name in assignments]
    moves, left, _why, _after = order_moves(cluster, live, wanted, alternate=True)
    if left:
        return None
    return [{k: m[k] for k in ("guest", "from", "to", "memory_mb")} for m in moves]
