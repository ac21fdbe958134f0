# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SLES data of each role is complete, and every public variable is documented.

The SLES path runs in molecule/dom0_sles (a SLES 15 SP5-shaped container); here, without a container,
its vars (Suse.yml, with SLES_15.yml on top, as tasks/set_vars.yml loads them) must define every
internal key the Debian path uses, with a value of the same kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
OS_ROLES = sorted(p.parent.parent.name for p in ROLES.glob("*/vars/Debian.yml"))
SPEC_ROLES = sorted(p.parent.parent.name for p in ROLES.glob("*/meta/argument_specs.yml"))


def load(path):
    if not path.exists():
        return {}
    with path.open() as f:
        return yaml.safe_load(f) or {}


def kind(value):
    return "list" if isinstance(value, list) else "dict" if isinstance(value, dict) else "scalar"


def test_roles_found():
    assert {"dom0", "image_store"} <= set(OS_ROLES)


@pytest.mark.parametrize("role", OS_ROLES)
def test_sles_defines_every_key_debian_defines(role):
    debian = load(ROLES / role / "vars" / "Debian.yml")
    sles = {**load(ROLES / role / "vars" / "Suse.yml"), **load(ROLES / role / "vars" / "SLES_15.yml")}
    assert debian, "%s: vars/Debian.yml is empty" % role
    missing = sorted(set(debian) - set(sles))
    assert not missing, "%s: vars/Suse.yml + SLES_15.yml lack %s" % (role, missing)
    extra = sorted(set(sles) - set(debian))
    assert not extra, "%s: SLES defines keys Debian does not (typo?): %s" % (role, extra)
    wrong = sorted(k for k in debian if kind(debian[k]) != kind(sles[k]))
    assert not wrong, "%s: SLES values of another kind than Debian's: %s" % (role, wrong)


@pytest.mark.parametrize("role", OS_ROLES)
def test_os_vars_are_internal(role):
    for name in ("Debian.yml", "Suse.yml", "SLES_15.yml", "main.yml"):
        public = [k for k in load(ROLES / role / "vars" / name) if not k.startswith("__%s_" % role)]
        assert not public, "%s/vars/%s: internal names must start with __%s_: %s" % (role, name, role, public)


@pytest.mark.parametrize("role", SPEC_ROLES)
def test_argument_specs_document_every_default(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    options = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    undocumented = sorted(set(defaults) - set(options))
    assert not undocumented, "%s: defaults without an argument_specs entry: %s" % (role, undocumented)
    for name, spec in options.items():
        assert spec.get("description"), "%s: option %s has no description" % (role, name)
    assert all(k.startswith(role + "_") for k in defaults), "%s: public variables must start with %s_" % (role, role)
