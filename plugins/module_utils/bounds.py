# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lower bounds on the number of hosts a set of guests needs while tolerating k failures."""

from __future__ import annotations

import bisect
import math


def fluid_hosts(sizes, capacities, k):
    """LB1: the fewest hosts whose pooled capacity holds the total, plus ``k`` (largest hosts first)."""
    total = sum(sizes)
    if total == 0:
        return k
    pooled, count = 0, 0
    for cap in sorted(capacities, reverse=True):
        if pooled >= total:
            break
        pooled += cap
        count += 1
    if pooled < total:
        return len(capacities) + 1 + k  # does not fit even with every host
    return count + k


def martello_toth_l2(sizes, capacity):
    """Martello-Toth L2 lower bound on bins of ``capacity`` for items ``sizes`` (all <= capacity)."""
    if not sizes:
        return 0
    items = sorted(sizes)
    prefix = [0]
    for s in items:
        prefix.append(prefix[-1] + s)

    def count_le(x):  # items <= x
        return bisect.bisect_right(items, x)

    def count_lt(x):  # items < x
        return bisect.bisect_left(items, x)

    half = capacity / 2
    best = math.ceil(prefix[-1] / capacity)
    alphas = sorted({s for s in items if s <= half} | {0})
    for alpha in alphas:
        n_half = count_le(half)              # items <= C/2
        n_j2_top = count_le(capacity - alpha)  # items <= C - alpha
        j1 = len(items) - n_j2_top
        j2 = n_j2_top - n_half
        sum_j2 = prefix[n_j2_top] - prefix[n_half]
        lo = count_lt(alpha)
        sum_j3 = prefix[n_half] - prefix[lo]
        residual = j2 * capacity - sum_j2
        extra = max(0, math.ceil((sum_j3 - residual) / capacity))
        best = max(best, j1 + j2 + extra)
    return best


def binpack_hosts(sizes, capacities, k):
    """LB2: Martello-Toth L2 on the largest host's capacity (sound for mixed hosts), plus ``k``."""
    if not capacities:
        return k
    cap = max(capacities)
    if any(s > cap for s in sizes):
        return len(capacities) + 1 + k
    return martello_toth_l2(sizes, cap) + k


def lower_bounds(cluster, k=None):
    """Both bounds, per resource, for the cluster's guests on its active hosts."""
    k = cluster.tolerate if k is None else k
    active = cluster.active_hosts
    sizes = [g.max_footprint for g in cluster.guests]
    caps = [h.capacity_mb for h in active]
    vcpus = [g.vcpus for g in cluster.guests]
    vcaps = [h.vcpu_capacity for h in active]
    fluid = max(fluid_hosts(sizes, caps, k), fluid_hosts(vcpus, vcaps, k))
    binpack = max(fluid, binpack_hosts(sizes, caps, k))
    return {"fluid_hosts": fluid, "binpack_hosts": binpack, "active_hosts": len(active), "tolerate": k,
            "guest_memory_mb": sum(sizes), "guest_vcpus": sum(vcpus),
            "capacity_mb": sum(caps), "vcpu_capacity": sum(vcaps)}
