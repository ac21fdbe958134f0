from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.filter.placement import FilterModule

FILTERS = FilterModule().filters()
HOSTS = [{"name": "blade%d" % i, "memory_mb": "16G", "cpus": 8, "dom0_memory_mb": "1G"} for i in (1, 2, 3)]
GUESTS = [{"name": "web%d" % i, "memory_mb": "2G"} for i in range(6)] + [
    {"name": "win%d" % i, "memory_mb": "2G", "type": "hvm", "vcpus": 2} for i in range(3)]


def test_registered_names():
    assert set(FILTERS) == {"placement", "evacuation_plan", "capacity", "cluster_model"}


def test_placement_filter_result_keys():
    result = FILTERS["placement"](GUESTS, HOSTS, tolerate=1)
    assert result["ok"] is True
    assert {"ok", "assignments", "unplaced", "hosts", "failover", "bounds"} <= set(result)
    assert {"tolerate", "ok", "scenarios"} <= set(result["failover"])
    for sc in result["failover"]["scenarios"]:
        assert {"failed", "ok", "restarts", "stranded", "short_mb"} <= set(sc)
    # one HVM guest per host
    assert sorted(h["hvm_guests"] for h in result["hosts"].values()) == [1, 1, 1]


def test_bad_input_raises_filter_error_naming_guest_and_field():
    with pytest.raises(AnsibleFilterError, match=r"placement: guest 'web1': memory_mb:"):
        FILTERS["placement"]([{"name": "web1", "memory_mb": "zero"}], HOSTS)


def test_evacuation_plan_filter_uses_current_mapping():
    placed = FILTERS["placement"](GUESTS, HOSTS)["assignments"]
    plan = FILTERS["evacuation_plan"](GUESTS, HOSTS, "blade1", current=placed)
    assert plan["ok"]
    assert {m["guest"] for m in plan["moves"]} == {g for g, h in placed.items() if h == "blade1"}
    assert {"ok", "moves", "stranded", "failover"} <= set(plan)


def test_evacuation_plan_filter_rejects_unknown_host():
    with pytest.raises(AnsibleFilterError, match="unknown host 'nope'"):
        FILTERS["evacuation_plan"](GUESTS, HOSTS, "nope")


def test_capacity_filter():
    result = FILTERS["capacity"](GUESTS, HOSTS, {"memory_mb": "1G"}, tolerate=1)
    assert result["fits"] > 0 and result["limited_by"] in ("failover", "memory")


def test_cluster_model_reads_only_xen_vars():
    hostvars = {
        "blade1": {"xen_host_memory": "16G", "xen_host_cpus": 8, "xen_host_dom0_memory": "1G", "other": 1},
        "web1": {"xen_guest_memory": "1G", "xen_guest_type": "hvm", "ansible_host": "192.0.2.10"},
    }
    model = FILTERS["cluster_model"](hostvars, ["blade1"], ["web1"])
    # typed through the inventory contract: sizes in MiB, defaults filled in, nothing else read
    assert model == {
        "hosts": [{"name": "blade1", "memory_mb": 16384, "cpus": 8, "dom0_memory_mb": 1024, "state": "active",
                   "vcpu_ratio": 4, "hap": True, "shadow_paging": True}],
        "guests": [{"name": "web1", "memory_mb": 1024, "type": "hvm", "vcpus": 1, "movable": True,
                    "priority": "normal", "state": "running"}],
    }


def test_cluster_model_refuses_what_the_contract_refuses():
    hostvars = {"blade1": {"xen_host_memory": "16GB", "xen_host_cpus": "\u0668", "xen_host_dom0_memory": "1G"},
                "web1": {"xen_guest_memory": 1.5}}
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["cluster_model"](hostvars, ["blade1"], ["web1"])
    for text in ("host blade1: xen_host_memory: unit 'GB'", "host blade1: xen_host_cpus:",
                 "guest web1: xen_guest_memory:"):
        assert text in str(err.value)
