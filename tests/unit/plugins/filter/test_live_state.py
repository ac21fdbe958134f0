"""The live_state filter: read_live.yml's facts as the check modules take them."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.filter.live_state import live_state


def test_live_inputs_shape_what_the_checks_take():
    hostvars = {
        "blade1": {"__evac_xen": {"domains": []}, "__evac_bridge_names": ["xenbr0"], "__evac_store_ok": True,
                   "__evac_migrating": [], "__evac_ssh_ok": {}},
        "blade2": {"__evac_xen": {"domains": []}, "__evac_bridge_names": ["xenbr0", "br1"], "__evac_store_ok": False,
                   "__evac_migrating": ["123 xl migrate g1 blade1"], "__evac_ssh_ok": {"blade1": True}},
        "blade3": {"__evac_xen": None, "__evac_migrating": []},
        "g1": {"xen_guest_cpuid": "host,sse4_1=0"}, "g2": {"xen_guest_cpuid": None}, "g3": {},
    }
    dom0s, guests = ["blade1", "blade2", "blade3"], ["g1", "g2", "g3"]
    out = live_state(hostvars, dom0s, guests, "blade2")
    assert out["facts"] == {"blade1": {"domains": []}, "blade2": {"domains": []}, "blade3": None}
    assert out["bridges"] == {"blade1": ["xenbr0"], "blade2": ["xenbr0", "br1"]}  # unread blade3 left out
    assert out["image_store"] == {"blade1": True, "blade2": False}
    assert out["migrating"] == {"blade1": [], "blade2": ["123 xl migrate g1 blade1"], "blade3": []}
    assert out["ssh_ok"] == {"blade1": True} and out["cpuid_masked"] == ["g1"]
    dead = live_state(hostvars, dom0s, guests, "blade2", dead=True)
    assert "blade2" not in dead["bridges"] and "blade2" not in dead["image_store"] and dead["facts"]["blade2"]
    hostvars["blade2"]["guests_cpuid"] = "host,avx=0"  # a common mask on the drained host masks every guest
    assert live_state(hostvars, dom0s, guests, "blade2")["cpuid_masked"] == guests
    assert live_state(hostvars, dom0s, guests)["ssh_ok"] == {}
