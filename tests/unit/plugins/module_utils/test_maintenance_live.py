"""maintain.yml's planner (live.maintenance_check) driven the way the playbook drives it: every step planned
from the live state the step before left, the records the dom0s keep, a run killed half-way and resumed."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.engine import placement
from ansible_collections.consolidation.xen.plugins.module_utils.live import (
    evacuation_check,
    maintenance_check,
    rebalance_check,
)
from ansible_collections.consolidation.xen.tests.unit.plugins.module_utils.test_live import GUESTS, HOSTS, xen

PLAN = placement(GUESTS, HOSTS, tolerate=1)["assignments"]


class Cluster:
    """What the dom0s would read: where each guest runs, and each dom0's maintenance record."""

    def __init__(self, where):
        self.where = dict(where)
        self.records = {h["name"]: None for h in HOSTS}
        self.log = []
        self.runs = 0
        self.run = "R1"

    def facts(self):
        return {h["name"]: xen(*sorted(g for g, on in self.where.items() if on == h["name"])) for h in HOSTS}

    def check(self, phase="out", maintain="all", **kw):
        # Each run of the playbook names a new roll (used only when none is on record to resume).
        return maintenance_check(GUESTS, HOSTS, maintain, self.facts(), maintenance=self.records, roll_id=self.run,
                                 phase=phase, **kw)

    def move(self, m):
        assert self.where[m["guest"]] == m["from"], (m, self.where)
        assert self.records[m["to"]] is None or self.records[m["to"]]["state"] != "out", "a move to a host out"
        self.where[m["guest"]] = m["to"]
        self.log.append((m["guest"], m["from"], m["to"]))

    def begin(self, plan):
        for h in plan["roll"]["hosts"]:
            self.records[h] = {"roll": plan["roll"]["id"], "hosts": plan["roll"]["hosts"], "state": "pending",
                               "started": "T%d" % self.runs}

    def mark(self, hosts, state):
        for h in hosts:
            self.records[h] = dict(self.records[h], state=state)

    def finish(self):
        self.records = {h: None for h in self.records}


def roll(cluster, maintain="all", stop_after=None, stop_drained=None, **kw):
    """maintain.yml's loop; ``stop_after`` kills it after that many moves off, ``stop_drained`` once that host
    is drained. Returns the hosts rolled."""
    cluster.runs += 1
    cluster.run = "R%d" % cluster.runs
    first = cluster.check(maintain=maintain, **kw)
    assert first["ok"], first["problems"]
    if not first["roll"]["resumed"]:
        cluster.begin(first)
    actions = 0
    rolled = []
    while True:
        step = cluster.check(maintain=maintain, **kw)
        assert step["ok"], step["problems"]
        if not step["step"]["hosts"]:
            # every host done: the plan play brings home what an interrupted last step left away
            for m in step["step"]["moves"]:
                cluster.move(m)
            break
        hosts = step["step"]["hosts"]
        cluster.mark(hosts, "out")
        for m in step["step"]["moves"]:
            cluster.move(m)
            actions += 1
            if stop_after is not None and actions >= stop_after:
                return rolled
        assert not any(on in hosts for on in cluster.where.values()), "not drained"
        if stop_drained in hosts:
            return rolled
        cluster.mark(hosts, "done")
        rolled.extend(hosts)
        back = cluster.check(phase="back", maintain=maintain, **kw)
        assert back["ok"], back["problems"]
        assert back["step"]["hosts"] == []
        for m in back["step"]["moves"]:
            cluster.move(m)
    cluster.finish()
    return rolled


def test_a_whole_roll_ends_on_the_plan_every_host_out_once():
    cluster = Cluster(PLAN)
    rolled = roll(cluster)
    assert rolled == ["blade1", "blade2", "blade3"]
    assert cluster.where == PLAN
    # Each guest leaves its host and comes back: two moves, no more.
    for g in PLAN:
        assert sum(1 for m in cluster.log if m[0] == g) == 2, cluster.log


def test_a_roll_killed_mid_step_resumes_from_live_state_and_finishes_the_rest():
    cluster = Cluster(PLAN)
    roll(cluster, stop_after=3)  # killed during the second host's step, or later
    out = [h for h, r in cluster.records.items() if r and r["state"] == "out"]
    assert len(out) == 1
    resumed = cluster.check()
    assert resumed["ok"] and resumed["roll"]["resumed"] and resumed["roll"]["left"][0] == out[0]
    assert resumed["step"]["hosts"] == out
    assert "resumed; started T1" in resumed["lines"][0] and resumed["roll"]["id"] == "R1"
    rolled = roll(cluster)
    assert out[0] == rolled[0] and len(rolled) + len(resumed["roll"]["hosts"]) - len(resumed["roll"]["left"]) == 3
    assert cluster.where == PLAN and all(r is None for r in cluster.records.values())


def test_a_roll_starts_by_bringing_home_guests_left_away():
    # After an evacuate.yml of blade2 without rebalance: its guests run elsewhere.
    away = {g: ("blade1" if h == "blade2" else h) for g, h in PLAN.items()}
    cluster = Cluster(away)
    roll(cluster, maintain="blade3")
    assert cluster.where == PLAN


def test_a_roll_killed_after_its_last_host_was_done_only_brings_guests_home():
    cluster = Cluster(PLAN)
    roll(cluster, stop_drained="blade3")
    last = [h for h, r in cluster.records.items() if r and r["state"] == "out"]
    assert last == ["blade3"], cluster.records
    cluster.mark(last, "done")  # killed right after marking blade3 done, before its guests came home
    assert cluster.where != PLAN
    again = cluster.check()
    assert again["ok"] and again["roll"]["resumed"] and again["roll"]["left"] == [] and again["step"]["hosts"] == []
    assert {m["to"] for m in again["step"]["moves"]} == {"blade3"}
    roll(cluster)
    assert cluster.where == PLAN and all(r is None for r in cluster.records.values())


def test_an_unfinished_roll_of_other_hosts_is_refused_naming_it():
    cluster = Cluster(PLAN)
    roll(cluster, maintain="blade1,blade2", stop_after=1)
    other = cluster.check(maintain="all")
    assert not other["ok"]
    assert "an unfinished maintenance roll (R1, started T1) of blade1, blade2 is on record" in other["problems"][0]
    assert "-e maintain=blade1,blade2" in other["problems"][0]


def test_a_host_that_does_not_come_back_stops_the_run_with_the_exposure():
    cluster = Cluster(PLAN)
    roll(cluster, stop_after=1)
    out = [h for h, r in cluster.records.items() if r and r["state"] == "out"][0]
    facts = cluster.facts()
    facts[out] = None  # rebooted and never answered
    result = maintenance_check(GUESTS, HOSTS, "all", facts, maintenance=cluster.records)
    assert not result["ok"]
    text = result["problems"][0]
    assert text.startswith("host %s: has not come back from its maintenance (maintain.yml's marker, roll R1" % out)
    assert "the cluster now survives" in text and "the policy asks 1" in text


def test_records_that_maintain_yml_did_not_write_are_refused():
    cluster = Cluster(PLAN)
    cluster.records["blade2"] = {"state": "out", "unreadable": True, "error": "not a JSON object: 'x'"}
    cluster.records["blade3"] = {"state": "sideways", "roll": "R0", "hosts": []}
    problems = cluster.check()["problems"]
    assert any(p.startswith("host blade2: its maintenance record cannot be read") for p in problems)
    assert any(p.startswith("host blade3: its maintenance record is not one maintain.yml writes") for p in problems)


def test_the_policy_refuses_before_anything_moves_with_the_ledger():
    small = [dict(h, memory_mb=2048) for h in HOSTS]  # 1 GiB each for guests: two hosts cannot hold all four
    plan = placement(GUESTS, small, tolerate=1)
    assert plan["ok"], plan["reasons"]
    facts = {h: xen(*sorted(g for g, on in plan["assignments"].items() if on == h))
             for h in ("blade1", "blade2", "blade3")}
    refused = maintenance_check(GUESTS, small, "all", facts, roll_id="R2")
    assert not refused["ok"]
    assert any(p.startswith("maintenance: step 1, blade1 out: survives 0 host failure(s), the policy asks 1")
               for p in refused["problems"]), refused["problems"]
    assert refused["problems"][-1].startswith("maintenance: refused, nothing moved")
    accepted = maintenance_check(GUESTS, small, "all", facts, roll_id="R2", min_tolerate=0)
    assert accepted["ok"], accepted["problems"]
    assert accepted["step"]["hosts"] == ["blade1"]


def test_every_planner_keeps_guests_off_a_host_marked_out():
    cluster = Cluster(PLAN)
    cluster.records["blade3"] = {"roll": "R1", "hosts": ["blade3"], "state": "out", "since": "T1"}
    evac = evacuation_check(GUESTS, HOSTS, "blade1", cluster.facts(), maintenance=cluster.records)
    assert evac["moves"] and all(m["to"] == "blade2" for m in evac["moves"]), evac
    rebalance = rebalance_check(GUESTS, HOSTS, cluster.facts(), maintenance=cluster.records)
    assert not rebalance["ok"]
    assert rebalance["problems"] == ["host blade3: in maintenance (maintain.yml's marker, roll R1, out since T1); "
                                     "rebalance.yml waits until it is back (maintain.yml moves its guests back)"]
