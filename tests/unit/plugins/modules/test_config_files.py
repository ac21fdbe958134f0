from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.consolidation.xen.plugins.modules import config_files
from ansible_collections.consolidation.xen.tests.unit.plugins.modules.module_run import run_module

XL_CONF = """## Global XL config file ##

# Control whether dom0 is ballooned down when xen doesn't have enough
# free memory to create a domain.  "auto" means only balloon if dom0
# starts with all the host's memory.
#autoballoon="auto"

# full path of the lockfile used by xl during domain creation
#lockfile="/var/lock/xl"
"""


def run(capsys, args, check=False, diff=False):
    return run_module(config_files.main, capsys, args, check=check, diff=diff)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "xl.conf").write_text(XL_CONF)
    return tmp_path


def request(tree):
    return {
        "directories": [str(tree / "auto")],
        "settings": {str(tree / "xl.conf"):
                     {"autoballoon": '"off"', "lockfile": '"/var/lock/xl"', "vif.default.bridge": '"xenbr0"'}},
        "files": {str(tree / "auto" / "bridge"): "auto xenbr0\n"},
        "mode": "0640", "directory_mode": "0750",
    }


def test_one_run_applies_everything_and_keeps_the_shipped_comments(capsys, tree):
    res = run(capsys, request(tree))
    assert res["changed"] is True
    assert res["updated"] == [str(tree / "auto"), str(tree / "auto" / "bridge"), str(tree / "xl.conf")]
    assert stat.S_IMODE(os.stat(tree / "xl.conf").st_mode) == 0o640
    text = (tree / "xl.conf").read_text()
    assert 'autoballoon="off"' in text and '#autoballoon="auto"' not in text
    assert 'lockfile="/var/lock/xl"' in text
    assert text.endswith('vif.default.bridge="xenbr0"\n')
    assert "# full path of the lockfile used by xl during domain creation" in text
    assert stat.S_IMODE(os.stat(tree / "auto").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tree / "auto" / "bridge").st_mode) == 0o640
    assert (tree / "auto" / "bridge").read_text() == "auto xenbr0\n"


def test_a_second_run_changes_nothing(capsys, tree):
    run(capsys, request(tree))
    before = {p: p.stat().st_mtime_ns for p in tree.rglob("*")}
    again = run(capsys, request(tree))
    assert again["changed"] is False and again["updated"] == []
    assert {p: p.stat().st_mtime_ns for p in tree.rglob("*")} == before


def test_the_last_line_setting_a_key_is_the_one_replaced(capsys, tree):
    (tree / "xl.conf").write_text("A=1\n# A=2\nB=3\n")
    run(capsys, {"settings": {str(tree / "xl.conf"): {"A": "9"}}})
    assert (tree / "xl.conf").read_text() == "A=1\nA=9\nB=3\n"


def test_a_directory_of_its_own_mode(capsys, tree):
    req = dict(request(tree), modes={str(tree / "auto"): "0700"})
    run(capsys, req)
    assert stat.S_IMODE(os.stat(tree / "auto").st_mode) == 0o700
    assert run(capsys, req)["changed"] is False


def test_a_mode_only_change_is_a_change(capsys, tree):
    run(capsys, request(tree))
    os.chmod(tree / "auto" / "bridge", 0o600)
    res = run(capsys, request(tree))
    assert res["updated"] == [str(tree / "auto" / "bridge")]
    assert stat.S_IMODE(os.stat(tree / "auto" / "bridge").st_mode) == 0o640


def test_check_mode_predicts_and_writes_nothing(capsys, tree):
    res = run(capsys, request(tree), check=True, diff=True)
    assert res["changed"] is True and len(res["updated"]) == 3
    assert not (tree / "auto").exists()
    assert (tree / "xl.conf").read_text() == XL_CONF
    after = {d["after_header"]: d["after"] for d in res["diff"]}
    assert 'autoballoon="off"' in after[str(tree / "xl.conf")]


def test_bad_requests_are_refused_all_at_once_and_change_nothing(capsys, tree):
    conf, missing = str(tree / "xl.conf"), str(tree / "missing.conf")
    res = run(capsys, {
        "directories": ["relative/dir", str(tree / "d") + "/../e"],
        "files": {str(tree / "f"): "x", conf: "y", str(tree / "n"): 1},
        "settings": {conf: {"GATEWAY": "10.0.0.1\nrm -rf /", "bad key": "1"}, missing: {"A": "1"}},
        "create": [str(tree / "other")],
    })
    assert res["failed"] is True and res["updated"] == []
    msg = res["msg"]
    for words in ("directories: 'relative/dir' must be an absolute", "directories: '%s/d/../e'" % tree,
                  "%s is in both files and settings" % conf, "files.%s: the content must be a string" % (tree / "n"),
                  "settings.%s.GATEWAY" % conf, "'bad key' is not a setting name",
                  "settings.%s: the file does not exist" % missing, "create: %s is not in settings" % (tree / "other")):
        assert words in msg, (words, msg)
    assert not (tree / "f").exists()
    assert (tree / "xl.conf").read_text() == XL_CONF


def test_a_settings_file_is_created_only_when_asked(capsys, tree):
    path = tree / "grub.d" / "xen.cfg"
    res = run(capsys, {"directories": [str(path.parent)],
                       "settings": {str(path): {"XEN_OVERRIDE_GRUB_DEFAULT": "1"}}, "create": [str(path)]})
    assert res["changed"] is True
    assert path.read_text() == "XEN_OVERRIDE_GRUB_DEFAULT=1\n"


def test_a_failure_after_writing_reports_what_was_changed(capsys, tree):
    (tree / "blocker").write_text("a file where a directory is asked for")
    res = run(capsys, {"directories": [str(tree / "auto"), str(tree / "blocker")]})
    assert res["failed"] is True and res["changed"] is True
    assert res["updated"] == [str(tree / "auto")]
    assert "blocker exists and is not a directory" in res["msg"]


def test_keyed_lines_replace_their_own_line_only_and_create_the_file(capsys, tree):
    ssh = tree / "ssh"
    ssh.mkdir()
    known = ssh / "known_hosts"
    known.write_text("other ssh-rsa AAAAother\nblade2 ssh-ed25519 AAAAold\nblade2 ssh-rsa AAAArsa\n")
    keys = ssh / "authorized_keys"
    req = {"lines": {str(known): {"blade2 ssh-ed25519": "blade2 ssh-ed25519 AAAAnew",
                                  "10.77.0.12 ssh-ed25519": "10.77.0.12 ssh-ed25519 AAAAnew"},
                     str(keys): {"ssh-ed25519 AAAAroot2": "ssh-ed25519 AAAAroot2 root@blade2 (consolidation.xen)"}},
           "mode": "0644", "modes": {str(keys): "0600"}}
    res = run(capsys, req)
    assert res["updated"] == [str(known), str(keys)]
    assert known.read_text() == ("other ssh-rsa AAAAother\nblade2 ssh-ed25519 AAAAnew\nblade2 ssh-rsa AAAArsa\n"
                                 "10.77.0.12 ssh-ed25519 AAAAnew\n")
    assert keys.read_text() == "ssh-ed25519 AAAAroot2 root@blade2 (consolidation.xen)\n"
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600
    assert run(capsys, req)["changed"] is False


def test_a_keyed_line_must_start_with_its_key(capsys, tree):
    res = run(capsys, {"lines": {str(tree / "k"): {"blade2 ssh-ed25519": "evil ssh-ed25519 AAAA"}},
                       "modes": {str(tree / "nowhere"): "0600"}})
    assert res["failed"] is True
    assert "must be one line of text starting with its key 'blade2 ssh-ed25519'" in res["msg"]
    assert "modes: %s is not in directories, files, settings or lines" % (tree / "nowhere") in res["msg"]
    assert not (tree / "k").exists()
