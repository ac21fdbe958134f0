from __future__ import annotations

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils.engine import ModelError, evacuation_plan, placement
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import build_cluster
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils.clusters import origin_hosts, paper_guests


def running(hosts, guests):
    first = placement(guests, hosts, tolerate=1)
    assert first["ok"]
    return [dict(g, current_host=first["assignments"][g["name"]]) for g in guests]


def replay(guests, hosts, moves):
    """Apply the moves one by one on the live layout; each must be valid when it runs."""
    cluster = build_cluster(guests, hosts, tolerate=0)
    layout = Layout(cluster)
    for g in cluster.guests:
        layout.place(g, cluster.host_by_name[g.current_host])
    for move in moves:
        g = cluster.guest_by_name[move["guest"]]
        assert cluster.hosts[layout.host_of[g.index]].name == move["from"]
        layout.remove(g)
        target = cluster.host_by_name[move["to"]]
        assert layout.why_not(g, target, ignore_pin=True) is None, move
        layout.place(g, target)
    return layout


def test_drain_moves_only_the_drained_hosts_guests_spread_over_targets():
    hosts = origin_hosts(4)
    guests = running(hosts, paper_guests())
    plan = evacuation_plan(guests, hosts, "blade2", tolerate=1)
    assert plan["ok"]
    on_blade2 = {g["name"] for g in guests if g["current_host"] == "blade2"}
    assert {m["guest"] for m in plan["moves"]} == on_blade2
    assert all(m["from"] == "blade2" and m["to"] != "blade2" for m in plan["moves"])
    assert len({m["to"] for m in plan["moves"]}) == 3  # spread by itself
    layout = replay(guests, hosts, plan["moves"])
    assert not layout.members[1]
    assert plan["failover"]["ok"]  # 3 hosts remain and still pass N-1


def test_drain_reports_when_the_rest_no_longer_passes_n1():
    hosts = origin_hosts(3)
    guests = running(hosts, paper_guests())
    plan = evacuation_plan(guests, hosts, "blade3", tolerate=1)
    assert plan["ok"]  # the moves themselves are possible
    assert plan["failover"]["ok"] is False
    replay(guests, hosts, plan["moves"])


def test_non_movable_guest_refuses_the_whole_evacuation_by_name():
    hosts = origin_hosts(4)
    guests = running(hosts, paper_guests())
    victim = next(g for g in guests if g["current_host"] == "blade2")
    victim["movable"] = False
    plan = evacuation_plan(guests, hosts, "blade2")
    assert not plan["ok"] and plan["moves"] == []
    assert [r["guest"] for r in plan["refused"]] == [victim["name"]]
    assert victim["name"] in plan["reasons"][0]


def test_drain_that_cannot_fit_moves_nothing_and_says_why():
    hosts = origin_hosts(2)
    guests = [{"name": "a%d" % i, "memory_mb": "6G", "current_host": "blade%d" % (i % 2 + 1)} for i in range(4)]
    plan = evacuation_plan(guests, hosts, "blade1", tolerate=0)
    assert not plan["ok"]
    assert plan["moves"] == []
    assert plan["stranded"] and "cannot leave blade1" in plan["reasons"][0]


def test_drain_two_hosts_at_once():
    hosts = origin_hosts(5)
    guests = running(hosts, paper_guests())
    plan = evacuation_plan(guests, hosts, ["blade1", "blade2"], tolerate=1)
    assert plan["ok"]
    replay(guests, hosts, plan["moves"])
    assert {m["from"] for m in plan["moves"]} <= {"blade1", "blade2"}
    assert not {m["to"] for m in plan["moves"]} & {"blade1", "blade2"}


def test_unknown_drain_host_is_an_error():
    with pytest.raises(ModelError, match="blade9"):
        evacuation_plan(paper_guests(), origin_hosts(), "blade9")


def test_guests_not_running_are_left_alone():
    hosts = origin_hosts(3)
    guests = running(hosts, paper_guests()[:6])
    guests.append({"name": "stopped", "memory_mb": "1G"})
    plan = evacuation_plan(guests, hosts, "blade1")
    assert "stopped" in plan["not_running"]
    assert "stopped" not in {m["guest"] for m in plan["moves"]}
