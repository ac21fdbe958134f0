# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers shared by the collection's filters."""

from __future__ import annotations


def to_plain(value):
    """Strip Ansible's lazy/tagged containers down to plain Python data for the engine."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
