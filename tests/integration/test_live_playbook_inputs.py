"""Bad requests to evacuate.yml, failover.yml and rebalance.yml: a clear error, and no host contacted.

These run the real ansible-playbook against a small inventory whose dom0s sit on 127.0.0.1 at a
closed port (1): a request that got past its check would show those hosts in the PLAY RECAP (as
unreachable). Each bad request must stop in the first play, on the controller, naming the field.
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
        "xen_hosts": {"hosts": {"blade1": dict(dom0), "blade2": dict(dom0)}},
        "filers": {"hosts": {"filer": {"ansible_host": "127.0.0.1", "ansible_port": 1}}},
        "xen_guests": {"hosts": {"g1": {"xen_guest_memory": "128M"}, "g2": {"xen_guest_memory": "128M"}},
                       "vars": {"xen_guest_type": "pvh"}},
    }}}))
    return path


def refused(inventory, *args):
    result = run(*args, inventory=inventory)
    assert result.returncode != 0, result.stdout
    assert set(RECAP.findall(result.stdout)) == {"localhost"}, result.stdout[-3000:]
    assert "nothing was changed" in result.stdout, result.stdout[-3000:]
    return result.stdout


@pytest.mark.parametrize(("extra", "shown"), [
    ([], "got nothing"),
    (["-e", "host=blade9"], "got blade9"),
    (["-e", "host=filer"], "got filer"),
    (["-e", "host=blade2", "-e", "parallel=0"], "got 0"),
    (["-e", "host=blade2", "-e", "parallel=two"], "got two"),
    (["-e", "host=blade2", "-e", "parallel=-1"], "got -1"),
])
def test_evacuate_refuses_a_bad_host_or_parallel(inventory, extra, shown):
    out = refused(inventory, "evacuate.yml", *extra)
    assert "evacuate.yml needs -e host=<one of blade1, blade2>" in out
    assert shown in out


@pytest.mark.parametrize(("extra", "shown"), [
    ([], "got nothing"),
    (["-e", "host=blade9"], "got blade9"),
    (["-e", "host=g1"], "got g1"),
])
def test_failover_refuses_a_host_that_is_not_a_dom0(inventory, extra, shown):
    out = refused(inventory, "failover.yml", *extra)
    assert "failover.yml needs -e host=<one of blade1, blade2>" in out
    assert shown in out


@pytest.mark.parametrize("value", ["0", "-2", "many", "1.5"])
def test_rebalance_refuses_a_bad_max_moves(inventory, value):
    out = refused(inventory, "rebalance.yml", "-e", "max_moves=%s" % value)
    assert "rebalance.yml takes -e max_moves=<positive whole number> (got %s)" % value in out
