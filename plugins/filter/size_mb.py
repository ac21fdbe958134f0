# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter size_mb: a memory size (512, '512M', '2G', '16GiB') as whole MiB.

Documentation lives beside this file (size_mb.yml).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.consolidation.xen.plugins.module_utils.units import SizeError, parse_size_mb


def size_mb(value, allow_zero=False):
    # Ansible may hand over tagged str/int subclasses; parse_size_mb wants the plain types.
    if isinstance(value, str):
        value = str(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = int(value)
    try:
        return parse_size_mb(value, allow_zero=bool(allow_zero))
    except SizeError as exc:
        raise AnsibleFilterError("size_mb: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"size_mb": size_mb}
