# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec and the ending capacity_check, evacuation_check and rebalance_check share.

Their docs share the doc fragment consolidation.xen.cluster_check. No Ansible import: the modules
hand their AnsibleModule in.
"""

from __future__ import annotations


def cluster_argument_spec(**own):
    """The options every check module takes (guests, hosts, overhead, tolerate, enforce), plus ``own``."""
    spec = dict(
        guests=dict(type="list", elements="dict", required=True),
        hosts=dict(type="list", elements="dict", required=True),
        overhead=dict(type="bool", default=True),
        tolerate=dict(type="int", default=1),
        enforce=dict(type="bool", default=True),
    )
    spec.update(own)
    return spec


def model_refused(module, exc):
    """Bad engine input (ModelError): fail listing every problem."""
    module.fail_json(msg="invalid cluster model: %s" % exc, errors=exc.errors)


def finish(module, result, refusal):
    """Return ``result`` (never changed: a check changes nothing); fail with ``refusal`` when it is not ok and
    the module enforces."""
    if result["ok"] or not module.params["enforce"]:
        module.exit_json(changed=False, **result)
    module.fail_json(msg=refusal, **result)
