"""evacuate.yml on the lab: live-migrate running PVH guests off a blade, as an operator would.

Runs after test_1_site.py (the converged lab, every guest on its planned blade). Order matters:
check mode and a refusal first (nothing may move), then a real evacuation of blade2 with every
moving guest pinged every 100 ms from the filer, then an evacuation of blade1 killed midway and
re-run. Lost pings and the downtime they imply go to .cache/lab/timings.txt (the baseline to beat).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

from conftest import INVENTORY, PLAYBOOK, ROOT, _log, playbook

GUESTS = {"g1": "10.77.0.101", "g2": "10.77.0.102", "g3": "10.77.0.103", "g4": "10.77.0.104"}


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
    for g in movers:
        assert re.search(r"\d+\. %s: blade2 -> blade1 \(pvh, \d+ MiB\)" % g, result.stdout), result.stdout[-4000:]
    assert assert_each_runs_once(lab) == before
    assert links(lab, "blade2") == sorted("%s.cfg" % g for g in movers)


def test_evacuation_that_cannot_fit_is_refused_and_moves_nothing(lab):
    before = assert_each_runs_once(lab)
    # Every guest 300 MiB in the model: blade1 (2 GiB, 1 GiB of it dom0's) holds its own two, not four.
    result = playbook("evacuate.yml", "-e", "host=blade2", "-e", "xen_guest_memory=300")
    assert result.returncode != 0
    assert "evacuation of blade2 refused, nothing moved" in result.stdout, result.stdout[-4000:]
    assert re.search(r"guest g\d cannot leave blade2: no active host can take it: needs \d+ MiB, blade1 has "
                     r"\d+ MiB free", result.stdout), result.stdout[-4000:]
    assert assert_each_runs_once(lab) == before


def _start_pings(lab, guests):
    # From the filer (same lab link, not a Xen host): 10 pings a second, timestamps, one log per guest.
    for g in guests:
        lab.ssh("filer", "rm -f /tmp/ping-%s.log; setsid nohup ping -D -i 0.1 -W 1 %s >/tmp/ping-%s.log 2>&1 "
                "</dev/null &" % (g, GUESTS[g], g))


def _stop_pings(lab, guests):
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


def test_evacuate_moves_every_guest_live_and_drains_the_host(lab):
    before = assert_each_runs_once(lab)
    movers = sorted(g for g, b in before.items() if b == "blade2")
    stay = sorted(g for g, b in before.items() if b == "blade1")
    _start_pings(lab, movers)
    time.sleep(3)
    t0 = time.monotonic()
    result = playbook("evacuate.yml", "-e", "host=blade2")
    seconds = time.monotonic() - t0
    time.sleep(3)
    stats = _stop_pings(lab, movers)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    _log("%-52s %7.1f s" % ("evacuate.yml -e host=blade2 (%d guests)" % len(movers), seconds))
    for g in movers:
        s = stats[g]
        move = re.search(r"%s: blade2 -> blade1 in ([\d.]+) s" % g, result.stdout)
        assert move, result.stdout[-3000:]
        _log("  %s: xl migrate %s s; pings every 100 ms: %d sent, %d lost, longest gap %d (~%.1f s downtime)"
             % (g, move.group(1), s["sent"], s["lost"], s["longest_gap_pings"], s["longest_gap_pings"] / 10))
        # The guest answered again after its move (the last pings got replies).
        assert s["last_seq"] is not None and s["sent"] - s["last_seq"] <= 20, (g, s)
    after = assert_each_runs_once(lab)
    assert after == {g: "blade1" for g in GUESTS}, after
    # Drained: nothing starts on blade2 at boot; the moved guests start on blade1.
    assert links(lab, "blade2") == []
    assert links(lab, "blade1") == sorted("%s.cfg" % g for g in movers + stay)
    assert "blade2 is drained" in result.stdout


def test_an_interrupted_evacuation_completes_on_rerun_without_double_start(lab):
    assert assert_each_runs_once(lab) == {g: "blade1" for g in GUESTS}
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = [PLAYBOOK, "-i", str(INVENTORY), "evacuate.yml", "-e", "host=blade1", "-e", "parallel=2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen = []
    deadline = time.monotonic() + 1200
    try:
        for line in proc.stdout:
            seen.append(line)
            # Kill while the second batch migrates (its jobs go on without the playbook).
            if "TASK [Evacuate | Migrate (live)" in line and \
                    sum("TASK [Evacuate | Migrate (live)" in s for s in seen) == 2:
                time.sleep(4)
                break
            assert time.monotonic() < deadline, "".join(seen[-50:])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    interrupted = "".join(seen)
    assert "TASK [Evacuate | Migrate (live)" in interrupted, interrupted[-4000:]
    # The killed run's migrations go on (ansible's async jobs outlive it). Until they end (no sending
    # xl migrate, no xl_domain job, no NAME--incoming/--migratedaway), no guest may ever run on both
    # blades. (A receiving xl migrate-receive stays on as the domain's monitor: not a migration.)
    settle = time.monotonic() + 600
    while True:
        placement, leftovers = where(lab)
        twice = {g: on for g, on in placement.items() if len(on) > 1}
        assert twice == {}, "running twice: %s" % twice
        probe = "pgrep -f '(^|/)[x]l migrate |AnsiballZ_[x]l_domain'"
        busy = [b for b in lab.blades if lab.ssh(b, probe, check=False).returncode == 0]
        if not leftovers and not busy:
            break
        assert time.monotonic() < settle, "migrations did not settle: %s %s" % (leftovers, busy)
        time.sleep(2)
    midway = assert_each_runs_once(lab)
    _log("evacuate.yml -e host=blade1 killed midway: %s" % json.dumps(midway, sort_keys=True))
    assert "blade2" in midway.values(), "killed before anything moved: %s" % midway
    rerun = playbook("evacuate.yml", "-e", "host=blade1", "-e", "parallel=2")
    assert rerun.returncode == 0, rerun.stdout[-5000:] + rerun.stderr[-2000:]
    assert assert_each_runs_once(lab) == {g: "blade2" for g in GUESTS}
    assert links(lab, "blade1") == []
    assert links(lab, "blade2") == sorted("%s.cfg" % g for g in GUESTS)
    for g in (g for g, b in midway.items() if b == "blade2"):
        assert not re.search(r"%s: blade1 -> blade2 in" % g, rerun.stdout), "moved %s again" % g
