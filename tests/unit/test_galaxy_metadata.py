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
        called.update(re.findall(r"\b([a-z_]+\.[a-z_]+)\.[a-z_]+:", path.read_text()))
    called -= {"consolidation.xen", "ansible.builtin"}
    assert called and called <= set(_galaxy()["dependencies"]), called


def test_the_licence_is_shipped():
    galaxy = _galaxy()
    assert galaxy["license_file"] == "COPYING" and "license" not in galaxy
    assert (ROOT / "COPYING").read_text().lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
