# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter text_table: rows of mappings as an aligned plain-text table (the playbooks' final tables).

Documentation lives beside this file (text_table.yml).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.module_utils.engine import table_lines
from ansible_collections.consolidation.xen.plugins.plugin_utils.plain import to_plain


def _cell(value):
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return "%.1f" % value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def text_table(rows, columns, empty="nothing"):
    rows, columns = to_plain(rows) or [], to_plain(columns)
    if not isinstance(columns, list) or not all(isinstance(c, list) and len(c) == 2 for c in columns):
        raise AnsibleFilterError("text_table: columns must be a list of [heading, key] pairs, got %r" % (columns,))
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise AnsibleFilterError("text_table: expected a list of mappings, got %r" % (rows,))
    if not rows:
        return empty
    table = [tuple(str(c[0]) for c in columns)] + [tuple(_cell(r.get(c[1])) for c in columns) for r in rows]
    return "\n".join(table_lines(table, indent=""))


class FilterModule:
    def filters(self):
        return {"text_table": text_table}
