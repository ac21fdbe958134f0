#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: capacity_check
short_description: Plan where every Xen guest runs and prove the cluster survives host failures
version_added: 0.1.0
description:
  - Runs the collection's placement engine over plain guest and host mappings (see the
    C(consolidation.xen.placement) filter for their keys), then proves N-k capacity with real-HA
    semantics - when hosts fail, only their guests restart on the survivors.
  - Fails before anything is changed when a guest cannot be placed or a failure scenario strands
    guests, with a table that names the failed host(s), the stranded guests and the shortfall in MiB
    and vCPUs.
  - Pure computation; it changes nothing anywhere, so it runs the same in check mode. Run it on the
    controller (C(delegate_to=localhost) and C(run_once=true)) or on any host with Python 3.
author:
  - consolidation.xen maintainers (@consolidation-xen)
extends_documentation_fragment:
  - consolidation.xen.cluster_check
  - consolidation.xen.attributes
options:
  tolerate:
    description: How many simultaneous host failures the cluster must survive.
    type: int
    default: 1
  tolerate_domains:
    description:
      - How many whole failure domains (hosts sharing the C(domain) of their mapping, such as a blade
        chassis) may fail at once. For each such set, the guests of priority O(domain_protect) and up
        on its hosts must restart on the hosts outside it, which keep their own guests. Every set is
        simulated. V(0) proves no domain failure.
    type: int
    default: 0
  domain_protect:
    description: The lowest guest priority class (C(priority) of a guest mapping) that must restart when
      a whole failure domain fails; lower classes stay down and the table names them.
    type: str
    choices: [high, normal, low]
    default: high
  strategy:
    description: Preferred construction. C(spread) balances load and HVM guests, C(pack) fills hosts.
    type: str
    choices: [spread, pack]
    default: spread
  keep_current:
    description: Keep guests on their C(current_host) where that is valid (fewest moves).
    type: bool
    default: true
  max_scenarios:
    description: Simulate every failure set while there are at most this many; beyond, use a sound
      conservative bound (the result says which).
    type: int
    default: 5000
  enforce:
    description: Fail when the plan or the proof fails. With C(false) the report is returned and
      C(failed) stays false (for reports such as C(plan.yml)).
    type: bool
    default: true
  allow_degraded:
    description:
      - Accept a plan whose failover proof fails (every guest placed, but a host failure would strand
        guests). The result carries a loud C(warnings) entry. Guests that cannot be placed at all
        still fail.
    type: bool
    default: false
  capacity_shape:
    description: When given, also count how many more guests of this shape (C(memory_mb), C(vcpus),
      C(type)) fit while N-k still holds.
    type: dict
"""

EXAMPLES = r"""
- name: Prove N-1 before touching any host
  consolidation.xen.capacity_check:
    guests: "{{ xen_model.guests }}"
    hosts: "{{ xen_model.hosts }}"
    tolerate: 1
  delegate_to: localhost
  run_once: true
  register: xen_plan

- name: Report only, with headroom for 1 GiB guests
  consolidation.xen.capacity_check:
    guests: "{{ xen_model.guests }}"
    hosts: "{{ xen_model.hosts }}"
    enforce: false
    capacity_shape: {memory_mb: 1G, vcpus: 1, type: pvh}
"""

RETURN = r"""
ok:
  description: Every guest placed and the failover proof passed.
  returned: always
  type: bool
placement:
  description: The placement report (keys as the C(consolidation.xen.placement) filter returns).
  returned: always
  type: dict
table:
  description: The per-failure table, one line per element, for people.
  returned: always
  type: list
  elements: str
capacity:
  description: Headroom for C(capacity_shape) (keys as the C(consolidation.xen.capacity) filter).
  returned: when capacity_shape is given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.consolidation.xen.plugins.module_utils import engine
from ansible_collections.consolidation.xen.plugins.module_utils.checks import cluster_argument_spec, model_refused


def main():
    module = AnsibleModule(
        argument_spec=cluster_argument_spec(
            strategy=dict(type="str", choices=["spread", "pack"], default="spread"),
            keep_current=dict(type="bool", default=True),
            max_scenarios=dict(type="int", default=5000),
            allow_degraded=dict(type="bool", default=False),
            capacity_shape=dict(type="dict"),
            tolerate_domains=dict(type="int", default=0),
            domain_protect=dict(type="str", choices=["high", "normal", "low"], default="high"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        report = engine.placement(p["guests"], p["hosts"], tolerate=p["tolerate"], overhead=p["overhead"],
                                  keep_current=p["keep_current"], strategy=p["strategy"],
                                  max_scenarios=p["max_scenarios"], tolerate_domains=p["tolerate_domains"],
                                  domain_protect=p["domain_protect"])
        headroom = None
        if p["capacity_shape"]:
            headroom = engine.capacity(p["guests"], p["hosts"], p["capacity_shape"], tolerate=p["tolerate"],
                                       overhead=p["overhead"], max_scenarios=p["max_scenarios"],
                                       tolerate_domains=p["tolerate_domains"], domain_protect=p["domain_protect"])
    except engine.ModelError as exc:
        model_refused(module, exc)
    table = engine.failure_table(report)
    result = dict(changed=False, ok=report["ok"], placement=report, table=table)
    if headroom is not None:
        result["capacity"] = headroom
    if report["ok"]:
        module.exit_json(**result)
    if not p["enforce"]:
        module.exit_json(**result)
    if report["unplaced"]:
        module.fail_json(msg="placement failed: " + "; ".join(report["reasons"]) + "\n" + "\n".join(table), **result)
    proof = "N-%d" % p["tolerate"]
    if report["failover"].get("domains"):
        proof += " and failure domain"
    if p["allow_degraded"]:
        module.warn("DEGRADED CLUSTER ACCEPTED (allow_degraded): the %s proof failed; a failure will strand "
                    "guests. %s" % (proof, "; ".join(report["reasons"])))
        module.exit_json(**result)
    module.fail_json(msg="%s proof failed: %s\n%s" % (proof, "; ".join(report["reasons"]), "\n".join(table)),
                     **result)


if __name__ == "__main__":
    main()
