# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plan_report: plan.yml's report, as text for the terminal and as a self-contained HTML page.

Documentation lives beside this file (plan_report.yml).
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.module_utils.report import plan_html, plan_lines
from ansible_collections.consolidation.xen.plugins.plugin_utils.plain import to_plain

DEFAULT_NAME = "plan-report.html"


def plan_report(check, cluster, html=True):
    check, cluster = to_plain(check), to_plain(cluster)
    try:
        placement = check["placement"]
        run = cluster.get("run") or {}
        path = run.get("plan_report") or os.path.join(os.getcwd(), DEFAULT_NAME)
        maintenance = (cluster.get("maintenance") or {}).get("lines")
        warnings = list(cluster.get("warnings") or [])
        refused = list(cluster.get("refused") or [])
        lines = plan_lines(placement, capacity=check.get("capacity"), maintenance_lines=maintenance,
                           warnings=warnings, refused=refused, path=path if html else None)
        # No wall-clock time in the page: the same plan writes the same file, so a second plan.yml (or
        # site.yml's preflight in molecule's idempotence run) changes nothing; the file's mtime says when
        # the plan last changed.
        page = plan_html(placement, capacity=check.get("capacity"), warnings=warnings, refused=refused)
    except (KeyError, TypeError, IndexError) as exc:
        raise AnsibleFilterError("plan_report: not a capacity_check result and a cluster_inventory: %r" % (exc,)) \
            from None
    return {"lines": lines, "text": "\n".join(lines), "html": page, "path": path, "ok": not refused}


class FilterModule:
    def filters(self):
        return {"plan_report": plan_report}
