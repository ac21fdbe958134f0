# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for storage fencing (roles/filer, entry point fence): unfence_problems, and for the ONTAP
backend fence_ontap_records, fence_ontap_plan, fence_ontap_access and fence_ontap_confirm. Thin faces over
module_utils/fence.py.

Documentation lives beside this file, one YAML per filter (unfence_problems.yml, ...).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.module_utils import fence
from ansible_collections.consolidation.xen.plugins.plugin_utils.plain import to_plain as _plain


def unfence_problems(record, boot, running):
    try:
        return fence.unfence_problems(_plain(record), _plain(boot), _plain(running) or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("unfence_problems: expected a fence record, the host's boot and the running "
                                 "guests (%s)" % exc) from None


def fence_ontap_records(policies, prefix):
    records, problems = fence.ontap_records(_plain(policies) or [], str(prefix))
    if problems:
        raise AnsibleFilterError("fence_ontap_records: %s; a fenced host stays fenced: fix or remove the "
                                 "policy by hand" % " | ".join(problems))
    return records


def fence_ontap_plan(policies, prefix, image_policy, host, address, at):
    try:
        return fence.ontap_fence(_plain(policies) or [], str(prefix), str(image_policy), str(host), str(address),
                                 int(float(at)))
    except (fence.FenceError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("fence_ontap_plan: %s" % exc) from None


def fence_ontap_access(records, address, want="denied"):
    if want not in ("denied", "granted"):
        raise AnsibleFilterError("fence_ontap_access: want must be denied or granted, got %r" % (want,))
    records = _plain(records) or []
    return {"problems": fence.ontap_access(records, str(address), want), "lines": fence.ontap_access_lines(records)}


def fence_ontap_confirm(policies, check, prefix, image_policy, host, address, state="present"):
    if state not in ("present", "absent"):
        raise AnsibleFilterError("fence_ontap_confirm: state must be present or absent, got %r" % (state,))
    try:
        return fence.ontap_confirm(_plain(policies) or [], _plain(check) or [], str(prefix), str(image_policy),
                                   str(host), str(address), state)
    except fence.FenceError as exc:
        raise AnsibleFilterError("fence_ontap_confirm: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {
            "unfence_problems": unfence_problems,
            "fence_ontap_records": fence_ontap_records,
            "fence_ontap_plan": fence_ontap_plan,
            "fence_ontap_access": fence_ontap_access,
            "fence_ontap_confirm": fence_ontap_confirm,
        }
