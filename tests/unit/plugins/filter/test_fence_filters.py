"""The storage fencing filters: thin faces over module_utils/fence.py, errors named."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.filter.fence import FilterModule

F = FilterModule().filters()
POLICIES = [{"name": "xen_images", "rules": [{"index": 1, "clients": [{"match": "10.0.0.1/32"}]},
                                             {"index": 2, "clients": [{"match": "10.0.0.2/32"}]}]},
            {"name": "xen_fenced_b_100", "rules": [{"index": 1, "clients": [{"match": "10.0.0.2/32"}]}]}]


def test_records_plan_and_access():
    assert [r["host"] for r in F["fence_ontap_records"](POLICIES, "xen_")] == ["b"]
    plan = F["fence_ontap_plan"](POLICIES, "xen_", "xen_images", "b", "10.0.0.2", "1700000000.5")
    assert (plan["new"], plan["delete"], plan["record"]["fenced_at"]) == (False, [2], 100)
    answer = [{"path": "/xen_images", "policy": "xen_images", "ruleidx": 0, "access": "denied"}]
    assert F["fence_ontap_access"](answer, "10.0.0.2") == {
        "problems": [], "lines": ["/xen_images: denied (policy xen_images, rule 0)"]}


def test_errors_name_what_is_wrong():
    with pytest.raises(AnsibleFilterError, match="xen_fenced_x_y is not a fence record.*a fenced host stays fenced"):
        F["fence_ontap_records"]([{"name": "xen_fenced_x_y", "rules": []}], "xen_")
    with pytest.raises(AnsibleFilterError, match="fence_ontap_plan: fence: host b: 'nowhere' is not an IP address"):
        F["fence_ontap_plan"](POLICIES, "xen_", "xen_images", "b", "nowhere", 1)
    with pytest.raises(AnsibleFilterError, match="want must be denied or granted"):
        F["fence_ontap_access"]([], "10.0.0.2", "maybe")
    with pytest.raises(AnsibleFilterError, match="unfence_problems: expected a fence record"):
        F["unfence_problems"]({}, {"time": 1}, {})


def test_unfence_problems():
    rec = {"host": "b", "address": "10.0.0.2", "fenced_at": 100}
    assert F["unfence_problems"](rec, {"id": "x", "time": 200}, {"a": ["g1"], "b": []}) == []
    assert "has not booted since it was fenced" in F["unfence_problems"](rec, {"id": "x", "time": 50}, {})[0]


def test_confirm_face():
    answer = [{"path": "/xen_images", "policy": "xen_images", "ruleidx": 0, "access": "denied"}]
    assert F["fence_ontap_confirm"](POLICIES, answer, "xen_", "xen_images", "b", "10.0.0.2") == [
        "export policy xen_images rule 2 still names 10.0.0.2"]
    with pytest.raises(AnsibleFilterError, match="state must be present or absent"):
        F["fence_ontap_confirm"](POLICIES, answer, "xen_", "xen_images", "b", "10.0.0.2", "gone")
