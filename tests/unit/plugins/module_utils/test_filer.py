from __future__ import annotations

import re

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils import filer
from ansible_collections.consolidation.xen.plugins.module_utils.filer import (
    FilerPlanError,
    filer_plan,
    parse_xfs_report,
    project_id,
    qtree_name,
    xfs_limits,
    xfs_projects,
)

DEFAULTS = {
    "image_volume": "xen_images", "image_size": "500G", "image_junction": "/xen_images",
    "data_volume": "xen_data", "data_size": "1T", "data_junction": "/xen_data",
    "quota": "10G", "soft_quota": None, "files": None, "root_squash": True, "policy_prefix": "xen_",
}
HOSTS = {"blade2": {"xen_host_storage_address": "192.0.2.12"},
         "blade1": {"xen_host_storage_address": "192.0.2.11"}}
GUESTS = {
    "www1": {"xen_guest_address": "192.0.2.101", "xen_guest_data": True},
    "db1": {"xen_guest_address": "192.0.2.121",
            "xen_guest_data": {"quota": "50G", "soft_quota": "45G", "files": 1000000, "root_squash": False}},
    "dns1": {"xen_guest_address": "192.0.2.53"},
    "ldap1": {"xen_guest_data": False},
}


def plan(hosts=None, guests=None, defaults=None):
    hosts = HOSTS if hosts is None else hosts
    guests = GUESTS if guests is None else guests
    return filer_plan(list(hosts), list(hosts.values()), list(guests), list(guests.values()),
                      DEFAULTS if defaults is None else defaults)


def problems(**kwargs):
    with pytest.raises(FilerPlanError) as info:
        plan(**kwargs)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == "; ".join(info.value.problems)
    return info.value.problems


def test_happy_path():
    assert plan() == {
        "image": {"volume": "xen_images", "size_mb": 512000, "junction": "/xen_images", "policy": "xen_images",
                  "clients": ["192.0.2.11/32", "192.0.2.12/32"],
                  "host_clients": {"blade1": "192.0.2.11/32", "blade2": "192.0.2.12/32"}},
        "data": {"volume": "xen_data", "size_mb": 1048576, "junction": "/xen_data", "policy": "xen_data"},
        "guests": [
            {"guest": "db1", "qtree": "db1", "policy": "xen_guest_db1", "client": "192.0.2.121/32",
             "address": "192.0.2.121", "hard_mb": 51200, "soft_mb": 46080, "files": 1000000, "root_squash": False},
            {"guest": "www1", "qtree": "www1", "policy": "xen_guest_www1", "client": "192.0.2.101/32",
             "address": "192.0.2.101", "hard_mb": 10240, "soft_mb": None, "files": None, "root_squash": True},
        ],
        "policy_prefix": "xen_",
        "snapshot_policy": None,
        "vault": None,
        "linux_backup": None,
    }


def test_an_absent_guest_loses_its_export_a_stopped_one_keeps_it():
    guests = dict(GUESTS, www1=dict(GUESTS["www1"], xen_guest_state="absent"),
                  db1=dict(GUESTS["db1"], xen_guest_state="stopped"))
    # www1's address may then serve another machine: the absent guest no longer owns it
    guests["www2"] = {"xen_guest_address": "192.0.2.101", "xen_guest_data": True}
    assert [g["guest"] for g in plan(guests=guests)["guests"]] == ["db1", "www2"]


def test_clients_sorted_numerically_and_prefix_used():
    hosts = {"a": {"xen_host_storage_address": "192.0.2.100"}, "b": {"xen_host_storage_address": "192.0.2.9"}}
    result = plan(hosts=hosts, defaults=dict(DEFAULTS, policy_prefix="lab-"))
    assert result["image"]["clients"] == ["192.0.2.9/32", "192.0.2.100/32"]
    assert result["image"]["policy"] == "lab-images"
    assert result["data"]["policy"] == "lab-data"
    assert [g["policy"] for g in result["guests"]] == ["lab-guest_db1", "lab-guest_www1"]


def test_no_dom0s_and_no_guests():
    result = plan(hosts={}, guests={})
    assert result["image"]["clients"] == []
    assert result["guests"] == []


def test_ipv6_client_is_a_host_prefix():
    result = plan(guests={"v6": {"xen_guest_address": "2001:db8::10", "xen_guest_data": True}})
    assert result["guests"][0]["client"] == "2001:db8::10/128"


def test_defaults_soft_quota_and_files_apply_and_can_be_dropped_per_guest():
    defaults = dict(DEFAULTS, soft_quota="8G", files="100000", root_squash="yes")
    guests = {"a": {"xen_guest_address": "192.0.2.1", "xen_guest_data": True},
              "b": {"xen_guest_address": "192.0.2.2", "xen_guest_data": {"soft_quota": None, "files": None}}}
    a, b = plan(guests=guests, defaults=defaults)["guests"]
    assert (a["hard_mb"], a["soft_mb"], a["files"], a["root_squash"]) == (10240, 8192, 100000, True)
    assert (b["hard_mb"], b["soft_mb"], b["files"]) == (10240, None, None)


def test_soft_equal_to_hard_is_fine():
    guests = {"a": {"xen_guest_address": "192.0.2.1", "xen_guest_data": {"quota": "1G", "soft_quota": 1024}}}
    assert plan(guests=guests)["guests"][0]["soft_mb"] == 1024


@pytest.mark.parametrize(("guest", "expected"), [
    ("www1", "www1"), ("www.example.org", "www_example_org"), ("a/b", "a_b"), ("x" * 64, "x" * 64)])
def test_qtree_names(guest, expected):
    assert qtree_name(guest) == expected


def test_long_names_are_cut_with_a_stable_digest():
    name = qtree_name("g" * 80)
    assert len(name) == 64 and "/" not in name
    assert name == qtree_name("g" * 80) != qtree_name("g" * 81)


def test_data_area_without_address():
    assert problems(guests={"www1": {"xen_guest_data": True}}) == [
        "guest www1: has a data area (xen_guest_data) but no xen_guest_address"]


@pytest.mark.parametrize("address", ["192.0.2.010", "192.0.2.300", "192.0.2.0/24", "www1", "", 17, True])
def test_unparsable_guest_address(address):
    (problem,) = problems(guests={"www1": {"xen_guest_address": address, "xen_guest_data": True}})
    assert problem.startswith("guest www1: xen_guest_address: ")


def test_unparsable_host_address():
    (problem,) = problems(hosts={"blade1": {"xen_host_storage_address": "192.0.2.1.5"}})
    assert problem.startswith("host blade1: xen_host_storage_address: ")


def test_dom0_without_storage_address():
    assert problems(hosts={"blade1": {}}) == [
        "host blade1: xen_host_storage_address is not set (the address the filer sees this dom0 at)"]


def test_duplicate_addresses_between_guests_and_dom0s():
    hosts = {"blade1": {"xen_host_storage_address": "192.0.2.11"}}
    guests = {"www1": {"xen_guest_address": "192.0.2.11", "xen_guest_data": True},
              "www2": {"xen_guest_address": "192.0.2.20", "xen_guest_data": True},
              "dns1": {"xen_guest_address": " 192.0.2.20"}}
    assert problems(hosts=hosts, guests=guests) == [
        "address 192.0.2.11: used by more than one machine: host blade1, guest www1",
        "address 192.0.2.20: used by more than one machine: guest www2, guest dns1"]


def test_ipv6_spellings_are_compared_canonically():
    guests = {"a": {"xen_guest_address": "2001:db8::1", "xen_guest_data": True},
              "b": {"xen_guest_address": "2001:DB8:0::0:1", "xen_guest_data": True}}
    (problem,) = problems(guests=guests)
    assert problem == "address 2001:db8::1: used by more than one machine: guest a, guest b"


@pytest.mark.parametrize("quota", ["lots", "0", 0, "-1G", None, True])
def test_bad_quota(quota):
    (problem,) = problems(guests={"www1": {"xen_guest_address": "192.0.2.1", "xen_guest_data": {"quota": quota}}})
    assert problem.startswith("guest www1: xen_guest_data.quota: ")


def test_bad_default_quota_names_every_guest_using_it():
    found = problems(defaults=dict(DEFAULTS, quota="ten gigs"))
    assert [p.split(":")[0] for p in found] == ["guest www1"]


def test_soft_above_hard():
    guests = {"www1": {"xen_guest_address": "192.0.2.1", "xen_guest_data": {"quota": "1G", "soft_quota": "2G"}}}
    assert problems(guests=guests) == [
        "guest www1: xen_guest_data.soft_quota (2048 MiB) is above the hard quota (1024 MiB)"]


def test_bad_soft_quota():
    guests = {"www1": {"xen_guest_address": "192.0.2.1", "xen_guest_data": {"soft_quota": "soon"}}}
    (problem,) = problems(guests=guests)
    assert problem.startswith("guest www1: xen_guest_data.soft_quota: ")


@pytest.mark.parametrize("files", [0, -5, "many", 1.5, True])
def test_files_not_a_positive_int(files):
    guests = {"www1": {"xen_guest_address": "192.0.2.1", "xen_guest_data": {"files": files}}}
    (problem,) = problems(guests=guests)
    assert problem.startswith("guest www1: xen_guest_data.files: expected a positive whole number of files")


def test_bad_root_squash_and_unknown_keys_and_bad_data():
    guests = {"a": {"xen_guest_address": "192.0.2.1", "xen_guest_data": {"root_squash": "maybe"}},
              "b": {"xen_guest_address": "192.0.2.2", "xen_guest_data": {"qouta": "1G"}},
              "c": {"xen_guest_address": "192.0.2.3", "xen_guest_data": "10G"}}
    found = problems(guests=guests)
    assert found[0].startswith("guest a: xen_guest_data.root_squash: expected true or false")
    assert found[1].startswith("guest b: xen_guest_data: unknown key(s) qouta")
    assert found[2].startswith("guest c: xen_guest_data: expected true, false or a mapping")


def test_qtree_name_collision():
    guests = {"www.1": {"xen_guest_address": "192.0.2.1", "xen_guest_data": True},
              "www_1": {"xen_guest_address": "192.0.2.2", "xen_guest_data": True}}
    assert problems(guests=guests) == ["qtree www_1: guests www.1, www_1 map to the same qtree name; rename one"]


def test_bad_defaults():
    defaults = dict(DEFAULTS, image_volume="1images", data_volume="xen data", image_junction="images",
                    image_size="big", policy_prefix="a/b")
    found = problems(defaults=defaults, guests={})
    assert [p.split(":")[0] for p in found] == [
        "filer_image_volume", "filer_data_volume", "filer_image_junction", "filer_image_size", "filer_policy_prefix"]


def test_missing_default_keys():
    defaults = {k: v for k, v in DEFAULTS.items() if k != "data_size"}
    found = problems(defaults=defaults, guests={})
    assert found[0] == "defaults: missing key(s) data_size"


def test_all_problems_at_once():
    hosts = {"blade1": {}, "blade2": {"xen_host_storage_address": "192.0.2.101"}}
    guests = {"www1": {"xen_guest_address": "192.0.2.101", "xen_guest_data": True},
              "db1": {"xen_guest_data": {"quota": "x"}},
              "mail1": {"xen_guest_address": "192.0.2.7",
                        "xen_guest_data": {"quota": "1G", "soft_quota": "2G", "files": 0}}}
    found = problems(hosts=hosts, guests=guests)
    assert len(found) == 6
    assert {p.split(":")[0] for p in found} == {"host blade1", "guest db1", "guest mail1", "address 192.0.2.101"}


# --- XFS project quotas (Linux backend) ----------------------------------------------------------

def test_project_ids_are_stable_and_independent_of_the_other_guests():
    full = {p["guest"]: p["project_id"] for p in xfs_projects(plan())}
    only_www1 = plan(guests={"www1": GUESTS["www1"]})
    assert xfs_projects(only_www1)[0]["project_id"] == full["www1"] == project_id("www1", 10000, 1000000)
    assert all(10000 <= pid < 1010000 for pid in full.values())
    assert [p["project"] for p in xfs_projects(plan())] == ["xen_guest_db1", "xen_guest_www1"]


def test_project_id_overrides():
    projects = xfs_projects(plan(), overrides={"db1": 4242})
    assert [p["project_id"] for p in projects][0] == 4242


def test_project_id_collision_is_an_error_naming_both_guests():
    # span 1: every guest gets the same id.
    with pytest.raises(FilerPlanError, match=r"^project id 7: shared by guests db1, www1; give one of them"):
        xfs_projects(plan(), base=7, span=1)
    assert len({p["project_id"] for p in xfs_projects(plan(), base=7, span=1, overrides={"db1": 8})}) == 2


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"base": 0}, "filer_linux_project_base: expected a positive whole number"),
    ({"span": 2 ** 32}, "filer_linux_project_span: base + span exceeds"),
    ({"overrides": {"nobody": 5}}, "filer_linux_project_ids: guest nobody has no data area"),
    ({"overrides": {"db1": -5}}, "filer_linux_project_ids: guest db1: expected a project id"),
])
def test_bad_project_settings(kwargs, text):
    with pytest.raises(FilerPlanError, match="^" + re.escape(text)):
        xfs_projects(plan(), **kwargs)


REPORT = """\
#0                  0          0          0     00 [--------]          3          0          0     00 [--------]
#10001         204800    9437184   10485760     00 [--------]         12          0     100000     00 [--------]
#10002        1048577          0    1048576     00  [6 days]          1          0          0     00 [--------]

"""


def test_parse_xfs_report():
    assert parse_xfs_report(REPORT) == {
        0: {"bsoft_kb": 0, "bhard_kb": 0, "isoft": 0, "ihard": 0},
        10001: {"bsoft_kb": 9437184, "bhard_kb": 10485760, "isoft": 0, "ihard": 100000},
        10002: {"bsoft_kb": 0, "bhard_kb": 1048576, "isoft": 0, "ihard": 0},
    }
    assert parse_xfs_report("") == {}
    assert parse_xfs_report("Project quota on /srv/nfs (/dev/vdb)\n#x 1 2") == {}


def test_xfs_limits():
    www1 = {"hard_mb": 10240, "soft_mb": 9216, "files": 100000}
    assert xfs_limits(www1) == {"bsoft_kb": 9437184, "bhard_kb": 10485760, "isoft": 0, "ihard": 100000}
    assert xfs_limits({"hard_mb": 1024, "soft_mb": None, "files": None}) == {
        "bsoft_kb": 0, "bhard_kb": 1048576, "isoft": 0, "ihard": 0}


def test_soft_quota_as_a_percentage_of_each_guests_hard_quota():
    guests = {"a": {"xen_guest_address": "192.0.2.1", "xen_guest_data": True},
              "b": {"xen_guest_address": "192.0.2.2", "xen_guest_data": {"quota": "1000M"}},
              "c": {"xen_guest_address": "192.0.2.3", "xen_guest_data": {"quota": "1G", "soft_quota": "100%"}}}
    result = plan(guests=guests, defaults=dict(DEFAULTS, soft_quota="90%"))
    assert [g["soft_mb"] for g in result["guests"]] == [9216, 900, 1024]


@pytest.mark.parametrize("soft", ["0%", "101%", "x%", "%"])
def test_bad_soft_percentages(soft):
    guests = {"a": {"xen_guest_address": "192.0.2.1", "xen_guest_data": {"soft_quota": soft}}}
    (problem,) = problems(guests=guests)
    assert problem.startswith("guest a: xen_guest_data.soft_quota: expected a percentage of the hard quota")


SNAPSHOTS = {"schedules": [{"schedule": "hourly", "count": 6},
                           {"schedule": "daily", "count": 7, "snapmirror_label": "daily"}]}


def test_snapshot_policy_named_from_the_prefix_with_schedule_prefixes():
    got = plan(defaults=dict(DEFAULTS, policy_prefix="lab-", ontap_snapshot_policy=SNAPSHOTS))["snapshot_policy"]
    assert got == {"name": "lab-snapshots", "enabled": True, "copies": [
        {"schedule": "hourly", "count": 6, "snapmirror_label": "", "prefix": "hourly"},
        {"schedule": "daily", "count": 7, "snapmirror_label": "daily", "prefix": "daily"}]}
    own = dict(SNAPSHOTS, name="nightly", enabled="no")
    assert plan(defaults=dict(DEFAULTS, ontap_snapshot_policy=own))["snapshot_policy"]["name"] == "nightly"
    assert plan(defaults=dict(DEFAULTS, ontap_snapshot_policy=own))["snapshot_policy"]["enabled"] is False


@pytest.mark.parametrize(("policy", "message"), [
    ([{"schedule": "hourly", "count": 6}], "expected null or a mapping with schedules"),
    ({"schedules": []}, "schedules: expected a list of 1 to 5 mappings"),
    ({"schedules": [{"schedule": "hourly", "count": True}]}, "schedules[1]: count: expected a whole number"),
    ({"schedules": [{"schedule": "hourly", "count": 1024}]},
     "schedules[1]: count: expected a whole number from 1 to 1023"),
    ({"schedules": [{"schedule": "hourly", "count": 1000}, {"schedule": "daily", "count": 24}]},
     "the counts add up to 1024 Snapshot copies; a volume holds at most 1023"),
    ({"schedules": [{"schedule": "every hour", "count": 6}]}, "schedules[1]: schedule: expected the name of an ONTAP"),
    ({"schedules": [{"schedule": "hourly", "count": 6, "snapmirror_label": "a b"}]},
     "schedules[1]: snapmirror_label: expected letters"),
    ({"name": "bad name", "schedules": [{"schedule": "hourly", "count": 6}]}, "name: expected letters"),
    ({"schedule": [{"schedule": "hourly", "count": 6}]}, "unknown key(s) schedule"),
    ({"enabled": "maybe", "schedules": [{"schedule": "hourly", "count": 6}]}, "enabled: expected true or false"),
])
def test_bad_snapshot_policy_is_named(policy, message):
    found = problems(defaults=dict(DEFAULTS, ontap_snapshot_policy=policy))
    assert any(p.startswith("filer_ontap_snapshot_policy") and message in p for p in found), found


LABELLED = {"schedules": [{"schedule": "daily", "count": 7, "snapmirror_label": "daily"}]}


def test_vault_relationships_from_the_defaults():
    out = plan(defaults=dict(DEFAULTS, ontap_vserver="svm1", ontap_snapshot_policy=LABELLED,
                             ontap_vault={"vserver": "svm_vault"}))
    assert out["vault"] == {"vserver": "svm_vault", "policy": "XDPDefault", "schedule": "daily", "relationships": [
        {"volume": "xen_data", "source_path": "svm1:xen_data", "destination_volume": "xen_data_vault",
         "destination_path": "svm_vault:xen_data_vault"}]}
    own = {"vserver": "b", "volumes": ["data", "image"], "suffix": "_bk", "policy": "MirrorAndVault",
           "schedule": "weekly"}
    both = plan(defaults=dict(DEFAULTS, ontap_vserver="svm1", ontap_vault=own))
    paths = [r["destination_path"] for r in both["vault"]["relationships"]]
    assert paths == ["b:xen_images_bk", "b:xen_data_bk"]
    assert plan()["vault"] is None


@pytest.mark.parametrize(("vault", "message"), [
    ("svm2", "expected null or a mapping {vserver, policy, schedule, volumes, suffix}"),
    ({}, "vserver: expected the name of the destination SVM (peered with svm1), got None"),
    ({"vserver": "svm1"}, "vserver: the vault must be another SVM than svm1 (the source)"),
    ({"vserver": "b", "volumes": ["data", "logs"]}, "volumes: expected a list of image and data (each once)"),
    ({"vserver": "b", "volumes": []}, "volumes: expected a list of image and data (each once)"),
    ({"vserver": "b", "suffix": "-vault"}, "suffix (of the destination volumes' names): expected letters, digits"),
    ({"vserver": "b", "schedule": "every day"}, "schedule: expected letters, digits"),
    ({"vserver": "b", "target": "x"}, "unknown key(s) target"),
    ({"vserver": "b"}, "policy XDPDefault keeps the Snapshot copies labelled daily and weekly, but "
                       "filer_ontap_snapshot_policy labels none of them"),
])
def test_bad_vault_is_named(vault, message):
    unlabelled = {"schedules": [{"schedule": "hourly", "count": 6}]}
    found = problems(defaults=dict(DEFAULTS, ontap_vserver="svm1", ontap_snapshot_policy=unlabelled,
                                   ontap_vault=vault))
    assert any(p.startswith("filer_ontap_vault") and message in p for p in found), found


def test_backup_settings_from_the_defaults():
    out = plan(defaults=dict(DEFAULTS, backend="linux", linux_backup={"dest": "/srv/backup/"}))
    assert out["linux_backup"] == {"dest": "/srv/backup", "keep": 7, "on_calendar": "daily",
                                   "own_filesystem": True, "timer": True}
    own = plan(defaults=dict(DEFAULTS, linux_backup={"dest": "/b", "keep": "30", "on_calendar": "*-*-* 02:30:00",
                                                     "own_filesystem": "no", "timer": False}))
    assert own["linux_backup"] == {"dest": "/b", "keep": 30, "on_calendar": "*-*-* 02:30:00",
                                   "own_filesystem": False, "timer": False}
    assert plan()["linux_backup"] is None


@pytest.mark.parametrize(("backup", "message"), [
    ("/srv/backup", "expected null or a mapping {dest, keep, on_calendar, own_filesystem, timer}"),
    ({}, "dest: expected the absolute path of the backup disk's directory"),
    ({"dest": "/"}, "dest: expected the absolute path"),
    ({"dest": "srv/backup"}, "dest: expected the absolute path"),
    ({"dest": "/srv/../etc"}, "dest: expected the absolute path"),
    ({"dest": "/srv/back up"}, "dest: expected the absolute path"),
    ({"dest": "/b", "keep": 0}, "keep: expected how many backups to keep, 1 to 1000, got 0"),
    ({"dest": "/b", "keep": 1001}, "keep: expected how many backups to keep, 1 to 1000"),
    ({"dest": "/b", "keep": True}, "keep: expected how many backups to keep"),
    ({"dest": "/b", "on_calendar": "daily; rm -rf /"}, "on_calendar: expected a systemd calendar event"),
    ({"dest": "/b", "on_calendar": "daily\nExecStart=/bin/sh"}, "on_calendar: expected a systemd calendar event"),
    ({"dest": "/b", "timer": "maybe"}, "timer: expected true or false"),
    ({"dest": "/b", "target": "x"}, "unknown key(s) target"),
])
def test_bad_backup_is_named(backup, message):
    found = problems(defaults=dict(DEFAULTS, backend="linux", linux_backup=backup))
    assert any(p.startswith("filer_linux_backup") and message in p for p in found), found


def test_backups_on_an_ontap_filer_are_refused():
    found = problems(defaults=dict(DEFAULTS, backend="ontap", linux_backup={"dest": "/b"}))
    assert any("filer_linux_backup: backups of the data area are for filer_backend linux" in p for p in found), found


def test_pick_backup():
    names = ["2026-12-05T000000Z", "2026-12-06T013000Z", ".partial", "latest", "2026-12-04T235959Z"]
    assert filer.pick_backup(names, "latest", "g1", "/b") == "2026-12-06T013000Z"
    assert filer.pick_backup(names, None, "g1", "/b") == "2026-12-06T013000Z"
    assert filer.pick_backup(names, "2026-12-04T235959Z", "g1", "/b") == "2026-12-04T235959Z"
    with pytest.raises(ValueError, match=r"guest g1: snapshot '2026-12-01T000000Z': no such backup .* in /b "
                                         r"\(have: 2026-12-04T235959Z, 2026-12-05T000000Z, 2026-12-06T013000Z\)"):
        filer.pick_backup(names, "2026-12-01T000000Z", "g1", "/b")
    with pytest.raises(ValueError, match="guest g1: no backup in /b holds its data area yet"):
        filer.pick_backup([".partial"], "latest", "g1", "/b")


def test_restore_changes_reads_rsync_itemized_lines():
    lines = [".d..t...... ./", ">f+++++++++ keep.txt", "cd+++++++++ sub dir/", ">f.st...... sub dir/a b",
             "*deleting   new.txt", "cL+++++++++ link -> keep.txt", "hf+++++++++ hard => keep.txt",
             ".f...p..... mode-only", "", "sent 1,234 bytes  received 56 bytes"]
    assert filer.restore_changes(lines) == {"restored": ["keep.txt", "sub dir/a b", "link", "hard"],
                                            "deleted": ["new.txt"], "directories": ["sub dir/"]}
    assert filer.restore_changes([]) == {"restored": [], "deleted": [], "directories": []}
