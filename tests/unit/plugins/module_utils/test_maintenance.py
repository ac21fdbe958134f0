"""Rolling maintenance: the schedule, its exposure ledger and the policy, checked by replaying every event
against the brute-force oracle."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ansible_collections.consolidation.xen.plugins.module_utils.engine import maintenance_lines, maintenance_plan
from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError, build_cluster
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils import bruteforce
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils.clusters import origin_hosts, paper_guests
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils.test_properties import clusters


def host(name, memory_mb=4096, domain=None, **extra):
    return dict({"name": name, "memory_mb": memory_mb, "cpus": 4, "dom0_memory_mb": 512, "xen_reserve_mb": 0,
                 "domain": domain}, **extra)


def guest(name, memory_mb=512, **extra):
    return dict({"name": name, "memory_mb": memory_mb, "vcpus": 1, "type": "pvh"}, **extra)


def replay(guests, hosts, report, overhead=True):
    """Every state of the schedule, rebuilt from the events alone: [(cluster with the hosts out, assignment)]."""
    # guests never moved start (and end) where the plan puts them; moved ones start where their first move leaves
    first = {}
    for e in report["events"]:
        if e["event"] == "move" and e["guest"] not in first:
            first[e["guest"]] = e["from"]
    assignment = dict(report["final"], **first)
    out = set()
    states = [(out.copy(), dict(assignment))]
    for e in report["events"]:
        if e["event"] == "move":
            assert assignment[e["guest"]] == e["from"], e
            assignment[e["guest"]] = e["to"]
        elif e["event"] == "out":
            out |= set(e["hosts"])
            assert not any(h in out for h in assignment.values()), (e, assignment)
        else:
            out -= set(e["hosts"])
        states.append((out.copy(), dict(assignment)))
    result = []
    unpinned = [dict(g, host=None) for g in guests]  # a maintenance move may take a pinned guest off its host
    for out_now, where in states:
        cluster = build_cluster(unpinned, [dict(h, state="maintenance") if h["name"] in out_now else h for h in hosts],
                                tolerate=0, overhead=overhead)
        result.append((cluster, where))
    return result


def test_the_origins_cluster_with_any_host_out_is_refused_naming_step_guests_and_mib():
    # four 16 GiB hosts, the origin's 30 guests plus ten: N-1 holds with all four, not with three
    guests = paper_guests() + [guest("x%d" % i, 1024, priority="low") for i in range(6)] + [
        guest("core%d" % i, 1024, priority="high") for i in range(4)]
    hosts = origin_hosts(4)
    report = maintenance_plan(guests, hosts, "all")
    assert report["ledger"][0]["tolerated"] == 1  # the plan itself is N-1
    assert not report["ok"]
    outs = [e for e in report["ledger"] if e["what"].endswith(" out")]
    assert outs and all(e["tolerated"] == 0 and e["at_risk"] and e["short_mb"] > 0 for e in outs)
    first = outs[0]
    assert report["reasons"][0] == "step 1, blade1 out: survives 0 host failure(s), the policy asks 1; at risk: %s " \
        "(%d MiB short)" % (", ".join(first["at_risk"]), first["short_mb"])
    # the proposal stops the lowest class first (all six low ones, then normal ones), never a high one,
    # and with them gone every state keeps N-1
    names = [p.split(" ")[0] for p in report["proposal"]]
    assert names[:6] == ["x%d" % i for i in range(6)] and len(names) > 6
    assert not [n for n in names if n.startswith("core")]
    assert all(p.endswith("(normal, 2068 MiB)") for p in report["proposal"][6:])
    fewer = [g for g in guests if g["name"] not in names]
    assert maintenance_plan(fewer, hosts, "all")["ok"]
    # with the policy lowered the same schedule is accepted, the ledger still saying N-0
    relaxed = maintenance_plan(guests, hosts, "all", min_tolerate=0)
    assert relaxed["ok"] and [e["tolerated"] for e in relaxed["ledger"]] == [e["tolerated"] for e in report["ledger"]]
    lines = maintenance_lines(relaxed)
    assert lines[0].startswith("Maintenance of blade1, blade2, blade3, blade4, 1 at a time:")
    assert lines[-1] == "maintenance plan: OK"
    worst = relaxed["worst"]
    assert worst["tolerated"] == 0 and worst["what"].endswith(" out")
    assert "worst: N-0 at step %d (%s); at risk: %s" % (worst["step"], worst["what"], ", ".join(worst["at_risk"])) \
        in lines


def test_a_roomy_cluster_rolls_every_host_each_guest_moving_out_and_back_once_at_most():
    hosts = [host("h%d" % i, 8192) for i in range(1, 5)]
    guests = [guest("g%d" % i, 512) for i in range(12)]
    report = maintenance_plan(guests, hosts, "all")
    assert report["ok"], report["reasons"]
    assert [e["hosts"] for e in report["events"] if e["event"] == "out"] == [["h1"], ["h2"], ["h3"], ["h4"]]
    moves = {}
    for e in report["events"]:
        if e["event"] == "move":
            moves.setdefault(e["guest"], []).append(e)
    assert all(len(m) == 2 and m[1]["to"] == m[0]["from"] for m in moves.values()), moves
    assert report["left"] == [] and all(e["tolerated"] == 1 for e in report["ledger"])
    assert maintenance_lines(report)[-2:] == ["every state survives N-1", "maintenance plan: OK"]


def test_batches_where_capacity_allows_and_smaller_where_it_does_not():
    hosts = [host("h%d" % i, 8192) for i in range(1, 6)]
    guests = [guest("g%d" % i, 512) for i in range(10)]
    two = maintenance_plan(guests, hosts, "all", batch=2, min_tolerate=0)
    assert two["ok"], two["reasons"]
    assert [e["hosts"] for e in two["events"] if e["event"] == "out"] == [["h1", "h2"], ["h3", "h4"], ["h5"]]
    # two 2500 MiB guests per host: one host's pair finds room on the other four, two hosts' four guests
    # do not fit on three (one more each): no batch of two is possible
    big = [guest("b%d" % i, 2500) for i in range(10)]
    one = maintenance_plan(big, hosts, "all", batch=2, min_tolerate=0)
    assert [len(e["hosts"]) for e in one["events"] if e["event"] == "out"] == [1, 1, 1, 1, 1]


def test_hosts_by_name_list_string_and_failure_domain_and_bad_names():
    hosts = [host("b1", domain="chassis"), host("b2", domain="chassis"), host("r1"), host("r2", state="maintenance")]
    guests = [guest("g1"), guest("g2")]
    assert maintenance_plan(guests, hosts, "chassis", min_tolerate=0)["hosts"] == ["b1", "b2"]
    assert maintenance_plan(guests, hosts, "r1, b2", min_tolerate=0)["hosts"] == ["r1", "b2"]
    assert maintenance_plan(guests, hosts, ["b2", "all"], min_tolerate=0)["hosts"] == ["b2", "b1", "r1"]
    with pytest.raises(ModelError) as err:
        maintenance_plan(guests, hosts, ["b9", "r2"])
    assert err.value.errors == [
        "maintain: 'b9' is neither 'all', a host nor a failure domain (hosts: b1, b2, r1, r2)",
        "maintain: r2 not active (state maintenance); only active hosts are rolled"]
    for bad, field in ((0, "batch"), ("2", "batch")):
        with pytest.raises(ModelError, match=field):
            maintenance_plan(guests, hosts, "all", batch=bad)
    with pytest.raises(ModelError, match="min_tolerate: must be an integer >= 0"):
        maintenance_plan(guests, hosts, "all", min_tolerate=-1)


def test_a_host_whose_guest_cannot_move_is_left_out_and_named():
    hosts = [host("h1"), host("h2"), host("h3")]
    guests = [guest("dongle", host="h2", movable=False), guest("g1"), guest("g2")]
    report = maintenance_plan(guests, hosts, "all", min_tolerate=0)
    assert not report["ok"] and report["skipped"] == ["h2"]
    assert report["reasons"] == ["step 2, h2 out: guest dongle is not movable (xen_guest_movable: false): shut it "
                                 "down for the maintenance, or leave h2 out"]
    assert [e["hosts"] for e in report["events"] if e["event"] == "out"] == [["h1"], ["h3"]]


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(clusters(max_hosts=4, max_guests=5), st.integers(1, 2))
def test_every_state_of_a_schedule_is_valid_and_its_ledger_agrees_with_brute_force(case, batch):
    guests, hosts, tolerate, overhead = case
    try:
        cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead)
    except ModelError:
        cluster = None
    assume(cluster is not None)
    report = maintenance_plan(guests, hosts, "all", batch=batch, tolerate=tolerate, overhead=overhead, min_tolerate=0)
    assume(report["ledger"])  # the plan placed every guest
    event("ok" if report["ok"] else "refused")
    states = replay(guests, hosts, report, overhead)
    assert len(states) == len(report["ledger"])
    measure = tolerate
    for (state, where), entry in zip(states, report["ledger"], strict=True):
        for h in state.hosts:
            members = [g for g in state.guests if where.get(g.name) == h.name]
            assert bruteforce._host_ok(state, h, members), (entry["what"], h.name, [g.name for g in members])
        k = entry["tolerated"]
        assert k <= measure
        assert bruteforce.survives(state, where, k), entry
        if k < measure and k + 1 < len(state.active_hosts):
            assert not bruteforce.survives(state, where, k + 1), entry
    if report["ok"]:
        assert states[-1][1] == report["final"]
        assert sorted(h for e in report["events"] if e["event"] == "out" for h in e["hosts"]) == \
            sorted(report["hosts"])
