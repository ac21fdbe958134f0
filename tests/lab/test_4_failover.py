"""failover.yml on the lab: a blade's VM is killed (power cut); its guests restart on the two survivors.

Runs last (it leaves blade2 dead); before it, test_3_rebalance.py put every guest back on its planned blade.
"""

from __future__ import annotations

import os
import re
import signal
import time

from conftest import CACHE, GUESTS, _log, playbook
from test_2_evacuate import SURVIVORS, assert_each_runs_once, links

PRIORITY = {"g2": "high", "g5": "low"}  # xen_guest_priority in inventories/lab


def test_failover_refuses_a_host_that_still_answers(lab):
    before = assert_each_runs_once(lab)
    result = playbook("failover.yml", "-e", "host=blade2", "-e", "failover_fence_timeout=5")
    assert result.returncode != 0
    assert "blade2 still answers on 127.0.0.1:2223" in result.stdout, result.stdout[-3000:]
    assert assert_each_runs_once(lab) == before


def test_failover_restarts_a_dead_blades_guests_on_the_survivors(lab):
    before = assert_each_runs_once(lab)
    assert "blade2" in before.values(), before
    pid = int((CACHE / "run" / "blade2.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # the power cut: no shutdown, no migration
    t0 = time.monotonic()
    result = playbook("failover.yml", "-e", "host=blade2")
    seconds = time.monotonic() - t0
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    dead = sorted(g for g, b in before.items() if b == "blade2")
    _log("%-52s %7.1f s" % ("failover.yml -e host=blade2 (%d guests, kill to pinged)" % len(dead), seconds))
    restarted = dict(re.findall(r"(g\d) restarted on (blade\d)", result.stdout))
    assert sorted(restarted) == dead, result.stdout[-3000:]
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
    order = ["high start", "high answer", "low start", "low answer"]
    assert set(order) <= set(stamps), (stamps, result.stdout[-3000:])
    assert [stamps[k] for k in order] == sorted(stamps[k] for k in order), stamps
    # The plan spreads them over both survivors; the survivors' own guests stay where they were.
    assert sorted(restarted.values()) == SURVIVORS, restarted
    after = {**{g: b for g, b in before.items() if b != "blade2"}, **restarted}
    for blade in SURVIVORS:
        assert lab.xl_list(blade) == sorted(g for g, b in after.items() if b == blade), blade
        assert links(lab, blade) == sorted("%s.cfg" % g for g, b in after.items() if b == blade), blade
    for g, ip in GUESTS.items():
        assert lab.guest(ip, "hostname").strip() == g
    # A second run finds nothing to restart and starts nothing twice.
    again = playbook("failover.yml", "-e", "host=blade2")
    assert again.returncode == 0, again.stdout[-3000:]
    for blade in SURVIVORS:
        assert "nothing to restart on %s" % blade in again.stdout, again.stdout[-3000:]
        assert lab.xl_list(blade) == sorted(g for g, b in after.items() if b == blade), blade
