from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.engine import capacity, placement
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils.clusters import origin_hosts, paper_guests


def test_paper_cluster_has_no_headroom_with_n1():
    # placement-anchors.md section 2: htools also allows zero further 1 GiB guests with N+1.
    result = capacity(paper_guests(), origin_hosts(), {"memory_mb": "1G"}, tolerate=1)
    assert result["fits"] == 0 and result["limited_by"] == "failover"


def test_paper_cluster_headroom_without_n1_is_memory_bound():
    result = capacity(paper_guests(), origin_hosts(), {"memory_mb": "1G"}, tolerate=0)
    # 3 x 15744 MiB usable, 31080 MiB used, 1032 MiB per new guest: 15 fit (htools says 14: it keeps free > 0)
    assert result["fits"] == 15 and result["limited_by"] == "memory"


def test_headroom_with_a_fourth_host_and_limit():
    result = capacity(paper_guests(), origin_hosts(4), {"memory_mb": "1G", "vcpus": 2}, tolerate=1)
    assert result["fits"] > 0 and result["limited_by"] in ("failover", "memory")
    limited = capacity(paper_guests(), origin_hosts(4), {"memory_mb": "1G"}, tolerate=1, limit=3)
    assert limited["fits"] == 3 and limited["limited_by"] == "limit"


def test_base_failing_reports_base():
    result = capacity(paper_guests(), origin_hosts(2), {"memory_mb": "1G"}, tolerate=1)
    assert result["fits"] == 0 and result["limited_by"] == "base" and result["reasons"]


def test_small_cluster_answer_reaches_the_counting_bound_by_replanning():
    # The origin's shape with a fourth blade: adding 1 GiB guests around the plan's layout stops at 14;
    # re-placing everything holds 15, and the counting bound (16 would need 5 hosts with one spare) says
    # no placement holds more: the answer is exact.
    result = capacity(paper_guests(), origin_hosts(4), {"memory_mb": "1G"}, tolerate=1)
    assert (result["fits_in_place"], result["fits"], result["bound"], result["exact"]) == (14, 15, 15, True)
    assert result["moves"] > 0 and sum(result["placed_on"].values()) == 15
    assert not placement(paper_guests() + [{"name": "new%d" % i, "memory_mb": "1G"} for i in range(16)],
                         origin_hosts(4), tolerate=1)["ok"]
    assert placement(paper_guests() + [{"name": "new%d" % i, "memory_mb": "1G"} for i in range(15)],
                     origin_hosts(4), tolerate=1)["ok"]


def test_the_counting_bound_is_printed_with_every_answer_and_never_below_it():
    for hosts, tolerate in ((origin_hosts(), 1), (origin_hosts(), 0), (origin_hosts(4), 1), (origin_hosts(2), 1)):
        result = capacity(paper_guests(), hosts, {"memory_mb": "1G"}, tolerate=tolerate)
        assert result["fits_in_place"] <= result["fits"] <= result["bound"], result
        assert result["exact"] == (result["fits"] == result["bound"] and result["base_ok"])


def test_the_counting_bound_needs_no_spare_room_for_guests_that_never_move():
    # Guests with movable: false do not restart when their host fails, so they take no spare room: the
    # bound counts them once (everything fits the hosts), and only the movable ones with a host spare.
    hosts = [{"name": "h%d" % i, "memory_mb": 2048, "cpus": 2, "dom0_memory_mb": 512, "xen_reserve_mb": 0}
             for i in (0, 1)]
    fixed = [{"name": "g%d" % i, "memory_mb": 512, "movable": False} for i in (0, 1)]
    result = capacity(fixed, hosts, {"memory_mb": 256}, tolerate=1)
    assert result["fits"] >= 1 and result["fits"] <= result["bound"], result
    assert not placement(fixed + [{"name": "n%d" % i, "memory_mb": 256} for i in range(result["bound"] + 1)], hosts,
                         tolerate=1)["ok"]


def test_guests_meant_to_be_down_take_no_headroom():
    hosts = origin_hosts() + [{"name": "blade4", "memory_mb": 4096, "cpus": 4, "dom0_memory_mb": 512}]
    shape = {"memory_mb": 256, "vcpus": 1, "type": "pvh"}
    base = capacity(paper_guests(), hosts, shape, tolerate=1)
    down = [{"name": "big-test", "memory_mb": 65536, "vcpus": 8, "state": "stopped"},
            {"name": "old-wiki", "memory_mb": 1024, "state": "absent"}]
    with_down = capacity(paper_guests() + down, hosts, shape, tolerate=1)
    assert base["fits"] > 0
    assert (with_down["fits"], with_down["bound"]) == (base["fits"], base["bound"])
