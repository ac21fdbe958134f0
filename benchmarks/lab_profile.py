#!/usr/bin/env python3
"""Where a playbook run's time goes: per play and per task, from ansible.posix.profile_tasks output.

    python benchmarks/lab_profile.py .cache/lab/playbooks.log      # every run tests/lab made
    python benchmarks/lab_profile.py run.log --top 15              # one saved ansible-playbook output

The input is what ansible-playbook prints with ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
(tests/lab and `make lab-bench` set it): every task header is followed by a timestamp line whose
"(H:MM:SS.fff)" is the time the previous task took. tests/lab's log holds several runs, each after a
"===== <arguments> (rc N)" line; each is reported on its own, so two runs (before and after a change)
can be compared side by side. Nothing here is timed: it only reads the log.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import OrderedDict

RUN = re.compile(r"^===== (.*) \(rc (-?\d+)\)$")
PLAY = re.compile(r"^PLAY \[(.*)\] \*+")
TASK = re.compile(r"^(TASK|RUNNING HANDLER) \[(.*)\] \*+")
RECAP_HEAD = re.compile(r"^(PLAY RECAP|TASKS RECAP) \*+")
STAMP = re.compile(r"\((\d+):(\d\d):(\d\d(?:\.\d+)?)\)\s+(\d+):(\d\d):(\d\d(?:\.\d+)?)")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")


def _seconds(h, m, s):
    return int(h) * 3600 + int(m) * 60 + float(s)


def parse(lines):
    """Runs: [{"args", "rc", "total", "plays" {play: s}, "tasks" {(play, task): s}, "recap" {host: (...)}}]."""
    runs = []
    run = None
    play = None
    header = last = None  # the task whose header was just read; the one the next timestamp closes
    for line in lines:
        line = line.rstrip("\n")
        m = RUN.match(line)
        if not m and run is None and not line.strip():
            continue  # blank lines before the first run
        if m or run is None:
            run = {"args": m.group(1) if m else "(one run)", "rc": int(m.group(2)) if m else None, "total": 0.0,
                   "plays": OrderedDict(), "tasks": OrderedDict(), "recap": {}}
            runs.append(run)
            play = header = last = None
            if m:
                continue
        m = PLAY.match(line)
        if m:
            play = m.group(1)
            continue
        m = TASK.match(line)
        if m:
            header = (play, m.group(2) if m.group(1) == "TASK" else "handler: " + m.group(2))
            continue
        if RECAP_HEAD.match(line):
            header = ("", None)
            continue
        m = STAMP.search(line)
        if m and header is not None:
            if last is not None:  # the time in parentheses is the previous task's
                took = _seconds(*m.group(1, 2, 3))
                run["tasks"][last] = run["tasks"].get(last, 0.0) + took
                run["plays"][last[0]] = run["plays"].get(last[0], 0.0) + took
            run["total"] = _seconds(*m.group(4, 5, 6))
            last = header if header[1] is not None else None
            header = None
            continue
        m = RECAP.match(line)
        if m:
            run["recap"][m.group(1)] = tuple(int(x) for x in m.group(2, 3, 4, 5, 6))
    return runs


def report(runs, top, out=sys.stdout):
    for run in runs:
        rc = "" if run["rc"] is None else " (rc %d)" % run["rc"]
        out.write("\n== %s%s: %.1f s\n" % (run["args"], rc, run["total"]))
        if run["recap"]:
            out.write("   tasks per host (ok / changed / skipped):  %s\n" % "  ".join(
                "%s %d/%d/%d" % (h, r[0], r[1], r[4]) for h, r in sorted(run["recap"].items())))
        out.write("   per play:\n")
        for play, took in run["plays"].items():
            out.write("   %8.1f s  %s\n" % (took, play))
        out.write("   slowest tasks:\n")
        ranked = sorted(run["tasks"].items(), key=lambda kv: -kv[1])[:top]
        for (play, task), took in ranked:
            out.write("   %8.1f s  %s  [%s]\n" % (took, task, play))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="ansible-playbook output with the profile_tasks callback")
    parser.add_argument("--top", type=int, default=12, help="how many of the slowest tasks to list (12)")
    args = parser.parse_args(argv)
    with open(args.log, encoding="utf-8", errors="replace") as f:
        runs = parse(f)
    if not any(run["tasks"] for run in runs):
        parser.exit(1, "%s: no profile_tasks timestamps found (ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks)\n"
                    % args.log)
    report(runs, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
