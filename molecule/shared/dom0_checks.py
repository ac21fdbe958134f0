# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the dom0 scenarios' testinfra checks (molecule/dom0, molecule/dom0_sles); their
molecule.yml puts this directory on the verifier's PYTHONPATH."""

from __future__ import annotations


def name(host):
    """The container's name: the inventory host the checks expect values for."""
    return host.backend.get_hostname()


def sourced(host, path, names, prelude=""):
    """Values of shell variables after sourcing ``path`` the way its reader does."""
    script = "%s . %s >/dev/null 2>&1; printf '%%s\\n' %s" % (
        prelude, path, " ".join('"${%s}"' % n for n in names))
    out = host.check_output("bash -c %s", script)
    return dict(zip(names, out.split("\n"), strict=True))
