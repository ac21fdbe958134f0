"""An independent brute-force oracle for small clusters (shares only the size model with the engine).

It enumerates every placement and, for every failure set, every restart assignment. Exponential:
only for a handful of guests and hosts.
"""

from __future__ import annotations

import itertools

from ansible_collections.consolidation.xen.plugins.module_utils.model import build_cluster


def _host_ok(cluster, host, members):
    if not host.active and members:
        return False
    mem = sum(g.footprint(host) for g in members)
    vcpus = sum(g.vcpus for g in members)
    if mem > host.capacity_mb or vcpus > host.vcpu_capacity:
        return False
    if any(g.vcpus > host.cpus for g in members):
        return False
    # HVM and PVH guests need hardware-assisted paging or a Xen with shadow paging.
    if not host.hap and not host.shadow and any(g.type in ("hvm", "pvh") for g in members):
        return False
    hvm = sum(1 for g in members if g.type == "hvm")
    if host.max_hvm is not None and hvm > host.max_hvm:
        return False
    groups = [g.anti_affinity for g in members if g.anti_affinity]
    return len(groups) == len(set(groups))


def valid_placement(cluster, assignment):
    """assignment: {guest name: host name}. Every guest placed, pins honoured, every host within limits."""
    if set(assignment) != {g.name for g in cluster.guests}:
        return False
    for g in cluster.guests:
        if g.pin is not None and assignment[g.name] != g.pin:
            return False
    for host in cluster.hosts:
        members = [g for g in cluster.guests if assignment[g.name] == host.name]
        if not _host_ok(cluster, host, members):
            return False
    return True


def restart_exists(cluster, assignment, failed, min_priority=0):
    """Can the failed hosts' movable guests (of priority rank ``min_priority`` and up) restart on the
    survivors, the others staying put?"""
    survivors = [h for h in cluster.hosts if h.active and h.name not in failed]
    movers = [g for g in cluster.guests if assignment[g.name] in failed and g.movable and g.priority >= min_priority]
    staying = {h.name: [g for g in cluster.guests if assignment[g.name] == h.name] for h in survivors}
    for choice in itertools.product(survivors, repeat=len(movers)):
        ok = True
        for host in survivors:
            members = staying[host.name] + [m for m, c in zip(movers, choice, strict=True) if c is host]
            if not _host_ok(cluster, host, members):
                ok = False
                break
        if ok:
            return True
    return not movers


def survives(cluster, assignment, k):
    """Every set of ``k`` active hosts, then every set of ``cluster.tolerate_domains`` failure domains
    (their active hosts fail together; only the protected classes must restart)."""
    active = [h.name for h in cluster.hosts if h.active]
    if not all(restart_exists(cluster, assignment, set(f)) for f in itertools.combinations(active, k)):
        return False
    d = cluster.tolerate_domains
    if not d:
        return True
    domains = sorted({h.domain for h in cluster.hosts if h.active})
    for combo in itertools.combinations(domains, d):
        failed = {h.name for h in cluster.hosts if h.active and h.domain in combo}
        if not restart_exists(cluster, assignment, failed, cluster.domain_protect):
            return False
    return True


def feasible(guests, hosts, tolerate, overhead=True, **domains):
    """True when some placement is valid and survives every failure set of size ``tolerate`` (and, with
    ``tolerate_domains``/``domain_protect``, every set of whole failure domains)."""
    cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead, **domains)
    active = [h.name for h in cluster.hosts if h.active]
    names = [g.name for g in cluster.guests]
    for choice in itertools.product(active, repeat=len(names)):
        assignment = dict(zip(names, choice, strict=True))
        if valid_placement(cluster, assignment) and survives(cluster, assignment, tolerate):
            return True
    return False
