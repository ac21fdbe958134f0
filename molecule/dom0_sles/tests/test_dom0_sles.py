# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra checks of molecule/dom0_sles: what roles dom0 and image_store left on each SLES 15 SP5-shaped
container (scripts/build-sles-image.sh), through their SLES branch.

The expected values are written out here, from molecule/dom0_sles/inventory/hosts.yml and SUSE's paths,
rather than recomputed with the collection's code.
"""

from __future__ import annotations

import pytest
from dom0_checks import assert_root_ssh_to_the_other_dom0s, name, sourced

DOM0S = ("sles-a", "sles-b")
# xen_host_dom0_memory 2G (+ dom0_max_vcpus "2") and 1536.
XEN_CMDLINE = {
    "sles-a": "dom0_mem=2048M,max:2048M dom0_max_vcpus=2",
    "sles-b": "dom0_mem=1536M,max:1536M",
}
BRIDGE_ADDRESS = {"sles-a": "192.0.2.21/24", "sles-b": "192.0.2.22/24"}
IMAGE_STORE = "/srv/xen/images"
XEN_ENTRY = "SLES 15-SP5, with Xen hypervisor"
# What the Debian branch writes; none of it may appear on SLES.
DEBIAN_PATHS = [
    "/etc/default/grub.d/xen.cfg",
    "/etc/default/xendomains",
    "/etc/network/interfaces.d/br0",
    "/etc/systemd/network/50-br0.netdev",
    "/etc/systemd/network/50-br0.network",
    "/boot/grub/grub.cfg",
    "/var/lib/consolidation-xen/apt-path",
    "/etc/systemd/system/xen.service.d/image-store.conf",
]


def test_the_container_is_sles_to_ansible_and_testinfra(host):
    assert host.system_info.distribution == "sles"
    assert host.system_info.release == "15.5"
    # A SLES host has neither apt nor dpkg: a role that reached for them would fail here.
    assert host.run("command -v apt-get || command -v dpkg-query").rc != 0


@pytest.mark.parametrize("package", [
    "patterns-server-xen_server", "xen", "xen-libs", "xen-tools", "xen-tools-xendomains-wait-disk",
    "tftp", "bridge-utils", "openssh-server", "openssh-clients", "nfs-client"])
def test_packages_installed_with_zypper(host, package):
    # testinfra asks rpm on SLES.
    assert host.package(package).is_installed


def test_xen_server_pattern_installed(host):
    # What community.general.zypper asks to decide that the pattern is there.
    out = host.check_output(
        "zypper --non-interactive --xmlout search --match-exact --details --installed-only --type pattern xen_server")
    assert 'status="installed" name="xen_server" kind="pattern"' in out


def test_installed_programs_came_with_their_packages(host):
    # Absent from the image until zypper installed bridge-utils and nfs-client.
    assert host.file("/usr/sbin/brctl").is_file
    assert host.check_output("rpm -qf /usr/sbin/brctl").startswith("bridge-utils-")
    assert host.check_output("rpm -qf /usr/sbin/mount.nfs").startswith("nfs-client-")


def test_grub_defaults_hold_the_xen_command_line(host):
    grub = host.file("/etc/default/grub")
    assert grub.contains("^GRUB_DEFAULT=saved$")
    assert grub.contains('^GRUB_CMDLINE_XEN_DEFAULT="%s"$' % XEN_CMDLINE[name(host)])
    # xen-tools' %post added the line; the role edited it in place (one line, the packaged comment kept).
    assert len([line for line in grub.content_string.splitlines() if line.startswith("GRUB_CMDLINE_XEN_DEFAULT=")]) == 1
    assert grub.contains("^# Xen boot parameters for non-recovery Xen boots")
    values = sourced(host, "/etc/default/grub", ["GRUB_DEFAULT", "GRUB_CMDLINE_XEN_DEFAULT"])
    assert values == {"GRUB_DEFAULT": "saved", "GRUB_CMDLINE_XEN_DEFAULT": XEN_CMDLINE[name(host)]}


def test_grub_cfg_regenerated_once_by_the_role_and_xen_entry_saved(host):
    cfg = host.file("/boot/grub2/grub.cfg")
    assert cfg.contains("^menuentry '%s'" % XEN_ENTRY)
    assert cfg.contains("multiboot2 /boot/xen-[^ ]*\\.gz placeholder  *%s$" % XEN_CMDLINE[name(host)])
    # Two runs of grub2-mkconfig -o /boot/grub2/grub.cfg: xen's %post (update-bootloader --refresh) and
    # the role's handler after the settings changed; none in the idempotence run.
    calls = host.file("/var/log/grub2-mkconfig.calls").content_string.splitlines()
    assert [c.split(" ", 1)[1] for c in calls] == ["grub2-mkconfig -o /boot/grub2/grub.cfg"] * 2
    assert host.check_output("grub2-editenv list") == "saved_entry=%s" % XEN_ENTRY


def test_xl_conf_edited_in_place(host):
    conf = host.file("/etc/xen/xl.conf")
    assert conf.contains('^autoballoon="off"$')
    assert conf.contains('^lockfile="/var/lock/xl"$')
    assert conf.contains('^vif.default.bridge="br0"$')
    assert conf.contains("^## Global xl configuration")


def test_sysconfig_xendomains_never_saves_restores_or_migrates(host):
    path = "/etc/sysconfig/xendomains"
    # (an empty value last would be lost to check_output's strip)
    values = sourced(host, path, ["XENDOMAINS_SAVE", "XENDOMAINS_RESTORE", "XENDOMAINS_MIGRATE",
                                  "XENDOMAINS_SHUTDOWN_ALL", "XENDOMAINS_AUTO_ONLY", "XENDOMAINS_AUTO"])
    assert values == {"XENDOMAINS_SAVE": "", "XENDOMAINS_RESTORE": "false", "XENDOMAINS_MIGRATE": "",
                      "XENDOMAINS_AUTO": "/etc/xen/auto", "XENDOMAINS_AUTO_ONLY": "true",
                      "XENDOMAINS_SHUTDOWN_ALL": ""}
    # The fillup template's comments stay next to the settings.
    assert host.file(path).contains("^## Path: *System/Virtualization")
    auto = host.file("/etc/xen/auto")
    assert auto.is_directory and not auto.is_symlink


@pytest.mark.parametrize("unit", ["xencommons.service", "xendomains.service"])
def test_suse_xen_units_enabled(host, unit):
    assert host.check_output("systemctl is-enabled %s", unit) == "enabled"


def test_wicked_bridge_files(host):
    br0 = host.file("/etc/sysconfig/network/ifcfg-br0")
    assert br0.mode == 0o644
    assert br0.contains("^BRIDGE='yes'$")
    assert br0.contains("^BRIDGE_PORTS='eth1'$")
    assert br0.contains("^IPADDR='%s'$" % BRIDGE_ADDRESS[name(host)])
    assert br0.contains("^STARTMODE='auto'$")
    port = host.file("/etc/sysconfig/network/ifcfg-eth1")
    assert port.contains("^BOOTPROTO='none'$")
    assert host.file("/etc/sysconfig/network/ifroute-br0").contains("^default 192.0.2.1 - br0$")


def test_image_store_in_fstab(host):
    fstab = host.file("/etc/fstab").content_string.splitlines()
    assert ("filer.example.com:/vol/xen_images %s nfs rw,hard,tcp,timeo=600,retrans=2,_netdev,nfsvers=3 0 0"
            % IMAGE_STORE) in fstab
    assert host.file(IMAGE_STORE).is_directory


def test_suse_units_ordered_after_image_store(host):
    assert host.check_output("systemctl show -p RequiresMountsFor --value xendomains.service") == IMAGE_STORE
    assert "srv-xen-images.mount" in host.check_output("systemctl show -p After --value xendomains.service").split()
    assert "srv-xen-images.mount" in host.check_output("systemctl show -p After --value xencommons.service").split()


def test_no_debian_path_written(host):
    present = [p for p in DEBIAN_PATHS if host.file(p).exists]
    assert present == []


def test_sshd_under_its_suse_name_and_root_ssh_to_the_other_dom0(host):
    assert host.check_output("systemctl is-active sshd.service") == "active"
    assert_root_ssh_to_the_other_dom0s(host, DOM0S)
