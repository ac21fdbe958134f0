from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.filter.filer_plan import FilterModule

filer_plan = FilterModule().filters()["filer_plan"]

DEFAULTS = {
    "image_volume": "xen_images", "image_size": "500G", "image_junction": "/xen_images",
    "data_volume": "xen_data", "data_size": "1T", "data_junction": "/xen_data",
    "quota": "10G", "soft_quota": None, "files": None, "root_squash": True, "policy_prefix": "xen_",
}
HOSTVARS = {
    "blade1": {"xen_host_storage_address": "192.0.2.11", "xen_host_memory": "16G"},
    "www1": {"xen_guest_address": "192.0.2.101", "xen_guest_data": True, "xen_guest_memory": "1G"},
    "dns1": {"xen_guest_address": "192.0.2.53"},
}


def test_plan_from_hostvars():
    result = filer_plan(HOSTVARS, ["blade1"], ["www1", "dns1"], DEFAULTS)
    assert result["image"]["clients"] == ["192.0.2.11/32"]
    assert [(g["guest"], g["client"], g["hard_mb"]) for g in result["guests"]] == [("www1", "192.0.2.101/32", 10240)]


def test_missing_groups_are_empty():
    assert filer_plan(HOSTVARS, None, None, DEFAULTS)["guests"] == []


def test_errors_become_filter_errors_with_the_engine_text():
    hostvars = dict(HOSTVARS, www1={"xen_guest_data": {"quota": "1G", "soft_quota": "2G"}})
    with pytest.raises(AnsibleFilterError) as info:
        filer_plan(hostvars, ["blade1"], ["www1"], DEFAULTS)
    assert info.value.message == (
        "filer_plan: guest www1: has a data area (xen_guest_data) but no xen_guest_address; "
        "guest www1: xen_guest_data.soft_quota (2048 MiB) is above the hard quota (1024 MiB)")


def test_unknown_host():
    with pytest.raises(AnsibleFilterError, match="^filer_plan: no inventory variables for 'nope'"):
        filer_plan(HOSTVARS, ["nope"], [], DEFAULTS)


filer_xfs_projects = FilterModule().filters()["filer_xfs_projects"]
filer_xfs_limits_todo = FilterModule().filters()["filer_xfs_limits_todo"]


def test_xfs_limits_todo_skips_projects_already_limited():
    hostvars = dict(HOSTVARS, db1={"xen_guest_address": "192.0.2.121", "xen_guest_data": {"quota": "1G"}})
    plan = filer_plan(hostvars, ["blade1"], ["www1", "db1"], DEFAULTS)
    projects = filer_xfs_projects(plan, 100, 10, {"www1": 200})
    ids = {p["guest"]: p["project_id"] for p in projects}
    assert ids["www1"] == 200 and 100 <= ids["db1"] < 110
    report = ("#200 0 0 10485760 00 [--------] 1 0 0 00 [--------]\n"
              "#%d 0 0 5 00 [------] 0 0 0 00 [------]\n" % ids["db1"])
    assert [p["guest"] for p in filer_xfs_limits_todo(projects, report)] == ["db1"]
    assert [p["guest"] for p in filer_xfs_limits_todo(projects, "")] == ["db1", "www1"]


def test_xfs_errors_are_filter_errors():
    plan = filer_plan(HOSTVARS, ["blade1"], ["www1"], DEFAULTS)
    with pytest.raises(AnsibleFilterError, match="^filer_xfs_projects: filer_linux_project_ids: guest x has no"):
        filer_xfs_projects(plan, 100, 10, {"x": 1})
    with pytest.raises(AnsibleFilterError, match="^filer_xfs_projects: expected the result of filer_plan"):
        filer_xfs_projects({}, 100, 10)
    with pytest.raises(AnsibleFilterError, match="^filer_xfs_limits_todo: expected the result of filer_xfs_projects"):
        filer_xfs_limits_todo([{}], "")


def test_the_example_inventory_plans_cleanly():
    root = pathlib.Path(__file__).resolve().parents[4] / "inventories" / "example"
    groups = yaml.safe_load((root / "hosts.yml").read_text())["all"]["children"]
    filer = yaml.safe_load((root / "host_vars" / "fas2020c.yml").read_text())
    hosts = groups["xen_hosts"]["hosts"]
    guests = {name: vars_ for child in groups["xen_guests"]["children"].values()
              for name, vars_ in child["hosts"].items()}
    defaults = dict(DEFAULTS, files=filer["filer_files"], soft_quota=filer["filer_soft_quota"])
    result = filer_plan({**hosts, **guests}, list(hosts), list(guests), defaults)
    assert len(result["image"]["clients"]) == 4
    # 18 running guests with a data area, and acc-test: stopped, it keeps its export and data
    assert len(result["guests"]) == 19
    assert "acc-test" in [g["guest"] for g in result["guests"]]
    assert all(g["soft_mb"] <= g["hard_mb"] for g in result["guests"])
