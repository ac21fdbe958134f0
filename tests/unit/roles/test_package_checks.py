# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' read-state shell scripts, run against this machine's real dpkg, mounts and files.

dom0's install and image_store's install ask dpkg (one shell command; image_store asks rpm on SUSE,
by its vars) which packages are missing
and run the package module only for those; dom0's also stages the no-op update-grub that its apt
run puts first on dpkg's PATH (an apt configuration read through APT_CONFIG), only when something is
missing and never in check mode. image_store's command also says whether the store is mounted with
the exact fstab entry (then the mount module is skipped); dom0's boot state command whether the
generated grub config has the Xen command line (which decides the regeneration and the reboot).
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


def run_lines(text, *args):
    result = subprocess.run(["sh", "-ec", text, "sh", *args], capture_output=True, text=True, check=False)
    return result.returncode, result.stdout.splitlines()


def root_mount():
    """This machine's entry for / (source, fstype): a path that is a mount point."""
    fields = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "--mountpoint", "/"], capture_output=True,
                            text=True, check=True).stdout.split()
    return fields[0], fields[1]


def test_image_store_lists_only_the_missing_packages(tmp_path):
    text = script("image_store", "__image_store_state")
    fstab = tmp_path / "fstab"
    fstab.write_text("")
    mount = [str(fstab), "filer:/vol/xen_images", str(tmp_path), "nfs", "rw,hard"]
    assert run_lines(text, "dpkg", *mount, INSTALLED, MISSING, INSTALLED) == (0, ["missing " + MISSING])
    assert run_lines(text, "dpkg", *mount, INSTALLED) == (0, [])


def test_image_store_asks_the_package_database_of_its_os_family_not_whichever_tool_is_there(tmp_path):
    # The SUSE vars say rpm: a package dpkg knows on this Debian machine is not installed for rpm (a SLES
    # host with dpkg on it once had its nfs-client reinstalled on every run: dpkg-query was asked).
    text = script("image_store", "__image_store_state")
    fstab = tmp_path / "fstab"
    fstab.write_text("")
    mount = [str(fstab), "filer:/vol/xen_images", str(tmp_path), "nfs", "rw,hard"]
    assert run_lines(text, "rpm", *mount, INSTALLED) == (0, ["missing " + INSTALLED])
    for family, query in (("Debian", "dpkg"), ("Suse", "rpm")):
        os_vars = yaml.safe_load((ROLES / "image_store" / "vars" / (family + ".yml")).read_text())
        assert os_vars["__image_store_package_query"] == query


@pytest.mark.skipif(shutil.which("findmnt") is None, reason="needs findmnt")
def test_image_store_says_mounted_only_for_a_mount_point_with_the_exact_fstab_entry(tmp_path):
    text = script("image_store", "__image_store_state")
    src, fstype = root_mount()
    fstab = tmp_path / "fstab"
    args = ["dpkg", str(fstab), src, "/", fstype, "rw,hard"]
    cases = {
        "# comment\n%s / %s rw,hard 0 0\n" % (src, fstype): ["mounted"],
        "%s\t/\t%s\trw,hard\n" % (src, fstype): ["mounted"],  # dump and pass default to 0
        "%s / %s rw,soft 0 0\n" % (src, fstype): [],  # other options: the module rewrites the entry
        "other:/x / %s rw,hard 0 0\n" % fstype: [],
        "%s / %s rw,hard 0 2\n" % (src, fstype): [],
        "%s / %s rw,hard 0 0\n%s / %s rw,hard 0 0\n" % (src, fstype, src, fstype): [],  # two entries
        "#%s / %s rw,hard 0 0\n" % (src, fstype): [],
        "": [],
    }
    for content, expected in cases.items():
        fstab.write_text(content)
        assert run_lines(text, *args) == (0, expected), content
    fstab.write_text("%s %s %s rw,hard 0 0\n" % (src, tmp_path, fstype))
    assert run_lines(text, "dpkg", str(fstab), src, str(tmp_path), fstype, "rw,hard") == (0, []), "not a mount point"


def test_dom0_boot_state_reads_the_grub_config(tmp_path):
    text = script("dom0", "__dom0_boot_state_script")
    cmdline = "dom0_mem=1024M,max:1024M spec-ctrl=eager-fpu"
    grub = tmp_path / "grub.cfg"
    caps = Path("/proc/xen/capabilities")
    xen = ["xen " + caps.read_text().strip()] if caps.exists() else []
    assert run_lines(text, "apply", cmdline, str(grub)) == (0, ["grub none"] + xen)
    grub.write_text("multiboot2 /boot/xen.gz placeholder %s\n" % cmdline)
    assert run_lines(text, "apply", cmdline, str(grub)) == (0, ["grub current"] + xen)
    grub.write_text("multiboot2 /boot/xen.gz placeholder dom0_mem=512M,max:512M\n")
    assert run_lines(text, "check", cmdline, str(grub)) == (0, ["grub stale"] + xen)
    assert run_lines(text, "apply", cmdline, "") == (0, xen), "boot loader not managed: no grub line"
    grub.chmod(0)
    if subprocess.run(["sh", "-c", 'exec cat "$1" >/dev/null 2>&1', "sh", str(grub)], check=False).returncode != 0:
        assert run_lines(text, "apply", cmdline, str(grub))[0] == 2, "an unreadable grub config fails"


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
