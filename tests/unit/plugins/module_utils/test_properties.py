"""Property-based tests: invariants of the engine, and agreement with a brute-force oracle."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ansible_collections.consolidation.xen.plugins.module_utils.engine import capacity, evacuation_plan, placement
from ansible_collections.consolidation.xen.plugins.module_utils.failover import check_failover
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError, build_cluster
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils import bruteforce

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def clusters(draw, max_hosts=4, max_guests=5):
    n_hosts = draw(st.integers(2, max_hosts))
    hosts = []
    for i in range(n_hosts):
        hosts.append({
            "name": "h%d" % i,
            "memory_mb": draw(st.sampled_from([2048, 3072, 4096])),
            "dom0_memory_mb": 512,
            "xen_reserve_mb": 0,
            "cpus": draw(st.integers(1, 4)),
            "vcpu_ratio": draw(st.sampled_from([1, 2])),
            "max_hvm": draw(st.sampled_from([None, None, 0, 1, 2])),
            "hap": draw(st.booleans()),
            "shadow_paging": draw(st.sampled_from([True, True, False])),
            "state": draw(st.sampled_from(["active"] * 5 + ["maintenance", "down"])),
        })
    n_guests = draw(st.integers(1, max_guests))
    guests = []
    for i in range(n_guests):
        guests.append({
            "name": "g%d" % i,
            "memory_mb": draw(st.sampled_from([256, 512, 768, 1024, 1536])),
            "vcpus": draw(st.integers(1, 2)),
            "type": draw(st.sampled_from(["pv", "pvh", "hvm"])),
            "anti_affinity": draw(st.sampled_from([None, None, "a", "b"])),
            "movable": draw(st.sampled_from([True, True, True, False])),
            "host": draw(st.sampled_from([None] * 6 + ["h0", "h1"])),
        })
    tolerate = draw(st.integers(0, 2))
    overhead = draw(st.booleans())
    return guests, hosts, tolerate, overhead


def valid(guests, hosts, tolerate, overhead):
    try:
        return build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead)
    except ModelError:
        return None


def check_report_invariants(cluster, report):
    assignments = report["assignments"]
    # no host over capacity, recomputed independently from the assignments
    for host in cluster.hosts:
        members = [g for g in cluster.guests if assignments.get(g.name) == host.name]
        assert bruteforce._host_ok(cluster, host, members), (host.name, [g.name for g in members])
        assert report["hosts"][host.name]["used_mb"] == sum(g.footprint(host) for g in members)
    for g in cluster.guests:
        if g.name in assignments and g.pin is not None:
            assert assignments[g.name] == g.pin
    # every claimed restart fits, with the other guests staying put
    for sc in report["failover"].get("scenarios", []):
        failed = set(sc["failed"])
        moved = {g.name for g in cluster.guests if assignments.get(g.name) in failed and g.movable}
        if sc["ok"]:
            assert set(sc["restarts"]) == moved
        after = {n: h for n, h in assignments.items() if h not in failed}
        after.update(sc["restarts"])
        for host in cluster.hosts:
            if host.name in failed or not host.active:
                continue
            members = [g for g in cluster.guests if after.get(g.name) == host.name]
            assert bruteforce._host_ok(cluster, host, members)
            # only the failed hosts' guests moved
            for g in members:
                assert assignments[g.name] == host.name or g.name in moved


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(clusters(max_hosts=4, max_guests=6))
def test_engine_agrees_with_brute_force(case):
    guests, hosts, tolerate, overhead = case
    cluster = valid(guests, hosts, tolerate, overhead)
    assume(cluster is not None)
    report = placement(guests, hosts, tolerate=tolerate, overhead=overhead)
    check_report_invariants(cluster, report)
    expected = bruteforce.feasible(guests, hosts, tolerate, overhead)
    event("feasible" if expected else "infeasible")
    event("strategy %s" % report["strategy"])
    assert report["ok"] == expected, report["reasons"]
    if report["ok"]:
        assert bruteforce.valid_placement(cluster, report["assignments"])
        assert bruteforce.survives(cluster, report["assignments"], tolerate)


@st.composite
def domain_clusters(draw, max_hosts=4, max_guests=6):
    """clusters() with failure domains on the hosts, priorities on the guests and a domain proof asked."""
    guests, hosts, tolerate, overhead = draw(clusters(max_hosts=max_hosts, max_guests=max_guests))
    for h in hosts:
        h["domain"] = draw(st.sampled_from([None, "c1", "c1", "c2"]))
    for g in guests:
        g["priority"] = draw(st.sampled_from(["high", "normal", "low"]))
    options = {"tolerate_domains": draw(st.integers(1, 2)), "domain_protect": draw(st.sampled_from(["high", "normal"]))}
    return guests, hosts, min(tolerate, 1), overhead, options


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(domain_clusters())
def test_engine_agrees_with_brute_force_on_failure_domains_and_classes(case):
    guests, hosts, tolerate, overhead, options = case
    try:
        cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead, **options)
    except ModelError:
        cluster = None
    assume(cluster is not None)
    report = placement(guests, hosts, tolerate=tolerate, overhead=overhead, **options)
    check_report_invariants(cluster, report)
    expected = bruteforce.feasible(guests, hosts, tolerate, overhead, **options)
    event("feasible" if expected else "infeasible")
    domains = report["failover"]["domains"]
    assert domains is not None and domains["tolerate"] == options["tolerate_domains"]
    assert report["ok"] == expected, report["reasons"]
    if report["ok"]:
        assert bruteforce.valid_placement(cluster, report["assignments"])
        assert bruteforce.survives(cluster, report["assignments"], tolerate)
    for sc in domains["scenarios"]:
        # the lower classes are named as left down, never restarted; the protected ones restart or strand
        protect = ["low", "normal", "high"].index(domains["protect"])
        failed = set(sc["failed"])
        on_failed = {g.name for g in cluster.guests if report["assignments"].get(g.name) in failed}
        low = {g.name for g in cluster.guests if g.name in on_failed and g.movable and g.priority < protect}
        assert set(sc["left_down"]) == low
        assert not low & set(sc["restarts"])
        assert set(sc["restarts"]) | set(sc["stranded"]) == {
            g.name for g in cluster.guests if g.name in on_failed and g.movable and g.priority >= protect}


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(clusters(max_hosts=3, max_guests=4), st.sampled_from([512, 1024]), st.integers(1, 2))
def test_capacity_never_passes_its_counting_bound_and_its_answer_holds(case, memory, vcpus):
    guests, hosts, tolerate, overhead = case
    assume(valid(guests, hosts, tolerate, overhead) is not None)
    shape = {"memory_mb": memory, "vcpus": vcpus}
    try:
        result = capacity(guests, hosts, shape, tolerate=tolerate, overhead=overhead, limit=40)
    except ModelError:
        assume(False)  # the shape fits no host
    assume(result["base_ok"])
    assert result["fits_in_place"] <= result["fits"] <= result["bound"], result
    more = [{"name": "new%d" % i, "memory_mb": memory, "vcpus": vcpus} for i in range(result["bound"] + 1)]
    # the bound is a bound: one more guest than it allows has no safe placement (the placement is exact here)
    assert not placement(guests + more, hosts, tolerate=tolerate, overhead=overhead)["ok"]
    if result["fits"] > result["fits_in_place"]:
        assert placement(guests + more[:result["fits"]], hosts, tolerate=tolerate, overhead=overhead)["ok"]


@SETTINGS
@given(clusters(max_hosts=6, max_guests=14))
def test_larger_random_clusters_keep_invariants(case):
    guests, hosts, tolerate, overhead = case
    cluster = valid(guests, hosts, tolerate, overhead)
    assume(cluster is not None)
    report = placement(guests, hosts, tolerate=tolerate, overhead=overhead)
    check_report_invariants(cluster, report)
    if report["ok"]:
        assert not report["unplaced"]
        assert all(sc["ok"] for sc in report["failover"]["scenarios"])


@SETTINGS
@given(clusters(max_hosts=6, max_guests=12), st.data())
def test_evacuation_moves_are_valid_in_sequence(case, data):
    guests, hosts, _tolerate, overhead = case
    cluster = valid(guests, hosts, 0, overhead)
    assume(cluster is not None)
    first = placement(guests, hosts, tolerate=0, overhead=overhead)
    assume(first["ok"])
    live = [dict(g, current_host=first["assignments"][g["name"]]) for g in guests]
    active = [h["name"] for h in hosts if h.get("state", "active") == "active"]
    assume(len(active) >= 2)
    drain = data.draw(st.sampled_from(active))
    plan = evacuation_plan(live, hosts, drain, tolerate=0, overhead=overhead)
    cluster = build_cluster(live, hosts, tolerate=0, overhead=overhead)
    layout = Layout(cluster)
    for g in cluster.guests:
        layout.place(g, cluster.host_by_name[g.current_host])
    on_drain = {g.name for g in cluster.guests if g.current_host == drain}
    assert {m["guest"] for m in plan["moves"]} <= on_drain
    for move in plan["moves"]:
        g = cluster.guest_by_name[move["guest"]]
        layout.remove(g)
        target = cluster.host_by_name[move["to"]]
        assert move["to"] != drain
        assert layout.why_not(g, target, ignore_pin=True) is None
        layout.place(g, target)
    if plan["ok"]:
        assert {m["guest"] for m in plan["moves"]} == on_drain
        assert not layout.members[cluster.host_by_name[drain].index]
    else:
        assert plan["moves"] == []
        assert plan["refused"] or plan["stranded"]
        named = {r["guest"] for r in plan["refused"]} | {s["guest"] for s in plan["stranded"]}
        assert named <= on_drain and named


@SETTINGS
@given(clusters(max_hosts=6, max_guests=14))
def test_conservative_bound_is_sound(case):
    guests, hosts, tolerate, overhead = case
    assume(tolerate >= 1)
    cluster = valid(guests, hosts, tolerate, overhead)
    assume(cluster is not None)
    report = placement(guests, hosts, tolerate=0, overhead=overhead)
    assume(report["ok"])
    layout = Layout(cluster)
    for g in cluster.guests:
        layout.place(g, cluster.host_by_name[report["assignments"][g.name]])
    bound = check_failover(cluster, layout, tolerate, max_scenarios=0)
    assert bound["method"] == "bound"
    if bound["ok"]:
        assert bruteforce.survives(cluster, report["assignments"], tolerate)


@SETTINGS
@given(clusters(max_hosts=5, max_guests=8), st.data())
def test_guests_meant_to_be_down_change_nothing_but_the_note(case, data):
    """xen_guest_state: a stopped or absent guest is validated, then costs nothing: the plan, the proof
    and the headroom are those of the cluster without it, whatever its size, and the report names it."""
    guests, hosts, tolerate, overhead = case
    assume(valid(guests, hosts, tolerate, overhead) is not None)
    extra = [{"name": "down%d" % i, "memory_mb": data.draw(st.sampled_from([256, 4096, 65536])),
              "vcpus": data.draw(st.integers(1, 64)), "type": data.draw(st.sampled_from(["pvh", "hvm"])),
              "host": data.draw(st.sampled_from([None, "h0"])),
              "anti_affinity": data.draw(st.sampled_from([None, "a"])),
              "state": data.draw(st.sampled_from(["stopped", "absent"]))}
             for i in range(data.draw(st.integers(1, 3)))]
    mixed = list(guests)
    for g in extra:
        mixed.insert(data.draw(st.integers(0, len(mixed))), g)
    base = placement(guests, hosts, tolerate=tolerate, overhead=overhead)
    with_down = placement(mixed, hosts, tolerate=tolerate, overhead=overhead)
    assert with_down["not_reserved"] == {g["name"]: g["state"] for g in extra}
    assert base["not_reserved"] == {}
    for key in ("ok", "assignments", "unplaced", "hosts"):
        assert with_down[key] == base[key], key
    assert with_down["failover"]["ok"] == base["failover"]["ok"]
