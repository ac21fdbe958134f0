"""End-to-end: storage fencing on the ONTAP backend (roles/filer, entry point fence: what failover.yml and
unfence.yml run on each filer), through the real netapp.ontap modules against the ONTAP REST simulator.

The simulator models the export access cache: ``sim.client_access(volume, address)`` stands for an NFS
client's request, answered from the cache when it holds the client (as ONTAP does for up to an hour),
so a deleted rule alone does not cut a client off that was let in before: the flush does.
"""

from __future__ import annotations

import json
import re

import yaml
from test_filer_ontap import DOM0S, GUESTS, IMAGES, play, recap, rule_clients, write_inventory

FENCE_PLAY = [{
    "name": "Fence", "hosts": "filers", "gather_facts": False,
    "tasks": [
        {"name": "Fence it",
         "ansible.builtin.include_role": {"name": "consolidation.xen.filer", "tasks_from": "fence"},
         "vars": {"filer_fence_host": "{{ fence_host }}", "filer_fence_state": "{{ fence_state }}",
                  "filer_fence_by": "test", "filer_fence_boot": "{{ fence_boot | default({}) }}",
                  "filer_fence_running": "{{ fence_running | default({}) }}"}},
        {"name": "Report",
         "ansible.builtin.copy": {"content": "{{ __filer_fence | to_json }}", "dest": "{{ fence_out }}",
                                  "mode": "0600"}},
    ],
}]
B = DOM0S["dom0b"]


def fence(path, state, **extra):
    (path / "fence.yml").write_text(yaml.safe_dump(FENCE_PLAY))
    out = path / "fence.json"
    if out.exists():
        out.unlink()
    variables = {"fence_host": "dom0b", "fence_state": state, "fence_out": str(out), **extra}
    return play(path, "-e", json.dumps(variables), playbook="fence.yml")


def said(result, path):
    """What the fence entry point set (__filer_fence), as the run wrote it."""
    out = path / "fence.json"
    assert result.returncode == 0 and out.exists(), result.stdout + result.stderr
    return json.loads(out.read_text())


def records(sim):
    return [name for name in sim.policy_names() if name.startswith("xen_fenced_")]


def image_clients(sim):
    return sorted(c for rule in rule_clients(sim.policy("xen_images")) for c in rule)


def flat(result):
    return " ".join((result.stdout + result.stderr).split())


def test_fence_flushes_the_cache_confirms_and_holds_until_a_safe_unfence(sim, tmp_path):
    path = write_inventory(tmp_path / "inv", sim, GUESTS)
    assert play(path).returncode == 0
    assert sim.client_access(IMAGES, B) == "read-write"  # dom0b mounted the images: the cache holds it

    # A rule that would still admit dom0b (here a subnet on the data volume) refuses the fence before any
    # change: deleting dom0b's own rule could not hold it.
    with sim.lock:
        data = next(p for p in sim.policies.values() if p["name"] == "xen_data")
        wide = {"clients": [{"match": "192.0.2.0/24"}], "ro_rule": ["sys"], "rw_rule": ["never"]}
        wide = sim._insert_rule(data, wide)  # pylint: disable=protected-access
    sim.clear()
    refused = fence(path, "present")
    assert refused.returncode != 0
    why = (r"dom0b cannot be fenced by deleting its rule, because other rules would still admit it: "
           r"export policy xen_data rule \d+ \(clients 192\.0\.2\.0/24\) admits 192\.0\.2\.2")
    assert re.search(why, flat(refused)), refused.stdout
    assert [r for r in sim.requests if r["method"] != "GET"] == []
    assert records(sim) == [] and "%s/32" % B in image_clients(sim)
    with sim.lock:
        data["rules"].remove(wide)

    fenced = fence(path, "present")
    assert fenced.returncode == 0, fenced.stdout + fenced.stderr
    out = said(fenced, path)
    assert out["source"] == "check-access"
    assert any(line.startswith("/xen_images: denied") for line in out["evidence"]), out
    assert any(line.startswith("/xen_data: denied") for line in out["evidence"]), out
    rec = out["record"]
    assert (rec["host"], rec["address"]) == ("dom0b", B)
    assert records(sim) == ["xen_fenced_dom0b_%d" % rec["fenced_at"]]
    assert rule_clients(sim.policy(rec["policy"])) == [["%s/32" % B]]
    assert sim.policy(rec["policy"])["rules"][0]["rw_rule"] == ["never"]
    assert image_clients(sim) == sorted("%s/32" % DOM0S[h] for h in ("dom0a", "dom0c"))
    # the rule went first, then the caches were flushed, then check-access was asked
    order = [(r["method"], r["path"]) for r in sim.requests]
    deleted = max(i for i, (m, p) in enumerate(order) if m == "DELETE" and "/rules/" in p)
    flushed = order.index(("POST", "/api/private/cli/vserver/export-policy/cache/flush"))
    checked = max(i for i, (m, p) in enumerate(order) if p.endswith("/check-access"))
    assert deleted < flushed < checked, order
    assert sim.client_access(IMAGES, B) == "denied"
    assert sim.client_access(IMAGES, DOM0S["dom0a"]) == "read-write"

    # a re-run (failover.yml run again) keeps the same record
    again = fence(path, "present")
    assert again.returncode == 0, again.stdout + again.stderr
    assert said(again, path)["record"]["fenced_at"] == rec["fenced_at"] and records(sim) == [rec["policy"]]

    # site.yml's filer role keeps the fenced dom0 out of the image policy
    site = play(path)
    assert site.returncode == 0 and recap(site)["changed"] == 0, site.stdout
    assert "dom0b (%s) fenced since" % B in flat(site), site.stdout
    assert image_clients(sim) == sorted("%s/32" % DOM0S[h] for h in ("dom0a", "dom0c"))

    # unfence: refused while dom0b has not booted since, or runs a guest that also runs elsewhere
    running = {"dom0a": ["web1", "db1"], "dom0b": ["db1"], "dom0c": []}
    early = fence(path, "absent", fence_boot={"id": "x", "time": rec["fenced_at"] - 60}, fence_running=running)
    assert early.returncode != 0
    assert "unfence of dom0b refused, nothing changed: dom0b has not booted since it was fenced" in flat(early)
    assert "db1 (also on dom0a)" in flat(early)
    assert records(sim) == [rec["policy"]] and "%s/32" % B not in image_clients(sim)

    done = fence(path, "absent", fence_boot={"id": "y", "time": rec["fenced_at"] + 60},
                 fence_running={"dom0a": ["web1", "db1"], "dom0b": [], "dom0c": []})
    assert done.returncode == 0, done.stdout + done.stderr
    assert records(sim) == []
    assert image_clients(sim) == sorted("%s/32" % ip for ip in DOM0S.values())
    assert any(line.startswith("/xen_images: read-write") for line in said(done, path)["evidence"])
    assert sim.client_access(IMAGES, B) == "read-write"
    assert recap(play(path))["changed"] == 0


def test_a_failed_cache_flush_or_check_access_fails_the_fence(sim, tmp_path):
    path = write_inventory(tmp_path / "inv", sim, GUESTS)
    assert play(path).returncode == 0
    assert sim.client_access(IMAGES, B) == "read-write"
    sim.fail_next("POST", r"/export-policy/cache/flush$", message="Simulated: the export cache flush failed.")
    failed = fence(path, "present")
    assert failed.returncode != 0
    assert "the export cache flush failed" in flat(failed), failed.stdout
    assert not (path / "fence.json").exists()
    # the record and the deleted rule stay (the host stays fenced for every later run), but a client the
    # cache let in is still let in: nothing may restart, and the failure says so by stopping the run
    assert len(records(sim)) == 1 and "%s/32" % B not in image_clients(sim)
    assert sim.client_access(IMAGES, B) == "read-write"
    # the re-run flushes; then check-access fails: not confirmed either
    sim.fail_next("GET", r"/export-policy/check-access$", status=400,
                  message='Volume "xen_images" does not exist in Vserver "svm1".', code="917927")
    unconfirmed = fence(path, "present")
    assert unconfirmed.returncode != 0 and "does not exist" in flat(unconfirmed), unconfirmed.stdout
    assert not (path / "fence.json").exists()
    assert sim.client_access(IMAGES, B) == "denied"
    retried = fence(path, "present")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert len(records(sim)) == 1
