from __future__ import annotations

import json
import os
import platform
import sys

import pytest

from ansible_collections.consolidation.xen.plugins.modules import xen_host_info
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils.test_xl import XL_INFO, XL_LIST, XL_LIST_L
from ansible_collections.consolidation.xen.tests.unit.plugins.modules.module_run import run_module

# A stand-in xl (no Xen can run in unit tests): prints the outputs captured on the lab's blade1 and logs
# its argv, one JSON list per line.
FAKE_XL = """#!%(python)s
import json, sys
with open(%(log)r, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
outputs = json.load(open(%(outputs)r))
key = " ".join(sys.argv[1:])
if key not in outputs:
    sys.stderr.write("xl: unknown command %%r\\n" %% key)
    sys.exit(1)
rc, text = outputs[key]
(sys.stdout if rc == 0 else sys.stderr).write(text)
sys.exit(rc)
"""


@pytest.fixture
def lab(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {"log": str(tmp_path / "calls.log"), "outputs": str(tmp_path / "outputs.json"),
           "caps": tmp_path / "capabilities"}
    env["caps"].write_text("control_d\n")
    xl = bindir / "xl"
    xl.write_text(FAKE_XL % {"python": sys.executable, "log": env["log"],
                             "outputs": env["outputs"]})
    xl.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ["PATH"])
    monkeypatch.setattr(xen_host_info, "CAPABILITIES", str(env["caps"]))
    set_outputs(env)
    env["bin"] = bindir
    return env


def set_outputs(env, **override):
    outputs = {"info": [0, XL_INFO], "list": [0, XL_LIST], "list -l": [0, XL_LIST_L]}
    outputs.update(override)
    with open(env["outputs"], "w") as f:
        json.dump(outputs, f)


def calls(env):
    if not os.path.exists(env["log"]):
        return []
    with open(env["log"]) as f:
        return [json.loads(line) for line in f]


def run(capsys, args=None, check=False):
    return run_module(xen_host_info.main, capsys, args, check=check)


def test_facts_from_real_xen_4_17_output(capsys, lab):
    res = run(capsys)
    assert res["changed"] is False and "failed" not in res
    xen = res["xen"]
    assert xen["host"] == platform.node()
    assert xen["version"] == "4.17.7"
    assert (xen["total_memory_mb"], xen["free_memory_mb"], xen["nr_cpus"]) == (2047, 1000, 1)
    assert xen["virt_caps"] == ["pv", "hvm", "hap", "gnttab-v1", "gnttab-v2"]
    assert xen["can_live_migrate_pv"] is False  # Debian's Xen has no shadow paging
    assert xen["hw_caps"].startswith("0fcbf3fd:") and "dom0_mem=1024M,max:1024M" in xen["xen_commandline"]
    assert xen["scheduler"] == "credit2"
    assert xen["dom0"] == dict(name="Domain-0", domid=0, type="pv", memory_mb=1024, max_memory_mb=1024, vcpus=1,
                               state="r-----", bridges=[], cpuid_masked=False)
    assert xen["domains"] == [
        dict(name="g3", domid=1, type="pvh", memory_mb=128, max_memory_mb=128, vcpus=1, state="-b----",
             bridges=["xenbr0"], cpuid_masked=False),
        dict(name="g1", domid=2, type="pvh", memory_mb=128, max_memory_mb=128, vcpus=1, state="-b----",
             bridges=["xenbr0"], cpuid_masked=False),
    ]
    assert sorted(calls(lab)) == [["info"], ["list"], ["list", "-l"]]


def test_shadow_in_virt_caps_allows_pv_migration_and_check_mode_reads_the_same(capsys, lab):
    set_outputs(lab, info=[0, XL_INFO.replace("pv hvm hap gnttab-v1", "pv hvm hap shadow gnttab-v1")])
    res = run(capsys, check=True)
    assert res["xen"]["can_live_migrate_pv"] is True and res["changed"] is False
    assert sorted(calls(lab)) == [["info"], ["list"], ["list", "-l"]]  # read-only commands only


def test_hvm_capability_and_the_device_model(capsys, lab, monkeypatch, tmp_path):
    qemu = tmp_path / "xen-qemu-system-i386"
    monkeypatch.setattr(xen_host_info, "DEVICE_MODELS", (str(tmp_path / "absent"), str(qemu)))
    res = run(capsys)
    # Debian's Xen on the lab: hvm and hap (no shadow); qemu-system-xen not installed yet.
    assert res["xen"]["hvm_capable"] is True and res["xen"]["device_model"] is None
    qemu.write_text("#!/bin/sh\n")
    qemu.chmod(0o755)
    assert run(capsys)["xen"]["device_model"] == str(qemu)
    # No HAP and no shadow paging (an EPT-less CPU under a Xen built without shadow): no HVM or PVH guest.
    set_outputs(lab, info=[0, XL_INFO.replace("pv hvm hap gnttab-v1", "pv hvm gnttab-v1")])
    assert run(capsys)["xen"]["hvm_capable"] is False
    set_outputs(lab, info=[0, XL_INFO.replace("pv hvm hap gnttab-v1", "pv hvm shadow gnttab-v1")])
    assert run(capsys)["xen"]["hvm_capable"] is True


def test_no_xl_fails_naming_the_host(capsys, lab, monkeypatch):
    monkeypatch.setattr(xen_host_info.AnsibleModule, "get_bin_path", lambda self, *a, **k: None)
    res = run(capsys)
    assert res["failed"] is True
    assert res["msg"].startswith("%s: xl is not installed" % platform.node())


def test_not_dom0_fails_naming_the_host(capsys, lab):
    lab["caps"].write_text("\n")
    res = run(capsys)
    assert res["failed"] is True
    assert res["msg"].startswith("%s is not a Xen dom0: " % platform.node()) and "control_d" in res["msg"]
    assert calls(lab) == []
    lab["caps"].unlink()
    res = run(capsys)
    assert res["failed"] is True and "does not exist" in res["msg"]


def test_xl_failure_is_reported_with_its_output(capsys, lab):
    set_outputs(lab, info=[1, "xencall: error: Could not obtain handle on privileged command interface\n"])
    res = run(capsys)
    assert res["failed"] is True and res["rc"] == 1
    assert res["msg"].startswith("%s: xl info failed (rc=1): xencall: error" % platform.node())


def test_sxp_output_fails_clearly(capsys, lab):
    set_outputs(lab, **{"list -l": [0, "(domain\n\t(domid 0)\n)\n"]})
    res = run(capsys)
    assert res["failed"] is True and "output_format" in res["msg"]


def _fake_host(tmp_path, monkeypatch):
    """A /sys/class/net, /proc and mountinfo of a dom0 mid-evacuation, as files under tmp_path."""
    net = tmp_path / "net"
    for name, bridge in (("eth1", False), ("xenbr0", True), ("vif1.0", False), ("lo", False)):
        (net / name).mkdir(parents=True)
        if bridge:
            (net / name / "bridge").mkdir()
    proc = tmp_path / "proc"
    for pid, argv in ((1, ["/sbin/init"]), (2315, ["/usr/lib/xen-4.17/bin/xl", "migrate", "g2", "blade1"]),
                      (2316, ["ssh", "blade1", "xl", "migrate-receive"]),
                      (2317, ["xl", "-vvv", "migrate", "g5", "blade3"]),
                      (2318, ["sh", "-c", "exec ssh blade3 xl -vvv migrate-receive"]),
                      (2400, ["/usr/lib/xen-4.17/bin/xl", "migrate-receive"]),
                      (2500, ["/usr/bin/python3", "/root/.ansible/tmp/x/AnsiballZ_xl_domain.py"]),
                      (2600, ["vim", "notes on xl migrate"])):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (proc / "self").mkdir()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        "40 22 0:35 / /srv/xen/images rw,relatime shared:20 - nfs4 10.77.0.2:/srv/nfs/xen_images rw,vers=4.2\n"
        "41 22 0:36 / /mnt/with\\040space rw - tmpfs tmpfs rw\n")
    auto = tmp_path / "auto"
    auto.mkdir()
    (auto / "g1.cfg").symlink_to("/etc/xen/domains/g1.cfg")
    (auto / "g3.cfg").symlink_to("/etc/xen/domains/g3.cfg")
    monkeypatch.setattr(xen_host_info, "SYS_NET", str(net))
    monkeypatch.setattr(xen_host_info, "PROC", str(proc))
    monkeypatch.setattr(xen_host_info, "MOUNTINFO", str(mountinfo))
    return auto


def test_live_state_bridges_mounts_autostart_and_running_migrations(capsys, lab, tmp_path, monkeypatch):
    auto = _fake_host(tmp_path, monkeypatch)
    res = run(capsys, {"mount_points": ["/srv/xen/images/", "/srv/other", "/mnt/with space"],
                       "autostart_dir": str(auto)}, check=True)
    live = res["live"]
    assert live["bridges"] == ["xenbr0"]
    assert live["mounts"] == {"/srv/xen/images/": "nfs4", "/srv/other": None, "/mnt/with space": "tmpfs"}
    assert live["autostart"] == ["g1.cfg", "g3.cfg"]
    # The sending xl and a leftover xl_domain job; not the receiving side, its ssh, or a mere mention.
    assert live["migrations"] == ["2315 /usr/lib/xen-4.17/bin/xl migrate g2 blade1", "2317 xl -vvv migrate g5 blade3",
                                  "2500 /usr/bin/python3 /root/.ansible/tmp/x/AnsiballZ_xl_domain.py"]
    assert res["changed"] is False


def test_live_state_without_options_and_a_missing_autostart_dir(capsys, lab, tmp_path, monkeypatch):
    _fake_host(tmp_path, monkeypatch)
    res = run(capsys)
    assert res["live"]["mounts"] == {} and res["live"]["autostart"] is None
    res = run(capsys, {"autostart_dir": str(tmp_path / "none")})
    assert res["live"]["autostart"] is None and "failed" not in res
