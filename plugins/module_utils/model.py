# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster model: guests and hosts as plain mappings in, validated objects out.

Pure Python, no Ansible import: the same code answers a filter, a module, a benchmark and a test.
Every error names the guest or host and the field, and nothing is decided on bad input.
"""

from __future__ import annotations

import math

from ansible_collections.consolidation.xen.plugins.module_utils.fit import (
    FAIL_MEMORY,
    FAIL_PCPUS,
    FAIL_VCPUS,
    fail_mode,
    why_not,
)
from ansible_collections.consolidation.xen.plugins.module_utils.units import (
    SizeError,
    ValueTypeError,
    parse_bool,
    parse_number,
    parse_size_mb,
    parse_whole,
)

GUEST_TYPES = ("pv", "pvh", "hvm")
DEFAULT_GUEST_TYPE = "pvh"
HOST_STATES = ("active", "maintenance", "down")
DEFAULT_VCPU_RATIO = 4.0
# Restart priority classes, lowest first: a guest's rank is its index. Failover restarts the higher
# classes first; a whole failure domain's loss is proven for the classes from ``domain_protect`` up.
PRIORITIES = ("low", "normal", "high")
DEFAULT_PRIORITY = "normal"
DEFAULT_DOMAIN_PROTECT = "high"
DEFAULT_PRIORITY_RANK = PRIORITIES.index(DEFAULT_PRIORITY)
DEFAULT_DOMAIN_PROTECT_RANK = PRIORITIES.index(DEFAULT_DOMAIN_PROTECT)
# Desired guest states: only ``running`` guests are placed, proven and restarted; the others are
# validated like the rest, then left out of the cluster (no capacity is reserved for them) and
# listed in ``Cluster.not_running``.
GUEST_STATES = ("running", "stopped", "absent")

# libxl 4.17 (tools/libs/light/libxl_mem.c, libxl_internal.h): extra memory per domain type, KiB.
_LIBXL_PV_EXTRA_KB = 1024
_LIBXL_HVM_EXTRA_KB = 2048
_LIBXL_ROUND_KB = 2048


class ModelError(ValueError):
    """Bad input. ``errors`` lists every problem found, each naming the guest/host and field."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


def xen_need_mb(memory_mb, maxmem_mb, vcpus, guest_type, hap=True):
    """Memory ``xl create`` / ``xl migrate`` needs free on the host for one guest, in MiB.

    libxl 4.17 ``libxl__domain_need_memory_calculate``: target + shadow/p2m + type extra, rounded up
    to 2 MiB. Paging memory (``libxl__get_required_paging_memory``) is 4 KiB x (256 per vCPU +
    ((type != PV) + !hap) per MiB of maxmem); a PV guest never uses HAP. The base is the larger of
    memory and maxmem, so a guest that balloons up to maxmem still fits.
    """
    base_mb = max(memory_mb, maxmem_mb or 0)
    uses_hap = bool(hap) and guest_type != "pv"
    per_mib_pages = (1 if guest_type != "pv" else 0) + (0 if uses_hap else 1)
    shadow_kb = 4 * (256 * vcpus + per_mib_pages * base_mb)
    extra_kb = _LIBXL_PV_EXTRA_KB if guest_type == "pv" else _LIBXL_HVM_EXTRA_KB
    need_kb = base_mb * 1024 + shadow_kb + extra_kb
    need_kb += (-need_kb) % _LIBXL_ROUND_KB
    return need_kb // 1024


class Guest:
    """One domU. ``footprint(host)`` is what it takes from that host's capacity."""

    __slots__ = ("name", "memory_mb", "maxmem_mb", "vcpus", "type", "pin", "anti_affinity", "movable",
                 "current_host", "index", "priority", "_fp_hap", "_fp_shadow")

    def __init__(self, name, memory_mb, maxmem_mb, vcpus, guest_type, pin, anti_affinity, movable,
                 current_host, index, overhead=True, priority=DEFAULT_PRIORITY_RANK):
        self.name = name
        self.priority = priority
        self.memory_mb = memory_mb
        self.maxmem_mb = maxmem_mb
        self.vcpus = vcpus
        self.type = guest_type
        self.pin = pin
        self.anti_affinity = anti_affinity
        self.movable = movable
        self.current_host = current_host
        self.index = index
        if overhead:
            self._fp_hap = xen_need_mb(memory_mb, maxmem_mb, vcpus, guest_type, hap=True)
            self._fp_shadow = xen_need_mb(memory_mb, maxmem_mb, vcpus, guest_type, hap=False)
        else:
            self._fp_hap = self._fp_shadow = max(memory_mb, maxmem_mb or 0)

    @property
    def is_hvm(self):
        return self.type == "hvm"

    def footprint(self, host):
        return self._fp_hap if host.hap else self._fp_shadow

    @property
    def max_footprint(self):
        return max(self._fp_hap, self._fp_shadow)

    def as_dict(self):
        return {
            "name": self.name, "memory_mb": self.memory_mb, "maxmem_mb": self.maxmem_mb, "vcpus": self.vcpus,
            "type": self.type, "host": self.pin, "anti_affinity": self.anti_affinity, "movable": self.movable,
            "current_host": self.current_host, "priority": PRIORITIES[self.priority],
        }

    def __repr__(self):
        return "Guest(%s)" % self.name


class Host:
    """One dom0 host. ``capacity_mb`` is what guests may use: physical - dom0 - hypervisor reserve.

    ``hvm_capable``: HVM and PVH guests run here, which needs hardware-assisted paging (``hap``: the CPU
    has EPT/NPT) or a Xen built with shadow paging (``shadow``: SUSE's is, Debian 12's 4.17 is not).
    """

    __slots__ = ("name", "memory_mb", "cpus", "dom0_memory_mb", "xen_reserve_mb", "state", "max_hvm",
                 "vcpu_ratio", "hap", "shadow", "hvm_capable", "index", "capacity_mb", "vcpu_capacity", "domain")

    def __init__(self, name, memory_mb, cpus, dom0_memory_mb, xen_reserve_mb, state, max_hvm, vcpu_ratio, hap,
                 index, domain=None, shadow=True):
        self.name = name
        self.domain = domain or name
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.dom0_memory_mb = dom0_memory_mb
        self.xen_reserve_mb = xen_reserve_mb
        self.state = state
        self.max_hvm = max_hvm
        self.vcpu_ratio = vcpu_ratio
        self.hap = hap
        self.shadow = shadow
        self.hvm_capable = bool(hap or shadow)
        self.index = index
        self.capacity_mb = memory_mb - dom0_memory_mb - xen_reserve_mb
        self.vcpu_capacity = int(cpus * vcpu_ratio + 1e-9)

    @property
    def active(self):
        return self.state == "active"

    def __repr__(self):
        return "Host(%s)" % self.name


def default_xen_reserve_mb(memory_mb):
    """Memory Xen keeps for itself: min(1/16, 128 MiB) (xen-command-line ``dom0_mem``, x86)."""
    return min(memory_mb // 16, 128)


class Cluster:
    """Validated hosts and guests, plus the options every engine function shares.

    ``tolerate_domains`` whole failure domains (hosts sharing ``Host.domain``) may fail at once; the
    guests of priority rank ``domain_protect`` and up must then restart outside them.
    """

    def __init__(self, hosts, guests, tolerate, overhead, tolerate_domains=0,
                 domain_protect=DEFAULT_DOMAIN_PROTECT_RANK, not_running=None):
        self.hosts = hosts
        # {guest: desired state} of the valid guests that are not to run (stopped, absent): not placed
        self.not_running = dict(not_running or {})
        self.guests = guests
        self.tolerate = tolerate
        self.overhead = overhead
        self.tolerate_domains = tolerate_domains
        self.domain_protect = domain_protect
        self.host_by_name = {h.name: h for h in hosts}
        self.guest_by_name = {g.name: g for g in guests}
        self.active_hosts = [h for h in hosts if h.active]
        # {domain: [active host indices]}, in host order; domains without an active host are left out
        self.domains = {}
        for h in self.active_hosts:
            self.domains.setdefault(h.domain, []).append(h.index)

    def with_hosts(self, hosts, guests=None):
        """The same options (tolerance, overhead, domains, not running) over other hosts or guests."""
        return Cluster(hosts, self.guests if guests is None else guests, self.tolerate, self.overhead,
                       self.tolerate_domains, self.domain_protect, self.not_running)

    def eligible(self, guest, host):
        """Static eligibility: ``guest`` fits on ``host`` alone (the fit rule with nothing used yet)."""
        return fail_mode(guest, host, 0, 0, 0) is None

    def why_not(self, guest, host):
        """Why ``guest`` cannot run on ``host`` even alone, or None (the same rule as :meth:`eligible`)."""
        return why_not(guest, host, 0, 0, 0)


def _text(value):
    return value if isinstance(value, str) else None


def _pos_int(value):
    try:
        return parse_whole(value)
    except ValueTypeError:
        return None


def _as_bool(value, default):
    if value is None:
        return default
    try:
        return parse_bool(value)
    except ValueTypeError:
        raise ValueError(value) from None


def _size(errors, where, field, value, allow_zero=False):
    try:
        return parse_size_mb(value, allow_zero=allow_zero)
    except SizeError as exc:
        errors.append("%s: %s: %s" % (where, field, exc))
        return None


def _parse_host(raw, index, errors):
    if not isinstance(raw, dict):
        errors.append("host #%d: expected a mapping, got %s" % (index, type(raw).__name__))
        return None
    name = _text(raw.get("name"))
    if not name:
        errors.append("host #%d: name: missing or not a string" % index)
        return None
    where = "host %r" % name
    before = len(errors)
    memory_mb = _size(errors, where, "memory_mb", raw.get("memory_mb"))
    dom0_mb = _size(errors, where, "dom0_memory_mb", raw.get("dom0_memory_mb"))
    cpus = _pos_int(raw.get("cpus"))
    if cpus is None or cpus < 1:
        errors.append("%s: cpus: must be an integer >= 1, got %r" % (where, raw.get("cpus")))
    state = raw.get("state", "active") or "active"
    if state not in HOST_STATES:
        errors.append("%s: state: must be one of %s, got %r" % (where, ", ".join(HOST_STATES), state))
    max_hvm = raw.get("max_hvm")
    if max_hvm is not None:
        max_hvm = _pos_int(max_hvm)
        if max_hvm is None or max_hvm < 0:
            errors.append("%s: max_hvm: must be an integer >= 0, got %r" % (where, raw.get("max_hvm")))
    ratio = raw.get("vcpu_ratio")
    if ratio is None:
        ratio = DEFAULT_VCPU_RATIO
    else:
        try:
            ratio = parse_number(ratio, minimum_exclusive=0)
        except ValueTypeError:
            errors.append("%s: vcpu_ratio: must be a number > 0, got %r" % (where, raw.get("vcpu_ratio")))
    try:
        hap = _as_bool(raw.get("hap"), True)
    except ValueError:
        errors.append("%s: hap: must be a boolean, got %r" % (where, raw.get("hap")))
    try:
        shadow = _as_bool(raw.get("shadow_paging"), True)
    except ValueError:
        errors.append("%s: shadow_paging: must be a boolean, got %r" % (where, raw.get("shadow_paging")))
    domain = raw.get("domain") or None
    if domain is not None and not isinstance(domain, str):
        errors.append("%s: domain: must be a failure domain name, got %r" % (where, domain))
    reserve = raw.get("xen_reserve_mb")
    if reserve is None and memory_mb is not None:
        reserve = default_xen_reserve_mb(memory_mb)
    elif reserve is not None:
        reserve = _size(errors, where, "xen_reserve_mb", reserve, allow_zero=True)
    if len(errors) > before:
        return None
    if dom0_mb + reserve >= memory_mb:
        errors.append("%s: dom0_memory_mb: %d MiB dom0 reserve + %d MiB hypervisor reserve leaves nothing of "
                      "memory_mb %d MiB for guests" % (where, dom0_mb, reserve, memory_mb))
        return None
    return Host(name, memory_mb, cpus, dom0_mb, reserve, state, max_hvm, ratio, hap, index, domain, shadow)


def _parse_guest(raw, index, errors, overhead):
    if not isinstance(raw, dict):
        errors.append("guest #%d: expected a mapping, got %s" % (index, type(raw).__name__))
        return None
    name = _text(raw.get("name"))
    if not name:
        errors.append("guest #%d: name: missing or not a string" % index)
        return None
    where = "guest %r" % name
    before = len(errors)
    memory_mb = _size(errors, where, "memory_mb", raw.get("memory_mb"))
    maxmem_mb = None
    if raw.get("maxmem_mb") is not None:
        maxmem_mb = _size(errors, where, "maxmem_mb", raw.get("maxmem_mb"))
    vcpus = raw.get("vcpus", 1)
    vcpus = 1 if vcpus is None else _pos_int(vcpus)
    if vcpus is None or vcpus < 1:
        errors.append("%s: vcpus: must be an integer >= 1, got %r" % (where, raw.get("vcpus")))
    gtype = raw.get("type") or DEFAULT_GUEST_TYPE
    if gtype not in GUEST_TYPES:
        errors.append("%s: type: must be one of %s, got %r" % (where, ", ".join(GUEST_TYPES), gtype))
    pin = raw.get("host") or None
    if pin is not None and not isinstance(pin, str):
        errors.append("%s: host: must be a host name, got %r" % (where, pin))
    group = raw.get("anti_affinity") or None
    if group is not None and not isinstance(group, str):
        errors.append("%s: anti_affinity: must be a group name, got %r" % (where, group))
    try:
        movable = _as_bool(raw.get("movable"), True)
    except ValueError:
        errors.append("%s: movable: must be a boolean, got %r" % (where, raw.get("movable")))
    current = raw.get("current_host") or None
    if current is not None and not isinstance(current, str):
        errors.append("%s: current_host: must be a host name, got %r" % (where, current))
    priority = raw.get("priority") or DEFAULT_PRIORITY
    if priority not in PRIORITIES:
        errors.append("%s: priority: must be one of %s, got %r" % (where, ", ".join(PRIORITIES), priority))
    state = raw.get("state") or "running"
    if state not in GUEST_STATES:
        errors.append("%s: state: must be one of %s, got %r" % (where, ", ".join(GUEST_STATES), state))
    if len(errors) > before:
        return None
    return Guest(name, memory_mb, maxmem_mb, vcpus, gtype, pin, group, movable, current, index, overhead,
                 PRIORITIES.index(priority))


def make_guest(raw, index, overhead=True):
    """One validated :class:`Guest` from a mapping, or :class:`ModelError`."""
    errors = []
    guest = _parse_guest(raw, index, errors, overhead)
    if errors:
        raise ModelError(errors)
    return guest


def build_cluster(guests, hosts, tolerate=1, overhead=True, tolerate_domains=0, domain_protect=DEFAULT_DOMAIN_PROTECT,
                  max_scenarios=None):
    """Validate plain mappings and return a :class:`Cluster`, or raise :class:`ModelError`.

    ``max_scenarios`` (when given) caps the whole-domain failure sets, which are always simulated.
    """
    errors = []
    if not isinstance(hosts, (list, tuple)):
        raise ModelError(["hosts: expected a list of mappings, got %s" % type(hosts).__name__])
    if not isinstance(guests, (list, tuple)):
        raise ModelError(["guests: expected a list of mappings, got %s" % type(guests).__name__])
    tol = _pos_int(tolerate)
    if tol is None or tol < 0:
        raise ModelError(["tolerate: must be an integer >= 0, got %r" % (tolerate,)])
    try:
        overhead = _as_bool(overhead, True)
    except ValueError:
        raise ModelError(["overhead: must be a boolean, got %r" % (overhead,)]) from None
    tol_domains = _pos_int(tolerate_domains)
    if tol_domains is None or tol_domains < 0:
        raise ModelError(["tolerate_domains: must be an integer >= 0, got %r" % (tolerate_domains,)])
    if domain_protect not in PRIORITIES:
        raise ModelError(["domain_protect: must be one of %s, got %r" % (", ".join(PRIORITIES), domain_protect)])

    host_objs, seen = [], set()
    for i, raw in enumerate(hosts):
        host = _parse_host(raw, i, errors)
        if host is None:
            continue
        if host.name in seen:
            errors.append("host %r: name: duplicate host name" % host.name)
            continue
        seen.add(host.name)
        host.index = len(host_objs)
        host_objs.append(host)
    guest_objs, seen_g, not_running = [], set(), {}
    for i, raw in enumerate(guests):
        guest = _parse_guest(raw, i, errors, overhead)
        if guest is None:
            continue
        if guest.name in seen_g:
            errors.append("guest %r: name: duplicate guest name" % guest.name)
            continue
        seen_g.add(guest.name)
        state = raw.get("state") or "running"
        if state != "running":
            not_running[guest.name] = state
            continue
        guest.index = len(guest_objs)
        guest_objs.append(guest)
    if errors:
        raise ModelError(errors)
    if not host_objs:
        raise ModelError(["hosts: at least one host is required"])

    cluster = Cluster(host_objs, guest_objs, tol, overhead, tol_domains, PRIORITIES.index(domain_protect),
                      not_running)
    _check_domains(cluster, max_scenarios, errors)
    _check_references(cluster, errors)
    if errors:
        raise ModelError(errors)
    return cluster


def _check_domains(cluster, max_scenarios, errors):
    d = cluster.tolerate_domains
    if d == 0:
        return
    domains = cluster.domains
    if d >= len(domains):
        errors.append("tolerate_domains: %d whole failure domain(s) to tolerate needs more than %d domain(s) with an "
                      "active host (%s)" % (d, len(domains), ", ".join(sorted(domains)) or "none"))
        return
    sets = math.comb(len(domains), d)
    if max_scenarios is not None and sets > max_scenarios:
        errors.append("tolerate_domains: %d of %d failure domains make %d failure sets, more than max_scenarios %d "
                      "(each is simulated)" % (d, len(domains), sets, max_scenarios))


def _check_references(cluster, errors):
    by_name = cluster.host_by_name
    active = cluster.active_hosts
    if cluster.tolerate >= len(active):
        errors.append("tolerate: %d host failure(s) to tolerate needs more than %d active host(s) (%s)"
                      % (cluster.tolerate, len(active), ", ".join(h.name for h in active) or "none"))
    for g in cluster.guests:
        where = "guest %r" % g.name
        if g.pin is not None:
            host = by_name.get(g.pin)
            if host is None:
                errors.append("%s: host: pinned to unknown host %r" % (where, g.pin))
                continue
            if not host.active:
                errors.append("%s: host: pinned to host %r, which is in state %s" % (where, g.pin, host.state))
                continue
            if not cluster.eligible(g, host):
                errors.append("%s: host: pinned to %r, which cannot hold it (%s)"
                              % (where, g.pin, cluster.why_not(g, host)))
                continue
        if g.current_host is not None and g.current_host not in by_name:
            errors.append("%s: current_host: unknown host %r" % (where, g.current_host))
        if active and not any(cluster.eligible(g, h) for h in active):
            # Explained on the largest host that can run the guest's type at all (HVM and PVH need
            # HAP or shadow paging), so the reason is the one that limits; "larger than" only when it
            # is a size.
            runs_type = [h for h in active if g.type == "pv" or h.hvm_capable] or active
            biggest = max(runs_type, key=lambda h: h.capacity_mb)
            size = fail_mode(g, biggest, 0, 0, 0) in (FAIL_MEMORY, FAIL_PCPUS, FAIL_VCPUS)
            errors.append("%s: %s: %s" % (where, "larger than any active host" if size else "no active host can run it",
                                          cluster.why_not(g, biggest)))
    groups = {}
    for g in cluster.guests:
        if g.anti_affinity is not None:
            groups.setdefault(g.anti_affinity, []).append(g)
    for name, members in sorted(groups.items()):
        if len(members) > len(active):
            errors.append("anti_affinity group %r: %d guests (%s) need %d distinct hosts, only %d active"
                          % (name, len(members), ", ".join(m.name for m in members), len(members), len(active)))
            continue
        pins = {}
        for m in members:
            if m.pin is not None:
                pins.setdefault(m.pin, []).append(m.name)
        for host, names in sorted(pins.items()):
            if len(names) > 1:
                errors.append("anti_affinity group %r: guests %s are all pinned to host %r"
                              % (name, ", ".join(names), host))
    hvm = [g for g in cluster.guests if g.is_hvm]
    if hvm and active and all(h.max_hvm is not None for h in active):
        room = sum(h.max_hvm for h in active)
        if len(hvm) > room:
            errors.append("max_hvm: %d HVM guests but the active hosts allow at most %d in all (%s)"
                          % (len(hvm), room, ", ".join("%s=%d" % (h.name, h.max_hvm) for h in active)))
