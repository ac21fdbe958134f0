"""failover.yml on the lab: a blade's VM is killed (power cut); its guests restart on the two survivors.

Runs last (it leaves blade2 dead); before it, test_3_maintain.py put every guest back on its planned blade.
First a guest is moved to blade2 and set to stopped (xen_guest_state, in a second inventory source
given after inventories/lab): site.yml shuts it down and unlinks it, a second run changes nothing,
and the failover of blade2 does not restart it.
"""

from __future__ import annotations

import os
import re
import signal
import time

from conftest import CACHE, GUESTS, _log, _timed, playbook, recap
from test_1_site import _guest_export
from test_2_evacuate import SURVIVORS, assert_each_runs_once, links, where

PRIORITY = {"g2": "high", "g5": "low"}  # xen_guest_priority in inventories/lab
# The guest set to stopped by the second inventory source (a normal-priority guest not planned on blade2).
STOPPED = "g1"
OVERLAY = CACHE / "stopped.yml"


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
    result = playbook("failover.yml", "-e", "host=blade2", "-e", "failover_fence_timeout=5")
    assert result.returncode != 0
    assert "blade2 still answers on 127.0.0.1:2223" in result.stdout, result.stdout[-3000:]
    assert assert_each_runs_once(lab) == before


def test_a_guest_set_to_stopped_is_shut_down_and_unlinked_and_a_second_run_changes_nothing(lab):
    before = assert_each_runs_once(lab)
    assert before[STOPPED] != "blade2" and STOPPED not in PRIORITY, before
    export = _guest_export(lab, GUESTS[STOPPED])
    # It runs on blade2 when it is set to stopped: the host the failover below kills.
    _timed("xl migrate %s %s -> blade2 (the test's setup)" % (STOPPED, before[STOPPED]),
           lambda: lab.ssh(before[STOPPED], "xl migrate %s blade2" % STOPPED, timeout=600))
    assert STOPPED in lab.xl_list("blade2")
    OVERLAY.write_text("all:\n  children:\n    xen_guests:\n      hosts:\n        %s:\n"
                       "          xen_guest_state: stopped\n" % STOPPED)
    result = _timed("site.yml with %s set to stopped" % STOPPED, lambda: playbook(*with_stopped("site.yml")))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"changed: \[blade2\] => \(item=%s\)" % STOPPED, result.stdout), result.stdout[-4000:]
    assert "not reserved, not restarted (xen_guest_state): %s (stopped)" % STOPPED in result.stdout
    each_runs_once_but_the_stopped(lab)
    for blade in lab.blades:
        assert "%s.cfg" % STOPPED not in links(lab, blade), blade
        lab.ssh(blade, "test -f /etc/xen/domains/%s.cfg" % STOPPED)  # its config stays, on every dom0
    assert _guest_export(lab, GUESTS[STOPPED]) == export  # and its export (and data) on the filer
    again = _timed("site.yml with %s stopped, second run" % STOPPED, lambda: playbook(*with_stopped("site.yml")))
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    changed = {host: c[1] for host, c in recap(again.stdout).items() if c[1]}
    assert changed == {}, "second run changed something: %s\n%s" % (changed, again.stdout[-4000:])


def test_failover_restarts_a_dead_blades_guests_on_the_survivors(lab):
    before = each_runs_once_but_the_stopped(lab)
    assert "blade2" in before.values(), before
    pid = int((CACHE / "run" / "blade2.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # the power cut: no shutdown, no migration
    t0 = time.monotonic()
    result = playbook(*with_stopped("failover.yml", "-e", "host=blade2"))
    seconds = time.monotonic() - t0
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    dead = sorted(g for g, b in before.items() if b == "blade2")
    _log("%-52s %7.1f s" % ("failover.yml -e host=blade2 (%d guests, kill to pinged)" % len(dead), seconds))
    restarted = dict(re.findall(r"(g\d) restarted on (blade\d)", result.stdout))
    assert sorted(restarted) == dead, result.stdout[-3000:]
    # The stopped guest ran on blade2 last, and runs on no survivor: it stays down, and the plan says why.
    assert "not restarted, desired state not running (xen_guest_state): %s (stopped)" % STOPPED in result.stdout
    assert STOPPED not in restarted
    # g2 answers when its agent's port accepts a connection (xen_guest_check_port), g5 when it pings.
    assert re.search(r"\(item=g2 tcp/7000\)", result.stdout), result.stdout[-3000:]
    assert re.search(r"\(item=g5 ping\)", result.stdout), result.stdout[-3000:]
    # Priority classes (inventories/lab: g2 high, g5 low, both on blade2): the high one is started and
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
    # Each restarts where the printed failover plan put it (with g1 stopped, blade1 has the room for both);
    # the survivors' own guests stay where they were.
    planned = dict(re.findall(r"\d+\. (g\d): blade2 restart on (blade\d)", result.stdout))
    assert planned == restarted and set(restarted.values()) <= set(SURVIVORS), (planned, restarted)
    after = {**{g: b for g, b in before.items() if b != "blade2"}, **restarted}
    for blade in SURVIVORS:
        assert lab.xl_list(blade) == sorted(g for g, b in after.items() if b == blade), blade
        assert links(lab, blade) == sorted("%s.cfg" % g for g, b in after.items() if b == blade), blade
    for g, ip in GUESTS.items():
        if g != STOPPED:
            assert lab.guest(ip, "hostname").strip() == g
    # A second run finds nothing to restart and starts nothing twice.
    again = playbook(*with_stopped("failover.yml", "-e", "host=blade2"))
    assert again.returncode == 0, again.stdout[-3000:]
    for blade in SURVIVORS:
        assert "nothing to restart on %s" % blade in again.stdout, again.stdout[-3000:]
        assert lab.xl_list(blade) == sorted(g for g, b in after.items() if b == blade), blade
