# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for roles/filer: filer_plan (volumes, per-guest qtrees, quotas and export policies) and,
for the Linux backend, filer_xfs_projects and filer_xfs_limits_todo (XFS project quotas), filer_backup_pick
and filer_restore_changes (restore.yml).

Documentation lives beside this file, one YAML per filter (filer_plan.yml, ...).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.module_utils import filer
from ansible_collections.consolidation.xen.plugins.plugin_utils.plain import to_plain as _plain

_HOST_VARS = (filer.HOST_ADDRESS_VAR,)
_GUEST_VARS = (filer.GUEST_ADDRESS_VAR, filer.GUEST_DATA_VAR, filer.GUEST_STATE_VAR)


def _pick(hostvars, name, names):
    # Read only the variables the plan uses: each access templates that one value.
    hv = hostvars[name]
    return {var: _plain(hv[var]) for var in names if var in hv}


def filer_plan(hostvars, host_names, guest_names, defaults):
    host_names = [str(n) for n in (host_names or [])]
    guest_names = [str(n) for n in (guest_names or [])]
    try:
        host_vars = [_pick(hostvars, n, _HOST_VARS) for n in host_names]
        guest_vars = [_pick(hostvars, n, _GUEST_VARS) for n in guest_names]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("filer_plan: no inventory variables for %s" % exc) from None
    try:
        return filer.filer_plan(host_names, host_vars, guest_names, guest_vars, _plain(defaults))
    except ValueError as exc:
        raise AnsibleFilterError("filer_plan: %s" % exc) from None


def filer_xfs_projects(plan, base=10000, span=1000000, overrides=None):
    try:
        return filer.xfs_projects(_plain(plan), base=_plain(base), span=_plain(span), overrides=_plain(overrides))
    except ValueError as exc:
        raise AnsibleFilterError("filer_xfs_projects: %s" % exc) from None
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("filer_xfs_projects: expected the result of filer_plan (%s)" % exc) from None


def filer_xfs_limits_todo(projects, report):
    try:
        current = filer.parse_xfs_report(_plain(report))
        return [p for p in _plain(projects) if current.get(p["project_id"]) != filer.xfs_limits(p)]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("filer_xfs_limits_todo: expected the result of filer_xfs_projects (%s)"
                                 % exc) from None


def filer_backup_pick(names, wanted, guest, dest):
    try:
        return filer.pick_backup(_plain(names), _plain(wanted), _plain(guest), _plain(dest))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


def filer_restore_changes(lines):
    return filer.restore_changes(_plain(lines))


class FilterModule:
    def filters(self):
        return {
            "filer_plan": filer_plan,
            "filer_xfs_projects": filer_xfs_projects,
            "filer_xfs_limits_todo": filer_xfs_limits_todo,
            "filer_backup_pick": filer_backup_pick,
            "filer_restore_changes": filer_restore_changes,
        }
