"""verify.yml's report: live state against the plan, autostart links, the live N-k proof."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.engine import placement
from ansible_collections.consolidation.xen.plugins.module_utils.verify import verify_check


def host(name, memory_mb=4096):
    return {"name": name, "memory_mb": memory_mb, "cpus": 4, "dom0_memory_mb": 1024}


def guest(name, memory_mb=256, **extra):
    return dict({"name": name, "memory_mb": memory_mb, "vcpus": 1, "type": "pvh"}, **extra)


def xen(*domains, total=4096, free=2500):
    return {"total_memory_mb": total, "free_memory_mb": free,
            "domains": [{"name": d, "type": "pvh", "memory_mb": 256} for d in domains]}


HOSTS = [host("blade1"), host("blade2"), host("blade3")]
GUESTS = [guest("g1"), guest("g2"), guest("g3"), guest("g4")]
PLANNED = placement(GUESTS, HOSTS, tolerate=1)["assignments"]


def at_plan(planned=PLANNED):
    """Every guest on its planned host, linked there: what site.yml leaves."""
    facts = {h["name"]: xen(*sorted(g for g, p in planned.items() if p == h["name"])) for h in HOSTS}
    autostart = {h["name"]: sorted("%s.cfg" % g for g, p in planned.items() if p == h["name"]) for h in HOSTS}
    return facts, autostart


def verdicts(result):
    return {r["guest"]: r["verdict"] for r in result["guests"]}


def test_a_cluster_at_its_plan_is_safe_with_no_drift_and_the_live_proof_passes():
    facts, autostart = at_plan()
    result = verify_check(GUESTS, HOSTS, facts, autostart)
    assert result["ok"] and result["unsafe"] == [] and result["drift"] == [], result["lines"]
    assert set(verdicts(result).values()) == {"ok"}
    assert result["proof"]["ok"] and result["proof"]["tolerated"] == 1
    assert result["lines"][-1] == "verdict: SAFE"
    assert "live N-1 proof: PASSED (survives 1 host failure(s))" in result["lines"]
    # One aligned table: every row of the guest table starts its columns at the same offsets.
    table = [line for line in result["lines"] if line.startswith("  g") or line.startswith("  guest")]
    assert len(table) == 5 and len({line.index(PLANNED["g1"]) for line in table[1:2]}) == 1
    assert table[0].index("planned") == table[1].index(PLANNED["g1"])
    rows = {r["host"]: r for r in result["hosts"]}
    assert rows["blade1"]["memory_mb"] == "1596/4096" and rows["blade1"]["read"]


def test_a_guest_away_from_its_plan_with_its_link_is_drift_not_unsafe():
    planned = dict(PLANNED)
    g = "g1"
    away = next(h["name"] for h in HOSTS if h["name"] != planned[g])
    moved = dict(planned, **{g: away})
    facts, autostart = at_plan(moved)
    result = verify_check(GUESTS, HOSTS, facts, autostart)
    assert result["ok"], result["unsafe"]
    assert result["drift"] == ["guest g1: runs on %s, the plan puts it on %s: rebalance.yml moves it back"
                               % (away, planned[g])]
    assert verdicts(result)["g1"] == "drift"
    assert result["lines"][-1] == "verdict: SAFE, 1 drift(s) from the plan"


def test_a_stale_autostart_link_where_the_guest_does_not_run_is_unsafe():
    facts, autostart = at_plan()
    other = next(h["name"] for h in HOSTS if h["name"] != PLANNED["g2"])
    autostart[other] = autostart[other] + ["g2.cfg"]
    result = verify_check(GUESTS, HOSTS, facts, autostart)
    assert not result["ok"]
    assert result["unsafe"] == ["guest g2: autostart link on %s, but it runs on %s: a reboot of %s starts a second "
                                "copy" % (other, PLANNED["g2"], other)]
    assert verdicts(result)["g2"] == "UNSAFE"


def test_a_missing_autostart_link_is_drift():
    facts, autostart = at_plan()
    autostart[PLANNED["g3"]] = [e for e in autostart[PLANNED["g3"]] if e != "g3.cfg"]
    result = verify_check(GUESTS, HOSTS, facts, autostart)
    assert result["ok"]
    assert result["drift"] == ["guest g3: no autostart link on {0}: it does not start again after {0} reboots; "
                               "site.yml links it".format(PLANNED["g3"])]


def test_twice_nowhere_and_unread_are_unsafe_and_named():
    facts, autostart = at_plan()
    h1 = PLANNED["g1"]
    other = next(h["name"] for h in HOSTS if h["name"] != h1)
    facts[other] = xen(*[d["name"] for d in facts[other]["domains"]], "g1")
    # g4 runs nowhere
    for h in facts:
        facts[h]["domains"] = [d for d in facts[h]["domains"] if d["name"] != "g4"]
    result = verify_check(GUESTS, HOSTS, facts, autostart)
    assert not result["ok"]
    text = " | ".join(result["unsafe"])
    assert "guest g1: runs on %s at once" % " and ".join(sorted([h1, other])) in text
    assert "guest g4: runs nowhere; site.yml starts it" in text
    # An unread dom0: unsafe, and the guests that ran there are "nowhere on the dom0s that were read".
    facts, autostart = at_plan()
    lost = PLANNED["g1"]
    facts[lost] = None
    del autostart[lost]
    result = verify_check(GUESTS, HOSTS, facts, autostart)
    text = " | ".join(result["unsafe"])
    assert "host %s: unreachable or not running Xen: what runs there is unknown" % lost in text
    assert "guest g1: runs nowhere on the dom0s that were read (%s unread)" % lost in text
    assert {r["host"]: r["read"] for r in result["hosts"]}[lost] is False
    assert lost in result["proof"]["down"]


def test_the_live_proof_fails_when_the_guests_crowd_one_host():
    # Every guest on one host (big guests): losing that host strands more than the others can take.
    guests = [guest("g%d" % i, memory_mb=900) for i in range(1, 4)]
    hosts = [host("blade1"), host("blade2", memory_mb=2048)]
    names = [g["name"] for g in guests]
    facts = {"blade1": xen(*names), "blade2": xen()}
    autostart = {"blade1": ["%s.cfg" % n for n in names], "blade2": []}
    result = verify_check(guests, hosts, facts, autostart)
    assert not result["proof"]["ok"] and result["proof"]["tolerated"] == 0
    unsafe = [u for u in result["unsafe"] if u.startswith("live N-1")]
    assert len(unsafe) == 1 and "survives 0 host failure(s)" in unsafe[0] and "MiB short" in unsafe[0]
    assert "live N-1 proof: FAILED (survives 0 host failure(s))" in result["lines"]


def test_a_guest_kept_stopped_that_runs_is_drift_and_its_link_is_drift():
    guests = [dict(g, state="stopped") if g["name"] == "g2" else g for g in GUESTS]
    planned = placement(guests, HOSTS, tolerate=1)["assignments"]
    facts, autostart = at_plan(planned)
    where = PLANNED["g2"]
    facts[where]["domains"].append({"name": "g2", "type": "pvh", "memory_mb": 256})
    autostart[where] = autostart[where] + ["g2.cfg"]
    result = verify_check(guests, HOSTS, facts, autostart)
    assert result["ok"], result["unsafe"]
    assert ("guest g2: runs on %s though its desired state is stopped (xen_guest_state): site.yml shuts it down"
            % where) in result["drift"]
    assert ("guest g2: autostart link on %s, where it should have none (its desired state is stopped)" % where
            in result["drift"])


def test_leftovers_migrations_unknown_domains_and_maintenance():
    facts, autostart = at_plan()
    h = PLANNED["g1"]
    facts[h]["domains"].append({"name": "g2--incoming", "type": "pvh", "memory_mb": 256})
    facts[h]["domains"].append({"name": "scratch", "type": "pvh", "memory_mb": 256})
    other = next(x["name"] for x in HOSTS if x["name"] != h)
    result = verify_check(GUESTS, HOSTS, facts, autostart, migrating={other: ["xl migrate g9 blade9"]},
                          maintenance={other: {"state": "out", "roll": "r1", "since": "now"}})
    text = " | ".join(result["unsafe"])
    assert "host %s: domain g2--incoming is left from an unfinished xl migrate" % h in text
    assert "host %s: an xl migration is still running (xl migrate g9 blade9)" % other in text
    assert "host %s: runs domains the inventory does not know (their memory is not planned): scratch" % h \
        in result["notes"]
    assert any(n.startswith("host %s: out for maintenance" % other) for n in result["notes"])
    assert other in result["proof"]["down"]
    # Each finding appears once in the report.
    assert all(result["lines"].count(line) == 1 for line in result["lines"] if ": " in line)


def test_a_failing_plan_is_unsafe():
    guests = [guest("g%d" % i, memory_mb=2500) for i in range(1, 4)]
    facts = {h["name"]: xen() for h in HOSTS}
    result = verify_check(guests, HOSTS, facts, {h["name"]: [] for h in HOSTS})
    assert any(u.startswith("plan: ") and u.endswith("(run plan.yml)") for u in result["unsafe"]), result["unsafe"]
