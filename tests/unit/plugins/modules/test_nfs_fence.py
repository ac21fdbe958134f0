"""nfs_fence: the records on disk, check mode, the refusals, and the confirmation against exportfs.

exportfs is a stand-in here (no kernel nfsd in unit tests) that prints what the exports file grants, the way
exportfs -s does; the lab (tests/lab/test_4_failover.py) runs the real one on the filer."""

from __future__ import annotations

import json
import os
import sys

import pytest

from ansible_collections.consolidation.xen.plugins.modules import nfs_fence
from ansible_collections.consolidation.xen.tests.unit.plugins.modules.module_run import run_module

FAKE_EXPORTFS = """#!%(python)s
import sys
with open(%(log)r, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:] == ["-s"]:
    for line in open(%(exports)r):
        fields = line.split()
        if fields and not line.startswith("#"):
            for client in fields[1:]:
                sys.stdout.write("%%s  %%s\\n" %% (fields[0], client))
"""
IMAGES = "/srv/nfs/xen_images"


@pytest.fixture
def filer(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {"log": tmp_path / "exportfs.log", "exports": tmp_path / "exports", "dir": tmp_path / "fenced"}
    env["exports"].write_text("%s 10.77.0.11/32(rw) 10.77.0.12/32(rw)\n" % IMAGES)
    exportfs = bindir / "exportfs"
    exportfs.write_text(FAKE_EXPORTFS % {"python": sys.executable, "log": str(env["log"]),
                                         "exports": str(env["exports"])})
    exportfs.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ["PATH"])
    monkeypatch.setattr(nfs_fence, "PROC_EXPORTS", str(tmp_path / "no-such-cache"))
    monkeypatch.setattr(nfs_fence, "PROC_AUTH", str(tmp_path / "no-such-cache"))
    return env


def run(filer, capsys, check=False, **args):
    return run_module(nfs_fence.main, capsys, dict(args, record_dir=str(filer["dir"])), check=check)


def fence_blade2(filer, capsys, **extra):
    return run(filer, capsys, state="present", host="blade2", address="10.77.0.12", **extra)


def test_present_writes_the_record_once_and_check_mode_writes_nothing(filer, capsys):
    checked = fence_blade2(filer, capsys, check=True)
    assert checked["changed"] is True and not filer["dir"].exists()
    first = fence_blade2(filer, capsys)
    assert first["changed"] is True
    on_disk = json.loads((filer["dir"] / "blade2.json").read_text())
    assert on_disk == first["record"] and on_disk["address"] == "10.77.0.12" and on_disk["by"] == "failover.yml"
    again = fence_blade2(filer, capsys)
    assert again["changed"] is False and again["record"] == on_disk
    assert run(filer, capsys)["records"] == [on_disk]


def test_a_host_fenced_at_another_address_is_refused(filer, capsys):
    fence_blade2(filer, capsys)
    out = run(filer, capsys, state="present", host="blade2", address="10.77.0.99")
    assert out["failed"] and "blade2 is fenced at 10.77.0.12, not at 10.77.0.99" in out["msg"]


def test_an_unreadable_record_fails_every_state(filer, capsys):
    filer["dir"].mkdir()
    (filer["dir"] / "blade3.json").write_text("garbage")
    out = run(filer, capsys)
    assert out["failed"] and "fence record blade3.json is not JSON" in out["msg"]
    assert "a fenced host stays fenced" in out["msg"]


def test_enforced_reloads_and_refuses_while_the_exports_still_grant_the_fenced_address(filer, capsys):
    fence_blade2(filer, capsys)
    out = run(filer, capsys, state="enforced", path=IMAGES)
    assert out["failed"]
    assert out["msg"].startswith("fence not confirmed: blade2 (10.77.0.12) can still reach an export: "
                                 "exportfs -s: /srv/nfs/xen_images 10.77.0.12/32(rw)")
    assert filer["log"].read_text().splitlines() == ["-ra", "-s"]


def test_enforced_confirms_once_the_exports_leave_it_out(filer, capsys):
    fence_blade2(filer, capsys)
    filer["exports"].write_text("%s 10.77.0.11/32(rw)\n" % IMAGES)
    out = run(filer, capsys, state="enforced", path=IMAGES)
    assert not out.get("failed") and out["changed"] is False
    assert out["evidence"] == ["%s  10.77.0.11/32(rw)" % IMAGES]
    # An unfence is confirmed only when the address is exported the images again.
    out = run(filer, capsys, state="enforced", path=IMAGES, open=["10.77.0.12"])
    assert out["failed"] and "10.77.0.12 is not exported /srv/nfs/xen_images (exportfs -s)" in out["msg"]


def test_enforced_in_check_mode_does_not_reload(filer, capsys):
    filer["exports"].write_text("%s 10.77.0.11/32(rw)\n" % IMAGES)
    out = run(filer, capsys, check=True, state="enforced", path=IMAGES)
    assert not out.get("failed")
    assert filer["log"].read_text().splitlines() == ["-s"]


def test_absent_is_refused_before_a_reboot_and_while_a_guest_runs_twice(filer, capsys):
    fenced_at = fence_blade2(filer, capsys)["record"]["fenced_at"]
    out = run(filer, capsys, state="absent", host="blade2", boot={"id": "x", "time": fenced_at - 60},
              running={"blade1": ["g2"], "blade2": []})
    assert out["failed"] and out["msg"].startswith("unfence of blade2 refused, nothing changed: blade2 has not "
                                                   "booted since it was fenced")
    out = run(filer, capsys, state="absent", host="blade2", boot={"id": "y", "time": fenced_at + 60},
              running={"blade1": ["g2"], "blade2": ["g2"]})
    assert out["failed"] and "g2 (also on blade1)" in out["msg"]
    assert (filer["dir"] / "blade2.json").exists()


def test_absent_removes_the_record_after_a_reboot(filer, capsys):
    fenced_at = fence_blade2(filer, capsys)["record"]["fenced_at"]
    boot = {"id": "y", "time": fenced_at + 60}
    assert run(filer, capsys, check=True, state="absent", host="blade2", boot=boot)["changed"] is True
    assert (filer["dir"] / "blade2.json").exists()
    out = run(filer, capsys, state="absent", host="blade2", boot=boot, running={"blade1": ["g2"], "blade2": []})
    assert out["changed"] is True and out["records"] == []
    assert not (filer["dir"] / "blade2.json").exists()
    assert run(filer, capsys, state="absent", host="blade2", boot=boot)["changed"] is False
