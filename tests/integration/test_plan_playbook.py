"""End-to-end: ansible-playbook plan.yml / site.yml from the repo root, as a user runs them.

These run the real ansible-playbook (from the project's venv) against inventories/example and
variants of it written to a temporary directory. plan.yml contacts no host.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or shutil.which("ansible-playbook")

pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not installed")


EXAMPLE = ROOT / "inventories" / "example"


def run(*args, inventory=EXAMPLE):
    """ansible-playbook from the repo root; the origin's cluster unless told (ansible.cfg's default is the lab)."""
    cmd = [PLAYBOOK, "-i", str(inventory), *args]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def example_inventory(tmp_path, change=None):
    """A copy of inventories/example, optionally edited, so variants stay real inventories."""
    target = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "example", target)
    if change:
        data = yaml.safe_load((target / "hosts.yml").read_text())
        change(data["all"]["children"])
        (target / "hosts.yml").write_text(yaml.safe_dump(data))
    return target


def test_plan_on_the_example_cluster_passes_and_prints_the_proof():
    result = run("plan.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "N-1 proof: PASSED (exact, 4 failure set(s))" in out
    # One aligned block: the placement table (a row per host, its columns under their headings) and the verdict.
    head = next(line for line in out.splitlines() if line.strip().startswith("host    state"))
    for host in ("blade1", "blade2", "rack1", "blade3"):
        row = next(line for line in out.splitlines() if line.strip().startswith(host + " ") and " active " in line)
        assert row.index("active") == head.index("state") and re.search(r" \d+/15232 \(\d+%\) ", row), row
    assert "Verdict: N-1 PASSED" in out and "HTML report: %s/plan-report.html" % ROOT in out
    assert "not protected (movable: false, not restarted elsewhere): license" in out
    assert "Headroom: 14 more guest(s) of 1G, 1 vCPU, pvh fit with N-1" in out
    assert "{'" not in out  # no Python mapping printed


def test_the_same_plan_writes_the_same_report_and_changes_nothing(tmp_path):
    report = tmp_path / "plan.html"
    first = run("plan.yml", "-e", "plan_report=%s" % report)
    assert first.returncode == 0 and re.search(r"localhost\s+: ok=\d+\s+changed=1 ", first.stdout), first.stdout
    written = report.read_bytes()
    second = run("plan.yml", "-e", "plan_report=%s" % report)
    assert second.returncode == 0 and re.search(r"localhost\s+: ok=\d+\s+changed=0 ", second.stdout), second.stdout
    assert report.read_bytes() == written


def test_plan_prints_the_maintenance_ledger_and_refuses_a_roll_that_breaks_n1():
    # The origin's cluster is N-1 only with all four hosts up: rolling the chassis drops it to N-0.
    refused = run("plan.yml", "-e", "maintain=chassis1")
    assert refused.returncode != 0
    out = refused.stdout + refused.stderr
    assert "maintenance: step 1, blade1 out: survives 0 host failure(s), the policy asks 1; at risk: " in out
    assert "MiB short)" in out and "no host was contacted, nothing was changed" in out
    assert "stopping these keeps the policy in every state: " in out and "maintenance plan: REFUSED" in out
    # Accepting N-0 while a host is out prints the same schedule, each state's tolerance beside it.
    accepted = run("plan.yml", "-e", "maintain=chassis1", "-e", "maintain_min_tolerate=0")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "Maintenance of blade1, blade2, blade3, 1 at a time:" in accepted.stdout
    assert "blade2 out" in accepted.stdout and "maintenance plan: OK" in accepted.stdout


def test_collection_playbook_name_works():
    result = run("consolidation.xen.plan")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "N-1 proof: PASSED" in result.stdout


def test_without_blade3_n1_fails_before_any_change(tmp_path):
    def maintenance(children):
        children["xen_hosts"]["hosts"]["blade3"]["xen_host_state"] = "maintenance"

    inventory = example_inventory(tmp_path, maintenance)
    result = run("site.yml", inventory=inventory)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "N-1 proof: FAILED" in out
    assert "stranded" in out and "short" in out
    assert "no host was contacted, nothing was changed" in out
    assert "PLAY RECAP" not in out  # refused in the preflight, before any play ran a task


def test_degraded_override_is_explicit_and_loud(tmp_path):
    def maintenance(children):
        children["xen_hosts"]["hosts"]["blade3"]["xen_host_state"] = "maintenance"

    inventory = example_inventory(tmp_path, maintenance)
    result = run("plan.yml", "-e", "xen_allow_degraded=true", inventory=inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DEGRADED CLUSTER ACCEPTED (xen_allow_degraded)" in result.stdout + result.stderr


def test_bad_guest_size_names_guest_and_field(tmp_path):
    def zero(children):
        children["xen_guests"]["children"]["linux"]["hosts"]["wiki"]["xen_guest_memory"] = "0M"

    result = run("site.yml", inventory=example_inventory(tmp_path, zero))
    assert result.returncode != 0
    assert "guest wiki: xen_guest_memory: size must be positive, got '0M'" in result.stderr


def test_tolerate_two_on_four_hosts_is_refused_with_the_shortfall():
    result = run("plan.yml", "-e", "xen_tolerate=2")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "N-2 proof: FAILED" in out and "Verdict: N-2 FAILED" in out
    # Each reason once (in the plan's block), the refusal once at the end, no host contacted.
    assert out.count("lower bound: these guests need at least 5 active hosts") == 1, out
    assert "plan: refused (-e xen_allow_degraded=true accepts a cluster that is not N-2" in out
    assert "localhost                  : ok=" in out and "blade1  " in out


def test_the_lab_inventory_passes_the_whole_preflight():
    result = run("plan.yml", inventory=ROOT / "inventories" / "lab")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "preflight: inventory valid (3 dom0s, 6 guests, 1 filer); N-1 proof PASSED" in result.stdout
