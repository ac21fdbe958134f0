#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: maintenance_check
short_description: Plan the next step of a rolling Xen host maintenance from live state, with its exposure ledger
version_added: 0.1.0
description:
  - The face of the engine's maintenance schedule for C(maintain.yml). From where the guests run now
    (RV(consolidation.xen.xen_host_info#module:xen) of every dom0) and the maintenance records the dom0s keep,
    plans the rest of the roll (O(batch) hosts at a time, every guest ending on the inventory's plan) with
    the failures every intermediate state survives, and returns its next step.
  - O(phase=out) gives the hosts that go out next and the migrations that empty them, each checked as
    C(consolidation.xen.evacuation_check) checks a move (PV live migration, CPU features, bridges, image
    store, ssh trust, free memory). O(phase=back) gives the migrations that bring guests home once the hosts
    out have returned.
  - A roll on record that is not finished is resumed from live state (a host out first); a request for other
    hosts is refused. A host out that cannot be read (it did not come back) stops the plan with what the
    cluster survives now and the guests at risk.
  - Pure computation on what it is given; changes nothing. Run it on the controller.
author:
  - consolidation.xen maintainers (@consolidation-xen)
extends_documentation_fragment:
  - consolidation.xen.cluster_check
  - consolidation.xen.attributes
options:
  maintain:
    description: The hosts to roll - V(all), a failure domain, a host, or a list of them (a list or a
      comma-separated string).
    type: raw
    required: true
  facts:
    description: For every Xen host, RV(consolidation.xen.xen_host_info#module:xen) as read now, or null when it
      could not be read.
    type: dict
    required: true
  maintenance:
    description: Each host's maintenance record (RV(consolidation.xen.xen_host_info#module:live.maintenance)),
      or null - V({roll, hosts, state, since, started}) with C(state) one of V(pending), V(out), V(done).
    type: dict
  roll_id:
    description: The name of a new roll (used when no unfinished roll is on record).
    type: str
  phase:
    description: V(out) plans the next hosts out; V(back) the guests' way home after the hosts out returned.
    type: str
    choices: [out, back]
    default: out
  batch:
    description: Hosts out at once (fewer where capacity does not allow).
    type: int
    default: 1
  min_tolerate:
    description: Host failures every intermediate state must survive; null means O(tolerate).
    type: int
  tolerate:
    description: Failures the cluster is planned to survive (C(xen_tolerate)).
    type: int
    default: 1
  strategy:
    description: The placement strategy of the plan the roll ends on.
    type: str
    choices: [spread, pack]
    default: spread
  tolerate_domains:
    description: Whole failure domains the plan survives (C(xen_tolerate_domains)).
    type: int
    default: 0
  domain_protect:
    description: Lowest priority class restarted when a failure domain fails (C(xen_domain_protect)).
    type: str
  cpuid_masked:
    description: Guests whose config carries a common CPUID mask.
    type: list
    elements: str
    default: []
  guest_bridges:
    description: Each guest's bridges (guest name to a list), used when its live NICs are unknown.
    type: dict
  bridges:
    description: The bridges present on each host (host name to a list).
    type: dict
  image_store:
    description: Whether the shared image store is mounted on each host (host name to bool).
    type: dict
  ssh_ok:
    description: Root ssh trust, source host to (target host to bool).
    type: dict
  migrating:
    description: C(xl migrate) processes still running on each host; any at all stops the plan.
    type: dict
  enforce:
    description: Fail when the step cannot run. With V(false) the result is returned with RV(ok=false).
    type: bool
    default: true
seealso:
  - module: consolidation.xen.evacuation_check
  - module: consolidation.xen.xen_host_info
"""

EXAMPLES = r"""
- name: Plan the next step of rolling every dom0, from live state
  consolidation.xen.maintenance_check:
    guests: "{{ xen_model.guests }}"
    hosts: "{{ xen_model.hosts }}"
    maintain: all
    roll_id: "20261205T070000Z"
    facts: "{{ live.facts }}"
    maintenance: "{{ live.maintenance }}"
    min_tolerate: 0
  register: step
"""

RETURN = r"""
ok:
  description: Whether the step can run.
  returned: always
  type: bool
problems:
  description: Why not, one sentence each naming the host, guest or step.
  returned: always
  type: list
  elements: str
roll:
  description: The roll - C(id), C(hosts) (in order), C(left) (not done yet, a host out first), C(out),
    C(resumed) (an unfinished roll was on record) and C(started).
  returned: always
  type: dict
step:
  description: C(hosts) (going out next; empty for O(phase=back)) and C(moves) - C(guest), C(from), C(to),
    C(memory_mb), C(type) - in execution order.
  returned: always
  type: dict
lines:
  description: The roll, the next step, the schedule of the rest and its exposure ledger, for people.
  returned: always
  type: list
  elements: str
live:
  description: Where guests run now (as for C(consolidation.xen.evacuation_check)).
  returned: when the records could be read
  type: dict
report:
  description: The engine's schedule of the hosts left (events, ledger, worst, reasons).
  returned: when planned
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
            maintain=dict(type="raw", required=True),
            facts=dict(type="dict", required=True),
            maintenance=dict(type="dict"),
            roll_id=dict(type="str"),
            phase=dict(type="str", choices=["out", "back"], default="out"),
            batch=dict(type="int", default=1),
            min_tolerate=dict(type="int"),
            strategy=dict(type="str", choices=["spread", "pack"], default="spread"),
            tolerate_domains=dict(type="int", default=0),
            domain_protect=dict(type="str"),
            cpuid_masked=dict(type="list", elements="str", default=[]),
            guest_bridges=dict(type="dict"),
            bridges=dict(type="dict"),
            image_store=dict(type="dict"),
            ssh_ok=dict(type="dict"),
            migrating=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = live.maintenance_check(
            p["guests"], p["hosts"], p["maintain"], p["facts"], maintenance=p["maintenance"], roll_id=p["roll_id"],
            phase=p["phase"], batch=p["batch"], min_tolerate=p["min_tolerate"], tolerate=p["tolerate"],
            overhead=p["overhead"], strategy=p["strategy"], tolerate_domains=p["tolerate_domains"],
            domain_protect=p["domain_protect"], cpuid_masked=p["cpuid_masked"], bridges=p["bridges"],
            guest_bridges=p["guest_bridges"], image_store=p["image_store"], ssh_ok=p["ssh_ok"],
            migrating=p["migrating"])
    except ModelError as exc:
        model_refused(module, exc)
    finish(module, result, "maintenance refused, nothing moved: %s" % "; ".join(result["problems"]))


if __name__ == "__main__":
    main()
