# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' "which packages are missing" shell scripts, run against this machine's real dpkg.

dom0's install and image_store's install ask dpkg (one shell command) which packages are missing
and run the package module only for those; dom0's also stages the no-op update-grub that its apt
run puts first on dpkg's PATH (an apt configuration read through APT_CONFIG), only when something is
missing and never in check mode.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg (Debian)")
INSTALLED = "dpkg"  # dpkg-query itself comes from it
MISSING = "consolidation-xen-no-such-package"


def script(role, name):
    return yaml.safe_load((ROLES / role / "vars" / "main.yml").read_text())[name]


def run(text, *args):
    result = subprocess.run(["sh", "-c", text, "sh", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_image_store_lists_only_the_missing_packages():
    text = script("image_store", "__image_store_missing")
    assert run(text, INSTALLED, MISSING, INSTALLED) == [MISSING]
    assert run(text, INSTALLED) == []


@pytest.mark.parametrize("mode", ["apply", "check"])
def test_dom0_lists_the_missing_packages_and_stages_update_grub_only_to_install(tmp_path, mode):
    text = script("dom0", "__dom0_apt_missing")
    shim = tmp_path / "path"
    assert run(text, mode, str(shim), INSTALLED) == []
    assert not shim.exists(), "nothing to install: nothing staged"
    assert run(text, mode, str(shim), MISSING, INSTALLED) == [MISSING]
    update_grub = shim / "update-grub"
    if mode == "check":
        assert not shim.exists(), "check mode changes nothing"
        return
    result = subprocess.run([str(update_grub)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == ""
    assert "update-grub left to the dom0 role" in result.stderr
    # apt runs dpkg (and so the maintainer scripts) with DPkg::Path, not the caller's PATH: the staged
    # configuration, read through APT_CONFIG as the install task passes it, puts the shim first.
    if shutil.which("apt-config"):
        dump = subprocess.run(["apt-config", "dump", "DPkg::Path"], capture_output=True, text=True, check=True,
                              env={"APT_CONFIG": str(shim / "apt.conf"), "PATH": "/usr/bin:/bin"}).stdout
        assert 'DPkg::Path "%s:/usr/sbin:/usr/bin:/sbin:/bin";' % shim in dump, dump
