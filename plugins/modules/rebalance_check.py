#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rebalance_check
short_description: Plan the live migrations that bring running Xen guests back to the planned placement
version_added: 0.1.0
description:
  - Compares where guests run now (RV(consolidation.xen.xen_host_info#module:xen) of every dom0) with the
    engine's placement of the inventory (what C(plan.yml) and C(site.yml) plan), and orders the moves back
    to it - each guest moves at most once, straight to its planned host.
  - Every move fits when it runs and the N-k proof (O(tolerate)) holds after every move; a move that would
    break either waits for others, and when none can run the plan stops and says why, naming the guests.
  - O(max_moves) caps the moves; the guests still away from their planned host are reported.
  - Guests that run nowhere are left alone (C(site.yml) starts them). Refuses while a dom0 cannot be read,
    a guest runs twice or an interrupted C(xl migrate) left a copy.
  - Pure computation on what it is given; changes nothing. Run it on the controller.
author:
  - consolidation.xen maintainers (@consolidation-xen)
extends_documentation_fragment:
  - consolidation.xen.cluster_check
  - consolidation.xen.attributes
options:
  facts:
    description: For every Xen host, RV(consolidation.xen.xen_host_info#module:xen) as read now, or null when it
      could not be read.
    type: dict
    required: true
  tolerate:
    description: Failures the cluster must survive after every move.
    type: int
    default: 1
  strategy:
    description: The placement strategy of the plan (as for C(consolidation.xen.capacity_check)).
    type: str
    choices: [spread, pack]
    default: spread
  max_moves:
    description: Most moves to plan; null for no limit.
    type: int
  migrating:
    description: C(xl migrate) processes still running on each host (host name to a list of process lines);
      any at all stops the plan.
    type: dict
  maintenance:
    description: Each host's maintenance record (RV(consolidation.xen.xen_host_info#module:live.maintenance)), or
      null. A host whose record says it is out (C(maintain.yml) has it in maintenance) stops the plan; the
      guests planned there come back with it.
    type: dict
  enforce:
    description: Fail when the moves cannot reach the plan (within O(max_moves)). With V(false) the result is
      returned with RV(ok=false).
    type: bool
    default: true
seealso:
  - module: consolidation.xen.evacuation_check
  - module: consolidation.xen.xl_domain
"""

EXAMPLES = r"""
- name: Plan at most three moves back to the planned placement
  consolidation.xen.rebalance_check:
    guests: "{{ xen_model.guests }}"
    hosts: "{{ xen_model.hosts }}"
    facts: "{{ live_facts }}"
    max_moves: 3
  register: rebalance
"""

RETURN = r"""
ok:
  description: Whether the planned moves can run (an empty list included).
  returned: always
  type: bool
problems:
  description: Why not, one sentence each naming the guest or host.
  returned: always
  type: list
  elements: str
moves:
  description: The moves in execution order - C(guest), C(from), C(to), C(memory_mb), C(type), C(proof).
  returned: always
  type: list
  elements: dict
lines:
  description: The moves for people.
  returned: always
  type: list
  elements: str
left:
  description: Running guests still away from their planned host after the moves.
  returned: always
  type: list
  elements: str
planned:
  description: The planned placement, guest to host.
  returned: always
  type: dict
live:
  description: Where guests run now (as for C(consolidation.xen.evacuation_check)).
  returned: always
  type: dict
not_reserved:
  description: Guests whose C(state) is not V(running) that still run, guest to host; never moved (RV(lines) says
    so; site.yml shuts them down).
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
            facts=dict(type="dict", required=True),
            strategy=dict(type="str", choices=["spread", "pack"], default="spread"),
            max_moves=dict(type="int"),
            migrating=dict(type="dict"),
            maintenance=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = live.rebalance_check(p["guests"], p["hosts"], p["facts"], tolerate=p["tolerate"],
                                      overhead=p["overhead"], max_moves=p["max_moves"], strategy=p["strategy"],
                                      migrating=p["migrating"], maintenance=p["maintenance"])
    except ModelError as exc:
        model_refused(module, exc)
    finish(module, result, "rebalance refused, nothing moved: %s" % "; ".join(result["problems"]))


if __name__ == "__main__":
    main()
