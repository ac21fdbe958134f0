from __future__ import annotations

import json
import os
import platform
import sys

import pytest

from ansible_collections.consolidation.xen.plugins.modules import xl_domain
from ansible_collections.consolidation.xen.tests.unit.plugins.modules.module_run import run_module

HOST = platform.node()
HEADER = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n"

# Stand-ins for xl and ssh (no Xen can run in unit tests). Both share a JSON state - the domains on
# this host ("local") and on the target ("remote") - log their argv, print `xl list` in the real format
# (see test_xl.py) and act as told by "behave".
FAKE = """#!%(python)s
import json, os, sys, time
STATE = %(state)r
with open(STATE) as f:
    st = json.load(f)
me = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(%(log)r, "a") as f:
    f.write(json.dumps([me] + args) + "\\n")
behave = st.get("behave", {})


def show(doms):
    sys.stdout.write(%(header)r)
    for i, (name, state) in enumerate(doms):
        sys.stdout.write("%%-40s %%5d %%5d %%5d     %%s %%8.1f\\n" %% (name, i, 1024 if i == 0 else 128, 1, state, 1.5))


def save():
    with open(STATE, "w") as f:
        json.dump(st, f)


if me == "ssh":
    if behave.get("ssh") == "down":
        sys.stderr.write("ssh: connect to host %%s port 22: Connection refused\\n" %% args[-3])
        sys.exit(255)
    assert args[-2:] == ["xl", "list"], args
    show(st["remote"])
    sys.exit(0)
local = st["local"]
names = [d[0] for d in local]
while args and args[0].startswith("-v"):  # xl -vvv migrate
    args = args[1:]
if args == ["list"]:
    # a domain that has shut down stays listed (state s) for a few lists, until its xl process destroys it
    if st.get("linger"):
        st["linger"] -= 1
        if not st["linger"]:
            local[:] = [d for d in local if "s" not in d[1]]
    show(local)
elif args[0] == "create":
    if behave.get("create") == "fail":
        sys.stderr.write("libxl: error: libxl_create.c: Domain 3:cannot make domain: -3\\n")
        sys.exit(3)
    local.append([st["creates"], "-b----"])
elif args[:2] == ["shutdown", "-w"]:
    if behave.get("shutdown") == "hang":
        sys.stdout.write("Waiting for 1 domains\\n")
        sys.stdout.flush()
        time.sleep(60)
    if behave.get("shutdown") == "lingers":
        local[:] = [[d[0], "---s--"] if d[0] == args[2] else d for d in local]
        st["linger"] = 3
    else:
        local[:] = [d for d in local if d[0] != args[2]]
elif args[0] == "destroy":
    local[:] = [d for d in local if d[0] != args[1]]
elif args[0] == "migrate":
    name, how = args[1], behave.get("migrate", "ok")
    rest = [d for d in local if d[0] != name]
    if how == "ok":
        local[:] = rest
        st["remote"].append([name, "-b----"])
    elif how == "twice":
        local[:] = rest + [[name + "--migratedaway", "--p---"]]
        st["remote"].append([name, "r-----"])
    elif how == "lost":
        local[:] = rest
    elif how == "moved_but_rc1":
        local[:] = rest
        st["remote"].append([name, "-b----"])
    save()
    if how != "ok":
        sys.stderr.write("migration sender: Target reported error\\nDomain state is now undefined!\\n"
                         if how != "stays" else "xc: error: Failed to enable logdirty: 95,22,0\\n")
        sys.exit(1)
    # what Xen 4.17's xl -vvv migrate prints around the guest's pause (debug lines are not returned)
    sys.stderr.write("libxl: debug: libxl_dom_suspend.c:376:suspend_common_wait_guest_check: Domain 5:guest "
                     "has suspended\\n")
    sys.stderr.flush()
    time.sleep(float(behave.get("pause", 0)))
    sys.stdout.write("xc: info: Saving domain 5, type x86 PVH\\r")
    sys.stdout.flush()
    sys.stderr.write("migration target: Domain started successsfully.\\nMigration successful.\\n")
    sys.exit(0)
else:
    sys.stderr.write("fake xl: unexpected %%r\\n" %% args)
    sys.exit(99)
save()
"""


class Lab:
    def __init__(self, tmp_path):
        self.state = str(tmp_path / "state.json")
        self.log = str(tmp_path / "calls.log")
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for tool in ("xl", "ssh"):
            path = self.bin / tool
            path.write_text(FAKE % {"python": sys.executable, "state": self.state, "log": self.log,
                                    "header": HEADER})
            path.chmod(0o755)
        self.caps = tmp_path / "capabilities"
        self.caps.write_text("control_d\n")
        self.config = tmp_path / "www1.cfg"
        self.config.write_text('name = "www1"\ntype = "pvh"\nmemory = 128\n')
        self.set(local=[], remote=[])

    def set(self, local=None, remote=None, behave=None, creates="www1"):
        st = self.get() if os.path.exists(self.state) else {}
        st.update({k: v for k, v in dict(local=local, remote=remote, behave=behave).items() if v is not None})
        st["creates"] = creates
        with open(self.state, "w") as f:
            json.dump(st, f)
        if os.path.exists(self.log):
            os.unlink(self.log)

    def get(self):
        with open(self.state) as f:
            return json.load(f)

    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def changing(self):
        """The logged calls other than the read-only `xl list` and `ssh TARGET xl list`."""
        return [c for c in self.calls() if c != ["xl", "list"] and not (c[0] == "ssh" and c[-2:] == ["xl", "list"])]


DOM0 = ["Domain-0", "r-----"]


@pytest.fixture
def warned(monkeypatch):
    """What the module passed to warn() (the returned warnings depend on ansible-core's global state)."""
    seen = []
    monkeypatch.setattr(xl_domain.AnsibleModule, "warn", lambda self, msg: seen.append(msg))
    return seen


@pytest.fixture
def lab(tmp_path, monkeypatch):
    lab = Lab(tmp_path)
    monkeypatch.setenv("PATH", str(lab.bin) + os.pathsep + os.environ["PATH"])
    monkeypatch.setattr(xl_domain, "CAPABILITIES", str(lab.caps))
    return lab


def run(capsys, args, check=False):
    return run_module(xl_domain.main, capsys, args, check=check)


# -- running ---------------------------------------------------------------------------------------------

def test_running_creates_once_then_is_unchanged(capsys, lab):
    lab.set(local=[DOM0])
    res = run(capsys, dict(name="www1", config=str(lab.config)))
    assert res["changed"] is True and (res["state_before"], res["state_after"]) == ("absent", "running")
    assert lab.changing() == [["xl", "create", str(lab.config)]]
    assert res["host"] == HOST and res["commands"][0][1:] == ["create", str(lab.config)]
    lab.set()
    res = run(capsys, dict(name="www1", config=str(lab.config)))
    assert res["changed"] is False and res["state_before"] == "running" and res["commands"] == []
    assert lab.changing() == []


def test_running_in_check_mode_runs_nothing(capsys, lab):
    lab.set(local=[DOM0])
    res = run(capsys, dict(name="www1", config=str(lab.config)), check=True)
    assert res["changed"] is True and res["state_after"] == "running"
    assert res["commands"][0][1:] == ["create", str(lab.config)]
    assert lab.changing() == [] and lab.get()["local"] == [DOM0]


def test_running_create_failure_names_guest_and_host(capsys, lab):
    lab.set(local=[DOM0], behave={"create": "fail"})
    res = run(capsys, dict(name="www1", config=str(lab.config)))
    assert res["failed"] is True and res["rc"] == 3 and "cannot make domain" in res["stderr"]
    assert res["msg"].startswith("%s: xl create %s for guest www1 exited 3 and the guest is absent" % (
        HOST, lab.config))


def test_running_refuses_a_config_for_another_guest_or_none(capsys, lab):
    lab.set(local=[DOM0])
    res = run(capsys, dict(name="www2", config=str(lab.config)))
    assert res["failed"] is True and "names the guest 'www1', not 'www2'" in res["msg"]
    res = run(capsys, dict(name="www1", config=str(lab.config) + ".missing"))
    assert res["failed"] is True and "does not exist" in res["msg"]
    res = run(capsys, dict(name="www1"))
    assert res["failed"] is True and "config" in res["msg"]
    assert lab.changing() == []


def test_running_does_not_touch_a_paused_guest_or_migration_leftovers(capsys, lab):
    lab.set(local=[DOM0, ["www1", "--p---"]])
    res = run(capsys, dict(name="www1", config=str(lab.config)))
    assert res["failed"] is True and res["msg"].startswith("www1 is paused on %s (xl list state --p---)" % HOST)
    lab.set(local=[DOM0, ["www1--incoming", "--p---"]])
    res = run(capsys, dict(name="www1", config=str(lab.config)))
    assert res["failed"] is True and "www1--incoming (--p---)" in res["msg"] and "interrupted migration" in res["msg"]
    assert lab.changing() == []


# -- shutdown / absent -----------------------------------------------------------------------------------

def test_shutdown_waits_with_a_bound_and_is_idempotent(capsys, lab):
    lab.set(local=[DOM0, ["www1", "-b----"]])
    res = run(capsys, dict(name="www1", state="shutdown", timeout=30))
    assert res["changed"] is True and res["state_after"] == "absent"
    (call,) = lab.changing()
    assert call[0] == "xl" and call[1:] == ["shutdown", "-w", "www1"]
    assert res["commands"][0][1:] == ["--kill-after=5", "30"] + res["commands"][0][3:]
    assert res["commands"][0][3:] == [str(lab.bin / "xl"), "shutdown", "-w", "www1"]
    lab.set()
    assert run(capsys, dict(name="www1", state="shutdown"))["changed"] is False
    assert run(capsys, dict(name="www1", state="absent"))["changed"] is False
    assert lab.changing() == []


def test_shutdown_waits_for_a_domain_that_has_shut_down_to_leave_xl_list(capsys, lab):
    # xl shutdown -w returns once the guest has shut down; xl list still shows it (state s) until its xl
    # process destroys it (on_poweroff): that is a shutdown that worked, not a failure
    lab.set(local=[DOM0, ["www1", "-b----"]], behave={"shutdown": "lingers"})
    res = run(capsys, dict(name="www1", state="shutdown", timeout=30))
    assert res["changed"] is True and res["state_after"] == "absent", res
    assert [c[1] for c in lab.changing()] == ["shutdown"]
    assert lab.get()["local"] == [DOM0]


def test_shutdown_timeout_fails_and_never_destroys_without_force(capsys, lab):
    lab.set(local=[DOM0, ["www1", "-b----"]], behave={"shutdown": "hang"})
    res = run(capsys, dict(name="www1", state="shutdown", timeout=1))
    assert res["failed"] is True and res["rc"] == 124
    assert res["msg"].startswith("www1 did not shut down within 1 s on %s (it is running); force: true" % HOST)
    assert [c[1] for c in lab.changing()] == ["shutdown"]
    assert lab.get()["local"] == [DOM0, ["www1", "-b----"]]


def test_shutdown_timeout_with_force_destroys(capsys, lab, warned):
    lab.set(local=[DOM0, ["www1", "-b----"]], behave={"shutdown": "hang"})
    res = run(capsys, dict(name="www1", state="shutdown", timeout=1, force=True))
    assert res["changed"] is True and res["state_after"] == "absent"
    assert [c[1] for c in lab.changing()] == ["shutdown", "destroy"]
    assert warned == ["www1 did not shut down within 1 s on %s; destroying it (force)" % HOST]


def test_absent_with_force_destroys_at_once_and_paused_needs_force(capsys, lab):
    lab.set(local=[DOM0, ["www1", "--p---"]])
    res = run(capsys, dict(name="www1", state="absent"))
    assert res["failed"] is True and "paused" in res["msg"] and "force: true" in res["msg"]
    assert lab.changing() == []
    res = run(capsys, dict(name="www1", state="absent", force=True), check=True)
    assert res["changed"] is True and res["commands"] == [[str(lab.bin / "xl"), "destroy", "www1"]]
    assert lab.changing() == []
    res = run(capsys, dict(name="www1", state="absent", force=True))
    assert res["changed"] is True and lab.changing() == [["xl", "destroy", "www1"]]


def test_shutdown_in_check_mode_runs_nothing(capsys, lab):
    lab.set(local=[DOM0, ["www1", "-b----"]])
    res = run(capsys, dict(name="www1", state="shutdown"), check=True)
    assert res["changed"] is True and res["state_after"] == "absent" and res["commands"][0][-3:] == [
        "shutdown", "-w", "www1"]
    assert lab.changing() == [] and lab.get()["local"] == [DOM0, ["www1", "-b----"]]


# -- migrated --------------------------------------------------------------------------------------------

def test_migrate_then_idempotent(capsys, lab):
    lab.set(local=[DOM0, ["m1", "-b----"]], remote=[DOM0])
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert res["changed"] is True and res["outcome"] == "migrated" and "failed" not in res
    assert (res["state_before"], res["state_after"], res["target_state"]) == ("running", "absent", "running")
    assert lab.changing() == [["xl", "-vvv", "migrate", "m1", "blade2"]]
    assert ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "--", "blade2", "xl", "list"] in lab.calls()
    assert isinstance(res["seconds"], float) and res["target"] == "blade2"
    # the fake's marks come at once: no pause; xl's debug lines are not returned, its other words are
    assert res["downtime"] == 0.0 and "stderr" not in res
    lab.set()
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert res["changed"] is False and res["outcome"] == "migrated" and lab.changing() == []


def test_migrate_in_check_mode_only_lists(capsys, lab):
    lab.set(local=[DOM0, ["m1", "-b----"]], remote=[DOM0])
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"), check=True)
    assert res["changed"] is True and res["commands"] == [[str(lab.bin / "xl"), "-vvv", "migrate", "m1", "blade2"]]
    assert lab.changing() == [] and lab.get()["local"] == [DOM0, ["m1", "-b----"]]


def test_failed_migrate_of_pv_guest_is_still_on_source(capsys, lab):
    lab.set(local=[DOM0, ["legacy", "-b----"]], remote=[DOM0], behave={"migrate": "stays"})
    res = run(capsys, dict(name="legacy", state="migrated", target="blade2"))
    assert res["failed"] is True and res["outcome"] == "still_on_source" and res["changed"] is False
    assert res["rc"] == 1 and "Failed to enable logdirty" in res["stderr"]
    assert res["msg"].startswith("legacy: xl migrate exited 1 and the guest is still on %s" % HOST)
    # the target was listed after the failure
    assert [c for c in lab.calls() if c[0] == "ssh"] == [["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15",
                                                          "--", "blade2", "xl", "list"]] * 2


def test_failed_handshake_reports_running_twice(capsys, lab):
    lab.set(local=[DOM0, ["m1", "-b----"]], remote=[DOM0], behave={"migrate": "twice"})
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert res["failed"] is True and res["outcome"] == "running_twice"
    assert "TWICE" in res["msg"] and "m1--migratedaway paused --p---" in res["msg"] and "blade2" in res["msg"]
    assert lab.changing() == [["xl", "-vvv", "migrate", "m1", "blade2"]]  # nothing destroyed by the module


def test_guest_on_neither_end_is_lost(capsys, lab):
    lab.set(local=[DOM0, ["m1", "-b----"]], remote=[DOM0], behave={"migrate": "lost"})
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert res["failed"] is True and res["outcome"] == "lost" and "LOST" in res["msg"]


def test_nonzero_rc_but_moved_is_migrated_with_a_warning(capsys, lab, warned):
    lab.set(local=[DOM0, ["m1", "-b----"]], remote=[DOM0], behave={"migrate": "moved_but_rc1"})
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert "failed" not in res and res["outcome"] == "migrated" and res["rc"] == 1
    assert warned == ["m1: migrated from %s to blade2 (xl migrate exited 1)" % HOST] == [res["msg"]]


def test_migrated_when_on_neither_host_fails_clearly(capsys, lab):
    lab.set(local=[DOM0], remote=[DOM0])
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert res["failed"] is True and res["msg"].startswith("m1 runs on neither %s nor blade2" % HOST)
    assert lab.changing() == []


def test_migrate_refused_when_target_already_has_a_copy_or_is_unreachable(capsys, lab):
    lab.set(local=[DOM0, ["m1", "-b----"]], remote=[DOM0, ["m1--incoming", "--p---"]])
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert res["failed"] is True and "ALSO exists on blade2 (m1--incoming --p---)" in res["msg"]
    lab.set(remote=[DOM0], behave={"ssh": "down"})
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert res["failed"] is True and "cannot list the domains on blade2" in res["msg"]
    assert "Connection refused" in res["msg"] and "m1 is not touched" in res["msg"]
    assert lab.changing() == []


def test_migrate_to_itself_and_without_target_fail(capsys, lab):
    lab.set(local=[DOM0, ["m1", "-b----"]])
    res = run(capsys, dict(name="m1", state="migrated", target=HOST))
    assert res["failed"] is True and "is this host" in res["msg"]
    res = run(capsys, dict(name="m1", state="migrated"))
    assert res["failed"] is True and "target" in res["msg"]


@pytest.mark.parametrize("target", ["-oProxyCommand=touch /tmp/x", "blade2 -v", "blade2\nxl"])
def test_migrate_refuses_a_target_that_would_be_an_option_or_split(capsys, lab, target):
    lab.set(local=[DOM0, ["m1", "-b----"]], remote=[DOM0])
    res = run(capsys, dict(name="m1", state="migrated", target=target))
    assert res["failed"] is True and "is not a host name or address" in res["msg"]
    assert lab.changing() == [] and not [c for c in lab.calls() if c[0] == "ssh"]


# -- host checks -----------------------------------------------------------------------------------------

def test_not_dom0_or_no_xl_fails_naming_host_and_guest(capsys, lab, monkeypatch):
    lab.caps.write_text("\n")
    res = run(capsys, dict(name="www1", config=str(lab.config)))
    assert res["failed"] is True and res["msg"].startswith("%s is not a Xen dom0" % HOST) and "www1" in res["msg"]
    monkeypatch.setattr(xl_domain.AnsibleModule, "get_bin_path", lambda self, *a, **k: None)
    res = run(capsys, dict(name="www1", config=str(lab.config)))
    assert res["failed"] is True and res["msg"] == "%s: xl is not installed (no xl in PATH or sbin); cannot manage " \
        "guest www1" % HOST
    assert lab.calls() == []


def test_migrate_reports_the_time_the_guest_ran_nowhere(capsys, lab):
    """downtime: from the sender's "guest has suspended" to the receiver's "Domain started", as read."""
    lab.set(local=[DOM0, ["m1", "-b----"]], remote=[DOM0], behave={"pause": 0.6})
    res = run(capsys, dict(name="m1", state="migrated", target="blade2"))
    assert res["outcome"] == "migrated" and 0.5 <= res["downtime"] <= res["seconds"]
