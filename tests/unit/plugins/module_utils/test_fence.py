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
