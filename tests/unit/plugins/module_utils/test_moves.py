"""The one move routine (moves.order_moves) that evacuation, rebalance and maintenance share."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.engine import rebalance_plan
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import build_cluster
from ansible_collections.consolidation.xen.plugins.module_utils.moves import order_moves


def host(name, memory_mb=2560):
    return {"name": name, "memory_mb": memory_mb, "cpus": 4, "dom0_memory_mb": 512, "xen_reserve_mb": 0}


def guest(name, memory_mb, **extra):
    return dict({"name": name, "memory_mb": memory_mb, "vcpus": 1, "type": "pv"}, **extra)


def placed(guests, hosts, where, tolerate=0):
    cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=False)
    layout = Layout(cluster)
    for g in cluster.guests:
        layout.place(g, cluster.host_by_name[where[g.name]])
    return cluster, layout


def test_a_move_waits_until_the_one_before_it_made_room():
    # a (1536) goes to h2, which has room only once b (1536) has left it for h3
    cluster, layout = placed([guest("a", 1536), guest("b", 1536)], [host("h1"), host("h2"), host("h3")],
                             {"a": "h1", "b": "h2"})
    hosts, guests = cluster.host_by_name, cluster.guest_by_name
    moves, left, why, after = order_moves(cluster, layout, [(guests["a"], hosts["h2"]), (guests["b"], hosts["h3"])])
    assert [(m["guest"], m["from"], m["to"]) for m in moves] == [("b", "h2", "h3"), ("a", "h1", "h2")]
    assert left == [] and why == {}
    assert after.assignments() == {"a": "h2", "b": "h3"}
    assert layout.assignments() == {"a": "h1", "b": "h2"}  # the caller's layout is left as it was


def test_a_move_that_never_fits_is_left_with_its_reason_and_limit_caps():
    cluster, layout = placed([guest("a", 1536), guest("b", 1536), guest("c", 512)], [host("h1"), host("h2")],
                             {"a": "h1", "b": "h2", "c": "h1"})
    hosts, guests = cluster.host_by_name, cluster.guest_by_name
    moves, left, why, _after = order_moves(cluster, layout, [(guests["a"], hosts["h2"]), (guests["c"], hosts["h2"])])
    assert [m["guest"] for m in moves] == ["c"] and left == ["a"]
    assert why["a"].startswith("does not fit on h2 yet: ")
    capped, left, _why, _after = order_moves(cluster, layout, [(guests["c"], hosts["h2"])], limit=0)
    assert capped == [] and left == ["c"]


def test_alternate_spreads_consecutive_moves_over_the_targets():
    guests = [guest("g%d" % i, 256) for i in range(4)]
    cluster, layout = placed(guests, [host("h1", 4096), host("h2", 4096), host("h3", 4096)],
                             {"g0": "h1", "g1": "h1", "g2": "h1", "g3": "h1"})
    by_name, hosts = cluster.guest_by_name, cluster.host_by_name
    wanted = [(by_name["g0"], hosts["h2"]), (by_name["g1"], hosts["h2"]), (by_name["g2"], hosts["h3"]),
              (by_name["g3"], hosts["h3"])]
    plain = [m["to"] for m in order_moves(cluster, layout, wanted)[0]]
    assert plain == ["h2", "h2", "h3", "h3"]
    assert [m["to"] for m in order_moves(cluster, layout, wanted, alternate=True)[0]] == ["h2", "h3", "h2", "h3"]


def test_with_tolerate_a_move_that_breaks_the_proof_waits_and_says_so():
    # h1 and h3 hold 1536 MiB, h2 2560. c (1280, on h2) can restart only on h1, which must keep 1280 free:
    # moving a (512) from h3 to h1 fits, but then h2's failure strands c.
    guests = [guest("a", 512), guest("b", 1024), guest("c", 1280)]
    cluster, layout = placed(guests, [host("h1", 2048), host("h2", 3072), host("h3", 2048)],
                             {"a": "h3", "b": "h3", "c": "h2"}, tolerate=1)
    wanted = [(cluster.guest_by_name["a"], cluster.host_by_name["h1"])]
    moves, left, why, _after = order_moves(cluster, layout, wanted, tolerate=1)
    assert moves == [] and left == ["a"]
    assert why == {"a": "moving it to h1 now would break the N-1 proof"}
    assert [m["guest"] for m in order_moves(cluster, layout, wanted)[0]] == ["a"]  # without the proof it runs


def test_rebalance_plan_moves_each_running_guest_once_to_its_planned_host():
    hosts = [host("h%d" % i, 4096) for i in range(1, 4)]
    guests = [guest("g%d" % i, 512) for i in range(6)]
    current = {g["name"]: "h1" for g in guests}  # all crowded on h1 after a maintenance
    result = rebalance_plan(guests, hosts, current, tolerate=1)
    planned = result["planned"]
    assert result["left"] == [] and result["why"] == {}
    assert {m["guest"]: m["to"] for m in result["moves"]} == {g: h for g, h in planned.items() if h != "h1"}
    assert all(m["proof"].startswith("N-1 holds") for m in result["moves"])
    # guests that run nowhere are left alone (site.yml starts them)
    partial = rebalance_plan(guests, hosts, {"g0": "h1"}, tolerate=1)
    assert [m["guest"] for m in partial["moves"]] == ([] if planned["g0"] == "h1" else ["g0"])
