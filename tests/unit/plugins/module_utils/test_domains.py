"""Failure domains and priority classes: the origin's blade chassis, proven before it fails."""

from __future__ import annotations

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils.engine import failure_table, placement
from ansible_collections.consolidation.xen.plugins.module_utils.failover import check_failover, restart_scenario
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError, build_cluster


def chassis_and_rack(rack_memory="16G"):
    """The origin's shape: three blades in one chassis, one rack server on its own."""
    hosts = [{"name": "blade%d" % i, "memory_mb": "16G", "cpus": 8, "dom0_memory_mb": "1G", "domain": "chassis1"}
             for i in (1, 2, 3)]
    hosts.append({"name": "rack1", "memory_mb": rack_memory, "cpus": 8, "dom0_memory_mb": "1G"})
    return hosts


def guests_with_pairs():
    """Anti-affinity pairs whose first member is essential: it must restart on rack1 when the chassis
    fails, so its partner must not sit on rack1."""
    guests = []
    for group in ("dns", "ldap", "www", "mail"):
        guests.append({"name": group + "1", "memory_mb": "1G", "anti_affinity": group, "priority": "high"})
        guests.append({"name": group + "2", "memory_mb": "1G", "anti_affinity": group})
    guests += [{"name": "app%d" % i, "memory_mb": "2G", "priority": "low"} for i in range(8)]
    return guests


def test_the_chassis_proof_keeps_the_essential_guests_partners_off_the_rack_server():
    report = placement(guests_with_pairs(), chassis_and_rack(), tolerate=1, tolerate_domains=1)
    assert report["ok"], report["reasons"]
    domains = report["failover"]["domains"]
    assert domains["ok"] and domains["protect"] == "high" and domains["scenarios_total"] == 2
    chassis = next(sc for sc in domains["scenarios"] if sc["domains"] == ["chassis1"])
    assert chassis["failed"] == ["blade1", "blade2", "blade3"]
    on_blades = {g for g, h in report["assignments"].items() if h != "rack1"}
    essential = {"dns1", "ldap1", "www1", "mail1"}
    assert set(chassis["restarts"]) == essential & on_blades
    assert set(chassis["restarts"].values()) <= {"rack1"}
    assert set(chassis["left_down"]) == on_blades - essential
    # every essential guest is on rack1 already or can restart there: no partner of one blocks it
    for group in ("dns", "ldap", "www", "mail"):
        assert not (report["assignments"][group + "1"] != "rack1" and report["assignments"][group + "2"] == "rack1")
    # the host proof is unchanged: any one host's guests all restart
    assert report["failover"]["ok"] and all(sc["ok"] for sc in report["failover"]["scenarios"])


def test_a_chassis_whose_essential_guests_cannot_fit_outside_it_is_refused_with_both_tables():
    guests = [{"name": "ess%d" % i, "memory_mb": "4G", "priority": "high"} for i in range(5)]
    report = placement(guests, chassis_and_rack(), tolerate=1, tolerate_domains=1)
    assert not report["ok"]
    assert report["failover"]["domains"]["ok"] is False
    assert any(r.startswith("if failure domain(s) chassis1 fail (blade1, blade2, blade3):") for r in report["reasons"])
    text = "\n".join(failure_table(report))
    assert "N-1 proof: PASSED" in text
    assert "Failure domains: 1 at once, guests of priority high and up restart: FAILED (2 failure set(s))" in text


def test_domain_protect_normal_restarts_normal_guests_too():
    guests = [{"name": "n%d" % i, "memory_mb": "3G"} for i in range(6)]
    high = placement(guests, chassis_and_rack(), tolerate=1, tolerate_domains=1)
    assert high["ok"], high["reasons"]  # no high guest: nothing must restart when the chassis fails
    normal = placement(guests, chassis_and_rack(), tolerate=1, tolerate_domains=1, domain_protect="normal")
    assert not normal["ok"]  # 18 GiB of normal guests never fit one 16 GiB rack server with their restarts


def test_when_a_host_failure_leaves_too_little_room_only_the_lowest_class_strands():
    hosts = [{"name": "h%d" % i, "memory_mb": "4G", "cpus": 4, "dom0_memory_mb": "1G", "xen_reserve_mb": 0}
             for i in (1, 2)]
    guests = [{"name": "big-low", "memory_mb": "2G", "priority": "low", "host": "h1"},
              {"name": "small-high", "memory_mb": "1G", "priority": "high", "host": "h1"},
              {"name": "resident", "memory_mb": "1G", "host": "h2"}]
    cluster = build_cluster(guests, hosts, tolerate=1)
    layout = Layout(cluster)
    for g in cluster.guests:
        layout.place(g, cluster.host_by_name[g.pin])
    outcome = restart_scenario(cluster, layout, [cluster.host_by_name["h1"].index])
    # largest first would restart big-low and strand small-high; the priority order keeps the high one
    assert [g.name for g in outcome["stranded"]] == ["big-low"]
    assert set(outcome["restarts"]) == {"small-high"}
    result = check_failover(cluster, layout)
    assert not result["ok"] and result["domains"] is None


@pytest.mark.parametrize(("hosts", "guests", "options", "words"), [
    (chassis_and_rack(), [], {"tolerate_domains": 2}, "tolerate_domains: 2 whole failure domain(s) to tolerate needs "
                                                      "more than 2 domain(s) with an active host (chassis1, rack1)"),
    (chassis_and_rack(), [], {"tolerate_domains": -1}, "tolerate_domains: must be an integer >= 0"),
    (chassis_and_rack(), [], {"tolerate_domains": 1, "domain_protect": "vip"}, "domain_protect: must be one of"),
    (chassis_and_rack(), [{"name": "g1", "memory_mb": 512, "priority": "urgent"}], {},
     "guest 'g1': priority: must be one of low, normal, high, got 'urgent'"),
    ([dict(h, domain=7) for h in chassis_and_rack()], [], {}, "host 'blade1': domain: must be a failure domain name"),
    ([{"name": "h%d" % i, "memory_mb": "4G", "cpus": 2, "dom0_memory_mb": "1G"} for i in range(8)], [],
     {"tolerate_domains": 4, "max_scenarios": 50}, "tolerate_domains: 4 of 8 failure domains make 70 failure sets, "
                                                   "more than max_scenarios 50"),
])
def test_bad_domain_and_priority_input_is_refused_naming_the_field(hosts, guests, options, words):
    with pytest.raises(ModelError) as err:
        build_cluster(guests, hosts, tolerate=1, **options)
    assert words in str(err.value)


def test_domains_of_hosts_not_active_are_left_out():
    hosts = chassis_and_rack()
    hosts[3]["state"] = "maintenance"
    with pytest.raises(ModelError, match=r"needs more than 1 domain\(s\) with an active host \(chassis1\)"):
        build_cluster([], hosts, tolerate=1, tolerate_domains=1)
