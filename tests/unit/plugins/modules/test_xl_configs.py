from __future__ import annotations

import hashlib
import os
import stat

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils import xlcfg
from ansible_collections.consolidation.xen.plugins.modules import xl_configs
from ansible_collections.consolidation.xen.tests.unit.plugins.modules.module_run import run_module


def guests(n=3):
    out = []
    for i in range(n):
        g = {"name": "g%d" % i, "memory_mb": 512, "kernel": "/boot/vmlinuz", "disks": [{"name": "root", "size": "64M"}]}
        if i == 0:
            g = {"name": "g0", "type": "hvm", "os": "windows", "memory_mb": "1G",
                 "disks": [{"name": "system", "size": "32M"}, {"name": "cd", "devtype": "cdrom"}]}
        out.append(g)
    return out


@pytest.fixture
def dirs(tmp_path):
    return {"config_dir": str(tmp_path / "domains"), "autostart_dir": str(tmp_path / "auto"),
            "image_dir": str(tmp_path / "images")}


def run(capsys, args, check=False, diff=False):
    return run_module(xl_configs.main, capsys, args, check=check, diff=diff)


def snapshot(root):
    """Every path under root with its type, content or link target, and mode."""
    out = {}
    for base, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(base, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[path] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[path] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                with open(path, "rb") as f:
                    out[path] = ("file", f.read(), stat.S_IMODE(st.st_mode), st.st_size)
    return out


def test_writes_every_config_links_only_autostart_and_creates_disks(capsys, dirs):
    res = run(capsys, dict(dirs, guests=guests(), autostart=["g1"], create_disks=True, purge=True))
    assert res["changed"] is True
    assert sorted(res["created"]) == ["g0", "g1", "g2"]
    for name in ("g0", "g1", "g2"):
        path = os.path.join(dirs["config_dir"], name + ".cfg")
        with open(path) as f:
            assert f.readline().rstrip() == xlcfg.MARKER
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert sorted(os.listdir(dirs["autostart_dir"])) == ["g1.cfg"]
    assert os.readlink(os.path.join(dirs["autostart_dir"], "g1.cfg")) == os.path.join(dirs["config_dir"], "g1.cfg")
    img = os.path.join(dirs["image_dir"], "g1", "root.img")
    assert img in res["disks_created"]
    st = os.stat(img)
    assert st.st_size == 64 * 1024 * 1024
    assert st.st_blocks * 512 < st.st_size  # sparse
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert res["missing_disks"] == []
    assert res["autostart"] == ["g1"]


def test_second_run_is_unchanged_and_touches_nothing(capsys, dirs):
    args = dict(dirs, guests=guests(), autostart=["g1", "g2"], create_disks=True, purge=True)
    first = run(capsys, args)
    before = snapshot(os.path.dirname(dirs["config_dir"]))
    mtimes = {p: os.lstat(p).st_mtime_ns for p in before}
    second = run(capsys, args, diff=True)
    assert second["changed"] is False
    assert second["diff"] == []
    assert second["created"] == second["updated"] == second["removed"] == []
    assert second["links_created"] == second["links_removed"] == second["disks_created"] == []
    assert second["checksums"] == first["checksums"]
    after = snapshot(os.path.dirname(dirs["config_dir"]))
    assert after == before
    assert {p: os.lstat(p).st_mtime_ns for p in after} == mtimes


def test_check_mode_changes_nothing_and_predicts_the_change(capsys, dirs):
    args = dict(dirs, guests=guests(), autostart=["g1"], create_disks=True, purge=True)
    res = run(capsys, args, check=True, diff=True)
    assert res["changed"] is True
    assert sorted(res["created"]) == ["g0", "g1", "g2"]
    assert not os.path.exists(dirs["config_dir"]) and not os.path.exists(dirs["image_dir"])
    assert any(d["after_header"].endswith("g1.cfg") and xlcfg.MARKER in d["after"] for d in res["diff"])
    # and on an existing tree: a change in check mode leaves the files as they are
    run(capsys, args)
    before = snapshot(os.path.dirname(dirs["config_dir"]))
    changed = guests()
    changed[1]["memory_mb"] = 1024
    res = run(capsys, dict(args, guests=changed[:2], autostart=["g0"]), check=True, diff=True)
    assert res["changed"] is True and res["updated"] == ["g1"]
    assert res["removed"] == [os.path.join(dirs["config_dir"], "g2.cfg")]
    assert snapshot(os.path.dirname(dirs["config_dir"])) == before
    diff = [d for d in res["diff"] if d["before_header"].endswith("g1.cfg")][0]
    assert "memory      = 512" in diff["before"] and "memory      = 1024" in diff["after"]


def test_existing_disk_is_never_overwritten_or_resized(capsys, dirs):
    img = os.path.join(dirs["image_dir"], "g1", "root.img")
    os.makedirs(os.path.dirname(img))
    with open(img, "wb") as f:
        f.write(b"precious data")
    os.chmod(img, 0o640)
    g = guests()
    g[1]["disks"] = [{"name": "root", "size": "10G"}]
    res = run(capsys, dict(dirs, guests=g, create_disks=True))
    assert img not in res["disks_created"]
    with open(img, "rb") as f:
        assert f.read() == b"precious data"
    assert stat.S_IMODE(os.stat(img).st_mode) == 0o640


def test_missing_disks_are_reported_without_create(capsys, dirs):
    res = run(capsys, dict(dirs, guests=guests(2)))
    assert res["disks_created"] == []
    assert res["missing_disks"] == [os.path.join(dirs["image_dir"], "g0", "system.img"),
                                    os.path.join(dirs["image_dir"], "g1", "root.img")]


def test_qcow2_needs_qemu_img_or_fails_clearly(capsys, dirs, monkeypatch):
    g = guests(2)
    g[1]["disks"] = [{"name": "root", "size": "64M", "format": "qcow2"}]
    monkeypatch.setattr(xl_configs.AnsibleModule, "get_bin_path", lambda self, *a, **k: None)
    res = run(capsys, dict(dirs, guests=g, create_disks=True))
    assert res["failed"] is True
    assert res["msg"].startswith("guest g1: disks (root): qemu-img is needed")


def test_qcow2_is_created_with_qemu_img_and_temporaries_are_cleaned(capsys, dirs, tmp_path, monkeypatch):
    # a stand-in qemu-img (none is installed here): writes a qcow2 magic to the file it is given
    fake = tmp_path / "qemu-img"
    fake.write_text("#!/bin/sh\n# qemu-img create -q -f qcow2 FILE SIZE\n"
                    "printf 'QFI\\373' > \"$5\"\necho \"$6\" >> \"$5\"\n")
    fake.chmod(0o755)
    monkeypatch.setattr(xl_configs.AnsibleModule, "get_bin_path", lambda self, *a, **k: str(fake))
    g = guests(2)
    g[1]["disks"] = [{"name": "root", "size": "64M", "format": "qcow2"}]
    res = run(capsys, dict(dirs, guests=g, create_disks=True))
    img = os.path.join(dirs["image_dir"], "g1", "root.qcow2")
    assert img in res["disks_created"]
    with open(img, "rb") as f:
        assert f.read() == b"QFI\xfb" + str(64 * 1024 * 1024).encode() + b"\n"
    assert os.listdir(os.path.dirname(img)) == ["root.qcow2"]
    assert run(capsys, dict(dirs, guests=g, create_disks=True))["changed"] is False


def test_purge_removes_only_managed_configs_and_their_links(capsys, dirs):
    run(capsys, dict(dirs, guests=guests(), autostart=["g2"]))
    foreign = os.path.join(dirs["config_dir"], "handmade.cfg")
    with open(foreign, "w") as f:
        f.write('name = "handmade"\n')
    os.symlink(foreign, os.path.join(dirs["autostart_dir"], "handmade.cfg"))
    res = run(capsys, dict(dirs, guests=guests(2), autostart=[], purge=True))
    assert res["removed"] == [os.path.join(dirs["config_dir"], "g2.cfg")]
    assert res["links_removed"] == [os.path.join(dirs["autostart_dir"], "g2.cfg")]
    assert sorted(os.listdir(dirs["config_dir"])) == ["g0.cfg", "g1.cfg", "handmade.cfg"]
    assert os.listdir(dirs["autostart_dir"]) == ["handmade.cfg"]


def test_without_purge_configs_stay_but_autostart_moves(capsys, dirs):
    run(capsys, dict(dirs, guests=guests(), autostart=["g2"]))
    # the plan moved g2 to another host; a stray link with another name to g1 goes as well
    os.symlink(os.path.join(dirs["config_dir"], "g1.cfg"), os.path.join(dirs["autostart_dir"], "g1"))
    res = run(capsys, dict(dirs, guests=guests(), autostart=["g0"]))
    assert res["removed"] == []
    assert sorted(res["links_removed"]) == [os.path.join(dirs["autostart_dir"], n) for n in ("g1", "g2.cfg")]
    assert os.listdir(dirs["autostart_dir"]) == ["g0.cfg"]
    assert sorted(os.listdir(dirs["config_dir"])) == ["g0.cfg", "g1.cfg", "g2.cfg"]


def test_absent_guests_lose_config_and_link_without_purge_others_stay(capsys, dirs):
    run(capsys, dict(dirs, guests=guests(), autostart=["g1", "g2"]))
    unlisted = os.path.join(dirs["config_dir"], "old.cfg")  # a managed config of a guest left out of the list
    with open(os.path.join(dirs["config_dir"], "g0.cfg")) as f:
        text = f.read()
    with open(unlisted, "w") as f:
        f.write(text)
    res = run(capsys, dict(dirs, guests=guests(2), autostart=["g1"], absent=["g2"]))
    assert res["changed"] is True
    assert res["removed"] == [os.path.join(dirs["config_dir"], "g2.cfg")]
    assert res["links_removed"] == [os.path.join(dirs["autostart_dir"], "g2.cfg")]
    assert sorted(os.listdir(dirs["config_dir"])) == ["g0.cfg", "g1.cfg", "old.cfg"]
    assert os.listdir(dirs["autostart_dir"]) == ["g1.cfg"]
    again = run(capsys, dict(dirs, guests=guests(2), autostart=["g1"], absent=["g2"]))
    assert again["changed"] is False


def test_a_guest_both_listed_and_absent_fails_before_any_write(capsys, dirs):
    res = run(capsys, dict(dirs, guests=guests(), autostart=[], absent=["g1"]))
    assert res["failed"] is True
    assert "both in guests and in absent: g1" in res["msg"]
    assert not os.path.exists(dirs["config_dir"])


def test_relative_and_dangling_links_into_config_dir_are_managed(capsys, dirs):
    run(capsys, dict(dirs, guests=guests(), autostart=[]))
    os.symlink("../domains/g1.cfg", os.path.join(dirs["autostart_dir"], "rel.cfg"))
    os.symlink(os.path.join(dirs["config_dir"], "gone.cfg"), os.path.join(dirs["autostart_dir"], "gone.cfg"))
    os.symlink("/elsewhere/x.cfg", os.path.join(dirs["autostart_dir"], "x.cfg"))
    res = run(capsys, dict(dirs, guests=guests(), autostart=[]))
    assert res["changed"] is True
    assert os.listdir(dirs["autostart_dir"]) == ["x.cfg"]


def test_foreign_file_in_the_way_of_a_link_fails(capsys, dirs):
    os.makedirs(dirs["autostart_dir"])
    with open(os.path.join(dirs["autostart_dir"], "g1.cfg"), "w") as f:
        f.write("x")
    res = run(capsys, dict(dirs, guests=guests(), autostart=["g1"]))
    assert res["failed"] is True
    assert "guest g1:" in res["msg"] and "not managed" in res["msg"]


def test_wrong_link_target_is_corrected(capsys, dirs):
    run(capsys, dict(dirs, guests=guests(), autostart=["g1"]))
    link = os.path.join(dirs["autostart_dir"], "g1.cfg")
    os.unlink(link)
    os.symlink(os.path.join(dirs["config_dir"], "g2.cfg"), link)
    res = run(capsys, dict(dirs, guests=guests(), autostart=["g1"]))
    assert res["changed"] is True
    assert os.readlink(link) == os.path.join(dirs["config_dir"], "g1.cfg")


def test_hand_edit_is_overwritten_and_mode_restored(capsys, dirs):
    run(capsys, dict(dirs, guests=guests()))
    path = os.path.join(dirs["config_dir"], "g1.cfg")
    with open(path, "a") as f:
        f.write("vcpus = 8\n")
    res = run(capsys, dict(dirs, guests=guests()), diff=True)
    assert res["updated"] == ["g1"] and res["changed"] is True
    os.chmod(path, 0o600)
    res = run(capsys, dict(dirs, guests=guests()))
    assert res["updated"] == ["g1"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert run(capsys, dict(dirs, guests=guests()))["changed"] is False


def test_invalid_guests_fail_before_anything_is_written(capsys, dirs):
    g = guests()
    g[0]["maxmem_mb"] = "4G"
    g[2]["kernel"] = None
    res = run(capsys, dict(dirs, guests=g, autostart=["g1"]))
    assert res["failed"] is True
    assert res["msg"].startswith("2 invalid guest(s): guest g0: maxmem_mb: HVM guests need memory == maxmem")
    assert "guest g2: kernel:" in res["msg"]
    assert [e.split(":")[0] for e in res["errors"]] == ["guest g0", "guest g2"]
    assert not os.path.exists(dirs["config_dir"])


def test_autostart_of_an_unknown_guest_fails(capsys, dirs):
    res = run(capsys, dict(dirs, guests=guests(), autostart=["nope"]))
    assert res["failed"] is True and "nope" in res["msg"]


def test_configs_are_byte_identical_across_hosts(capsys, tmp_path):
    sums = []
    for host, auto in (("a", ["g0"]), ("b", ["g1"]), ("c", ["g2"])):
        base = tmp_path / host
        res = run(capsys, {"config_dir": str(base / "domains"), "autostart_dir": str(base / "auto"),
                           "image_dir": "/srv/xen/images", "guests": guests(), "autostart": auto})
        sums.append(res["checksums"])
        contents = {n: (base / "domains" / (n + ".cfg")).read_bytes() for n in ("g0", "g1", "g2")}
        sums.append({n: hashlib.sha256(c).hexdigest() for n, c in contents.items()})
    assert all(s == sums[0] for s in sums)


def test_pv_guests_are_listed_as_not_live_migratable(capsys, dirs):
    g = guests()
    g.append({"name": "legacy", "type": "pv", "bootloader": "pygrub", "memory_mb": 256})
    res = run(capsys, dict(dirs, guests=g))
    assert res["not_live_migratable"] == ["legacy"]


def test_a_failure_after_writing_reports_what_was_changed(capsys, dirs, monkeypatch):
    g = guests(2)
    g[1]["disks"] = [{"name": "root", "size": "64M", "format": "qcow2"}]
    monkeypatch.setattr(xl_configs.AnsibleModule, "get_bin_path", lambda self, *a, **k: None)
    res = run(capsys, dict(dirs, guests=g, create_disks=True))
    assert res["failed"] is True
    written = sorted(os.listdir(dirs["config_dir"]))
    assert written and res["changed"] is True
    assert sorted(n + ".cfg" for n in res["created"]) == written


def test_disk_paths_with_dot_dot_are_refused_not_a_crash(capsys, dirs):
    g = guests(2)
    parent = os.path.join(dirs["image_dir"], "new")
    g[1]["disks"] = [{"name": "root", "size": "8M", "path": parent + "/../g1x/root.img"}]
    res = run(capsys, dict(dirs, guests=g, create_disks=True))
    assert res["failed"] is True
    assert "g1" in res["msg"] and "disks[0].path" in res["msg"] and "not a normalised path" in res["msg"], res["msg"]
    assert "write %s" % os.path.join(dirs["image_dir"], "g1x", "root.img") in res["msg"]
    assert not os.path.exists(os.path.join(dirs["image_dir"], "g1x"))
    assert not os.path.exists(parent)
