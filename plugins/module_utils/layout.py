# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A mutable assignment of guests to hosts, with per-host usage kept in step."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils.fit import fail_mode, why_not


class Layout:
    """Where each guest runs, and what that uses on every host.

    ``host_of[g.index]`` is a host index or -1. Whether a guest may go onto a host is the one fit
    rule (:mod:`fit`) on this layout's usage: :meth:`can_place` asks yes or no, :meth:`why_not`
    for the reason.
    """

    __slots__ = ("cluster", "host_of", "used_mb", "used_vcpus", "hvm", "groups", "members")

    def __init__(self, cluster):
        self.cluster = cluster
        n = len(cluster.hosts)
        self.host_of = [-1] * len(cluster.guests)
        self.used_mb = [0] * n
        self.used_vcpus = [0] * n
        self.hvm = [0] * n
        self.groups = [set() for _i in range(n)]
        self.members = [[] for _i in range(n)]

    def copy(self):
        new = Layout.__new__(Layout)
        new.cluster = self.cluster
        new.host_of = list(self.host_of)
        new.used_mb = list(self.used_mb)
        new.used_vcpus = list(self.used_vcpus)
        new.hvm = list(self.hvm)
        new.groups = [set(s) for s in self.groups]
        new.members = [list(m) for m in self.members]
        return new

    def free_mb(self, host):
        return host.capacity_mb - self.used_mb[host.index]

    def free_vcpus(self, host):
        return host.vcpu_capacity - self.used_vcpus[host.index]

    def fail_mode(self, guest, host, ignore_pin=False):
        """The first constraint ``guest`` breaks on ``host`` now (see :func:`fit.fail_mode`), or None."""
        h = host.index
        return fail_mode(guest, host, self.used_mb[h], self.used_vcpus[h], self.hvm[h], self.groups[h], (),
                         ignore_pin)

    def why_not(self, guest, host, ignore_pin=False):
        """Why ``guest`` cannot go onto ``host`` now (naming guest, host, resource, shortfall), or None."""
        h = host.index
        return why_not(guest, host, self.used_mb[h], self.used_vcpus[h], self.hvm[h], self.groups[h], (),
                       ignore_pin)

    def can_place(self, guest, host, ignore_pin=False):
        """True when ``guest`` can go onto ``host`` now: :meth:`why_not` is None (the same rule)."""
        h = host.index
        return fail_mode(guest, host, self.used_mb[h], self.used_vcpus[h], self.hvm[h], self.groups[h], (),
                         ignore_pin) is None

    def place(self, guest, host):
        h = host.index
        self.host_of[guest.index] = h
        self.used_mb[h] += guest.footprint(host)
        self.used_vcpus[h] += guest.vcpus
        if guest.is_hvm:
            self.hvm[h] += 1
        if guest.anti_affinity is not None:
            self.groups[h].add(guest.anti_affinity)
        self.members[h].append(guest)

    def remove(self, guest):
        h = self.host_of[guest.index]
        if h < 0:
            return
        host = self.cluster.hosts[h]
        self.host_of[guest.index] = -1
        self.used_mb[h] -= guest.footprint(host)
        self.used_vcpus[h] -= guest.vcpus
        if guest.is_hvm:
            self.hvm[h] -= 1
        if guest.anti_affinity is not None:
            self.groups[h].discard(guest.anti_affinity)
        self.members[h].remove(guest)

    def assignments(self):
        hosts = self.cluster.hosts
        return {g.name: hosts[self.host_of[g.index]].name for g in self.cluster.guests if self.host_of[g.index] >= 0}

    def host_report(self):
        report = {}
        for host in self.cluster.hosts:
            h = host.index
            report[host.name] = {
                "state": host.state,
                "memory_mb": host.memory_mb,
                "dom0_memory_mb": host.dom0_memory_mb,
                "xen_reserve_mb": host.xen_reserve_mb,
                "capacity_mb": host.capacity_mb,
                "used_mb": self.used_mb[h],
                "free_mb": host.capacity_mb - self.used_mb[h],
                "vcpus_capacity": host.vcpu_capacity,
                "vcpus_used": self.used_vcpus[h],
                "vcpus_free": host.vcpu_capacity - self.used_vcpus[h],
                "hvm_guests": self.hvm[h],
                "guests": sorted(g.name for g in self.members[h]),
                "max_hvm": host.max_hvm,
                # each guest's share of this host (memory with Xen's overhead here, vCPUs, type): the report's bars
                "guest_detail": [{"name": g.name, "memory_mb": g.footprint(host), "vcpus": g.vcpus, "type": g.type}
                                 for g in sorted(self.members[h], key=lambda g: g.name)],
            }
        return report
