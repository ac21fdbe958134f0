from __future__ import annotations

import pytest

from ansible_collections.consolidation.xen.plugins.module_utils.live import evacuation_check, live_placement
from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError

CAPS = "178bfbff:f7fa3223:2d93fbff:00000523:0000000f:f1bf07ab:00405f5e:00000000"
LESS = "178bfbff:f7fa3203:2d93fbff:00000523:0000000f:f1bf07ab:00405f5e:00000000"  # one bit fewer


def host(name, memory_mb=4096):
    return {"name": name, "memory_mb": memory_mb, "cpus": 4, "dom0_memory_mb": 1024}


def guest(name, memory_mb=256, gtype="pvh", **extra):
    return dict({"name": name, "memory_mb": memory_mb, "vcpus": 1, "type": gtype}, **extra)


def xen(*domains, free=2500, caps=CAPS, shadow=False, **extra):
    facts = {"free_memory_mb": free, "hw_caps": caps, "can_live_migrate_pv": shadow,
             "virt_caps": ["pv", "hvm", "hap"] + (["shadow"] if shadow else []),
             "domains": [{"name": d.split(":")[0], "type": (d.split(":") + ["pvh"])[1], "memory_mb": 256,
                          "bridges": ["xenbr0"]} for d in domains]}
    facts.update(extra)
    return facts


HOSTS = [host("blade1"), host("blade2"), host("blade3")]
GUESTS = [guest("g1"), guest("g2"), guest("g3"), guest("g4")]


def test_live_placement_sorts_what_runs():
    live = live_placement({"blade1": xen("g1", "g2", "stray"), "blade2": xen("g2", "g3--incoming"), "blade3": None},
                          ["g1", "g2", "g3"])
    assert live["current"] == {"g1": "blade1"}
    assert live["twice"] == {"g2": ["blade1", "blade2"]}
    assert live["unknown"] == {"blade1": ["stray"]}
    assert live["transient"] == [{"domain": "g3--incoming", "host": "blade2"}]
    assert live["unread"] == ["blade3"]


def test_plans_from_live_state_not_from_the_inventory():
    # The inventory pins nothing; live state says g1, g2 run on blade2: only they move.
    facts = {"blade1": xen("g3"), "blade2": xen("g1", "g2"), "blade3": xen("g4")}
    result = evacuation_check(GUESTS, HOSTS, "blade2", facts)
    assert result["ok"], result["problems"]
    assert sorted(m["guest"] for m in result["moves"]) == ["g1", "g2"]
    assert all(m["from"] == "blade2" and m["to"] in ("blade1", "blade3") for m in result["moves"])


def test_an_already_drained_host_needs_no_moves():
    facts = {"blade1": xen("g1", "g3"), "blade2": xen(), "blade3": xen("g2", "g4")}
    result = evacuation_check(GUESTS, HOSTS, "blade2", facts)
    assert result["ok"] and result["moves"] == []


def test_refusals_name_the_guest_or_host():
    facts = {"blade1": xen("g3", "g2"), "blade2": xen("g1", "g2", "stray", "g4--migratedaway"), "blade3": None}
    problems = evacuation_check(GUESTS, HOSTS, "blade2", facts)["problems"]
    text = "\n".join(problems)
    assert "guest g2: runs on blade1 and blade2 at once" in text
    assert "guest stray: runs on blade2 but is not in the inventory" in text
    assert "host blade2: domain g4--migratedaway is left from an unfinished xl migrate" in text
    assert "host blade3: unreachable or not running Xen" in text


def test_unread_drain_host_is_refused():
    result = evacuation_check(GUESTS, HOSTS, "blade2", {"blade1": xen("g1"), "blade2": None, "blade3": xen()})
    assert not result["ok"]
    assert result["problems"][0].startswith("host blade2: its running domains could not be read")


def test_pv_guests_are_refused_without_shadow_paging_and_allowed_with_it():
    guests = [guest("g1", gtype="pv"), guest("g2")]
    facts = {"blade1": xen(), "blade2": xen("g1:pv", "g2"), "blade3": xen()}
    result = evacuation_check(guests, HOSTS, "blade2", facts)
    assert not result["ok"]
    assert [p for p in result["problems"] if p.startswith("guest g1: PV, and Xen on blade2 has no shadow paging")]
    assert not [p for p in result["problems"] if "g2" in p]
    shadowed = {h: xen(*("%s:%s" % (d["name"], d["type"]) for d in f["domains"]), shadow=True)
                for h, f in facts.items()}
    assert evacuation_check(guests, HOSTS, "blade2", shadowed)["ok"]


def test_hvm_guests_move_only_onto_a_xen_that_runs_them_with_its_device_model():
    guests = [guest("win1", gtype="hvm"), guest("g2")]
    dm = "/usr/libexec/xen-qemu-system-i386"
    ready = {"blade1": xen(device_model=dm, hvm_capable=True),
             "blade2": xen("win1:hvm", "g2", device_model=dm, hvm_capable=True),
             "blade3": xen(device_model=dm, hvm_capable=True)}
    assert evacuation_check(guests, HOSTS, "blade2", ready)["ok"]
    # No QEMU on the targets (qemu-system-xen not installed): the HVM guest is refused, the PVH one is not.
    no_qemu = dict(ready, blade1=xen(device_model=None, hvm_capable=True),
                   blade3=xen(device_model=None, hvm_capable=True))
    result = evacuation_check(guests, HOSTS, "blade2", no_qemu)
    assert not result["ok"]
    win1_to = [m["to"] for m in result["moves"] if m["guest"] == "win1"][0]
    assert "guest win1: HVM, and %s has no QEMU device model (Debian: qemu-system-xen; SUSE: qemu-x86), so it " \
           "cannot run there; run the dom0 role" % win1_to in result["problems"]
    assert not [p for p in result["problems"] if "g2" in p]
    # A Xen that cannot run HVM or PVH guests at all (no HAP, no shadow paging) refuses both.
    no_paging = dict(ready, blade1=xen(device_model=dm, hvm_capable=False),
                     blade3=xen(device_model=dm, hvm_capable=False))
    text = "\n".join(evacuation_check(guests, HOSTS, "blade2", no_paging)["problems"])
    assert "guest win1: HVM, and Xen on blade" in text and "cannot run HVM guests" in text
    assert "guest g2: PVH, and Xen on blade" in text and "cannot run PVH guests" in text


def test_free_memory_now_is_checked_per_target():
    # The model has room, but blade1 and blade3 have little free memory right now.
    facts = {"blade1": xen(free=100), "blade2": xen("g1", "g2"), "blade3": xen(free=100)}
    problems = evacuation_check(GUESTS, HOSTS, "blade2", facts)["problems"]
    assert any(p.startswith("host blade1: 100 MiB free now, the guests planned to move there need") for p in problems) \
        or any(p.startswith("host blade3: 100 MiB free now") for p in problems)


def test_cpu_features_must_be_covered_unless_masked():
    facts = {"blade1": xen(caps=LESS), "blade2": xen("g1"), "blade3": xen(caps=LESS)}
    result = evacuation_check(GUESTS, HOSTS, "blade2", facts)
    assert any(p.startswith("guest g1: blade") and "lacks CPU features of blade2" in p for p in result["problems"])
    assert evacuation_check(GUESTS, HOSTS, "blade2", facts, cpuid_masked=["g1"])["ok"]


def test_host_side_readings():
    facts = {"blade1": xen(), "blade2": xen("g1"), "blade3": xen()}
    result = evacuation_check(GUESTS, HOSTS, "blade2", facts, guest_bridges={"g1": ["br-unused"]},
                              bridges={"blade1": [], "blade3": []}, image_store={"blade1": False, "blade3": False},
                              ssh_ok={"blade1": False, "blade3": False})
    to = result["moves"][0]["to"]
    assert "guest g1: bridge xenbr0 is missing on %s" % to in result["problems"]
    assert "host %s: the shared image store is not mounted, so guest g1 cannot run there" % to in result["problems"]
    assert any(p.startswith("host %s: blade2 cannot ssh to it" % to) for p in result["problems"])


def test_non_movable_guest_refuses_everything():
    guests = [guest("g1", movable=False), guest("g2")]
    result = evacuation_check(guests, HOSTS, "blade2", {"blade1": xen(), "blade2": xen("g1", "g2"), "blade3": xen()})
    assert not result["ok"] and result["moves"] == []
    assert any("g1" in p and "movable is false" in p for p in result["problems"])


def test_no_room_elsewhere_is_refused_with_the_reason():
    hosts = [host("blade1", 1536), host("blade2")]
    guests = [guest("g1", 400), guest("g2", 400), guest("g3", 400)]
    result = evacuation_check(guests, hosts, "blade2", {"blade1": xen("g1"), "blade2": xen("g2", "g3")})
    assert not result["ok"] and result["moves"] == []
    assert any(p.startswith("guest g") and "cannot leave blade2" in p for p in result["problems"]), result["problems"]


def test_unknown_drain_host_is_a_model_error():
    with pytest.raises(ModelError, match="host 'blade9': not a Xen host"):
        evacuation_check(GUESTS, HOSTS, "blade9", {})


def test_failover_restarts_what_runs_nowhere_else():
    guests = GUESTS + [guest("g5", gtype="pv")]
    facts = {"blade1": xen("g1", "g3"), "blade2": None, "blade3": xen("g4")}
    result = evacuation_check(guests, HOSTS, "blade2", facts, dead=True)
    assert result["ok"], result["problems"]
    # g2 and g5 run nowhere: restarted (a PV guest is restarted, not migrated: no shadow paging needed).
    assert sorted(m["guest"] for m in result["moves"]) == ["g2", "g5"]
    assert {m["to"] for m in result["moves"]} <= {"blade1", "blade3"}
    assert result["lines"][0].split(": ", 1)[1].startswith("blade2 restart on blade")


def test_failover_never_restarts_a_guest_whose_desired_state_is_not_running():
    guests = GUESTS + [guest("g5", state="stopped"), guest("g6", state="absent")]
    facts = {"blade1": xen("g1", "g3"), "blade2": None, "blade3": xen("g4")}
    result = evacuation_check(guests, HOSTS, "blade2", facts, dead=True)
    assert result["ok"], result["problems"]
    # g5 and g6 run nowhere, like g2, but are meant to be down: only g2 restarts, and the plan says why
    assert [m["guest"] for m in result["moves"]] == ["g2"]
    assert result["plan"]["not_reserved"] == {"g5": "stopped", "g6": "absent"}
    assert result["lines"][-1] == ("not restarted, desired state not running (xen_guest_state): "
                                   "g5 (stopped), g6 (absent)")


def test_evacuation_refuses_a_guest_meant_to_be_stopped_that_still_runs_on_the_drained_host():
    guests = GUESTS + [guest("g5", state="stopped")]
    facts = {"blade1": xen("g1"), "blade2": xen("g2", "g5"), "blade3": xen("g3", "g4")}
    result = evacuation_check(guests, HOSTS, "blade2", facts)
    assert not result["ok"]
    assert result["problems"] == ["guest g5: runs on blade2 but its desired state is stopped (xen_guest_state): "
                                  "evacuate.yml never moves it; run site.yml, which shuts it down, or set it running"]
    # Running elsewhere it is no obstacle, and it is never moved
    facts = {"blade1": xen("g1", "g5"), "blade2": xen("g2"), "blade3": xen("g3", "g4")}
    result = evacuation_check(guests, HOSTS, "blade2", facts)
    assert result["ok"], result["problems"]
    assert [m["guest"] for m in result["moves"]] == ["g2"]


def test_failover_refuses_a_host_that_still_answers():
    facts = {"blade1": xen("g1"), "blade2": xen("g2"), "blade3": xen()}
    result = evacuation_check(GUESTS, HOSTS, "blade2", facts, dead=True)
    assert not result["ok"]
    assert result["problems"][0].startswith("host blade2: answers and runs Xen, so it is not dead")


def test_failover_refuses_while_another_host_is_unread():
    facts = {"blade1": xen("g1"), "blade2": None, "blade3": None}
    result = evacuation_check(GUESTS, HOSTS, "blade2", facts, dead=True)
    assert any(p.startswith("host blade3: unreachable or not running Xen") for p in result["problems"])


def test_rebalance_returns_to_the_plan_with_the_proof_after_every_move():
    from ansible_collections.consolidation.xen.plugins.module_utils.engine import placement
    from ansible_collections.consolidation.xen.plugins.module_utils.live import rebalance_check

    planned = placement(GUESTS, HOSTS, tolerate=1)["assignments"]
    # Everything crowded on blade1 (after an evacuation and a reboot, say).
    facts = {"blade1": xen(*GUESTS_NAMES), "blade2": xen(), "blade3": xen()}
    result = rebalance_check(GUESTS, HOSTS, facts)
    assert result["ok"], result["problems"]
    assert result["planned"] == planned
    assert {m["guest"]: m["to"] for m in result["moves"]} == {g: h for g, h in planned.items() if h != "blade1"}
    assert all("N-1 holds" in line for line in result["lines"])
    # Capped: the first move only, the rest reported.
    capped = rebalance_check(GUESTS, HOSTS, facts, max_moves=1)
    assert len(capped["moves"]) == 1 and capped["ok"]
    assert "max_moves (1) reached" in capped["lines"][-1]
    # At the plan already: nothing to move.
    at_plan = {h: xen(*[g for g, p in planned.items() if p == h]) for h in ("blade1", "blade2", "blade3")}
    assert rebalance_check(GUESTS, HOSTS, at_plan)["moves"] == []


def test_rebalance_leaves_a_guest_meant_to_be_stopped_where_it_runs_and_says_so():
    from ansible_collections.consolidation.xen.plugins.module_utils.engine import placement
    from ansible_collections.consolidation.xen.plugins.module_utils.live import rebalance_check

    guests = GUESTS + [guest("g5", state="stopped")]
    planned = placement(guests, HOSTS, tolerate=1)["assignments"]
    assert "g5" not in planned
    facts = {h: xen(*[g for g, p in planned.items() if p == h] + (["g5"] if h == "blade3" else []))
             for h in ("blade1", "blade2", "blade3")}
    result = rebalance_check(guests, HOSTS, facts)
    assert result["ok"] and result["moves"] == [], result["problems"]
    assert result["not_reserved"] == {"g5": "blade3"}
    assert result["lines"][-1] == ("g5 runs on blade3 though its desired state is stopped (xen_guest_state): not "
                                   "moved; site.yml shuts it down")


def test_rebalance_waits_for_room_and_refuses_when_stuck():
    from ansible_collections.consolidation.xen.plugins.module_utils.live import rebalance_check

    # Two hosts that each hold exactly one 1.5 GiB guest: g1 and g2 swapped cannot be swapped live.
    hosts = [host("blade1", 2700), host("blade2", 2700)]
    guests = [guest("g1", 1500, host="blade1"), guest("g2", 1500, host="blade2")]
    result = rebalance_check(guests, hosts, {"blade1": xen("g2"), "blade2": xen("g1")}, tolerate=0)
    assert not result["ok"] and result["moves"] == []
    assert any(p.startswith("guest g1: does not fit on blade1 yet") for p in result["problems"]), result["problems"]


GUESTS_NAMES = [g["name"] for g in GUESTS]


def test_running_migrations_stop_every_plan():
    from ansible_collections.consolidation.xen.plugins.module_utils.live import rebalance_check

    facts = {"blade1": xen("g1"), "blade2": xen("g2"), "blade3": xen()}
    busy = {"blade1": [], "blade2": ["4242 xl migrate g2 blade3"]}
    for result in (evacuation_check(GUESTS, HOSTS, "blade2", facts, migrating=busy),
                   rebalance_check(GUESTS, HOSTS, facts, migrating=busy)):
        assert not result["ok"]
        assert "host blade2: an xl migration is still running (4242 xl migrate g2 blade3); wait for it to end, " \
               "then re-run" in result["problems"]


def test_unread_survivors_are_the_reason_not_the_tolerance():
    # Two blades: with blade1 unread, only blade2 is left, which cannot tolerate a failure; the message
    # must name the host that could not be read, first, and not talk about tolerate.
    hosts = [host("blade1"), host("blade2")]
    facts = {"blade1": None, "blade2": xen("g1", "g2")}
    result = evacuation_check(GUESTS[:2], hosts, "blade2", facts)
    assert not result["ok"] and result["moves"] == []
    assert result["problems"][0].startswith("host blade1: unreachable or not running Xen")
    assert not any("tolerate" in p for p in result["problems"]), result["problems"]
    assert "not planned: blade1 could not be read" in result["plan"]["note"]


def test_live_inputs_say_what_each_dom0_runs_its_boot_and_where_else_a_guest_runs():
    from ansible_collections.consolidation.xen.plugins.module_utils.live import live_inputs
    # xen_host_info's xen.domains: the guests, never dom0 (it is xen.dom0)
    dom0s = {"blade1": {"xen": {"domains": [{"name": "g2", "domid": 3}]}, "boot": {"id": "a", "time": 5}},
             "blade2": {"xen": {"domains": [{"name": "g2", "domid": 7}]}, "boot": {"id": "b", "time": 9}},
             "blade3": {"xen": None}}
    live = live_inputs(dom0s, drain="blade2")
    assert live["running"] == {"blade1": ["g2"], "blade2": ["g2"]}
    assert live["boot"] == {"blade1": {"id": "a", "time": 5}, "blade2": {"id": "b", "time": 9}, "blade3": None}
    assert live["elsewhere"] == {"g2": "blade1"}
