#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: evacuation_check
short_description: Plan draining a Xen host from live state and check every move before the first one
version_added: 0.1.0
description:
  - Reads where each guest runs from the dom0s' live state (RV(consolidation.xen.xen_host_info#module:xen)),
    not from the inventory, and plans moving every guest off O(drain) with the collection's engine
    (the C(consolidation.xen.evacuation_plan) filter), N-k proof of what remains included.
  - Then checks what each move needs, so that a refusal happens before anything moves - every dom0 read;
    no guest running twice; no domain left over from an interrupted C(xl migrate); no domain on O(drain)
    that the inventory does not know; no non-movable or pinned guest on O(drain); free memory now on each
    target; PV guests only where Xen has shadow paging (C(shadow) in virt_caps; Debian's Xen has none);
    the target's CPU features cover the source's unless the guest has a common CPUID mask; the guest's
    bridges, the shared image store and root ssh trust on each target.
  - Fails, naming every guest and host at fault, when a check fails (unless O(enforce=false)).
  - Pure computation on what it is given; it changes nothing, in check mode too. Run it on the controller.
author:
  - consolidation.xen maintainers (@consolidation-xen)
extends_documentation_fragment:
  - consolidation.xen.cluster_check
  - consolidation.xen.attributes
options:
  drain:
    description: The host to empty.
    type: str
    required: true
  facts:
    description: For every Xen host, RV(consolidation.xen.xen_host_info#module:xen) as read now, or null when it
      could not be read.
    type: dict
    required: true
  tolerate:
    description: Failures the remaining cluster should survive (reported in RV(plan), not enforced).
    type: int
    default: 1
  cpuid_masked:
    description: Guests whose config carries a common CPUID mask (they may move to hosts with fewer CPU features).
    type: list
    elements: str
    default: []
  guest_bridges:
    description: Each guest's bridges, as a mapping of guest name to a list of bridge names.
    type: dict
  bridges:
    description: Bridges present on each host, as a mapping of host name to a list of names; hosts left out are
      not checked.
    type: dict
  image_store:
    description: Whether the shared image store is mounted on each host (host name to bool); hosts left out are
      not checked.
    type: dict
  ssh_ok:
    description: Whether O(drain) reaches each host with root ssh and no password (host name to bool).
    type: dict
  dead:
    description:
      - O(drain) has failed and is fenced (C(failover.yml)) - its guests are every inventory guest whose C(state) is
        V(running) that runs on no other host, and they are restarted there rather than migrated (no PV, CPU or ssh
        check); RV(lines) names the guests meant to be down that are left so. A O(drain) whose state can still be
        read is refused.
      - Without it, a guest whose C(state) is not V(running) that still runs on O(drain) is refused, named (it is
        never moved; site.yml shuts it down).
    type: bool
    default: false
  migrating:
    description: C(xl migrate) processes still running on each host (host name to a list of process lines);
      any at all stops the plan.
    type: dict
  maintenance:
    description: Each host's maintenance record (RV(consolidation.xen.xen_host_info#module:live.maintenance)), or
      null. A host whose record says it is out (C(maintain.yml) has it in maintenance) takes no guest.
    type: dict
  enforce:
    description: Fail when a check fails. With V(false) the result is returned with RV(ok=false).
    type: bool
    default: true
seealso:
  - module: consolidation.xen.xen_host_info
  - module: consolidation.xen.xl_domain
"""

EXAMPLES = r"""
- name: Plan and check draining blade2
  consolidation.xen.evacuation_check:
    guests: "{{ xen_model.guests }}"
    hosts: "{{ xen_model.hosts }}"
    drain: blade2
    facts: "{{ dict(groups['xen_hosts'] | zip(groups['xen_hosts'] | map('extract', hostvars, 'xen_live'))) }}"
  register: evacuation
"""

RETURN = r"""
ok:
  description: Whether every check passed.
  returned: always
  type: bool
problems:
  description: What stops the evacuation, one sentence each naming the guest or host.
  returned: always
  type: list
  elements: str
moves:
  description: The moves in execution order, each with C(guest), C(from), C(to), C(memory_mb) and C(type).
  returned: always
  type: list
  elements: dict
lines:
  description: The moves for people, one line each, for example C(1. g1 - blade2 -> blade1 (pvh, 136 MiB)).
  returned: always
  type: list
  elements: str
live:
  description: Where guests run now - C(current) (guest to host), C(twice), C(unknown), C(transient), C(unread).
  returned: always
  type: dict
plan:
  description: The engine's evacuation plan (see the C(consolidation.xen.evacuation_plan) filter).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.consolidation.xen.plugins.module_utils import live
from ansible_collections.consolidation.xen.plugins.module_utils.checks import (
    cluster_argument_spec,
    finish,
    model_refused,
)
from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError


def main():
    module = AnsibleModule(
        argument_spec=cluster_argument_spec(
            drain=dict(type="str", required=True),
            facts=dict(type="dict", required=True),
            cpuid_masked=dict(type="list", elements="str", default=[]),
            guest_bridges=dict(type="dict"),
            bridges=dict(type="dict"),
            image_store=dict(type="dict"),
            ssh_ok=dict(type="dict"),
            dead=dict(type="bool", default=False),
            migrating=dict(type="dict"),
            maintenance=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = live.evacuation_check(p["guests"], p["hosts"], p["drain"], p["facts"], tolerate=p["tolerate"],
                                       overhead=p["overhead"], cpuid_masked=p["cpuid_masked"],
                                       bridges=p["bridges"], guest_bridges=p["guest_bridges"],
                                       image_store=p["image_store"], ssh_ok=p["ssh_ok"], dead=p["dead"],
                                       migrating=p["migrating"], maintenance=p["maintenance"])
    except ModelError as exc:
        model_refused(module, exc)
    what = "failover of" if p["dead"] else "evacuation of"
    finish(module, result, "%s %s refused, nothing moved: %s" % (what, p["drain"], "; ".join(result["problems"])))


if __name__ == "__main__":
    main()
