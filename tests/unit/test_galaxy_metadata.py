"""The collection's metadata agrees with itself: what galaxy.yml declares is what requirements.yml (the EE's
list) pins, and every collection the roles and playbooks call is declared."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _galaxy():
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())


def test_galaxy_dependencies_are_requirements_yml():
    declared = _galaxy()["dependencies"]
    pinned = {c["name"]: c["version"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    assert declared == pinned
    for spec in declared.values():  # a range: a floor and a ceiling
        assert re.match(r"^>=\d+\.\d+\.\d+,<\d+\.\d+\.\d+$", spec), spec


def test_every_collection_called_is_declared():
    called = set()
    for path in list((ROOT / "roles").rglob("*.yml")) + list((ROOT / "playbooks").rglob("*.yml")):
        # a task's module key: `  community.general.ipmi_power:` (or `- ansible.builtin.debug:`)
        called.update(re.findall(r"^\s*(?:-\s+)?([a-z_]+\.[a-z_]+)\.[a-z_]+:\s*$", path.read_text(), re.M))
    called -= {"consolidation.xen", "ansible.builtin"}
    assert called and called <= set(_galaxy()["dependencies"]), called


def test_the_licence_is_shipped():
    galaxy = _galaxy()
    assert galaxy["license_file"] == "COPYING" and "license" not in galaxy
    assert (ROOT / "COPYING").read_text().lstrip().startswith("GNU GENERAL PUBLIC LICENSE")


def test_the_ee_installs_this_collections_tarball_and_the_declared_dependencies():
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert ee["dependencies"]["galaxy"] == "ee-requirements.yml"
    entries = yaml.safe_load((ROOT / "ee-requirements.yml").read_text())["collections"]
    galaxy = _galaxy()
    tarball = "/build/ee-collection/%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])
    assert entries[0] == {"name": tarball, "type": "file"}
    assert {c["name"]: c["version"] for c in entries[1:]} == galaxy["dependencies"]
    # the Python packages are the ones the modules import, and the core range is requires_ansible's
    python = [line.split()[0] for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert [re.split(r"[<>=]", p)[0] for p in python] == ["requests", "pyghmi"]
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    floor = runtime["requires_ansible"].split(",")[0].lstrip(">=").rsplit(".", 1)[0]
    assert ee["dependencies"]["ansible_core"]["package_pip"].startswith("ansible-core>=%s," % floor)
