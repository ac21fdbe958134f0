# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What capacity_check, evacuation_check and rebalance_check share: their cluster options and their support of
the attributes (described in consolidation.xen.attributes)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  guests:
    description: The inventory's guests, as the C(consolidation.xen.cluster_model) filter gives them (engine
      mappings with C(name), C(memory_mb) and optional C(vcpus), C(type), C(maxmem_mb), C(host),
      C(anti_affinity), C(movable), C(current_host), C(priority) (C(high), C(normal), C(low)), C(state)
      (C(running), the default; C(stopped) and C(absent) guests are validated, then neither placed, counted nor
      restarted, and reported as not reserved)).
    type: list
    elements: dict
    required: true
  hosts:
    description: The inventory's hosts, as the C(consolidation.xen.cluster_model) filter gives them (C(name),
      C(memory_mb), C(cpus), C(dom0_memory_mb) and optional C(state), C(max_hvm), C(vcpu_ratio), C(hap),
      C(xen_reserve_mb), C(domain) (its failure domain; default the host itself)).
    type: list
    elements: dict
    required: true
  overhead:
    description: Count Xen's per-guest memory overhead (libxl's shadow/p2m pages and rounding).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""
