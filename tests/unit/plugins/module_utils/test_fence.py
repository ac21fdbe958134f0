"""Storage fencing on a Linux NFS filer: records, the proof that a fence holds, the unfence check."""

from __future__ import annotations

import json

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils import fence

# exportfs -s on the lab's filer (nfs-utils 2.6.2) with blade2 fenced: blade1 and blade3 keep the images.
EXPORTFS_S = """\
/srv/nfs/xen_images  10.77.0.13/32(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash,no_all_squash)
/srv/nfs/xen_images  10.77.0.11/32(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash,no_all_squash)
/srv/nfs/xen_data/g1  10.77.0.101/32(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash)
"""
WITH_BLADE2 = EXPORTFS_S + (
    "/srv/nfs/xen_images  10.77.0.12/32(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash,"
    "no_all_squash)\n")
IMAGES = "/srv/nfs/xen_images"


def rec(host="blade2", address="10.77.0.12", at=1000, **extra):
    return dict(fence.record(host, address, at), **extra)


def test_a_record_names_the_host_its_address_and_when():
    assert rec() == {"host": "blade2", "address": "10.77.0.12", "fenced_at": 1000, "by": "failover.yml"}
    assert fence.record_name("blade2") == "blade2.json"


@pytest.mark.parametrize("host, address, words", [
    ("-x", "10.77.0.12", "'-x' is not a host name"),
    ("blade2", "10.77.0.12/32", "host blade2: '10.77.0.12/32' is not an IP address"),
    ("blade2", None, "host blade2: None is not an IP address"),
])
def test_a_bad_record_is_refused_naming_the_host(host, address, words):
    with pytest.raises(fence.FenceError, match=words):
        fence.record(host, address, 1)


def test_records_are_read_and_an_unreadable_one_is_a_problem_not_ignored():
    files = {"blade2.json": json.dumps(rec()), "blade1.json": "{not json", "blade3.json": json.dumps(rec()),
             "notes.txt": "ignored", "blade4.json": json.dumps({"host": "blade4", "address": "x", "fenced_at": 1})}
    records, problems = fence.parse_records(files)
    assert records == [rec()]
    assert len(problems) == 3
    assert problems[0].startswith("fence record blade1.json is not JSON")
    assert problems[1].startswith("fence record blade3.json is not a record of host blade3")
    assert problems[2] == "fence record blade4.json: fence: host blade4: 'x' is not an IP address " \
                          "(xen_host_storage_address)"


def test_a_fenced_address_reaches_nothing_when_exportfs_leaves_it_out():
    assert fence.access(IMAGES, "10.77.0.12", EXPORTFS_S) == []
    assert fence.access(None, "10.77.0.12", EXPORTFS_S) == []


def test_a_fence_that_did_not_take_shows_the_line_that_still_grants_access():
    (line,) = fence.access(None, "10.77.0.12", WITH_BLADE2)
    assert line.startswith("exportfs -s: /srv/nfs/xen_images 10.77.0.12/32(sync,")


@pytest.mark.parametrize("client", ["*", "10.77.0.0/24", "@dom0s", "blade*.lab", "blade2.lab", "10.77.0.12"])
def test_a_wildcard_subnet_netgroup_or_name_that_may_admit_the_address_counts_as_access(client):
    shown = "%s  %s(rw,no_root_squash)\n" % (IMAGES, client)
    assert fence.access(IMAGES, "10.77.0.12", shown), client


def test_another_address_and_another_subnet_do_not_count():
    shown = "%s  10.77.0.11/32(rw)\n%s  10.78.0.0/24(rw)\n" % (IMAGES, IMAGES)
    assert fence.access(IMAGES, "10.77.0.12", shown) == []


def test_a_long_path_with_its_clients_on_the_next_line_is_read():
    path = "/srv/nfs/a-very-long-export-path-that-exportfs-wraps"
    shown = "%s\n\t\t10.77.0.12/32(rw)\n" % path
    assert fence.access(path, "10.77.0.12", shown) == ["exportfs -s: %s 10.77.0.12/32(rw)" % path]


def test_the_kernels_export_cache_counts_and_its_negative_entries_do_not():
    auth = "#class IP domain\nnfsd ::ffff:10.77.0.12 10.77.0.12/32\n# expiry=1 refcnt=1 flags=1\n"
    cache = "#path domain(flags)\n%s\t10.77.0.12/32(rw,no_root_squash,sync,wdelay,uuid=1:2:3:4,sec=1)\n" % IMAGES
    (line,) = fence.access(IMAGES, "10.77.0.12", EXPORTFS_S, cache, auth)
    assert line.startswith("nfsd.export cache: /srv/nfs/xen_images\t10.77.0.12/32(rw")
    negative = "#path domain(flags)\n# %s\t10.77.0.12/32\n" % IMAGES
    assert fence.access(IMAGES, "10.77.0.12", EXPORTFS_S, negative, auth) == []


def test_unfence_needs_a_boot_after_the_fence():
    running = {"blade1": ["g1", "g2"], "blade2": [], "blade3": ["g5"]}
    assert fence.unfence_problems(rec(at=1000), {"id": "b", "time": 1001}, running) == []
    (problem,) = fence.unfence_problems(rec(at=1000), {"id": "a", "time": 900}, running)
    assert problem.startswith("blade2 has not booted since it was fenced (booted at 900, fenced at 1000")
    (problem,) = fence.unfence_problems(rec(at=1000, boot_id="a"), {"id": "a", "time": 2000}, running)
    assert problem == "blade2 still runs the boot it was fenced in (boot id a): reboot it first"


def test_unfence_is_refused_while_the_host_cannot_be_read():
    assert fence.unfence_problems(rec(), None, {}) == [
        "blade2 cannot be read (no boot id): unfence a host only once it runs again"]


def test_unfence_is_refused_while_a_guest_runs_there_and_elsewhere():
    running = {"blade1": ["g2"], "blade2": ["g2", "g5"], "blade3": ["g5", "g6"]}
    (problem,) = fence.unfence_problems(rec(at=1000), {"id": "b", "time": 1001}, running)
    assert problem == ("blade2 runs guest(s) that also run elsewhere: g2 (also on blade1), g5 (also on blade3); "
                       "destroy its copies (xl destroy) and reboot it")


# -- ONTAP -------------------------------------------------------------------------------------------

def policy(name, *rules):
    found = [{"index": i, "clients": [{"match": c} for c in clients]} for i, clients in enumerate(rules, start=1)]
    return {"name": name, "id": 1, "rules": found}


POLICIES = [
    policy("default"),
    policy("xen_images", ["10.77.0.11/32"], ["10.77.0.12/32"], ["10.77.0.13/32"]),
    policy("xen_data", ["10.77.0.101/32"]),
    policy("xen_guest_g1", ["10.77.0.101/32"]),
]


def test_ontap_a_new_fence_deletes_the_hosts_own_rule_and_names_its_record():
    plan = fence.ontap_fence(POLICIES, "xen_", "xen_images", "blade2", "10.77.0.12", 1700000000.7)
    assert plan == {"record": {"host": "blade2", "address": "10.77.0.12", "fenced_at": 1700000000, "by": "failover.yml",
                               "policy": "xen_fenced_blade2_1700000000", "client": "10.77.0.12/32"},
                    "new": True, "delete": [2], "admitting": []}


def test_ontap_an_existing_record_is_kept_with_its_time_and_read_back():
    policies = [*POLICIES, policy("xen_fenced_blade2_1600000000", ["10.77.0.12/32"])]
    plan = fence.ontap_fence(policies, "xen_", "xen_images", "blade2", "10.77.0.12", 1700000000)
    assert (plan["new"], plan["record"]["fenced_at"], plan["record"]["policy"]) == (
        False, 1600000000, "xen_fenced_blade2_1600000000")
    assert fence.ontap_records(policies, "xen_") == ([plan["record"]], [])
    # the record's own rule names the address: it is never evidence against the fence
    assert plan["admitting"] == []
    with pytest.raises(fence.FenceError, match="blade2 is fenced at 10.77.0.12, not at 10.77.0.99"):
        fence.ontap_fence(policies, "xen_", "xen_images", "blade2", "10.77.0.99", 1)


@pytest.mark.parametrize("clients", [["10.77.0.0/24"], ["0.0.0.0/0"], ["10.77.0.0/255.255.255.0"], ["blade2.lab"],
                                     [".lab"], ["@dom0s"], ["10.77.0.12/32", "10.77.0.13/32"]])
def test_ontap_any_other_rule_that_may_admit_the_host_is_evidence(clients):
    policies = [*POLICIES, policy("other", clients)]
    plan = fence.ontap_fence(policies, "xen_", "xen_images", "blade2", "10.77.0.12", 1)
    assert plan["admitting"] == ["export policy other rule 1 (clients %s) admits 10.77.0.12" % ",".join(clients)]


def test_ontap_a_rule_of_the_image_policy_with_a_second_client_is_not_deleted_but_evidence():
    policies = [policy("xen_images", ["10.77.0.11/32"], ["10.77.0.12/32", "10.77.0.13/32"])]
    plan = fence.ontap_fence(policies, "xen_", "xen_images", "blade2", "10.77.0.12", 1)
    assert plan["delete"] == [] and "rule 2 (clients 10.77.0.12/32,10.77.0.13/32)" in plan["admitting"][0]


def test_ontap_an_unreadable_record_is_a_problem_naming_the_policy():
    bad = [policy("xen_fenced_blade2_notatime", ["10.77.0.12/32"]), policy("xen_fenced_blade3_5"),
           policy("xen_fenced_blade1_5", ["nohost"])]
    records, problems = fence.ontap_records(bad, "xen_")
    assert records == []
    why = " is not a fence record (xen_fenced_HOST_EPOCH with one rule naming the host's address)"
    assert [p.split(":")[0] for p in problems] == [
        "export policy xen_fenced_blade1_5", "export policy xen_fenced_blade2_notatime" + why,
        "export policy xen_fenced_blade3_5" + why]
    with pytest.raises(fence.FenceError, match="xen_fenced_blade3_5"):
        fence.ontap_fence(bad, "xen_", "xen_images", "blade2", "10.77.0.12", 1)


def test_ontap_two_records_of_one_host_are_a_problem():
    two = [policy("xen_fenced_blade2_5", ["10.77.0.12/32"]), policy("xen_fenced_blade2_6", ["10.77.0.12/32"])]
    assert fence.ontap_records(two, "xen_")[1] == [
        "host blade2 has two fence records: xen_fenced_blade2_5 and xen_fenced_blade2_6; remove the newer"]


def check(access, path="/xen_images"):
    return [{"path": "/", "policy": "default", "ruleidx": 0, "access": "denied"},
            {"path": path, "policy": "xen_images", "ruleidx": 2, "access": access}]


def test_ontap_check_access_judges_the_volumes_own_component():
    assert fence.ontap_access(check("denied"), "10.77.0.12") == []
    assert fence.ontap_access(check("read-write"), "10.77.0.12") == [
        "check-access /xen_images for 10.77.0.12: read-write (policy xen_images, rule 2)"]
    assert fence.ontap_access(check("read"), "10.77.0.12") != []
    assert fence.ontap_access(check("read-write"), "10.77.0.12", "granted") == []
    assert fence.ontap_access(check("denied"), "10.77.0.12", "granted") != []
    assert fence.ontap_access([], "10.77.0.12") == ["check-access returned no path for 10.77.0.12"]
    assert fence.ontap_access_lines(check("denied"))[1] == "/xen_images: denied (policy xen_images, rule 2)"


def test_ontap_confirm_reads_the_svm_back():
    fenced = [policy("xen_images", ["10.77.0.11/32"], ["10.77.0.13/32"]),
              policy("xen_fenced_blade2_5", ["10.77.0.12/32"])]
    args = ("xen_", "xen_images", "blade2", "10.77.0.12")
    assert fence.ontap_confirm(fenced, check("denied"), *args, "present") == []
    assert fence.ontap_confirm(POLICIES, check("read-write"), *args, "present") == [
        "check-access /xen_images for 10.77.0.12: read-write (policy xen_images, rule 2)",
        "no fence record of blade2 (xen_fenced_blade2_EPOCH)",
        "export policy xen_images rule 2 still names 10.77.0.12"]
    assert fence.ontap_confirm(POLICIES, check("read-write"), *args, "absent") == []
    assert fence.ontap_confirm(fenced, check("denied"), *args, "absent") == [
        "check-access /xen_images for 10.77.0.12: denied (policy xen_images, rule 2)",
        "the fence record is still there: export policy xen_fenced_blade2_5"]
