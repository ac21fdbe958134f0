"""evacuate.yml on the lab: live-migrate running guests (PVH and HVM) off a blade, as an operator would.

Runs after test_1_site.py (the converged lab, every guest on its planned blade). Order matters:
check mode and a refusal first (nothing may move), then the evacuation of blade2, killed during its
first move and run again, with every moving guest pinged every 100 ms from the filer throughout.
Lost pings and the downtime they imply go to .cache/lab/timings.txt (the baseline to beat). The plan
spreads blade2's two guests over the survivors, one on blade1 and one on blade3; after it blade2 runs
nothing (test_3_maintain.py's roll of blade2 brings them back). Last, verify.yml reads the result: blade2's
guests away from their plan (drift, safe), then with a stray autostart link planted on blade2 (unsafe).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

from conftest import GUESTS, HVM, INVENTORY, PLAYBOOK, ROOT, _log, _timed, log_run, playbook, playbook_env

SURVIVORS = ["blade1", "blade3"]
MOVE = re.compile(r"\d+\. (g\d): blade2 -> (blade\d) \((?:pvh|hvm), \d+ MiB\)")


def where(lab):
    """{guest: [blades it runs on]} and the migration leftovers (NAME--incoming/--migratedaway)."""
    running = {blade: lab.xl_list(blade) for blade in lab.blades}
    out = {g: [b for b, names in running.items() if g in names] for g in GUESTS}
    leftovers = [n for names in running.values() for n in names if "--" in n]
    return out, leftovers


def links(lab, blade):
    return sorted(lab.ssh(blade, "ls /etc/xen/auto").stdout.split())


def assert_each_runs_once(lab):
    placement, leftovers = where(lab)
    assert leftovers == [], leftovers
    for guest, on in placement.items():
        assert len(on) == 1, "%s runs on %s" % (guest, on)
    return {g: on[0] for g, on in placement.items()}


def test_check_mode_prints_the_plan_and_moves_nothing(lab):
    before = assert_each_runs_once(lab)
    movers = sorted(g for g, b in before.items() if b == "blade2")
    assert movers, "nothing runs on blade2 to evacuate: %s" % before
    result = playbook("evacuate.yml", "-e", "host=blade2", "--check")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    moves = dict(MOVE.findall(result.stdout))
    assert sorted(moves) == movers, result.stdout[-4000:]
    # The plan spreads them: each survivor takes one (none goes to the drained host).
    assert sorted(moves.values()) == SURVIVORS, moves
    assert assert_each_runs_once(lab) == before
    assert links(lab, "blade2") == sorted("%s.cfg" % g for g in movers)


def test_evacuation_that_cannot_fit_is_refused_and_moves_nothing(lab):
    before = assert_each_runs_once(lab)
    # And while a migration runs on blade1: a stand-in process whose command line is a sending xl migrate
    # (perl rewrites its own; it migrates nothing), as a killed run's job would leave.
    lab.ssh("blade1", "setsid nohup perl -e '$0 = \"/usr/lib/xen-4.17/bin/xl migrate g9 blade2 (lab stand-in)\"; "
            "sleep 900' </dev/null >/dev/null 2>&1 &")
    try:
        # Every guest 300 MiB in the model: a survivor (2 GiB, 1 GiB of it dom0's) holds its own two, not a third.
        result = playbook("evacuate.yml", "-e", "host=blade2", "-e", "xen_guest_memory=300")
    finally:
        lab.ssh("blade1", "pkill -f '[l]ab stand-in'; true")
    assert result.returncode != 0
    assert "evacuation of blade2 refused, nothing moved" in result.stdout, result.stdout[-4000:]
    flat = " ".join(result.stdout.split())
    assert re.search(r"guest (g\d) cannot leave blade2: no active host can take it: guest \1 needs \d+ MiB with Xen "
                     r"overhead, host blade1 has -?\d+ MiB free \(\d+ MiB short\)", flat), result.stdout[-4000:]
    assert re.search(r"host blade1: an xl migration is still running \(\d+ /usr/lib/xen-4.17/bin/xl migrate g9 "
                     r"blade2 \(lab stand-in\)\)", flat), result.stdout[-4000:]
    assert assert_each_runs_once(lab) == before


def _start_pings(lab, guests, interval=0.1):
    """From the filer (same lab link, not a Xen host): a ping every INTERVAL seconds (a {guest: seconds}
    dict, or one figure for all), timestamps, one log per guest. Every ping costs the TCG VMs on its way
    (the filer, the hub, the blade's dom0 bridge and the guest): six guests at 100 ms took ~0.56 of the
    host's two cores; guests that must merely stay up are pinged every second."""
    for g in guests:
        every = interval[g] if isinstance(interval, dict) else interval
        lab.ssh("filer", "rm -f /tmp/ping-%s.log; setsid nohup ping -D -i %s -W 1 %s >/tmp/ping-%s.log 2>&1 "
                "</dev/null &" % (g, every, GUESTS[g], g))


def _stop_pings(lab, guests):
    """{guest: stats}; longest_gap_pings counts the pings lost in a row (times the interval: seconds)."""
    lab.ssh("filer", "pkill -INT -x ping; sleep 1; true")
    stats = {}
    for g in guests:
        text = lab.ssh("filer", "cat /tmp/ping-%s.log" % g).stdout
        seqs = sorted({int(s) for s in re.findall(r"icmp_seq=(\d+) ttl=", text)})
        sent = int(re.search(r"(\d+) packets transmitted", text).group(1))
        gaps = [b - a - 1 for a, b in zip(seqs, seqs[1:], strict=False)]
        stats[g] = {"sent": sent, "received": len(seqs), "lost": sent - len(seqs),
                    "longest_gap_pings": max(gaps or [0]), "last_seq": seqs[-1] if seqs else None}
    return stats


def _run_until(args, marker, count=1, after=4.0, limit=1200):
    """Start ansible-playbook ARGS and SIGKILL it (its whole session) AFTER seconds past the COUNT-th
    output line containing MARKER: the operator's Ctrl-C, or a lost controller. Returns its output."""
    env = playbook_env()  # per-task times: the killed run's output goes to playbooks.log too
    proc = subprocess.Popen([PLAYBOOK, "-i", str(INVENTORY), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    deadline = time.monotonic() + limit
    try:
        for line in proc.stdout:
            seen.append(line)
            if sum(marker in s for s in seen) == count:
                time.sleep(after)
                break
            assert time.monotonic() < deadline, "".join(seen[-50:])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        log_run(args, proc.returncode, "".join(seen))
    return "".join(seen)


def _settle(lab, limit=900):
    """Wait for the killed run's migrations (ansible's async jobs outlive it) to end: no sending xl migrate,
    no xl_domain job, no NAME--incoming/--migratedaway. Meanwhile no guest may ever run on both blades.
    (A receiving xl migrate-receive stays on as the domain's monitor: not a migration.)"""
    settle = time.monotonic() + limit
    probe = "pgrep -f '(^|/)[x]l (-v+ )?migrate |AnsiballZ_[x]l_domain'"
    while True:
        placement, leftovers = where(lab)
        # The blades are read one after the other, so a move that ends between two reads shows the guest on
        # both. It ran on both only if the blade read first still lists it when read again (after the other).
        twice = {g: on for g, on in placement.items() if len(on) > 1}
        if twice:
            again = where(lab)[0]
            twice = {g: on for g, on in twice.items() if on[0] in again[g]}
        assert twice == {}, "running twice: %s" % twice
        busy = [b for b in lab.blades if lab.ssh(b, probe, check=False).returncode == 0]
        if not leftovers and not busy:
            return
        assert time.monotonic() < settle, "migrations did not settle: %s %s" % (leftovers, busy)
        time.sleep(2)


def test_evacuate_interrupted_then_rerun_moves_every_guest_live_and_drains_the_host(lab):
    """The operator's evacuation of blade2, one guest at a time, killed during its first move and run again:
    the re-run continues from live state, moves each guest once, never two copies; the filer pings every
    moving guest every 100 ms throughout (lost pings and the downtime they imply are logged)."""
    before = assert_each_runs_once(lab)
    movers = sorted(g for g, b in before.items() if b == "blade2")
    assert len(movers) >= 2, "two guests on blade2 are needed to interrupt between moves: %s" % before
    assert set(HVM) & set(movers), "no HVM guest on blade2 to move live: %s" % before
    _start_pings(lab, movers)
    time.sleep(3)
    t0 = time.monotonic()
    # Killed once the first move's job runs on blade2 (the wait for it has begun): the job goes on alone.
    killed = _run_until(["evacuate.yml", "-e", "host=blade2"], "TASK [Evacuate | Wait for the migrations to end]",
                        after=2)
    first = re.search(r"TASK \[Evacuate \| Migrate \(live\) (g\d)\]", killed)
    assert first, killed[-4000:]
    planned = dict(MOVE.findall(killed))  # the plan the killed run printed before its first move
    assert sorted(planned) == movers and sorted(planned.values()) == SURVIVORS, killed[-4000:]
    _settle(lab)
    midway = assert_each_runs_once(lab)
    _log("evacuate.yml -e host=blade2 killed during its first move: %s" % json.dumps(midway, sort_keys=True))
    moved_alone = first.group(1)
    assert midway[moved_alone] == planned[moved_alone], \
        "the killed run's move of %s did not finish: %s" % (moved_alone, midway)
    assert "blade2" in midway.values(), "everything had moved before the kill: %s" % midway
    rerun = playbook("evacuate.yml", "-e", "host=blade2")
    seconds = time.monotonic() - t0
    time.sleep(3)
    stats = _stop_pings(lab, movers)
    assert rerun.returncode == 0, rerun.stdout[-5000:] + rerun.stderr[-2000:]
    _log("%-52s %7.1f s" % ("evacuate.yml -e host=blade2 (%d guests, killed, re-run)" % len(movers), seconds))
    for g in movers:
        s = stats[g]
        move = re.search(r"%s: blade2 -> (blade\d) in ([\d.]+) s" % g, rerun.stdout)
        if g == moved_alone:
            assert not move, "the re-run moved %s again: %s" % (g, rerun.stdout[-3000:])
            how = "moved by the killed run's job"
        else:
            assert move, rerun.stdout[-3000:]
            how = "to %s, xl migrate %s s" % move.groups()
        _log("  %s (%s): %s; pings every 100 ms: %d sent, %d lost, longest gap %d (~%.1f s downtime)"
             % (g, "HVM" if g in HVM else "PVH", how, s["sent"], s["lost"], s["longest_gap_pings"],
                s["longest_gap_pings"] / 10))
        # The guest answered again after its move (the last pings got replies).
        assert s["last_seq"] is not None and s["sent"] - s["last_seq"] <= 20, (g, s)
    after = assert_each_runs_once(lab)
    # Every mover on a survivor, one on each (the re-run planned from live state: the killed run's guest
    # already on one survivor, the other goes to the other); the guests that stayed did not move.
    assert sorted(after[g] for g in movers) == SURVIVORS, after
    assert {g: b for g, b in after.items() if g not in movers} == {g: b for g, b in before.items() if g not in movers}
    # Drained: nothing starts on blade2 at boot (the killed run's guest too); each guest starts where it runs.
    assert links(lab, "blade2") == []
    for blade in SURVIVORS:
        assert links(lab, blade) == sorted("%s.cfg" % g for g, b in after.items() if b == blade)
    assert "blade2 is drained" in rerun.stdout


def test_verify_yml_reports_the_evacuation_as_drift_and_a_stray_autostart_link_as_unsafe(lab):
    """After the evacuation blade2's guests run on the survivors, away from the plan: drift, safe (N-1 holds
    live). A link left on blade2 for one of them would start a second copy when blade2 boots: unsafe."""
    after = assert_each_runs_once(lab)
    assert "blade2" not in after.values(), after
    clean = _timed("verify.yml (blade2 evacuated)", lambda: playbook("verify.yml"))
    assert clean.returncode == 0, clean.stdout[-4000:]
    report = clean.stdout.split("TASK [Verify | The report]")[1]
    assert "live N-1 proof: PASSED" in report, report[-3000:]
    drifted = re.findall(r"^ +drift: guest (g\d): runs on (blade\d), the plan puts it on blade2: rebalance.yml moves "
                         r"it back$", report, re.M)
    planned_here = re.findall(r"^ +(g\d) +running +blade2 ", report, re.M)
    assert len(planned_here) >= 2 and sorted(g for g, _ in drifted) == sorted(planned_here), report[-3000:]
    assert all(after[g] == b for g, b in drifted), (drifted, after)
    stray = drifted[0][0]
    lab.ssh("blade2", "ln -s /etc/xen/%s.cfg /etc/xen/auto/%s.cfg" % (stray, stray))
    try:
        unsafe = playbook("verify.yml")
    finally:
        lab.ssh("blade2", "rm -f /etc/xen/auto/%s.cfg" % stray)
    out = unsafe.stdout
    assert unsafe.returncode != 0, out[-4000:]
    assert ("UNSAFE: guest %s: autostart link on blade2, but it runs on %s: a reboot of blade2 starts a second copy"
            % (stray, after[stray])) in out, out[-4000:]
    assert "the cluster is not safe: 1 unsafe finding(s)" in out, out[-3000:]
    assert links(lab, "blade2") == []
