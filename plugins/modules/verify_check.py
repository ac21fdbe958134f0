#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: verify_check
short_description: Compare the live state of a Xen cluster with its plan and prove N-k on it as it runs now
version_added: 0.1.0
description:
  - Reads what every dom0 runs (RV(consolidation.xen.xen_host_info#module:xen)) and its autostart links, and
    reports in one table per section, each finding once
  - B(unsafe) - a dom0 that cannot be read, a guest running on two dom0s at once, a guest meant to run that runs
    nowhere, an autostart link on a dom0 other than the one its guest runs on (a reboot there starts a second
    copy), a migration still running or left half-done, an inventory whose plan fails, and the live N-k proof
    failing (the guests where they run now, dom0s out for maintenance or unread counted as down);
  - B(drift) - a guest running away from its planned dom0 (C(rebalance.yml) moves it back), a guest meant to be
    stopped that runs, a missing or stray autostart link;
  - B(notes) - domains the inventory does not know, dom0s out for maintenance.
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
  autostart:
    description: For every Xen host read, the entries of its autostart directory
      (RV(consolidation.xen.xen_host_info#module:live.autostart)); a guest's link is C(NAME.cfg).
    type: dict
  tolerate:
    description: Host failures the cluster must survive as it runs now (the live N-k proof).
    type: int
    default: 1
  strategy:
    description: The placement strategy of the plan (as for C(consolidation.xen.capacity_check)).
    type: str
    choices: [spread, pack]
    default: spread
  migrating:
    description: C(xl migrate) processes still running on each host (host name to a list of process lines).
    type: dict
  maintenance:
    description: Each host's maintenance record (RV(consolidation.xen.xen_host_info#module:live.maintenance)), or
      null; a host that is out counts as down in the live proof.
    type: dict
  enforce:
    description: Fail when anything is unsafe. With V(false) the report is returned with RV(ok=false).
    type: bool
    default: true
seealso:
  - module: consolidation.xen.rebalance_check
  - module: consolidation.xen.xen_host_info
"""

EXAMPLES = r"""
- name: Verify the live cluster against the plan
  consolidation.xen.verify_check:
    guests: "{{ xen_model.guests }}"
    hosts: "{{ xen_model.hosts }}"
    facts: "{{ live.facts }}"
    autostart: "{{ live.autostart }}"
    migrating: "{{ live.migrating }}"
    maintenance: "{{ live.maintenance }}"
    enforce: false
  register: verify
"""

RETURN = r"""
ok:
  description: Whether nothing is unsafe (drift alone is not).
  returned: always
  type: bool
unsafe:
  description: What is unsafe now, one sentence each naming the guest or host.
  returned: always
  type: list
  elements: str
drift:
  description: How the live state differs from the plan without being unsafe, one sentence each.
  returned: always
  type: list
  elements: str
notes:
  description: What is worth knowing and neither unsafe nor drift.
  returned: always
  type: list
  elements: str
guests:
  description: One row per guest - C(guest), C(state) (desired), C(planned), C(running) (hosts), C(autostart)
    (hosts with its link), C(verdict) (C(ok), C(drift) or C(UNSAFE)).
  returned: always
  type: list
  elements: dict
hosts:
  description: One row per host - C(host), C(read), C(guests), C(unknown) (domains not in the inventory),
    C(memory_mb) (C(used/total) as Xen counts it), C(verdict).
  returned: always
  type: list
  elements: dict
proof:
  description: The live N-k proof - C(ok), C(tolerated), C(required), C(at_risk), C(short_mb), C(down) (hosts
    counted as down), C(method).
  returned: always
  type: dict
planned:
  description: The planned placement, guest to host.
  returned: always
  type: dict
live:
  description: Where guests run now (as for C(consolidation.xen.evacuation_check)).
  returned: always
  type: dict
lines:
  description: The report for people - the guest table, the host table, the proof, each finding once, the verdict.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.consolidation.xen.plugins.module_utils.checks import (
    cluster_argument_spec,
    finish,
    model_refused,
)
from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError
from ansible_collections.consolidation.xen.plugins.module_utils.verify import verify_check


def main():
    module = AnsibleModule(
        argument_spec=cluster_argument_spec(
            facts=dict(type="dict", required=True),
            autostart=dict(type="dict"),
            strategy=dict(type="str", choices=["spread", "pack"], default="spread"),
            migrating=dict(type="dict"),
            maintenance=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = verify_check(p["guests"], p["hosts"], p["facts"], autostart=p["autostart"], tolerate=p["tolerate"],
                              overhead=p["overhead"], strategy=p["strategy"], migrating=p["migrating"],
                              maintenance=p["maintenance"])
    except ModelError as exc:
        model_refused(module, exc)
    finish(module, result, "the cluster is not safe: %s" % "; ".join(result["unsafe"]))


if __name__ == "__main__":
    main()
