# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's public entry points over plain mappings: what filters, modules and benchmarks call."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.capacity import capacity as _capacity
from ansible_collections.consolidation.xen.plugins.module_utils.evacuation import evacuation_plan as _evacuation
from ansible_collections.consolidation.xen.plugins.module_utils.failover import DEFAULT_MAX_SCENARIOS
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.maintenance import exposure as _exposure
from ansible_collections.consolidation.xen.plugins.module_utils.maintenance import schedule as _schedule
from ansible_collections.consolidation.xen.plugins.module_utils.model import (
    DEFAULT_DOMAIN_PROTECT,
    ModelError,
    build_cluster,
)
from ansible_collections.consolidation.xen.plugins.module_utils.moves import rebalance as _rebalance
from ansible_collections.consolidation.xen.plugins.module_utils.placement import place

__all__ = ["ModelError", "placement", "evacuation_plan", "rebalance_plan", "capacity", "failure_table",
           "maintenance_plan", "maintenance_lines", "exposure_now", "table_lines"]


def placement(guests, hosts, tolerate=1, overhead=True, keep_current=True, strategy="spread",
              max_scenarios=DEFAULT_MAX_SCENARIOS, tolerate_domains=0, domain_protect=DEFAULT_DOMAIN_PROTECT):
    cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead, tolerate_domains=tolerate_domains,
                            domain_protect=domain_protect, max_scenarios=max_scenarios)
    if strategy not in ("spread", "pack"):
        raise ModelError(["strategy: must be 'spread' or 'pack', got %r" % (strategy,)])
    return place(cluster, keep_current=keep_current, strategy=strategy, max_scenarios=max_scenarios)


def evacuation_plan(guests, hosts, drain, tolerate=1, overhead=True, max_scenarios=DEFAULT_MAX_SCENARIOS,
                    current=None):
    """``current`` ({guest: host}, e.g. a placement's assignments) overrides ``current_host``."""
    if current:
        if not isinstance(current, dict):
            raise ModelError(["current: expected a mapping of guest name to host name, got %r" % (current,)])
        guests = [dict(g, current_host=current.get(g.get("name"), g.get("current_host")))
                  if isinstance(g, dict) else g for g in guests]
    cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead)
    return _evacuation(cluster, drain, tolerate=tolerate, max_scenarios=max_scenarios)


def rebalance_plan(guests, hosts, current, tolerate=1, overhead=True, max_moves=None, strategy="spread",
                   max_scenarios=DEFAULT_MAX_SCENARIOS):
    """The moves that bring the running guests (``current``: {guest: host}, live state) back to the planned
    placement (what plan.yml and site.yml compute), each once and straight to its planned host, in an order
    where each fits when it runs and the N-``tolerate`` proof holds after it; ``max_moves`` caps them.

    Returns ``plan`` (the placement report), ``planned`` {guest: host}, ``moves``, ``left`` (guests still away
    from their planned host afterwards) and ``why`` ({guest: why it could not move yet})."""
    plan = placement(guests, hosts, tolerate=tolerate, overhead=overhead, strategy=strategy,
                     max_scenarios=max_scenarios)
    result = {"plan": plan, "planned": plan["assignments"], "moves": [], "left": [], "why": {}}
    if not plan["ok"]:
        return result
    current = dict(current or {})
    cluster = build_cluster([dict(g, current_host=current.get(g.get("name"))) for g in guests], hosts,
                            tolerate=tolerate, overhead=overhead)
    layout = Layout(cluster)
    for g in cluster.guests:
        if g.current_host is not None:
            layout.place(g, cluster.host_by_name[g.current_host])
    result.update(_rebalance(cluster, layout, plan["assignments"], max_moves=max_moves, max_scenarios=max_scenarios))
    return result


def exposure_now(guests, hosts, current, down=(), required=1, overhead=True, max_scenarios=DEFAULT_MAX_SCENARIOS):
    """What the cluster survives as it runs now: the guests where they run (``current``: {guest: host}), the
    hosts in ``down`` counted as down (out for maintenance, or unread). Returns ``tolerated`` (host failures
    survived, at most ``required``), ``required``, ``at_risk`` (guests stranded in some failure set of that size),
    ``short_mb`` and ``method``. Raises ModelError when the hosts left cannot be modelled (a guest pinned to a
    host that is down, say)."""
    down = set(down)
    # tolerate=0: the measure asks its own question (``required``), also of a cluster with fewer hosts left.
    cluster = build_cluster([dict(g, current_host=current.get(g.get("name"))) for g in guests],
                            [dict(h, state="down") if h.get("name") in down else h for h in hosts],
                            tolerate=0, overhead=overhead)
    layout = Layout(cluster)
    for g in cluster.guests:
        if g.current_host is not None and g.current_host not in down:
            layout.place(g, cluster.host_by_name[g.current_host])
    return _exposure(cluster, layout, max(required, 1), max_scenarios=max_scenarios)


def maintenance_plan(guests, hosts, maintain, batch=1, min_tolerate=None, tolerate=1, overhead=True,
                     max_scenarios=DEFAULT_MAX_SCENARIOS, tolerate_domains=0, domain_protect=DEFAULT_DOMAIN_PROTECT,
                     current=None, strategy="spread"):
    """The rolling maintenance of ``maintain`` ('all', a failure domain, a host or a list), ``batch`` hosts at
    a time, with its exposure ledger (maintenance.schedule). ``current`` ({guest: host}, live state)
    overrides ``current_host``, and the roll then ends on the inventory's plan (what plan.yml, site.yml and
    rebalance.yml compute, not one that keeps guests where they run); ``min_tolerate`` (default ``tolerate``)
    is the policy every state must keep."""
    final = None
    if current is not None:
        plan = placement(guests, hosts, tolerate=tolerate, overhead=overhead, strategy=strategy,
                         max_scenarios=max_scenarios, tolerate_domains=tolerate_domains, domain_protect=domain_protect)
        if plan["unplaced"]:
            raise ModelError(["the plan places nothing for %s: %s" % (
                ", ".join(u["guest"] for u in plan["unplaced"]), "; ".join(plan.get("reasons") or []))])
        final = plan["assignments"]
    if current:
        if not isinstance(current, dict):
            raise ModelError(["current: expected a mapping of guest name to host name, got %r" % (current,)])
        guests = [dict(g, current_host=current.get(g.get("name"), g.get("current_host")))
                  if isinstance(g, dict) else g for g in guests]
    cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead, tolerate_domains=tolerate_domains,
                            domain_protect=domain_protect, max_scenarios=max_scenarios)
    return _schedule(cluster, maintain, batch=batch, min_tolerate=min_tolerate, max_scenarios=max_scenarios,
                     final=final)


def maintenance_lines(report):
    """The schedule and its exposure ledger, for people: one line per event with what the cluster then
    survives, then the verdict."""
    lines = ["Maintenance of %s, %d at a time: %d migration(s), policy N-%d in every state"
             % (", ".join(report["hosts"]), report["batch"], sum(1 for e in report["events"] if e["event"] == "move"),
                report["ledger"][0]["policy"] if report["ledger"] else 0)]
    rows = [("step", "event", "survives", "at risk", "short MiB")]
    for entry in report["ledger"]:
        rows.append((str(entry["step"]), entry["what"], "N-%d" % entry["tolerated"], ", ".join(entry["at_risk"]) or "-",
                     str(entry["short_mb"])))
    lines.extend(table_lines(rows))
    worst = report.get("worst")
    if worst and worst["keeps"]:
        lines.append("every state survives N-%d" % worst["tolerated"])
    elif worst:
        lines.append("worst: N-%d at step %d (%s)%s" % (worst["tolerated"], worst["step"], worst["what"],
                                                        "; at risk: " + ", ".join(worst["at_risk"])
                                                        if worst["at_risk"] else ""))
    for reason in report["reasons"]:
        lines.append("refused: " + reason)
    if report.get("proposal"):
        lines.append("stopping these keeps the policy in every state: " + ", ".join(report["proposal"]))
    lines.append("maintenance plan: %s" % ("OK" if report["ok"] else "REFUSED"))
    return lines


def capacity(guests, hosts, shape, tolerate=1, overhead=True, max_scenarios=DEFAULT_MAX_SCENARIOS, limit=1000,
             tolerate_domains=0, domain_protect=DEFAULT_DOMAIN_PROTECT):
    return _capacity(guests, hosts, shape, tolerate=tolerate, overhead=overhead, max_scenarios=max_scenarios,
                     limit=limit, tolerate_domains=tolerate_domains, domain_protect=domain_protect)


def failure_table(report, reasons=True):
    """Plain-text table of a placement report's failover scenarios, for people; with ``reasons``, the report's
    reasons after it (each on a ``reason:`` line)."""
    failover = report["failover"]
    lines = []
    hosts_ok = failover.get("hosts_ok", failover["ok"])
    head = "N-%d proof: %s (%s, %d failure set(s))" % (
        failover["tolerate"], "PASSED" if hosts_ok else "FAILED", failover.get("method"),
        failover.get("scenarios_total", 0))
    lines.append(head)
    if failover.get("method") == "bound":
        b = failover["bound"]
        lines.append("  conservative bound: demand %d MiB, largest guest %d MiB, %d host(s) can receive, "
                     "slack units %s (>= 2 proves it)" % (b["demand_mb"], b.get("largest_guest_mb", 0),
                                                          b["allowed_hosts"], b["slack_units"]))
    rows = [("failed host(s)", "restarts", "stranded guests", "short MiB", "short vCPUs")]
    for sc in failover.get("scenarios", []):
        rows.append((", ".join(sc["failed"]), str(len(sc["restarts"])), ", ".join(sc["stranded"]) or "-",
                     str(sc["short_mb"]), str(sc["short_vcpus"])))
    lines.extend(table_lines(rows))
    if failover.get("unprotected"):
        lines.append("  not protected (movable: false, not restarted elsewhere): " + ", ".join(failover["unprotected"]))
    domains = failover.get("domains")
    if domains:
        lines.append("Failure domains: %d at once, guests of priority %s and up restart: %s (%d failure set(s))" % (
            domains["tolerate"], domains["protect"], "PASSED" if domains["ok"] else "FAILED",
            domains["scenarios_total"]))
        rows = [("failed domain(s)", "hosts", "restarts", "stranded guests", "left down (lower priority)")]
        for sc in domains["scenarios"]:
            rows.append((", ".join(sc["domains"]), ", ".join(sc["failed"]), str(len(sc["restarts"])),
                         ", ".join(sc["stranded"]) or "-", ", ".join(sc["left_down"]) or "-"))
        lines.extend(table_lines(rows))
    if report.get("not_reserved"):
        lines.append("not reserved, not restarted (xen_guest_state): " + ", ".join(
            "%s (%s)" % kv for kv in sorted(report["not_reserved"].items())))
    b = report.get("bounds")
    if b:
        lines.append("bounds: %d active host(s); at least %d needed (fluid), %d (bin-packing); %d in use"
                     % (b["active_hosts"], b["fluid_hosts"], b["binpack_hosts"], b.get("hosts_used", 0)))
    for reason in report.get("reasons", []) if reasons else ():
        lines.append("reason: " + reason)
    return lines


def table_lines(rows, indent="  "):
    """A heading row and its data rows as aligned, indented lines; nothing when there is no data row."""
    if len(rows) < 2:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
