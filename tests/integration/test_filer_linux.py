"""roles/filer, backend linux, run for real by ansible-playbook on this machine (connection local).

Everything the backend does that works without kernel nfsd and an XFS filesystem mounted with
prjquota runs here, against a temporary directory: directories, the project files, the exports file,
removal and purge. filer_linux_apply_quotas and filer_linux_reload_exports are off (containers
cannot run nfsd or mount XFS with project quotas); real exports and quota enforcement are proven on
the lab's NFS server VM (the lab issue).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or shutil.which("ansible-playbook")

pytestmark = [
    pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not installed"),
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the role chowns to root"),
]

PLAY = [{"name": "Filer", "hosts": "filers", "gather_facts": False, "roles": ["consolidation.xen.filer"]}]

GUESTS = {
    "www1": {"xen_guest_address": "192.0.2.101", "xen_guest_data": True},
    "db1": {"xen_guest_address": "192.0.2.121", "xen_guest_data": {"quota": "50G", "soft_quota": "45G",
                                                                   "files": 100000, "root_squash": False}},
    "mail.example.org": {"xen_guest_address": "192.0.2.25", "xen_guest_data": {"quota": "20G"}},
    "dns1": {"xen_guest_address": "192.0.2.53"},
}


def local_filer(tmp_path):
    """A linux-backend filer on this machine (connection local), every path in tmp_path, no nfsd, no quotas."""
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "filer_backend": "linux",
        "filer_linux_root": str(tmp_path / "srv" / "nfs"),
        "filer_linux_exports_file": str(tmp_path / "etc" / "exports.d" / "xen_xen.exports"),
        "filer_linux_projects_file": str(tmp_path / "etc" / "projects"),
        "filer_linux_projid_file": str(tmp_path / "etc" / "projid"),
        "filer_linux_manage_packages": False,
        "filer_linux_apply_quotas": False,
        "filer_linux_reload_exports": False,
        "filer_linux_fence_dir": str(tmp_path / "fenced"),
    }


def inventory(tmp_path, guests, **filer_vars):
    filer = dict(local_filer(tmp_path), **filer_vars)
    data = {"all": {"children": {
        "xen_hosts": {"hosts": {"blade2": {"xen_host_storage_address": "192.0.2.12"},
                                "blade1": {"xen_host_storage_address": "192.0.2.11"}}},
        "xen_guests": {"hosts": guests},
        "filers": {"hosts": {"nfs1": filer}},
    }}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(tmp_path, guests, *extra, **filer_vars):
    play = tmp_path / "filer.yml"
    play.write_text(yaml.safe_dump(PLAY))
    cmd = [PLAYBOOK, "-i", str(inventory(tmp_path, guests, **filer_vars)), str(play), *extra]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def changed(result):
    match = re.search(r"nfs1\s*:\s*ok=\d+\s+changed=(\d+)", result.stdout)
    assert match, result.stdout
    return int(match.group(1))


def exports(tmp_path):
    text = (tmp_path / "etc" / "exports.d" / "xen_xen.exports").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_exports_projects_removal_and_purge(tmp_path):
    nfs = tmp_path / "srv" / "nfs"
    result = run(tmp_path, GUESTS)
    assert result.returncode == 0, result.stdout + result.stderr

    lines = exports(tmp_path)
    assert lines == [
        "%s/xen_images 192.0.2.11/32(rw,no_root_squash,sync,no_subtree_check) "
        "192.0.2.12/32(rw,no_root_squash,sync,no_subtree_check)" % nfs,
        "%s/xen_data/db1 192.0.2.121/32(rw,sync,no_root_squash,no_subtree_check)" % nfs,
        "%s/xen_data/mail_example_org 192.0.2.25/32(rw,sync,root_squash,no_subtree_check)" % nfs,
        "%s/xen_data/www1 192.0.2.101/32(rw,sync,root_squash,no_subtree_check)" % nfs,
    ]
    # Only single addresses; the image export names only the dom0s; the data volume itself is not exported.
    clients = [c for line in lines for c in re.findall(r" ([^ (]+)\(", line)]
    assert all(c.endswith("/32") for c in clients)
    assert not any(line.startswith("%s/xen_data " % nfs) for line in lines)
    assert {p.name for p in (nfs / "xen_data").iterdir()} == {"db1", "mail_example_org", "www1"}
    assert (nfs / "xen_images").is_dir()

    projid = (tmp_path / "etc" / "projid").read_text()
    projects = (tmp_path / "etc" / "projects").read_text()
    ids = dict(re.findall(r"^(xen_guest_\w+):(\d+)$", projid, re.MULTILINE))
    assert set(ids) == {"xen_guest_db1", "xen_guest_mail_example_org", "xen_guest_www1"}
    assert "%s:%s/xen_data/www1\n" % (ids["xen_guest_www1"], nfs) in projects

    # A re-run changes nothing.
    again = run(tmp_path, GUESTS)
    assert again.returncode == 0, again.stdout + again.stderr
    assert changed(again) == 0, again.stdout

    # blade2 fenced (failover.yml's record, as nfs_fence writes it): the image export leaves it out, says why,
    # and keeps it out. www1 set to stopped (xen_guest_state) keeps its export and data: nothing else changes.
    (tmp_path / "fenced").mkdir()
    (tmp_path / "fenced" / "blade2.json").write_text(
        '{"address": "192.0.2.12", "by": "failover.yml", "fenced_at": 1764930000, "host": "blade2"}\n')
    stopped = run(tmp_path, dict(GUESTS, www1=dict(GUESTS["www1"], xen_guest_state="stopped")))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert changed(stopped) == 1, stopped.stdout
    assert exports(tmp_path)[0] == "%s/xen_images 192.0.2.11/32(rw,no_root_squash,sync,no_subtree_check)" % nfs
    text = (tmp_path / "etc" / "exports.d" / "xen_xen.exports").read_text()
    assert "# fenced: blade2 (192.0.2.12) since 2025-12-05T10:20:00Z by failover.yml; lifted by unfence.yml " \
           "-e host=blade2\n" in text, text
    (tmp_path / "fenced" / "blade2.json").unlink()

    # db1 set to absent: its export line goes, its directory and data stay; other ids stay.
    (nfs / "xen_data" / "db1" / "data.db").write_text("keep me")
    removed = run(tmp_path, dict(GUESTS, db1=dict(GUESTS["db1"], xen_guest_state="absent")))
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not any("db1" in line or "192.0.2.121" in line for line in exports(tmp_path))
    assert len(exports(tmp_path)) == 3
    assert "192.0.2.12/32" in exports(tmp_path)[0]  # its record gone (unfence.yml), blade2 is back
    assert (nfs / "xen_data" / "db1" / "data.db").read_text() == "keep me"
    new_ids = dict(re.findall(r"^(xen_guest_\w+):(\d+)$", (tmp_path / "etc" / "projid").read_text(), re.MULTILINE))
    assert new_ids == {k: v for k, v in ids.items() if k != "xen_guest_db1"}

    # db1 then leaving the inventory is the same to the filer: nothing changes.
    fewer = {k: v for k, v in GUESTS.items() if k != "db1"}
    left = run(tmp_path, fewer)
    assert left.returncode == 0, left.stdout + left.stderr
    assert changed(left) == 0, left.stdout

    # With filer_purge the directory goes too; the others stay.
    purged = run(tmp_path, fewer, "-e", "filer_purge=true")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert {p.name for p in (nfs / "xen_data").iterdir()} == {"mail_example_org", "www1"}


def test_project_files_keep_other_entries(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "projid").write_text("scratch:42\n")
    result = run(tmp_path, {"www1": GUESTS["www1"]})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "etc" / "projid").read_text().startswith("scratch:42\n")


def test_no_dom0s_means_no_image_export(tmp_path):
    play = tmp_path / "filer.yml"
    play.write_text(yaml.safe_dump(PLAY))
    inv = inventory(tmp_path, {"www1": GUESTS["www1"]})
    data = yaml.safe_load(inv.read_text())
    del data["all"]["children"]["xen_hosts"]
    inv.write_text(yaml.safe_dump(data))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run([PLAYBOOK, "-i", str(inv), str(play)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split()[0].rsplit("/", 1)[-1] for line in exports(tmp_path)] == ["www1"]


def test_bad_inventory_stops_before_the_filer_is_touched(tmp_path):
    guests = {"www1": {"xen_guest_data": True},
              "db1": {"xen_guest_address": "192.0.2.11", "xen_guest_data": {"quota": "1G", "soft_quota": "2G"}}}
    result = run(tmp_path, guests)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "guest www1: has a data area (xen_guest_data) but no xen_guest_address" in out
    assert "guest db1: xen_guest_data.soft_quota (2048 MiB) is above the hard quota (1024 MiB)" in out
    assert "address 192.0.2.11: used by more than one machine: host blade1, guest db1" in out
    assert not (tmp_path / "srv").exists() and not (tmp_path / "etc").exists()


# --- The quota steps, against stand-ins for findmnt, xfs_io and xfs_quota -------------------------
# This machine cannot mount XFS with project quotas, so these commands are replaced by small
# programs that keep the state the real ones keep (a directory's project id, each project's limits)
# and print it in the real tools' formats ("projid = N"; `report -p -b -i -N -n` rows). What this
# proves is the role's side: the commands it builds and that it only sets what differs. The real
# tools are exercised in the lab (the lab issue).
FAKE_TOOL = '''#!{python}
import json, os, re, sys
state_file = os.environ["FAKE_XFS_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {{"projid": {{}}, "limits": {{}}}}
with open(os.environ["FAKE_XFS_LOG"], "a") as log:
    log.write(" ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
if tool == "findmnt":
    print(os.environ["FAKE_FSTYPE"] + "    rw,relatime,prjquota")
elif tool == "xfs_io":
    print("projid = %d" % state["projid"].get(args[-1], 0))
else:
    files = {{flag: args[args.index(flag) + 1] for flag in ("-D", "-P")}}
    command = args[args.index("-c") + 1]
    if command.startswith("project -s "):
        name = command.split()[-1]
        pid = dict(line.strip().split(":") for line in open(files["-P"]) if ":" in line)[name]
        for line in open(files["-D"]):
            if line.startswith(pid + ":"):
                state["projid"][line.strip().split(":", 1)[1]] = int(pid)
    elif command.startswith("report"):
        for pid, lim in sorted(state["limits"].items()):
            print("#%s 0 %d %d 00 [--------] 1 %d %d 00 [--------]"
                  % (pid, lim["bsoft_kb"], lim["bhard_kb"], lim["isoft"], lim["ihard"]))
    elif command.startswith("limit -p "):
        words = command.split()
        values = dict(w.split("=") for w in words[2:-1])
        mb = lambda v: int(v.rstrip("m")) * 1024
        state["limits"][words[-1]] = {{"bsoft_kb": mb(values["bsoft"]), "bhard_kb": mb(values["bhard"]),
                                      "isoft": int(values["isoft"]), "ihard": int(values["ihard"])}}
    else:
        sys.exit("unexpected command %r" % command)
json.dump(state, open(state_file, "w"))
'''


def fake_quota_tools(tmp_path, monkeypatch, fstype="xfs"):
    """Put the stand-ins for findmnt, xfs_io and xfs_quota first on PATH (findmnt reports
    ``fstype``); returns the log of their calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("findmnt", "xfs_io", "xfs_quota"):
        (bin_dir / tool).write_text(FAKE_TOOL.format(python=sys.executable))
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "tools.log"
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_XFS_STATE", str(tmp_path / "xfs.json"))
    monkeypatch.setenv("FAKE_XFS_LOG", str(log))
    monkeypatch.setenv("FAKE_FSTYPE", fstype)
    return log


def test_quota_commands_set_only_what_differs(tmp_path, monkeypatch):
    log = fake_quota_tools(tmp_path, monkeypatch)
    nfs = tmp_path / "srv" / "nfs"
    quota_vars = {"filer_linux_apply_quotas": True, "filer_linux_quota_mount": str(nfs)}

    result = run(tmp_path, GUESTS, **quota_vars)
    assert result.returncode == 0, result.stdout + result.stderr
    ids = dict(re.findall(r"^xen_guest_(\w+):(\d+)$", (tmp_path / "etc" / "projid").read_text(), re.MULTILINE))
    calls = log.read_text()
    assert "findmnt --noheadings --output FSTYPE,OPTIONS --mountpoint %s\n" % nfs in calls
    assert calls.count("-c project -s ") == 3
    assert ("xfs_quota -f -x -D %s -P %s -c project -s xen_guest_www1 %s\n"
            % (tmp_path / "etc" / "projects", tmp_path / "etc" / "projid", nfs)) in calls
    assert "-c limit -p bsoft=46080m bhard=51200m isoft=0 ihard=100000 %s %s\n" % (ids["db1"], nfs) in calls
    assert "-c limit -p bsoft=0m bhard=10240m isoft=0 ihard=0 %s %s\n" % (ids["www1"], nfs) in calls
    assert "-c limit -p bsoft=0m bhard=20480m isoft=0 ihard=0 %s %s\n" % (ids["mail_example_org"], nfs) in calls

    log.write_text("")
    again = run(tmp_path, GUESTS, **quota_vars)
    assert again.returncode == 0, again.stdout + again.stderr
    assert changed(again) == 0, again.stdout
    assert "project -s" not in log.read_text() and "limit -p" not in log.read_text()

    # One guest's quota changes: only its limit is set again.
    log.write_text("")
    bigger = dict(GUESTS, www1={"xen_guest_address": "192.0.2.101", "xen_guest_data": {"quota": "15G"}})
    resized = run(tmp_path, bigger, **quota_vars)
    assert resized.returncode == 0, resized.stdout + resized.stderr
    limits = [line for line in log.read_text().splitlines() if "-c limit -p" in line]
    assert limits == ["xfs_quota -f -x -D %s -P %s -c limit -p bsoft=0m bhard=15360m isoft=0 ihard=0 %s %s"
                      % (tmp_path / "etc" / "projects", tmp_path / "etc" / "projid", ids["www1"], nfs)]


def test_quotas_refuse_a_filesystem_without_project_quotas(tmp_path):
    result = run(tmp_path, GUESTS, filer_linux_apply_quotas=True, filer_linux_quota_mount=str(tmp_path))
    assert result.returncode != 0
    assert "must be the mount point of an XFS or ext4 filesystem mounted with prjquota" in result.stdout


def test_ext4_refuses_a_guest_exported_without_root_squash(tmp_path, monkeypatch):
    # On ext4 a client's root (no_root_squash) is exempt from project quotas: refused, by name,
    # before any directory or export is written.
    fake_quota_tools(tmp_path, monkeypatch, fstype="ext4")
    nfs = tmp_path / "srv" / "nfs"
    result = run(tmp_path, GUESTS, filer_linux_apply_quotas=True, filer_linux_quota_mount=str(nfs))
    assert result.returncode != 0
    assert "is ext4, where root is exempt from quotas; guest(s) db1 set xen_guest_data.root_squash: false" \
        in result.stdout, result.stdout
    assert not (nfs / "data").exists() and not (tmp_path / "etc" / "exports.d").exists()
    # The same guests, db1 with root squash, pass on ext4.
    db1_data = dict(GUESTS["db1"]["xen_guest_data"], root_squash=True)
    squashed = dict(GUESTS, db1=dict(GUESTS["db1"], xen_guest_data=db1_data))
    assert run(tmp_path, squashed, filer_linux_apply_quotas=True,
               filer_linux_quota_mount=str(nfs)).returncode == 0
