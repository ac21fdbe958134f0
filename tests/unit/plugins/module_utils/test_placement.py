from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils.engine import placement
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils.clusters import origin_hosts, paper_guests

ANCHOR = Path(__file__).resolve().parents[4] / "benchmarks" / "anchors" / "big30.json"


def used_by_host(report):
    return {name: h["used_mb"] for name, h in report["hosts"].items()}


def test_paper_cluster_passes_n1():
    report = placement(paper_guests(), origin_hosts(), tolerate=1)
    assert report["ok"], report["reasons"]
    assert len(report["assignments"]) == 30
    assert report["failover"]["method"] == "exact"
    assert len(report["failover"]["scenarios"]) == 3
    for sc in report["failover"]["scenarios"]:
        assert sc["ok"] and not sc["stranded"]
        # real-HA semantics: exactly the failed host's guests restart
        failed = sc["failed"][0]
        assert set(sc["restarts"]) == set(report["hosts"][failed]["guests"])
        assert failed not in sc["restarts"].values()


def test_paper_cluster_on_two_hosts_fails_n1_with_a_reason():
    report = placement(paper_guests(), origin_hosts(2), tolerate=1)
    assert not report["ok"]
    assert not report["unplaced"]  # it fits, it just does not survive a failure
    bad = [sc for sc in report["failover"]["scenarios"] if not sc["ok"]]
    assert bad and all(sc["stranded"] and sc["short_mb"] > 0 for sc in bad)
    assert any("stranded" in r for r in report["reasons"])
    assert report["bounds"]["binpack_hosts"] == 3


def test_four_hvm_guests_spread_over_three_hosts():
    guests = paper_guests(hvm_every=0)
    for g in guests[:4]:
        g["type"] = "hvm"
    report = placement(guests, origin_hosts(), tolerate=1)
    assert report["ok"]
    assert sorted(h["hvm_guests"] for h in report["hosts"].values()) == [1, 1, 2]


def test_max_hvm_is_hard():
    guests = [{"name": "win%d" % i, "memory_mb": "2G", "type": "hvm"} for i in range(3)]
    hosts = origin_hosts()
    for h in hosts:
        h["max_hvm"] = 1
    report = placement(guests, hosts, tolerate=0)
    assert report["ok"]
    assert all(h["hvm_guests"] == 1 for h in report["hosts"].values())
    # with N-1, a failed host's HVM guest has nowhere to go
    report = placement(guests, hosts, tolerate=1)
    assert not report["ok"]
    assert any("max_hvm" in reason for sc in report["failover"]["scenarios"] for reason in sc["reasons"].values())


def test_hvm_guests_only_where_hap_or_shadow_paging_runs_them():
    # Two Debian-built dom0s (no shadow paging): one CPU with EPT/NPT, one without.
    hosts = origin_hosts(2)
    for h in hosts:
        h["shadow_paging"] = False
    hosts[1]["hap"] = False
    guests = [{"name": "win1", "memory_mb": "2G", "type": "hvm"}, {"name": "web1", "memory_mb": "1G", "type": "pvh"},
              {"name": "old1", "memory_mb": "1G", "type": "pv"}]
    report = placement(guests, hosts, tolerate=0)
    assert report["ok"], report["reasons"]
    assert report["assignments"]["win1"] == report["assignments"]["web1"] == hosts[0]["name"]
    # N-1: the host that can run them fails, and the other cannot take its HVM and PVH guests.
    report = placement(guests, hosts, tolerate=1)
    assert not report["ok"]
    failed_first = [sc for sc in report["failover"]["scenarios"] if sc["failed"] == [hosts[0]["name"]]][0]
    assert set(failed_first["stranded"]) == {"win1", "web1"}
    reasons = " ".join(failed_first["reasons"].values())
    assert "guest win1 is HVM, and host %s cannot run HVM guests" % hosts[1]["name"] in reasons
    # A Xen with shadow paging (SUSE's) runs them without HAP: N-1 holds again.
    hosts[1]["shadow_paging"] = True
    assert placement(guests, hosts, tolerate=1)["ok"]


def test_pins_anti_affinity_and_maintenance_are_honoured():
    hosts = origin_hosts(4)
    hosts[3]["state"] = "maintenance"
    guests = paper_guests()[:20]
    guests[0]["host"] = "blade2"
    for g in guests[1:3]:
        g["anti_affinity"] = "dns"
    report = placement(guests, hosts, tolerate=1)
    assert report["ok"], report["reasons"]
    a = report["assignments"]
    assert a["g00"] == "blade2"
    assert a["g01"] != a["g02"]
    assert "blade4" not in a.values()
    for sc in report["failover"]["scenarios"]:
        placed = dict(a)
        placed.update(sc["restarts"])
        dns_hosts = [placed[g] for g in ("g01", "g02")]
        assert len(dns_hosts) == len(set(dns_hosts))


def test_keeps_current_hosts_when_valid():
    first = placement(paper_guests(), origin_hosts(), tolerate=1)
    guests = [dict(g, current_host=first["assignments"][g["name"]]) for g in paper_guests()]
    again = placement(guests, origin_hosts(), tolerate=1)
    assert again["ok"] and again["moves"] == []
    assert again["assignments"] == first["assignments"]


def test_moves_only_what_is_needed_from_an_overloaded_host():
    # every guest currently on blade1: it cannot hold them, so some move, and N-1 holds afterwards
    guests = [dict(g, current_host="blade1") for g in paper_guests()]
    report = placement(guests, origin_hosts(), tolerate=1)
    assert report["ok"]
    stay = [g for g, h in report["assignments"].items() if h == "blade1"]
    assert len(report["moves"]) == 30 - len(stay)
    assert stay


def test_down_host_guests_are_replaced_elsewhere():
    hosts = origin_hosts(4)
    hosts[1]["state"] = "down"
    guests = [dict(g, current_host="blade2") for g in paper_guests()[:6]]
    report = placement(guests, hosts, tolerate=1)
    assert report["ok"]
    assert "blade2" not in report["assignments"].values()
    assert sorted(report["moves"]) == sorted(g["name"] for g in guests)


def test_tolerate_two_is_exact_over_pairs():
    report = placement(paper_guests(), origin_hosts(5), tolerate=2)
    assert report["ok"]
    assert report["failover"]["method"] == "exact"
    assert len(report["failover"]["scenarios"]) == 10  # C(5, 2)


def test_bound_used_beyond_max_scenarios():
    report = placement(paper_guests(), origin_hosts(6), tolerate=2, max_scenarios=10)
    assert report["failover"]["method"] == "bound"
    assert "bound" in report["failover"]


def test_unprotected_guests_are_reported_not_restarted():
    guests = paper_guests()[:6]
    guests[0]["movable"] = False
    report = placement(guests, origin_hosts(), tolerate=1)
    assert report["ok"]
    assert report["failover"]["unprotected"] == ["g00"]
    assert all("g00" not in sc["restarts"] for sc in report["failover"]["scenarios"])


def test_nothing_fits_reports_unplaced_guest_by_name():
    guests = [{"name": "big%d" % i, "memory_mb": "12G"} for i in range(4)]
    report = placement(guests, origin_hosts(), tolerate=0)
    assert not report["ok"]
    assert [u["guest"] for u in report["unplaced"]] == ["big3"]
    assert "no active host can take it" in report["unplaced"][0]["reason"]


@pytest.mark.skipif(not ANCHOR.exists(), reason="anchor fixture not present")
def test_big_guests_anchor_optimum_found_and_one_less_refused():
    """placement-anchors.md: 30 large guests whose certified optimum is 12 hosts; spread needs more."""
    anchor = json.loads(ANCHOR.read_text())
    guests = [{"name": "big%02d" % i, "memory_mb": mb} for i, mb in enumerate(anchor["guests_mb"])]

    def hosts(n):
        return [{"name": "h%02d" % i, "memory_mb": anchor["host"]["memory_mb"], "cpus": 64,
                 "dom0_memory_mb": anchor["host"]["dom0_memory_mb"], "xen_reserve_mb": 0} for i in range(n)]

    best = placement(guests, hosts(anchor["optimum_hosts"]), tolerate=1, overhead=False)
    assert best["ok"], best["reasons"]
    refused = placement(guests, hosts(anchor["infeasible_hosts"]), tolerate=1, overhead=False)
    assert not refused["ok"]
    assert refused["reasons"]


def test_anti_affinity_group_as_large_as_the_cluster_cannot_survive_a_failure():
    guests = paper_guests()[:6]
    for g in guests[:3]:
        g["anti_affinity"] = "dns"
    report = placement(guests, origin_hosts(), tolerate=1)
    assert not report["ok"]
    assert any("anti_affinity group dns has 3 guests" in r for r in report["reasons"])
    assert report["search"] == "complete"
