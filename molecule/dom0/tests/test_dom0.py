# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""testinfra checks of molecule/dom0: what roles dom0 and image_store left on each container.

The expected values are written out here, from molecule/dom0/inventory/hosts.yml, rather than
recomputed with the collection's code.
"""

from __future__ import annotations

import pytest
from dom0_checks import assert_root_ssh_to_the_other_dom0s, name, sourced

DOM0S = ("dom0-a", "dom0-b")
# xen_host_dom0_memory 1G (+ dom0_max_vcpus "2") and 1536.
XEN_CMDLINE = {
    "dom0-a": "dom0_mem=1024M,max:1024M dom0_max_vcpus=2",
    "dom0-b": "dom0_mem=1536M,max:1536M",
}
BRIDGE_ADDRESS = {"dom0-a": "192.0.2.11/24", "dom0-b": "192.0.2.12/24"}
IMAGE_STORE = "/srv/xen/images"


@pytest.mark.parametrize("package", ["xen-system-amd64", "xen-hypervisor-4.17-amd64", "xen-utils-4.17",
                                     "qemu-system-xen", "bridge-utils", "openssh-server", "nfs-common"])
def test_packages_installed(host, package):
    assert host.package(package).is_installed


def test_the_xen_postinsts_update_grub_was_the_roles_no_op(host):
    """update-grub is on PATH and /boot/grub exists (prepare.yml), so xen-hypervisor-common's and
    xen-hypervisor-4.17-amd64's postinsts run it during the install; the role makes both calls its no-op
    (grub-mkconfig probes every kernel, 49 s on a lab blade) and regenerates the config once itself."""
    assert host.file("/usr/sbin/update-grub").exists and host.file("/boot/grub").is_directory
    term = host.file("/var/log/apt/term.log").content_string
    assert term.count("update-grub left to the dom0 role") >= 2, "the Xen postinsts did not reach the role's no-op"
    assert "Generating grub configuration file" not in term and "grub-probe" not in term, \
        "the real update-grub ran inside the install"


def test_grub_xen_cfg_sets_default_entry_and_dom0_memory(host):
    cfg = host.file("/etc/default/grub.d/xen.cfg")
    assert cfg.contains("^XEN_OVERRIDE_GRUB_DEFAULT=1$")
    assert cfg.contains('^GRUB_CMDLINE_XEN_DEFAULT="%s"$' % XEN_CMDLINE[name(host)])
    # What update-grub sees when it sources the file (grub-mkconfig's helpers stubbed).
    values = sourced(
        host, "/etc/default/grub.d/xen.cfg", ["GRUB_DEFAULT", "GRUB_CMDLINE_XEN_DEFAULT"],
        prelude="grub_warn() { echo WARN; }; gettext() { printf %s \"$1\"; }; GRUB_DISTRIBUTOR=Debian;")
    assert values == {
        "GRUB_DEFAULT": "Debian GNU/Linux, with Xen hypervisor",
        "GRUB_CMDLINE_XEN_DEFAULT": XEN_CMDLINE[name(host)],
    }


def test_xl_conf(host):
    conf = host.file("/etc/xen/xl.conf")
    assert conf.contains('^autoballoon="off"$')
    assert conf.contains('^lockfile="/var/lock/xl"$')
    assert conf.contains('^vif.default.bridge="br0"$')


def test_xendomains_never_saves_restores_or_migrates(host):
    values = sourced(host, "/etc/default/xendomains",
                     ["XENDOMAINS_SAVE", "XENDOMAINS_RESTORE", "XENDOMAINS_MIGRATE", "XENDOMAINS_AUTO"])
    assert values == {"XENDOMAINS_SAVE": "", "XENDOMAINS_RESTORE": "false", "XENDOMAINS_MIGRATE": "",
                      "XENDOMAINS_AUTO": "/etc/xen/auto"}
    auto = host.file("/etc/xen/auto")
    assert auto.is_directory and not auto.is_symlink


@pytest.mark.parametrize("service", ["xen", "xendomains"])
def test_xen_services_enabled(host, service):
    assert host.service(service).is_enabled


def test_guest_bridge_written(host):
    br0 = host.file("/etc/network/interfaces.d/br0")
    assert br0.mode == 0o644
    assert br0.contains("^iface br0 inet static$")
    assert br0.contains("^    address %s$" % BRIDGE_ADDRESS[name(host)])
    assert br0.contains("^    gateway 192.0.2.1$")
    assert br0.contains("^    bridge_ports eth1$")


def test_image_store_in_fstab(host):
    fstab = host.file("/etc/fstab").content_string.splitlines()
    assert ("filer.example.com:/vol/xen_images %s nfs rw,hard,tcp,timeo=600,retrans=2,_netdev,nfsvers=3 0 0"
            % IMAGE_STORE) in fstab
    assert host.file(IMAGE_STORE).is_directory


def test_xen_services_ordered_after_image_store(host):
    assert host.file("/etc/systemd/system/xendomains.service.d/image-store.conf").contains(
        "^RequiresMountsFor=%s$" % IMAGE_STORE)
    # systemd has loaded the drop-ins: the mount is required by xendomains, ordered before xen.
    requires = host.check_output("systemctl show -p RequiresMountsFor --value xendomains.service")
    assert requires == IMAGE_STORE
    xendomains_after = host.check_output("systemctl show -p After --value xendomains.service").split()
    xen_after = host.check_output("systemctl show -p After --value xen.service").split()
    assert "srv-xen-images.mount" in xendomains_after
    assert "srv-xen-images.mount" in xen_after


def test_root_ssh_to_every_other_dom0(host):
    assert_root_ssh_to_the_other_dom0s(host, DOM0S)
