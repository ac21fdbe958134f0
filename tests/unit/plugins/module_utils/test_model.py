"""Validation: every kind of bad input is refused with a message naming the guest/host and field."""

from __future__ import annotations

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError, build_cluster, xen_need_mb


def host(name="blade1", **kw):
    return dict({"name": name, "memory_mb": "16G", "cpus": 8, "dom0_memory_mb": "1G"}, **kw)


def guest(name="web1", **kw):
    return dict({"name": name, "memory_mb": "1G"}, **kw)


HOSTS = [host("blade1"), host("blade2"), host("blade3")]


def error_of(guests, hosts=None, tolerate=1):
    with pytest.raises(ModelError) as info:
        build_cluster(guests, HOSTS if hosts is None else hosts, tolerate=tolerate)
    return str(info.value)


def test_libxl_need_matches_reference_example():
    # shared/reference/domain.md section 3: 4 GiB, 2 vCPU HVM on a CPU without HAP = 4132 MiB.
    assert xen_need_mb(4096, None, 2, "hvm", hap=False) == 4132
    # With HAP the p2m costs 4 MiB per GiB: 4096 + 2 + 16 + 2 = 4116.
    assert xen_need_mb(4096, None, 2, "hvm", hap=True) == 4116
    # PV: 1 MiB per vCPU + 4 MiB per GiB + 1 MiB, rounded up to 2 MiB: 1024 + 1 + 4 + 1 = 1030.
    assert xen_need_mb(1024, None, 1, "pv") == 1030
    # PV never uses HAP, so the host's HAP does not change it.
    assert xen_need_mb(1024, None, 1, "pv", hap=False) == 1030
    # maxmem larger than memory: sized on maxmem.
    assert xen_need_mb(1024, 2048, 1, "pvh") == 2048 + 2 + 8 + 2


def test_overhead_can_be_switched_off():
    cluster = build_cluster([guest(memory_mb="1G", maxmem_mb="2G")], HOSTS, overhead=False)
    g = cluster.guests[0]
    assert g.footprint(cluster.hosts[0]) == 2048


def test_host_capacity_subtracts_dom0_and_xen_reserve():
    cluster = build_cluster([], [host(memory_mb="16G", dom0_memory_mb=512), host("b2"), host("b3")])
    h = cluster.hosts[0]
    assert (h.capacity_mb, h.xen_reserve_mb) == (16384 - 512 - 128, 128)
    assert h.vcpu_capacity == 32  # 8 pCPUs x default ratio 4


def test_good_model_builds():
    cluster = build_cluster([guest("a"), guest("b", type="hvm", vcpus=2, host="blade2")], HOSTS)
    assert [g.name for g in cluster.guests] == ["a", "b"]
    assert cluster.guests[0].type == "pvh"


def test_duplicate_guest_names():
    msg = error_of([guest("web1"), guest("web1")])
    assert "guest 'web1'" in msg and "duplicate" in msg


def test_duplicate_host_names():
    msg = error_of([guest()], [host("blade1"), host("blade1"), host("blade2")])
    assert "host 'blade1'" in msg and "duplicate" in msg


def test_pin_to_unknown_host():
    msg = error_of([guest("web1", host="blade9")])
    assert "guest 'web1'" in msg and "host" in msg and "blade9" in msg


def test_pin_to_host_in_maintenance():
    hosts = [host("blade1"), host("blade2"), host("blade3", state="maintenance")]
    msg = error_of([guest("web1", host="blade3")], hosts)
    assert "guest 'web1'" in msg and "blade3" in msg and "maintenance" in msg


def test_guest_larger_than_any_host():
    msg = error_of([guest("db1", memory_mb="20G")])
    assert "guest 'db1'" in msg and "larger than any active host" in msg and "MiB" in msg


def test_guest_with_more_vcpus_than_any_host():
    msg = error_of([guest("db1", vcpus=16)])
    assert "guest 'db1'" in msg and "vCPU" in msg


@pytest.mark.parametrize("size", [0, "0M", -512, "-1G", "much", "", "1.2.3"])
def test_bad_guest_sizes(size):
    msg = error_of([guest("web1", memory_mb=size)])
    assert "guest 'web1': memory_mb:" in msg


@pytest.mark.parametrize("field", ["memory_mb", "dom0_memory_mb"])
@pytest.mark.parametrize("size", [0, -1, "sixteen"])
def test_bad_host_sizes(field, size):
    msg = error_of([guest()], [host("blade1", **{field: size}), host("blade2"), host("blade3")])
    assert ("host 'blade1': %s:" % field) in msg


def test_unknown_guest_type():
    msg = error_of([guest("win1", type="kvm")])
    assert "guest 'win1': type:" in msg and "kvm" in msg


@pytest.mark.parametrize("vcpus", [0, -2, "x", 1.5])
def test_vcpus_below_one(vcpus):
    msg = error_of([guest("web1", vcpus=vcpus)])
    assert "guest 'web1': vcpus:" in msg


def test_tolerate_not_below_active_hosts():
    msg = error_of([guest()], [host("blade1"), host("blade2"), host("blade3", state="down")], tolerate=2)
    assert "tolerate" in msg and "2 active" in msg


def test_dom0_reserve_not_below_host_memory():
    msg = error_of([guest()], [host("blade1", memory_mb="4G", dom0_memory_mb="4G"), host("b2"), host("b3")])
    assert "host 'blade1': dom0_memory_mb:" in msg


def test_anti_affinity_group_larger_than_active_hosts():
    guests = [guest("dns%d" % i, anti_affinity="dns") for i in range(4)]
    msg = error_of(guests)
    assert "anti_affinity group 'dns'" in msg and "4 guests" in msg


def test_anti_affinity_group_pinned_together():
    guests = [guest("dns1", anti_affinity="dns", host="blade1"), guest("dns2", anti_affinity="dns", host="blade1")]
    msg = error_of(guests)
    assert "anti_affinity group 'dns'" in msg and "blade1" in msg


def test_unknown_host_state_and_bad_max_hvm():
    msg = error_of([guest()], [host("blade1", state="sleeping", max_hvm=-1), host("b2"), host("b3")])
    assert "host 'blade1': state:" in msg and "host 'blade1': max_hvm:" in msg


def test_every_error_reported_at_once():
    with pytest.raises(ModelError) as info:
        build_cluster([guest("a", memory_mb=0), guest("b", type="xx")], HOSTS)
    assert len(info.value.errors) == 2


def test_too_many_hvm_for_max_hvm():
    hosts = [host("blade%d" % i, max_hvm=1) for i in range(1, 4)]
    msg = error_of([guest("win%d" % i, type="hvm") for i in range(4)], hosts)
    assert "max_hvm" in msg and "4 HVM guests" in msg


def test_not_a_list():
    with pytest.raises(ModelError):
        build_cluster({"name": "x"}, HOSTS)


def test_guest_state_is_validated_and_only_running_guests_enter_the_cluster():
    hosts = [{"name": "h1", "memory_mb": 4096, "cpus": 2, "dom0_memory_mb": 512}]
    guests = [{"name": "a", "memory_mb": 256}, {"name": "b", "memory_mb": 256, "state": "stopped"},
              {"name": "c", "memory_mb": 256, "state": "absent"}, {"name": "d", "memory_mb": 256, "state": "running"}]
    cluster = build_cluster(guests, hosts, tolerate=0)
    assert [g.name for g in cluster.guests] == ["a", "d"]
    assert [g.index for g in cluster.guests] == [0, 1]
    assert cluster.not_running == {"b": "stopped", "c": "absent"}
    with pytest.raises(ModelError) as err:
        build_cluster(guests + [{"name": "e", "memory_mb": 256, "state": "paused"},
                                {"name": "b", "memory_mb": 256}], hosts, tolerate=0)
    assert err.value.errors == ["guest 'e': state: must be one of running, stopped, absent, got 'paused'",
                                "guest 'b': name: duplicate guest name"]
