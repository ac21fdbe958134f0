"""failover.yml on the lab: a blade hangs (its QEMU stopped); it is fenced on the filer, its guests restart on the
two survivors; continued, it cannot write to the image store; after its reboot unfence.yml brings it back.

Runs last; before it, test_3_maintain.py put every guest back on its planned blade.
First a guest (g1, on its planned blade) is set to stopped (xen_guest_state, in a second inventory source
given after inventories/lab): site.yml shuts it down and unlinks it and changes nothing else anywhere, a second
run of its guests play changes nothing, and the failover of blade2 does not restart it (it runs on no survivor,
as blade2's guests do).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from conftest import CACHE, GUESTS, _log, _timed, changed_tasks, playbook, recap
from pyghmi.ipmi import command as ipmi_command
from test_1_site import _guest_export
from test_2_evacuate import SURVIVORS, assert_each_runs_once, links, where

HIGH, LOW = "g4", "g5"  # xen_guest_priority in inventories/lab, both planned on blade2 (g5 is an HVM guest)
PRIORITY = {HIGH: "high", LOW: "low"}
# The guest set to stopped by the second inventory source (a normal-priority guest not planned on blade2).
STOPPED = "g1"
OVERLAY = CACHE / "stopped.yml"
MARKER = "/srv/xen/images/.fence-marker"
BMC_PASSWORD = CACHE / "run" / "bmc.pass"  # lab/up.sh's, for every blade's BMC
AFTER = {}  # where each guest runs after the failover, for the tests after it


def bmc(**override):
    """-e setting blade2's xen_host_bmc (as inventories/lab has it, with ``override``)."""
    value = {"address": "127.0.0.1", "port": 6232, "user": "admin", "password": BMC_PASSWORD.read_text().strip()}
    return json.dumps({"xen_host_bmc": dict(value, **override)})


def with_stopped(*args):
    """Arguments of a playbook run that sees STOPPED's xen_guest_state: stopped (inventories/lab first)."""
    return ("-i", str(OVERLAY), *args)


def each_runs_once_but_the_stopped(lab):
    placement, leftovers = where(lab)
    assert leftovers == [], leftovers
    assert placement.pop(STOPPED) == [], "%s still runs" % STOPPED
    for guest, on in placement.items():
        assert len(on) == 1, "%s runs on %s" % (guest, on)
    return {g: on[0] for g, on in placement.items()}


def test_failover_refuses_a_host_that_still_answers(lab):
    before = assert_each_runs_once(lab)
    pid = int((CACHE / "run" / "blade2.pid").read_text())
    result = playbook("failover.yml", "-e", "host=blade2", "-e", "failover_fence_timeout=5")
    assert result.returncode != 0
    assert "blade2 still answers on 127.0.0.1:2223" in result.stdout, result.stdout[-3000:]
    assert assert_each_runs_once(lab) == before
    os.kill(pid, 0)  # its BMC was not used: the same QEMU runs
    assert "10.77.0.12/32" in lab.ssh("filer", "exportfs -s").stdout  # and it is not fenced


def test_a_guest_set_to_stopped_is_shut_down_and_unlinked_and_a_second_run_changes_nothing(lab):
    before = assert_each_runs_once(lab)
    home = before[STOPPED]
    assert home != "blade2" and STOPPED not in PRIORITY, before
    export = _guest_export(lab, GUESTS[STOPPED])
    OVERLAY.write_text("all:\n  children:\n    xen_guests:\n      hosts:\n        %s:\n"
                       "          xen_guest_state: stopped\n" % STOPPED)
    result = _timed("site.yml with %s set to stopped" % STOPPED, lambda: playbook(*with_stopped("site.yml")))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"changed: \[%s\] => \(item=%s\)" % (home, STOPPED), result.stdout), result.stdout[-4000:]
    assert "not reserved, not restarted (xen_guest_state): %s (stopped)" % STOPPED in result.stdout
    # The whole site.yml, on the cluster evacuate, maintain and their re-runs left on its plan: what it changed is
    # the stopped guest's shutdown and link on its home dom0, and nothing else anywhere (filer, dom0s, the others).
    changed = changed_tasks(result.stdout)
    _log("  site.yml with %s stopped changed: %s" % (STOPPED, sorted(changed)))
    assert changed and {host for _task, host in changed} == {home}, (changed, result.stdout[-4000:])
    assert all(task.startswith("consolidation.xen.guests : ") for task, _host in changed), changed
    each_runs_once_but_the_stopped(lab)
    for blade in lab.blades:
        assert "%s.cfg" % STOPPED not in links(lab, blade), blade
        lab.ssh(blade, "test -f /etc/xen/domains/%s.cfg" % STOPPED)  # its config stays, on every dom0
    assert _guest_export(lab, GUESTS[STOPPED]) == export  # and its export (and data) on the filer
    # Run again, the guests play only (what converges a guest's state; the run above showed the filer and dom0
    # plays change nothing): the stopped guest stays stopped and unlinked, nothing changes.
    again = _timed("site.yml --tags guests_configure,guests_start, %s stopped, second run" % STOPPED,
                   lambda: playbook(*with_stopped("site.yml", "--tags", "guests_configure,guests_start")))
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert "TASK [consolidation.xen.guests : " in again.stdout
    assert "consolidation.xen.filer : Linux |" not in again.stdout
    changed = {host: c[1] for host, c in recap(again.stdout).items() if c[1]}
    assert changed == {}, "second run changed something: %s\n%s" % (changed, again.stdout[-4000:])
    each_runs_once_but_the_stopped(lab)


def test_failover_fences_a_hung_blade_and_restarts_its_guests_on_the_survivors(lab):
    before = each_runs_once_but_the_stopped(lab)
    assert "blade2" in before.values(), before
    # Written by blade2 before it hangs; a fenced blade2 must not be able to change it afterwards.
    lab.ssh("blade2", "echo written-before-the-failover > %s && sync" % MARKER)
    pid = int((CACHE / "run" / "blade2.pid").read_text())
    os.kill(pid, signal.SIGSTOP)  # hung, not dead: its ssh port still accepts connections, nothing answers
    # Wrong BMC credentials stop the run clearly, before anything changes; no password shows, even with -vvv.
    wrong = "wrong-%s" % os.urandom(6).hex()
    refused = playbook(*with_stopped("failover.yml", "-vvv", "-e", "host=blade2", "-e", "failover_fence_timeout=5",
                                     "-e", bmc(password=wrong)))
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert "the BMC of blade2 at 127.0.0.1:6232 refused the credentials (Incorrect password provided): fix " \
           "xen_host_bmc.user and .password" in " ".join(refused.stdout.split()), refused.stdout[-3000:]
    for secret in (wrong, BMC_PASSWORD.read_text().strip()):
        assert secret not in refused.stdout + refused.stderr
    assert "10.77.0.12/32" in lab.ssh("filer", "exportfs -s").stdout  # not fenced
    os.kill(pid, 0)  # not powered off: the same QEMU, still stopped
    # Its BMC does not answer (as when a chassis loses power with its BMCs): fenced on the storage alone.
    t0 = time.monotonic()
    result = playbook(*with_stopped("failover.yml", "-e", "host=blade2", "-e", "failover_fence_timeout=5",
                                    "-e", bmc(port=6239)))
    seconds = time.monotonic() - t0
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    dead = sorted(g for g, b in before.items() if b == "blade2")
    _log("%-52s %7.1f s" % ("failover.yml -e host=blade2 (%d guests, hang to pinged)" % len(dead), seconds))
    flat = " ".join(result.stdout.split())
    assert "the BMC of blade2 at 127.0.0.1:6239 did not power it off (no answer): it is fenced on the storage " \
           "only" in flat, result.stdout[-5000:]
    assert "blade2 sent no SSH banner within 5 s" in flat, result.stdout[-5000:]
    os.kill(pid, 0)
    # The storage fence came first, confirmed on the filer, before any guest started.
    # (flat: the output with its line wrapping undone)
    fenced = re.search(r"blade2 fenced on filer since (\S+): confirmed, no export reaches 10\.77\.0\.12 "
                       r"\(exportfs -s: (.*?) (?:TASK|PLAY) \[", flat)
    assert fenced, result.stdout[-5000:]
    shown = fenced.group(2)  # what exportfs -s listed after the reload
    assert "10.77.0.12" not in shown and "10.77.0.11/32" in shown and "10.77.0.13/32" in shown, shown
    assert flat.index(fenced.group(0)) < flat.index("priority high: starting"), result.stdout[-5000:]
    exports = lab.ssh("filer", "exportfs -s").stdout
    assert "10.77.0.12" not in exports and "10.77.0.11/32" in exports, exports
    restarted = dict(re.findall(r"(g\d) restarted on (blade\d)", result.stdout))
    assert sorted(restarted) == dead, result.stdout[-3000:]
    # The stopped guest runs on no survivor (as blade2's guests): it stays down, and the plan says why.
    assert "not restarted, desired state not running (xen_guest_state): %s (stopped)" % STOPPED in result.stdout
    assert STOPPED not in restarted
    # g4 answers when its agent's port accepts a connection (xen_guest_check_port), g5 when it pings.
    assert re.search(r"\(item=%s tcp/7000\)" % HIGH, result.stdout), result.stdout[-3000:]
    assert re.search(r"\(item=%s ping\)" % LOW, result.stdout), result.stdout[-3000:]
    # Priority classes (inventories/lab: g4 high, g5 low and HVM, both on blade2): the high one is started and
    # answers before the low one is started, by the controller's clock in the output.
    assert {PRIORITY.get(g, "normal") for g in dead} >= {"high", "low"}, dead
    stamps = {}
    for event, pattern in (("start", r"priority (\w+): starting ([\w, ]+) at (\S+) UTC"),
                           ("answer", r"priority (\w+): ([\w, ]+) answering at (\S+) UTC")):
        for cls, guests, at in re.findall(pattern, result.stdout):
            assert sorted(guests.split(", ")) == sorted(g for g in dead if PRIORITY.get(g, "normal") == cls), guests
            stamps["%s %s" % (cls, event)] = at
    in_time_order = sorted(stamps.items(), key=lambda kv: kv[1])
    _log("  restart order (controller UTC): %s" % ", ".join("%s %s" % kv for kv in in_time_order))
    seconds_to_answer = dict(re.findall(r"priority (\w+): [\w, ]+ answering at \S+ UTC, ([\d.]+) s after its start",
                                        result.stdout))
    assert set(seconds_to_answer) >= {"high", "low"}, result.stdout[-3000:]
    _log("  seconds from a class's start to all of it answering: %s"
         % ", ".join("%s %s s" % kv for kv in sorted(seconds_to_answer.items())))
    order = ["high start", "high answer", "low start", "low answer"]
    assert set(order) <= set(stamps), (stamps, result.stdout[-3000:])
    assert [stamps[k] for k in order] == sorted(stamps[k] for k in order), stamps
    # Each restarts where the printed failover plan put it (g5, HVM, on the survivor without an HVM guest:
    # xen_host_max_hvm 1); the survivors' own guests stay where they were.
    planned = dict(re.findall(r"\d+\. (g\d): blade2 restart on (blade\d)", result.stdout))
    assert planned == restarted and set(restarted.values()) <= set(SURVIVORS), (planned, restarted)
    after = {**{g: b for g, b in before.items() if b != "blade2"}, **restarted}
    for blade in SURVIVORS:
        assert lab.xl_list(blade) == sorted(g for g, b in after.items() if b == blade), blade
        assert links(lab, blade) == sorted("%s.cfg" % g for g, b in after.items() if b == blade), blade
    for g, ip in GUESTS.items():
        if g != STOPPED:
            assert lab.guest(ip, "hostname").strip() == g
    AFTER.update(after, fenced_since=fenced.group(1))


def test_the_hung_blade_continued_cannot_write_and_a_rerun_powers_it_off_and_starts_nothing(lab):
    assert AFTER, "the failover test did not get this far"
    after = {g: b for g, b in AFTER.items() if g in GUESTS}
    pid = int((CACHE / "run" / "blade2.pid").read_text())
    os.kill(pid, signal.SIGCONT)  # it comes back, still holding the image store and its two guests
    lab.wait_ssh("blade2", limit=120)
    # Its guests' copies still run there (nobody stopped them), but nothing it writes reaches the store.
    write = lab.ssh("blade2", "timeout -s KILL 90 sh -c 'echo written-after-the-failover > %s'" % MARKER,
                    timeout=150, check=False)
    _log("  fenced blade2 writing to the image store: rc %d, %s" % (write.returncode, write.stderr.strip()[-200:]))
    assert write.returncode != 0, write
    assert lab.ssh("blade1", "cat %s" % MARKER).stdout == "written-before-the-failover\n"
    # Unfencing is refused while blade2 still runs the boot it was fenced in (and the guests twice).
    refused = playbook("unfence.yml", "-e", "host=blade2")
    assert refused.returncode != 0, refused.stdout[-3000:]
    flat = " ".join(refused.stdout.split())
    assert "unfence of blade2 refused, nothing changed: blade2 has not booted since it was fenced" in flat
    twice = ", ".join("%s (also on %s)" % (g, after[g]) for g in (HIGH, LOW))
    assert "blade2 runs guest(s) that also run elsewhere: %s" % twice in flat, flat[-2000:]
    assert "10.77.0.12" not in lab.ssh("filer", "exportfs -s").stdout
    # It hangs again; a re-run, now through blade2's real BMC, powers it off, keeps the fence as it was, finds
    # nothing to restart and starts nothing twice.
    os.kill(pid, signal.SIGSTOP)
    rerun = with_stopped("failover.yml", "-e", "host=blade2", "-e", "failover_fence_timeout=5")
    again = _timed("failover.yml re-run (BMC power-off, nothing to restart)", lambda: playbook(*rerun))
    assert again.returncode == 0, again.stdout[-3000:]
    flat = " ".join(again.stdout.split())
    assert "the BMC of blade2 at 127.0.0.1:6232: powered it off" in flat, again.stdout[-3000:]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the BMC stopped its QEMU
    assert "blade2 fenced on filer since %s: confirmed" % AFTER["fenced_since"] in flat, again.stdout[-3000:]
    for blade in SURVIVORS:
        assert "nothing to restart on %s" % blade in again.stdout, again.stdout[-3000:]
        assert lab.xl_list(blade) == sorted(g for g, b in after.items() if b == blade), blade


def test_powered_on_the_blade_boots_fenced_and_unfence_brings_it_back_running_nothing_twice(lab):
    assert AFTER, "the failover test did not get this far"
    after = {g: b for g, b in AFTER.items() if g in GUESTS}
    # Power on through its BMC (pyghmi, as community.general.ipmi_power uses): ipmi_sim starts a new QEMU.
    command = ipmi_command.Command(bmc="127.0.0.1", port=6232, userid="admin",
                                   password=BMC_PASSWORD.read_text().strip())
    assert command.set_power("on", wait=True)["powerstate"] == "on"
    booted = lab.wait_ssh("blade2")
    _log("%-52s %7.1f s" % ("blade2 powered on through its BMC, to ssh", booted))
    # sshd answers before the boot is over: on the fenced blade the image store mount fails first, and only then
    # does xen.service start (ordered after the mount, not requiring it; xendomains requires it). Seen in CI,
    # 2026-12-08: xl list found no privcmd yet. What runs is read once systemd has ended the boot (bounded).
    t0 = time.monotonic()
    state = lab.ssh("blade2", "timeout 600 systemctl is-system-running --wait; true", timeout=660).stdout.strip()
    _log("  blade2's boot ended %.1f s after ssh (systemd: %s)" % (time.monotonic() - t0, state))
    assert state in ("running", "degraded"), state
    # Still fenced after the boot: the image store cannot be mounted, so xendomains started nothing.
    assert lab.ssh("blade2", "findmnt /srv/xen/images", check=False).returncode != 0
    mount = lab.ssh("blade2", "mkdir -p /mnt/try && timeout -s KILL 60 mount -t nfs4 10.77.0.2:/srv/nfs/xen_images "
                    "/mnt/try", timeout=120, check=False)
    assert mount.returncode != 0, mount
    # A domain Xen is still tearing down is listed as "(null)" (seen once in CI, 2026-12-07, right after this
    # boot; the VM was gone before it could be read): wait for such entries to go, bounded, then require none.
    deadline = time.monotonic() + 180
    while "(null)" in lab.xl_list("blade2") and time.monotonic() < deadline:
        time.sleep(5)
    running = lab.xl_list("blade2")
    if running:
        detail = lab.ssh("blade2", "xl list; journalctl -b --no-pager -u xendomains | tail -30", check=False)
        raise AssertionError("blade2 runs %s while fenced:\n%s%s" % (running, detail.stdout, detail.stderr))
    result = _timed("unfence.yml -e host=blade2", lambda: playbook("unfence.yml", "-e", "host=blade2"))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "blade2 unfenced on filer" in result.stdout, result.stdout[-3000:]
    assert "10.77.0.12/32" in lab.ssh("filer", "exportfs -s").stdout
    assert lab.ssh("blade2", "findmnt -n -o FSTYPE /srv/xen/images").stdout.strip().startswith("nfs")
    assert lab.ssh("blade2", "cat %s" % MARKER).stdout == "written-before-the-failover\n"
    # Its guests run on the survivors: their links left blade2, which runs none of them (g1, stopped, runs nowhere).
    assert lab.xl_list("blade2") == []
    assert links(lab, "blade2") == []
    for blade in SURVIVORS:
        assert lab.xl_list(blade) == sorted(g for g, b in after.items() if b == blade), blade
