# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the dom0 scenarios' testinfra checks (molecule/dom0, molecule/dom0_sles); their
molecule.yml puts this directory on the verifier's PYTHONPATH."""

from __future__ import annotations


def name(host):
    """The container's name: the inventory host the checks expect values for."""
    return host.backend.get_hostname()


def assert_root_ssh_to_the_other_dom0s(host, dom0s):
    """From ``host``, root reaches every other of ``dom0s`` by name: the peer's host key is pinned in
    known_hosts and root logs in with its key, no prompt of either kind (what xl migrate needs)."""
    me = name(host)
    for peer in dom0s:
        if peer == me:
            continue
        assert host.run("ssh-keygen -F %s -f /root/.ssh/known_hosts", peer).rc == 0
        result = host.run(
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 root@%s "
            "'echo $(hostname)'", peer)
        assert result.rc == 0, result.stderr
        assert result.stdout.strip() == peer


def sourced(host, path, names, prelude=""):
    """Values of shell variables after sourcing ``path`` the way its reader does."""
    script = "%s . %s >/dev/null 2>&1; printf '%%s\\n' %s" % (
        prelude, path, " ".join('"${%s}"' % n for n in names))
    out = host.check_output("bash -c %s", script)
    return dict(zip(names, out.split("\n"), strict=True))
