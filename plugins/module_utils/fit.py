# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one fit rule: may this guest go onto this host, on top of what the host already carries.

Shaped like Ganeti's ``Node.addPriEx`` (src/Ganeti/HTools/Node.hs), which adds an instance or
returns the first constraint it breaks. Every algorithm asks here: static eligibility
(``Cluster.eligible``: nothing used yet), the layout (:class:`Layout`), the failover overlay, the
evacuation order and the live move order. Each supplies only its own usage counters.

The constraints, checked in this order (the first one broken is the one reported):

1. the host is active;
2. the guest's pin, if any, names this host (unless ``ignore_pin``: restarts and moves that follow
   a plan already chosen with the pin);
3. paging: an HVM or PVH guest only on a host that can run one (``hvm_capable``: HAP, or a Xen
   with shadow paging);
4. memory: the guest's footprint on this host (with Xen overhead, HAP or shadow) <= capacity - used;
5. the guest has no more vCPUs than the host has pCPUs;
6. vCPUs: the guest's vCPUs <= ``cpus * vcpu_ratio`` - used;
7. ``max_hvm``: an HVM guest only while the host runs fewer than ``max_hvm`` HVM guests;
8. anti-affinity: no other member of the guest's group on the host.

Pure Python, no Ansible import, Python 3.9 syntax: this also runs on managed hosts.
"""

from __future__ import annotations

# Failure modes (Ganeti's FailMode), returned by :func:`fail_mode`.
FAIL_STATE = "state"
FAIL_PIN = "pin"
FAIL_PAGING = "paging"
FAIL_MEMORY = "memory"
FAIL_PCPUS = "pcpus"
FAIL_VCPUS = "vcpus"
FAIL_HVM = "max_hvm"
FAIL_GROUP = "anti_affinity"
FAIL_MODES = (FAIL_STATE, FAIL_PIN, FAIL_PAGING, FAIL_MEMORY, FAIL_PCPUS, FAIL_VCPUS, FAIL_HVM, FAIL_GROUP)


def fail_mode(guest, host, used_mb, used_vcpus, hvm_count, groups=(), more_groups=(), ignore_pin=False):
    """The first constraint ``guest`` breaks on ``host`` (one of :data:`FAIL_MODES`), or None if it fits.

    ``used_mb``, ``used_vcpus`` and ``hvm_count`` are what the host carries already (guest
    footprints, vCPUs, HVM guests); ``groups`` and ``more_groups`` hold the anti-affinity groups
    present there (two containers, so an overlay need not merge its own with its base layout's).
    This is the rule; :func:`fits` and :func:`why_not` only read its answer.
    """
    # Hot path (placement and failover ask this millions of times on large clusters): the model's
    # properties are read inline: ``host.active``, ``guest.footprint(host)``, ``guest.is_hvm``.
    if host.state != "active":
        return FAIL_STATE
    if not ignore_pin and guest.pin is not None and guest.pin != host.name:
        return FAIL_PIN
    if not host.hvm_capable and guest.type != "pv":
        return FAIL_PAGING
    if (guest._fp_hap if host.hap else guest._fp_shadow) > host.capacity_mb - used_mb:
        return FAIL_MEMORY
    vcpus = guest.vcpus
    if vcpus > host.cpus:
        return FAIL_PCPUS
    if vcpus > host.vcpu_capacity - used_vcpus:
        return FAIL_VCPUS
    if host.max_hvm is not None and hvm_count >= host.max_hvm and guest.type == "hvm":
        return FAIL_HVM
    group = guest.anti_affinity
    if group is not None and (group in groups or group in more_groups):
        return FAIL_GROUP
    return None


def fits(guest, host, used_mb, used_vcpus, hvm_count, groups=(), more_groups=(), ignore_pin=False):
    """True when ``guest`` fits on ``host`` on top of the given usage: ``fail_mode(...) is None``."""
    return fail_mode(guest, host, used_mb, used_vcpus, hvm_count, groups, more_groups, ignore_pin) is None


def why_not(guest, host, used_mb, used_vcpus, hvm_count, groups=(), more_groups=(), ignore_pin=False):
    """None when ``guest`` fits on ``host`` on top of the given usage, else why not, for people.

    The reason names the guest, the host, the resource and the shortfall (MiB, vCPUs).
    """
    mode = fail_mode(guest, host, used_mb, used_vcpus, hvm_count, groups, more_groups, ignore_pin)
    if mode is None:
        return None
    return describe(mode, guest, host, used_mb, used_vcpus, hvm_count)


def describe(mode, guest, host, used_mb, used_vcpus, hvm_count):
    """The sentence for failure ``mode`` of ``guest`` on ``host`` with that usage."""
    g, h = guest.name, host.name
    if mode == FAIL_STATE:
        return "guest %s: host %s is %s, not active" % (g, h, host.state)
    if mode == FAIL_PIN:
        return "guest %s is pinned to %s, not %s" % (g, guest.pin, h)
    if mode == FAIL_PAGING:
        return ("guest %s is %s, and host %s cannot run %s guests: no hardware-assisted paging (xen_host_hap "
                "false) and a Xen without shadow paging (xen_host_shadow_paging false)"
                % (g, guest.type.upper(), h, guest.type.upper()))
    if mode == FAIL_MEMORY:
        need = guest.footprint(host)
        free = host.capacity_mb - used_mb
        if used_mb:
            detail = "%d MiB short" % (need - free)
        else:
            detail = "%d MiB short; %d physical - %d dom0 - %d Xen" % (
                need - free, host.memory_mb, host.dom0_memory_mb, host.xen_reserve_mb)
        return "guest %s needs %d MiB with Xen overhead, host %s has %d MiB free (%s)" % (g, need, h, free, detail)
    if mode == FAIL_PCPUS:
        return "guest %s has %d vCPUs, host %s has %d pCPUs (%d pCPUs short)" % (
            g, guest.vcpus, h, host.cpus, guest.vcpus - host.cpus)
    if mode == FAIL_VCPUS:
        free = host.vcpu_capacity - used_vcpus
        return "guest %s needs %d vCPUs, host %s has %d vCPUs free of %d (%d vCPUs short)" % (
            g, guest.vcpus, h, free, host.vcpu_capacity, guest.vcpus - free)
    if mode == FAIL_HVM:
        return "guest %s is HVM, host %s already runs %d HVM guest(s) (max_hvm %d)" % (g, h, hvm_count, host.max_hvm)
    if mode == FAIL_GROUP:
        return "guest %s: anti_affinity group %s already has a member on host %s" % (g, guest.anti_affinity, h)
    raise ValueError("unknown fail mode %r" % (mode,))
