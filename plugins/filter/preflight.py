# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters preflight, cluster_inventory and xl_guests: the inventory read through its contract.

``preflight`` is what makes "plan before touching anything" hold whatever ``--limit``, ``--tags``,
``--skip-tags`` or ``--start-at-task`` say: every playbook templates it into the ``hosts:`` of its
second play, which Ansible evaluates before that play runs and before any later play, task, tag
or limit is considered (the first play only loads the inventory, so that ``hostvars`` exists).
A refusal there ends ansible-playbook before its first connection to a managed host.

Documentation lives beside this file, one YAML per filter (preflight.yml, ...).
"""

from __future__ import annotations

import json
import os

from ansible import context
from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.consolidation.xen.plugins.module_utils import contract
from ansible_collections.consolidation.xen.plugins.module_utils import preflight as _preflight
from ansible_collections.consolidation.xen.plugins.plugin_utils.plain import to_plain

_display = Display()
# One process evaluates a play's hosts: twice (the executor, then the task queue manager): the
# second evaluation of the same inputs reuses the first result and prints nothing again.
_DONE = {}


def read_inventory(hostvars, groups):
    """The contract's variables of every dom0, guest and filer, and the run options, as plain data."""
    try:
        groups = to_plain(groups) or {}
        names = {g: [str(n) for n in groups.get(g) or []] for g in contract.GROUPS.values()}
        out = {"groups": names, "vars": {}, "run": {}}
        for scope, group in contract.GROUPS.items():
            wanted = contract.names(scope)
            for name in names[group]:
                hv = hostvars[name]
                out["vars"][name] = {v: to_plain(hv[v]) for v in wanted if v in hv}
        local = hostvars["localhost"]
        out["run"] = {v: to_plain(local[v]) for v in contract.names("run") if v in local}
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("consolidation.xen: cannot read the inventory: %s" % exc) from None
    # Run options that name a file on the controller: whether it is one (the preflight refuses a missing one).
    out["controller_files"] = {out["run"][v]: os.path.isfile(out["run"][v]) for v in ("maintain_tasks",)
                               if isinstance(out["run"].get(v), str)}
    out["controller_dirs"] = {out["run"][v]: os.path.isdir(os.path.dirname(out["run"][v]) or "/")
                              for v in ("plan_report",) if isinstance(out["run"].get(v), str)}
    args = context.CLIARGS
    out["cli"] = {"limit": args.get("subset"), "tags": list(args.get("tags") or []),
                  "skip_tags": list(args.get("skip_tags") or []), "start_at_task": args.get("start_at_task")}
    return out


def _check(hostvars, groups, playbook):
    inventory = read_inventory(hostvars, groups)
    key = json.dumps([playbook, inventory], sort_keys=True, default=str)
    if key in _DONE:
        return _DONE[key], False
    try:
        result = _preflight.check(inventory, playbook=str(playbook))
    except _preflight.PreflightError as exc:
        lines = ["consolidation.xen preflight of %s.yml refused the inventory or the run options; no host was "
                 "contacted, nothing was changed (%d problem%s):"
                 % (playbook, len(exc.problems), "" if len(exc.problems) == 1 else "s")]
        lines += ["  - %s" % p for p in exc.problems]
        if exc.report:
            lines += ["  " + line for line in exc.report["table"]]
        raise AnsibleFilterError("\n".join(lines)) from None
    _DONE[key] = result
    return result, True


def _listing_only():
    args = context.CLIARGS
    return any(args.get(k) for k in ("syntax", "listhosts", "listtasks", "listtags"))


def preflight(hostvars, groups, playbook="site", pattern="localhost"):
    if hostvars is None:
        # --syntax-check and the --list-* modes template hosts: without running any play, so there
        # is no hostvars yet; they contact no host either. Any real run has it (the first play ran).
        if _listing_only():
            return pattern
        raise AnsibleFilterError("consolidation.xen preflight: hostvars is not defined; the playbook must start "
                                 "with the play that loads the inventory (see playbooks/plan.yml)")
    result, first = _check(hostvars, groups, playbook)
    if first:
        _display.display(result["summary"])
        for warning in result["warnings"]:
            _display.warning(warning)
    return pattern


def cluster_inventory(hostvars, groups, playbook="site"):
    result, _first = _check(hostvars, groups, playbook)
    return result


def xl_guests(hostvars, guest_names, default_disks, vnc_listen):
    problems = []
    out = []
    for name in [str(n) for n in guest_names or []]:
        try:
            hv = hostvars[name]
            raw = {v: to_plain(hv[v]) for v in contract.names("guest") if v in hv}
        except (KeyError, TypeError) as exc:
            raise AnsibleFilterError("xl_guests: no inventory variables for %s" % exc) from None
        typed = contract.typed_vars("guest", "guest %s: " % name, raw, problems)
        out.append(contract.xl_guest(name, typed, to_plain(default_disks), to_plain(vnc_listen)))
    if problems:
        raise AnsibleFilterError("xl_guests: " + "; ".join(problems))
    return out


def contract_problems(values, where=""):
    where = "%s: " % where if where else ""
    return contract.check_values(to_plain(values), where)


class FilterModule:
    def filters(self):
        return {"preflight": preflight, "cluster_inventory": cluster_inventory, "xl_guests": xl_guests,
                "contract_problems": contract_problems}
