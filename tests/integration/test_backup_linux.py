"""roles/filer's backups (filer_linux_backup) and restore.yml, run for real on this machine (connection local).

The filer role installs the backup script (systemd and its timer stay off: no systemd here), the script
runs as the timer would run it (rsync, hard links between backups, rotation), and restore.yml runs from
the repo root with the whole inventory's preflight, on the same filer. Quotas and the NFS exports the
restore must leave intact are proven on the lab's filer VM (tests/lab/test_1_site.py).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from test_filer_linux import PLAY, PLAYBOOK, ROOT, local_filer

pytestmark = [
    pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not installed"),
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the role chowns to root"),
]

NAME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$")


def inventory(tmp_path, **backup):
    (tmp_path / "sbin").mkdir(exist_ok=True)  # /usr/local/sbin on a filer
    filer = dict(local_filer(tmp_path), **{
        "filer_linux_backup_script": str(tmp_path / "sbin" / "consolidation-xen-backup"),
        "filer_linux_backup": dict({"dest": str(tmp_path / "backup"), "keep": 2, "own_filesystem": False,
                                    "timer": False}, **backup),
    })
    # Dom0s on a closed local port: restore.yml never contacts them (it works on the filer only).
    hosts = {"blade%d" % i: {"ansible_host": "127.0.0.1", "ansible_port": 1, "xen_host_memory": "4G",
                             "xen_host_cpus": 2, "xen_host_dom0_memory": "1G",
                             "xen_host_storage_address": "192.0.2.1%d" % i} for i in (1, 2)}
    guests = {"www1": {"xen_guest_data": True}, "db1": {"xen_guest_data": {"quota": "1G"}}, "dns1": {}}
    for i, guest in enumerate(sorted(guests)):
        guests[guest].update({"ansible_host": "127.0.0.1", "ansible_port": 1, "xen_guest_memory": "256M",
                              "xen_guest_kernel": "/var/lib/xenlab/vmlinuz",
                              "xen_guest_address": "192.0.2.10%d" % i})
    data = {"all": {"children": {
        "xen_hosts": {"hosts": hosts},
        "xen_guests": {"hosts": guests},
        "filers": {"hosts": {"nfs1": filer}},
    }}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def playbook(tmp_path, play, *extra, **backup):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run([PLAYBOOK, "-i", str(inventory(tmp_path, **backup)), str(play), *extra], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    return result, " ".join((result.stdout + result.stderr).split())


def filer_role(tmp_path, **backup):
    play = tmp_path / "filer.yml"
    play.write_text(yaml.safe_dump(PLAY))
    return playbook(tmp_path, play, **backup)


def restore(tmp_path, *args):
    return playbook(tmp_path, "restore.yml", *args)


def backup_now(tmp_path):
    result = subprocess.run([str(tmp_path / "sbin" / "consolidation-xen-backup")], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"consolidation-xen-backup: (\S+) done", result.stdout)
    assert match, result.stdout
    return match.group(1)


def backups(tmp_path):
    return sorted(p.name for p in (tmp_path / "backup").iterdir() if NAME.match(p.name))


def test_backups_rotate_and_restore_brings_a_guests_data_back(tmp_path):
    result, out = filer_role(tmp_path)
    assert result.returncode == 0, out[-3000:]
    script = tmp_path / "sbin" / "consolidation-xen-backup"
    assert os.access(script, os.X_OK) and str(tmp_path / "backup") in script.read_text()
    assert (tmp_path / "backup").stat().st_mode & 0o777 == 0o700
    again, out = filer_role(tmp_path)
    assert again.returncode == 0 and re.search(r"nfs1 : ok=\d+ changed=0 ", out), out[-3000:]

    www1 = tmp_path / "srv" / "nfs" / "xen_data" / "www1"
    (www1 / "sub").mkdir()
    (www1 / "a.txt").write_text("v1")
    (www1 / "sub" / "b.txt").write_text("b")
    (www1 / "same.txt").write_text("never changes")
    first = backup_now(tmp_path)
    assert NAME.match(first) and os.readlink(tmp_path / "backup" / "latest") == first
    assert (tmp_path / "backup" / first / "www1" / "sub" / "b.txt").read_text() == "b"

    # The guest's day: a.txt changed, sub/b.txt deleted, new.txt written. A second backup.
    (www1 / "a.txt").write_text("version 2")
    (www1 / "sub" / "b.txt").unlink()
    (www1 / "new.txt").write_text("new")
    second = backup_now(tmp_path)
    assert second > first and backups(tmp_path) == [first, second]
    assert not (tmp_path / "backup" / second / "www1" / "sub" / "b.txt").exists()
    # An unchanged file is one inode in both backups (rsync --link-dest), a changed one is not.
    inode = {b: (tmp_path / "backup" / b / "www1" / "same.txt").stat().st_ino for b in (first, second)}
    assert inode[first] == inode[second]
    assert ((tmp_path / "backup" / first / "www1" / "a.txt").stat().st_ino
            != (tmp_path / "backup" / second / "www1" / "a.txt").stat().st_ino)

    # --check: says what would come back, changes nothing.
    result, out = restore(tmp_path, "-e", "guest=www1", "-e", "snapshot=" + first, "--check")
    assert result.returncode == 0, out[-3000:]
    assert "www1: would restore 2 file(s), 0 directory(ies) from backup %s" % first in out, out[-3000:]
    assert not (www1 / "sub" / "b.txt").exists() and (www1 / "a.txt").read_text() == "version 2"

    # missing: only what is gone comes back.
    result, out = restore(tmp_path, "-e", "guest=www1", "-e", "snapshot=" + first, "-e", "restore_mode=missing")
    assert result.returncode == 0, out[-3000:]
    assert "www1: restored 1 file(s), 0 directory(ies) from backup %s into %s (mode missing" % (first, www1) in out
    assert "sub/b.txt" in out
    assert (www1 / "sub" / "b.txt").read_text() == "b" and (www1 / "a.txt").read_text() == "version 2"

    # overwrite (the default): the backup's a.txt replaces today's; new.txt stays.
    result, out = restore(tmp_path, "-e", "guest=www1", "-e", "snapshot=" + first)
    assert result.returncode == 0, out[-3000:]
    assert (www1 / "a.txt").read_text() == "v1" and (www1 / "new.txt").read_text() == "new"
    assert re.search(r"nfs1 : ok=\d+ changed=1 ", out), out[-3000:]
    # Run again: nothing to copy, nothing changed.
    result, out = restore(tmp_path, "-e", "guest=www1", "-e", "snapshot=" + first)
    assert result.returncode == 0 and "www1: restored 0 file(s)" in out, out[-3000:]
    assert re.search(r"nfs1 : ok=\d+ changed=0 ", out), out[-3000:]

    # exact, from the latest backup by default: the area as it was then (new.txt, no sub/b.txt, a.txt v2).
    result, out = restore(tmp_path, "-e", "guest=www1", "-e", "restore_mode=exact")
    assert result.returncode == 0, out[-3000:]
    assert "from backup %s" % second in out and "deleted 1 newer path(s)" in out, out[-3000:]
    assert "sub/b.txt" in out and (www1 / "new.txt").exists() and not (www1 / "sub" / "b.txt").exists()
    assert (www1 / "a.txt").read_text() == "version 2"
    # Other guests' areas are never touched.
    assert (tmp_path / "srv" / "nfs" / "xen_data" / "db1").is_dir()

    # A backup that does not exist: the run names the guest and lists what there is; nothing changes.
    result, out = restore(tmp_path, "-e", "guest=www1", "-e", "snapshot=2020-01-01T000000Z")
    assert result.returncode != 0
    assert ("guest www1: snapshot '2020-01-01T000000Z': no such backup of its data area in %s (have: %s, %s)"
            % (tmp_path / "backup", first, second)) in out, out[-3000:]

    # Rotation: keep 2.
    third = backup_now(tmp_path)
    assert backups(tmp_path) == [second, third]
    assert os.readlink(tmp_path / "backup" / "latest") == third


def test_a_backup_on_the_datas_own_filesystem_is_refused(tmp_path):
    (tmp_path / "backup").mkdir()
    result, out = filer_role(tmp_path, own_filesystem=True)
    assert result.returncode != 0
    assert ("filer nfs1: filer_linux_backup.dest %s must exist on a filesystem other than the data's"
            % (tmp_path / "backup")) in out, out[-3000:]
    assert not (tmp_path / "sbin" / "consolidation-xen-backup").exists()


def test_a_backup_inside_the_export_root_is_refused(tmp_path):
    result, out = filer_role(tmp_path, dest=str(tmp_path / "srv" / "nfs" / "backup"))
    assert result.returncode != 0
    assert "must not contain one another" in out, out[-3000:]
    assert not Path(tmp_path / "srv" / "nfs" / "backup").exists()
