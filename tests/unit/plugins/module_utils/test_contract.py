"""The inventory contract agrees with what users read and what the roles declare."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from ansible_collections.consolidation.xen.plugins.module_utils import contract, xlcfg

ROOT = pathlib.Path(__file__).resolve().parents[4]


def _readme_table(path, heading):
    text = (ROOT / path).read_text()
    section = text.split(heading, 1)[1]
    names = set()
    for line in section.splitlines():
        if line.startswith("## "):
            break
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z0-9_]+)`", line.split("|")[1]))
    return names


def _spec_options(role):
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def _defaults(role):
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())


def test_every_planning_and_run_variable_is_in_the_readme_table_and_nothing_else():
    table = _readme_table("README.md", "## Variables")
    wanted = {v.name for v in contract.VARS if v.scope == "run"
              or (v.scope in ("host", "guest") and v.name.startswith("xen_") and set(v.keys) & {"engine", "filer"})}
    wanted.add("xen_host_bmc")
    assert wanted - table == set(), "in the contract, missing from README's table"
    assert {n for n in table if n.startswith("xen_")} - set(contract.BY_NAME) == set(), "in README, not in the contract"


def test_every_xl_variable_is_in_the_guests_readme_and_maps_to_an_xl_key():
    table = _readme_table("roles/guests/README.md", "## Variables on each guest")
    for var in contract.VARS:
        if "xl" in var.keys:
            assert var.keys["xl"] in xlcfg.GUEST_KEYS, var.name
            if "engine" not in var.keys:
                assert var.name in table, "%s is not in roles/guests/README.md" % var.name


@pytest.mark.parametrize(("role", "prefix"), [("guests", "guests_"), ("dom0", "dom0_bridge_"), ("dom0", "dom0_ssh_")])
def test_role_defaults_and_argument_specs_agree_with_the_contract(role, prefix):
    options, defaults = _spec_options(role), _defaults(role)
    checked = 0
    for var in contract.VARS:
        if not var.name.startswith(prefix):
            continue
        checked += 1
        assert var.name in options, "%s has no argument spec in roles/%s" % (var.name, role)
        assert defaults.get(var.name) == var.default, var.name
        if "default" in options[var.name]:
            assert options[var.name]["default"] == var.default, var.name
        kind = {"bool": "bool", "int": "int", "path": "path", "ifnames": "list", "raw": None}.get(var.kind, "str")
        if kind:
            assert options[var.name]["type"] == kind, var.name
    assert checked


def test_filer_defaults_agree_with_the_contract():
    defaults = _defaults("filer")
    options = _spec_options("filer")
    for var in contract.SCOPE_VARS["filer"]:
        if options[var.name].get("required"):  # filer_backend: no default, the run says so
            assert var.name not in defaults and var.default is None, var.name
            assert list(options[var.name]["choices"]) == list(var.choices), var.name
            continue
        assert var.name in defaults, var.name
        if var.default is not None:
            assert defaults[var.name] == var.default, var.name
        else:
            assert defaults[var.name] is None or "{{" in str(defaults[var.name]), var.name


def test_dom0_memory_comes_from_the_contract_variable():
    assert _defaults("dom0")["dom0_memory"] == "{{ xen_host_dom0_memory }}"


def test_every_variable_is_defined_once_with_a_known_kind_and_scope():
    names = [v.name for v in contract.VARS]
    assert len(names) == len(set(names))
    for var in contract.VARS:
        assert var.scope in ("host", "guest", "filer", "run")
        assert var.consumers, var.name
        assert var.doc, var.name


@pytest.mark.parametrize(("message", "expected"), [
    ("guest 'g1': memory_mb: size must be positive", "guest g1: xen_guest_memory: size must be positive"),
    ("guest g1: disks[0].path: must be absolute", "guest g1: xen_guest_disks[0].path: must be absolute"),
    ("host 'b1': cpus: must be an integer", "host b1: xen_host_cpus: must be an integer"),
    ("guest g2: extra.foo: not an xl key", "guest g2: xen_guest_xl_extra.foo: not an xl key"),
    ("something else", "something else"),
])
def test_consumer_messages_name_the_inventory_variable(message, expected):
    assert contract.translate(message) == expected


def test_the_xl_renderer_uses_the_same_name_pattern():
    # xlcfg keeps its own copy (it runs on the dom0s inside xl_configs, with few imports)
    assert xlcfg.NAME_RE.pattern == contract.NAME_RE.pattern


@pytest.mark.parametrize(("values", "words"), [
    ({"dom0_bridge_gateway": "10.0.0.1\nup reboot"}, "dom0_bridge_gateway: '10.0.0.1\\nup reboot' is not a single IP"),
    ({"dom0_ssh_address": "-oProxyCommand=touch /tmp/x"}, "dom0_ssh_address: '-oProxyCommand=touch /tmp/x' starts"),
    ({"dom0_bridge_ports": ["eth0", "eth1 up"]}, "dom0_bridge_ports: 'eth1 up' is not an interface name"),
    ({"dom0_bridge_address": "10.0.0.1/24\n"}, "dom0_bridge_address:"),
    ({"dom0_bridge_name": "br-x;reboot"}, "dom0_bridge_name:"),
])
def test_role_settings_that_would_inject_are_refused(values, words):
    problems = contract.check_values(values, "host b1: ")
    assert len(problems) == 1 and words in problems[0], problems


def test_sane_role_settings_pass():
    assert contract.check_values({"dom0_ssh_address": "blade1.example.org", "dom0_bridge_gateway": "192.0.2.1",
                                  "dom0_bridge_address": "192.0.2.11/24", "dom0_bridge_ports": ["eth0"],
                                  "dom0_bridge_name": "br0", "dom0_bridge_enabled": True}, "") == []
