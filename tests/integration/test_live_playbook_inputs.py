"""Bad requests to evacuate.yml, failover.yml, unfence.yml and rebalance.yml: a clear error, no host contacted.

These run the real ansible-playbook against a small inventory whose dom0s sit on 127.0.0.1 at a
closed port (1): a request that got past its check would show those hosts in the PLAY RECAP (as
unreachable). Each bad request must stop in the preflight, before any play runs a task, naming the
field (tests/integration/test_preflight_matrix.py also counts connection attempts).
"""

from __future__ import annotations

import re

import pytest
import yaml
from test_plan_playbook import PLAYBOOK, run

pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not installed")

RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=\d+\s+failed=\d+", re.M)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "hosts.yml"
    dom0 = {"ansible_host": "127.0.0.1", "ansible_port": 1, "xen_host_memory": "2G", "xen_host_cpus": 1,
            "xen_host_dom0_memory": "1G"}
    path.write_text(yaml.safe_dump({"all": {"children": {
        "xen_hosts": {"hosts": {"blade1": dict(dom0, xen_host_storage_address="10.77.0.11"),
                                "blade2": dict(dom0, xen_host_storage_address="10.77.0.12")}},
        "filers": {"hosts": {"filer": {"ansible_host": "127.0.0.1", "ansible_port": 1}}},
        "xen_guests": {"hosts": {"g1": {"xen_guest_memory": "128M"}, "g2": {"xen_guest_memory": "128M"}},
                       "vars": {"xen_guest_type": "pvh", "xen_guest_kernel": "/boot/vmlinuz"}},
    }}}))
    return path


def refused(inventory, *args):
    result = run(*args, inventory=inventory)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert not RECAP.findall(out), out[-3000:]  # no play ran a task
    assert "no host was contacted, nothing was changed" in out, out[-3000:]
    return out


@pytest.mark.parametrize(("extra", "shown"), [
    ([], "host: required: -e host=<one of blade1, blade2>"),
    (["-e", "host=blade9"], "host: 'blade9' is not a host of group xen_hosts (blade1, blade2)"),
    (["-e", "host=filer"], "host: 'filer' is not a host"),
    (["-e", "host=blade2", "-e", "parallel=0"], "parallel: must be >= 1, got '0'"),
    (["-e", "host=blade2", "-e", "parallel=two"], "parallel: expected a whole number, got 'two'"),
    (["-e", "host=blade2", "-e", "parallel=-1"], "parallel: must be >= 1, got '-1'"),
])
def test_evacuate_refuses_a_bad_host_or_parallel(inventory, extra, shown):
    out = refused(inventory, "evacuate.yml", *extra)
    assert "preflight of evacuate.yml refused" in out
    assert shown in out


@pytest.mark.parametrize(("extra", "shown"), [
    ([], "host: required: -e host=<one of blade1, blade2>"),
    (["-e", "host=blade9"], "host: 'blade9' is not a host"),
    (["-e", "host=g1"], "host: 'g1' is not a host"),
])
def test_failover_refuses_a_host_that_is_not_a_dom0(inventory, extra, shown):
    out = refused(inventory, "failover.yml", *extra)
    assert "preflight of failover.yml refused" in out
    assert shown in out


@pytest.mark.parametrize(("extra", "shown"), [
    ([], "host: required: -e host=<one of blade1, blade2>"),
    (["-e", "host=filer"], "host: 'filer' is not a host"),
    (["-e", "host=blade2", "--limit", "blade2"], "unfence.yml: works on the whole cluster"),
])
def test_unfence_refuses_a_host_that_is_not_a_dom0_or_a_limited_run(inventory, extra, shown):
    out = refused(inventory, "unfence.yml", *extra)
    assert "preflight of unfence.yml refused" in out
    assert shown in out


@pytest.mark.parametrize("value", ["0", "-2", "many", "1.5"])
def test_rebalance_refuses_a_bad_max_moves(inventory, value):
    out = refused(inventory, "rebalance.yml", "-e", "max_moves=%s" % value)
    assert "max_moves: " in out and repr(value) in out
