from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.engine import capacity
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
