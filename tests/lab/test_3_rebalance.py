"""rebalance.yml on the lab: after the evacuation blade2 runs nothing; back to the plan."""

from __future__ import annotations

import re

from conftest import GUESTS, playbook
from test_2_evacuate import assert_each_runs_once, links


def test_rebalance_returns_to_the_plan_move_by_move(lab, tmp_path):
    plan = lab.plan(tmp_path)
    before = assert_each_runs_once(lab)
    away = sorted(g for g in GUESTS if before[g] != plan[g])
    assert away, "nothing to rebalance: %s" % before

    check = playbook("rebalance.yml", "--check")
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    for g in away:
        assert re.search(r"\d+\. %s: %s -> %s \(\d+ MiB; after it N-1 holds" % (g, before[g], plan[g]), check.stdout), \
            check.stdout[-3000:]
    assert assert_each_runs_once(lab) == before

    one = playbook("rebalance.yml", "-e", "max_moves=1")
    assert one.returncode == 0, one.stdout[-4000:] + one.stderr[-2000:]
    assert "max_moves (1) reached" in one.stdout
    middle = assert_each_runs_once(lab)
    assert sum(middle[g] != before[g] for g in GUESTS) == 1, (before, middle)

    rest = playbook("rebalance.yml")
    assert rest.returncode == 0, rest.stdout[-4000:] + rest.stderr[-2000:]
    assert assert_each_runs_once(lab) == plan
    for blade in lab.blades:
        assert links(lab, blade) == sorted("%s.cfg" % g for g, h in plan.items() if h == blade)
    again = playbook("rebalance.yml")
    assert again.returncode == 0 and "every running guest is on its planned host" in again.stdout
