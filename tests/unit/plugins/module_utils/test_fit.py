"""The one fit rule (fit.py): each constraint's reason, and every caller agreeing with it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.consolidation.xen.plugins.module_utils import fit
from ansible_collections.consolidation.xen.plugins.module_utils.capacity import _why_full
from ansible_collections.consolidation.xen.plugins.module_utils.failover import _Overlay
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import Cluster, Guest, Host
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils import bruteforce

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def host(name="blade1", memory_mb=4096, cpus=4, dom0=1024, reserve=0, state="active", max_hvm=None, ratio=2.0,
         hap=True, index=0, shadow=True):
    return Host(name, memory_mb, cpus, dom0, reserve, state, max_hvm, ratio, hap, index, shadow=shadow)


def guest(name="web1", memory_mb=1024, vcpus=1, gtype="pvh", pin=None, group=None, index=0, overhead=False):
    return Guest(name, memory_mb, None, vcpus, gtype, pin, group, True, None, index, overhead)


# ------------------------------------------------------------------------------ each constraint --
def test_fits_with_room_to_spare():
    assert fit.fail_mode(guest(), host(), 0, 0, 0) is None
    assert fit.why_not(guest(), host(), 0, 0, 0) is None
    assert fit.fits(guest(), host(), 0, 0, 0)


@pytest.mark.parametrize("state", ["maintenance", "down"])
def test_host_not_active(state):
    assert fit.fail_mode(guest(), host(state=state), 0, 0, 0) == fit.FAIL_STATE
    assert fit.why_not(guest(), host(state=state), 0, 0, 0) == "guest web1: host blade1 is %s, not active" % state


def test_pin_names_another_host_unless_ignored():
    g = guest(pin="blade2")
    assert fit.why_not(g, host(), 0, 0, 0) == "guest web1 is pinned to blade2, not blade1"
    assert fit.why_not(g, host(), 0, 0, 0, ignore_pin=True) is None
    assert fit.why_not(g, host(name="blade2"), 0, 0, 0) is None


def test_memory_on_an_empty_host_gives_the_capacity_breakdown():
    h = host(memory_mb=4096, dom0=1024, reserve=128)  # 2944 MiB for guests
    assert fit.why_not(guest(memory_mb=3000), h, 0, 0, 0) == (
        "guest web1 needs 3000 MiB with Xen overhead, host blade1 has 2944 MiB free "
        "(56 MiB short; 4096 physical - 1024 dom0 - 128 Xen)")
    assert fit.why_not(guest(memory_mb=2944), h, 0, 0, 0) is None  # exactly full fits


def test_memory_on_top_of_what_the_host_carries():
    h = host()  # 3072 MiB for guests
    assert fit.why_not(guest(memory_mb=1024), h, 2048, 0, 0) is None
    assert fit.why_not(guest(memory_mb=1025), h, 2048, 0, 0) == (
        "guest web1 needs 1025 MiB with Xen overhead, host blade1 has 1024 MiB free (1 MiB short)")


def test_memory_is_the_footprint_on_that_host_hap_or_shadow():
    g = guest(memory_mb=2000, vcpus=2, gtype="hvm", overhead=True)
    with_hap, shadow = host(hap=True), host(hap=False)
    used = with_hap.capacity_mb - g.footprint(with_hap)  # room for the HAP footprint, not the shadow one
    assert g.footprint(shadow) > g.footprint(with_hap)
    assert fit.fail_mode(g, with_hap, used, 0, 0) is None
    assert fit.fail_mode(g, shadow, used, 0, 0) == fit.FAIL_MEMORY
    assert "needs %d MiB" % g.footprint(shadow) in fit.why_not(g, shadow, used, 0, 0)


def test_more_vcpus_than_pcpus():
    assert fit.why_not(guest(vcpus=6), host(cpus=4, ratio=4), 0, 0, 0) == (
        "guest web1 has 6 vCPUs, host blade1 has 4 pCPUs (2 pCPUs short)")


def test_vcpu_capacity_on_top_of_what_the_host_carries():
    h = host(cpus=4, ratio=2)  # 8 vCPUs
    assert fit.why_not(guest(vcpus=2), h, 0, 6, 0) is None
    assert fit.why_not(guest(vcpus=3), h, 0, 6, 0) == (
        "guest web1 needs 3 vCPUs, host blade1 has 2 vCPUs free of 8 (1 vCPUs short)")
    # Statically (nothing used): vcpu_ratio below 1 caps a guest below the pCPU count.
    assert fit.fail_mode(guest(vcpus=3), host(cpus=4, ratio=0.5), 0, 0, 0) == fit.FAIL_VCPUS


def test_max_hvm():
    h = host(max_hvm=2)
    assert fit.why_not(guest(gtype="hvm"), h, 0, 0, 1) is None
    assert fit.why_not(guest(gtype="hvm"), h, 0, 0, 2) == (
        "guest web1 is HVM, host blade1 already runs 2 HVM guest(s) (max_hvm 2)")
    assert fit.why_not(guest(gtype="pvh"), h, 0, 0, 2) is None  # only HVM guests count
    assert fit.fail_mode(guest(gtype="hvm"), host(max_hvm=0), 0, 0, 0) == fit.FAIL_HVM
    assert fit.fail_mode(guest(gtype="hvm"), host(max_hvm=None), 0, 0, 99) is None


def test_anti_affinity_in_either_group_container():
    g = guest(group="dns")
    reason = "guest web1: anti_affinity group dns already has a member on host blade1"
    assert fit.why_not(g, host(), 0, 0, 0, {"dns"}) == reason
    assert fit.why_not(g, host(), 0, 0, 0, set(), {"dns"}) == reason
    assert fit.why_not(g, host(), 0, 0, 0, {"web"}, {"db"}) is None
    assert fit.why_not(guest(), host(), 0, 0, 0, {"dns"}) is None  # no group, no conflict


def test_the_first_broken_constraint_is_reported():
    g = guest(memory_mb=9999, vcpus=9, gtype="hvm", pin="blade2", group="dns")
    h = host(state="down", max_hvm=0, hap=False, shadow=False)
    order = []
    while True:
        mode = fit.fail_mode(g, h, 0, 0, 0, {"dns"})
        if mode is None:
            break
        order.append(mode)
        # relax the constraint just reported, then ask again
        if mode == fit.FAIL_STATE:
            h = host(max_hvm=0, hap=False, shadow=False)
        elif mode == fit.FAIL_PAGING:
            h = host(max_hvm=0)
        elif mode == fit.FAIL_PIN:
            g = guest(memory_mb=9999, vcpus=9, gtype="hvm", group="dns")
        elif mode == fit.FAIL_MEMORY:
            g = guest(vcpus=9, gtype="hvm", group="dns")
        elif mode == fit.FAIL_PCPUS:
            h = host(cpus=16, ratio=0.5, max_hvm=0)
        elif mode == fit.FAIL_VCPUS:
            h = host(cpus=16, max_hvm=0)
        elif mode == fit.FAIL_HVM:
            g = guest(vcpus=9, group="dns")
        else:
            g = guest(vcpus=9)
    assert order == list(fit.FAIL_MODES)


@pytest.mark.parametrize("gtype", ["hvm", "pvh"])
def test_hvm_and_pvh_need_hap_or_shadow_paging(gtype):
    neither = host(hap=False, shadow=False)
    assert fit.fail_mode(guest(gtype=gtype), neither, 0, 0, 0) == fit.FAIL_PAGING
    assert fit.why_not(guest(gtype=gtype), neither, 0, 0, 0) == (
        "guest web1 is %s, and host blade1 cannot run %s guests: no hardware-assisted paging (xen_host_hap false) "
        "and a Xen without shadow paging (xen_host_shadow_paging false)" % (gtype.upper(), gtype.upper()))
    # Either one is enough (Debian's Xen: HAP only; an EPT-less CPU under SUSE's Xen: shadow only).
    assert fit.fits(guest(gtype=gtype), host(hap=True, shadow=False), 0, 0, 0)
    assert fit.fits(guest(gtype=gtype), host(hap=False, shadow=True), 0, 0, 0)


def test_pv_runs_without_hap_or_shadow_paging():
    assert fit.fits(guest(gtype="pv"), host(hap=False, shadow=False), 0, 0, 0)


def test_every_mode_has_a_sentence():
    for mode in fit.FAIL_MODES:
        text = fit.describe(mode, guest(group="g", pin="x"), host(max_hvm=1), 10, 1, 1)
        assert "web1" in text and "blade1" in text
    with pytest.raises(ValueError):
        fit.describe("nonsense", guest(), host(), 0, 0, 0)


def test_capacity_says_which_resource_ran_out():
    cluster = Cluster([host("a", index=0), host("b", index=1)], [], 0, False)
    layout = Layout(cluster)
    big = guest(memory_mb=4000)
    assert _why_full(layout, big, cluster.active_hosts) == "memory"
    assert _why_full(layout, guest(vcpus=9), cluster.active_hosts) == "vcpus"
    layout.used_vcpus[:] = [8, 8]
    assert _why_full(layout, guest(), cluster.active_hosts) == "vcpus"
    layout.used_vcpus[:] = [0, 0]
    layout.groups[0].add("dns")
    layout.groups[1].add("dns")
    assert _why_full(layout, guest(group="dns"), cluster.active_hosts) == "constraints"


# ----------------------------------------------------------------- every caller, the same rule --
hosts_st = st.builds(
    host,
    memory_mb=st.sampled_from([2048, 4096, 8192, 16384]),
    cpus=st.integers(1, 8),
    dom0=st.sampled_from([512, 1024]),
    reserve=st.sampled_from([0, 128]),
    state=st.sampled_from(["active"] * 10 + ["maintenance", "down"]),
    max_hvm=st.sampled_from([None, None, 0, 1, 2, 3]),
    ratio=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
    hap=st.booleans(),
    shadow=st.sampled_from([True, True, False]),
    name=st.sampled_from(["blade1", "blade2"]),
)
guests_st = st.builds(
    guest,
    memory_mb=st.integers(64, 4096),
    vcpus=st.integers(1, 4),
    gtype=st.sampled_from(["pv", "pvh", "hvm"]),
    pin=st.sampled_from([None] * 4 + ["blade1", "blade2"]),
    group=st.sampled_from([None, None, "a", "b"]),
    overhead=st.booleans(),
)
groups_st = st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=2)


@SETTINGS
@given(g=guests_st, h=hosts_st, used_mb=st.integers(0, 12288), used_vcpus=st.integers(0, 16),
       hvm=st.integers(0, 4), groups=groups_st, more=groups_st, ignore_pin=st.booleans())
def test_fits_is_why_not_is_none(g, h, used_mb, used_vcpus, hvm, groups, more, ignore_pin):
    args = (g, h, used_mb, used_vcpus, hvm, groups, more, ignore_pin)
    mode = fit.fail_mode(*args)
    event("fails on %s" % mode if mode else "fits")
    reason = fit.why_not(*args)
    assert fit.fits(*args) == (reason is None) == (mode is None)
    if reason is not None:
        assert g.name in reason and h.name in reason
        assert reason == fit.describe(mode, g, h, used_mb, used_vcpus, hvm)


@SETTINGS
@given(g=guests_st, h=hosts_st, used_mb=st.integers(0, 12288), used_vcpus=st.integers(0, 16),
       hvm=st.integers(0, 4), groups=groups_st, extra_mb=st.integers(0, 2048), extra_vcpus=st.integers(0, 4),
       extra_hvm=st.integers(0, 2), extra_groups=groups_st, ignore_pin=st.booleans())
def test_layout_overlay_and_cluster_ask_the_rule(g, h, used_mb, used_vcpus, hvm, groups, extra_mb, extra_vcpus,
                                                 extra_hvm, extra_groups, ignore_pin):
    cluster = Cluster([h], [g], 0, True)
    layout = Layout(cluster)
    layout.used_mb[0], layout.used_vcpus[0], layout.hvm[0] = used_mb, used_vcpus, hvm
    layout.groups[0] = set(groups)
    # Layout: boolean, reason and mode are the rule on the layout's usage.
    expected = fit.fail_mode(g, h, used_mb, used_vcpus, hvm, groups, (), ignore_pin)
    event("layout: fails on %s" % expected if expected else "layout: fits")
    assert layout.fail_mode(g, h, ignore_pin) == expected
    assert layout.can_place(g, h, ignore_pin) == (layout.why_not(g, h, ignore_pin) is None) == (expected is None)
    # Static eligibility: the rule with nothing used.
    static = fit.fail_mode(g, h, 0, 0, 0)
    assert cluster.eligible(g, h) == (cluster.why_not(g, h) is None) == (static is None)
    # Failover overlay: the rule on layout + restarts, pins ignored (restarts go wherever they fit).
    overlay = _Overlay(layout)
    overlay.mb[0], overlay.vcpus[0], overlay.hvm[0] = extra_mb, extra_vcpus, extra_hvm
    overlay.groups[0] = set(extra_groups)
    expected = fit.fail_mode(g, h, used_mb + extra_mb, used_vcpus + extra_vcpus, hvm + extra_hvm, groups,
                             extra_groups, True)
    assert overlay.fits(g, h) == (overlay.why_not(g, h) is None) == (expected is None)


@SETTINGS
@given(h=hosts_st, members=st.lists(guests_st, max_size=4), g=guests_st)
def test_layout_agrees_with_the_brute_force_oracle(h, members, g):
    # bruteforce._host_ok recomputes a host's constraints from its guest list, apart from the engine.
    guests = members + [g]
    for i, m in enumerate(guests):
        m.index = i
        m.name = "g%d" % i
    cluster = Cluster([h], guests, 0, True)
    layout = Layout(cluster)
    for m in members:
        layout.place(m, h)
    if not bruteforce._host_ok(cluster, h, members):
        return  # the oracle judges whole hosts: only adding to a valid one compares like with like
    ok = bruteforce._host_ok(cluster, h, guests)
    event("oracle: fits" if ok else "oracle: does not fit")
    assert layout.can_place(g, h, ignore_pin=True) == ok
