# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for what ``xl`` (Xen 4.17) prints, and the verdict after a migration attempt.

Pure Python, no Ansible import: this runs on the managed dom0 (Python 3.9+) inside the
``xen_host_info`` and ``xl_domain`` modules, and in unit tests on the controller.

Formats (checked against Debian 12's Xen 4.17.7 and ``tools/xl/xl_info.c``):

* ``xl info``: one ``key<spaces>: value`` line per field; the value may be empty
  (``xen_changeset          : ``) or contain colons (``hw_caps``). Memory is in MiB.
* ``xl list``: a header ``Name  ID  Mem VCPUs<TAB>State<TAB>Time(s)``, then one row per domain. Mem is
  MiB, State is six positions ``r b p s c d`` (running, blocked, paused, shutdown, crashed, dying),
  each a letter or ``-`` (``r-----``, ``-b----``, ``--p---``).
* ``xl list -l``: a JSON array, one object ``{"domid": N, "config": {"c_info": {...}, "b_info": {...}}}``
  per domain whose config libxl can retrieve (others are skipped). Fields at their default are left out
  (dom0 has no ``max_vcpus``). Memory is KiB.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import time

CAPABILITIES = "/proc/xen/capabilities"

# Suffixes xl gives a domain's copies while ``xl migrate`` runs (tools/xl/xl_migrate.c).
MIGRATION_SUFFIXES = ("--incoming", "--migratedaway")

INFO_INT_KEYS = frozenset((
    "nr_cpus", "max_cpu_id", "nr_nodes", "cores_per_socket", "threads_per_core", "total_memory", "free_memory",
    "sharing_freed_memory", "sharing_used_memory", "outstanding_claims", "free_cpus", "xen_major", "xen_minor",
    "xen_pagesize", "xend_config_format",
))
INFO_LIST_KEYS = frozenset(("virt_caps",))

STATE_FLAGS = "rbpscd"

OUTCOMES = ("migrated", "still_on_source", "running_twice", "lost", "unknown")


class XlParseError(ValueError):
    """xl printed something these parsers do not understand."""


def parse_info(text):
    """``xl info`` text -> dict.

    Integers for the memory and CPU counts (``total_memory``, ``free_memory`` in MiB, ``nr_cpus``, ...),
    ``cpu_mhz`` as a float, ``virt_caps`` as a list of words; everything else (``xen_version``,
    ``xen_commandline``, ``hw_caps``, ...) is kept as the stripped string. Only ``key<blanks>: value``
    lines count (xl pads every key), so the tables of ``xl info -n`` and error text are ignored; the first
    occurrence of a key wins.
    """
    info = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_][a-z0-9_]*)\s+:(.*)$", line)
        if not match:
            continue
        key, value = match.groups()
        if key in info:
            continue
        value = value.strip()
        if key in INFO_LIST_KEYS:
            info[key] = value.split()
        elif key in INFO_INT_KEYS or "memory" in key:
            try:
                info[key] = int(value)
            except ValueError:
                raise XlParseError("xl info: %s is not a whole number: %r" % (key, value)) from None
        elif key == "cpu_mhz":
            try:
                info[key] = float(value)
            except ValueError:
                info[key] = value
        else:
            info[key] = value
    if not info:
        raise XlParseError("xl info printed no 'key : value' lines")
    return info


def parse_list(text):
    """Plain ``xl list`` text -> [{name, domid, memory_mb, vcpus, state, time_s}] in xl's order.

    ``state`` is xl's six-position field as printed (``r-----``, ``-b----``, ``--p---``); test a flag with
    ``'p' in state``. Names may contain spaces (the numeric columns are taken from the right).
    """
    domains = []
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].split()[0] == "Name":
        raise XlParseError("xl list: no 'Name ID Mem VCPUs State Time(s)' header in %r" % text[:200])
    for line in lines[1:]:
        parts = line.rsplit(None, 5)
        if len(parts) != 6:
            raise XlParseError("xl list: cannot read the line %r" % line)
        name, domid, mem, vcpus, state, seconds = parts
        if not re.match(r"^[rbpscd-]{6}$", state):
            raise XlParseError("xl list: bad state %r in the line %r" % (state, line))
        try:
            domains.append(dict(name=name.strip(), domid=int(domid), memory_mb=int(mem), vcpus=int(vcpus),
                                state=state, time_s=float(seconds)))
        except ValueError:
            raise XlParseError("xl list: cannot read the line %r" % line) from None
    return domains


def parse_list_long(text):
    """``xl list -l`` JSON -> {name: {domid, type, memory_mb, max_memory_mb, max_vcpus, bridges, cpuid_masked}}.

    ``memory_mb`` is ``b_info.target_memkb`` and ``max_memory_mb`` ``b_info.max_memkb``, both rounded to
    whole MiB (dom0's target is often 1 KiB short: 1048575); fields xl left out are None. ``bridges``
    lists the bridges of the guest's NICs (``nics[].bridge``), ``cpuid_masked`` is whether the config
    sets a CPUID policy (``b_info.cpuid``). Fails on the
    SXP format (``output_format="sxp"`` in xl.conf) or any other non-JSON output.
    """
    stripped = text.strip()
    if not stripped.startswith("["):
        raise XlParseError("xl list -l did not print a JSON array (is output_format=\"sxp\" set in xl.conf?): %r"
                           % stripped[:200])
    try:
        data = json.loads(stripped)
    except ValueError as exc:
        raise XlParseError("xl list -l printed invalid JSON: %s" % exc) from None
    out = {}
    for entry in data:
        if not isinstance(entry, dict):
            raise XlParseError("xl list -l: unexpected element %r" % (entry,))
        config = entry.get("config") or {}
        c_info = config.get("c_info") or {}
        b_info = config.get("b_info") or {}
        name = c_info.get("name")
        if name is None:
            continue
        out[name] = dict(domid=entry.get("domid"), type=c_info.get("type"),
                         memory_mb=_kib_to_mib(b_info.get("target_memkb")),
                         max_memory_mb=_kib_to_mib(b_info.get("max_memkb")),
                         max_vcpus=b_info.get("max_vcpus"),
                         bridges=sorted({n.get("bridge") for n in config.get("nics") or []
                                         if isinstance(n, dict) and n.get("bridge")}),
                         cpuid_masked=bool(b_info.get("cpuid")))
    return out


def _kib_to_mib(kib):
    if not isinstance(kib, int) or kib < 0:
        return None
    return (kib + 512) // 1024


def domains(list_text, list_long_text=None):
    """Plain ``xl list`` (presence, state, memory, vCPUs) joined with ``xl list -l`` (the guest type).

    Returns [{name, domid, type, memory_mb, max_memory_mb, vcpus, state, bridges, cpuid_masked}];
    ``type`` (pv, pvh, hvm), ``max_memory_mb`` and ``cpuid_masked`` are None, ``bridges`` empty, for a
    domain missing from ``xl list -l`` or without it.
    """
    details = parse_list_long(list_long_text) if list_long_text is not None else {}
    out = []
    for dom in parse_list(list_text):
        extra = details.get(dom["name"]) or {}
        out.append(dict(name=dom["name"], domid=dom["domid"], type=extra.get("type"), memory_mb=dom["memory_mb"],
                        max_memory_mb=extra.get("max_memory_mb"), vcpus=dom["vcpus"], state=dom["state"],
                        bridges=extra.get("bridges", []), cpuid_masked=extra.get("cpuid_masked")))
    return out


def copies(domain_list, name):
    """The domains in ``domain_list`` that are ``name`` or its migration copies (``name--incoming``,
    ``name--migratedaway``), in list order."""
    wanted = {name} | {name + suffix for suffix in MIGRATION_SUFFIXES}
    return [d for d in domain_list if d["name"] in wanted]


def find(domain_list, name):
    """The domain called exactly ``name``, or None."""
    for dom in domain_list:
        if dom["name"] == name:
            return dom
    return None


def run_state(dom):
    """One word for a domain (a row of ``parse_list``/``domains``) or None: absent, paused, crashed, dying,
    shutting_down or running (running, blocked, or runnable and waiting for a CPU)."""
    if dom is None:
        return "absent"
    state = dom["state"]
    for flag, word in (("d", "dying"), ("c", "crashed"), ("s", "shutting_down"), ("p", "paused")):
        if flag in state:
            return word
    return "running"


def dom0_problem(capabilities=CAPABILITIES):
    """None when this is a Xen dom0 (``control_d`` in /proc/xen/capabilities), else why not."""
    try:
        with open(capabilities) as f:
            caps = f.read()
    except FileNotFoundError:
        return "%s does not exist (not running on Xen, or xenfs is not mounted)" % capabilities
    except OSError as exc:
        return "cannot read %s: %s" % (capabilities, exc)
    if "control_d" not in caps.split():
        return "%s lacks control_d (%r): this is a domU, not dom0" % (capabilities, caps.strip())
    return None


def _describe(found, host):
    """'on HOST (NAME state r-----, ...)' for a list of copies, or 'on HOST' for a plain True."""
    if isinstance(found, (list, tuple)) and found and isinstance(found[0], dict):
        return "on %s (%s)" % (host, ", ".join("%s %s %s" % (d["name"], run_state(d), d["state"]) for d in found))
    return "on %s" % host


def _paused(found):
    return isinstance(found, (list, tuple)) and any(isinstance(d, dict) and "p" in d["state"] for d in found)


def migration_outcome(rc, source_has_domain, target_has_domain, name="the guest", source="the source",
                      target="the target"):
    """Where a guest is after ``xl migrate`` -> (outcome, message).

    ``source_has_domain``/``target_has_domain`` are truthy when a copy exists there (a list of domain dicts
    from ``copies`` gives better messages; a paused copy or one named ``--incoming``/``--migratedaway``
    counts), falsy when none does, and None when the host could not be checked.

    Outcomes: ``migrated`` (only the target has it), ``still_on_source`` (only the source has it),
    ``running_twice`` (both have a copy - SEVERE: both may write the same disks), ``lost`` (neither has
    it), ``unknown`` (a host could not be checked).
    """
    how = "xl migrate exited %s" % rc
    if source_has_domain is None or target_has_domain is None:
        which = source if source_has_domain is None else target
        return "unknown", ("%s: %s and %s could not be checked afterwards; CHECK BOTH %s AND %s BY HAND before "
                           "starting the guest anywhere" % (name, how, which, source, target))
    if source_has_domain and target_has_domain:
        return "running_twice", (
            "%s: %s and the guest now exists TWICE, %s and %s. Both copies may write the same disks: pause or "
            "destroy one by hand after checking which one is current (xl said: Domain state is now undefined, "
            "check at both ends)" % (name, how, _describe(source_has_domain, source),
                                     _describe(target_has_domain, target)))
    if target_has_domain:
        msg = "%s: migrated from %s to %s (%s)" % (name, source, target, how)
        if _paused(target_has_domain):
            msg += "; the copy %s is PAUSED, check it" % _describe(target_has_domain, target)
        return "migrated", msg
    if source_has_domain:
        msg = "%s: %s and the guest is still %s; nothing runs on %s" % (
            name, how, _describe(source_has_domain, source), target)
        if _paused(source_has_domain):
            msg += "; the copy on %s is PAUSED, check it and run xl unpause if it is the only one" % source
        return "still_on_source", msg
    return "lost", "%s: %s and the guest runs on neither %s nor %s; it is LOST and must be started again" % (
        name, how, source, target)


# ``xl -vvv migrate`` (debug level, passed on to the receiver) logs on the sender when the guest has
# suspended (its vCPUs stop; the last dirty pages follow) and, through ssh from the receiver, when the
# receiver has started (unpaused) it: between the two the guest runs nowhere. Xen 4.17's words, including
# its "successsfully"; the sender's acknowledgement of the startup is the fallback.
SUSPENDED = re.compile(r"guest has suspended")
STARTED = re.compile(r"migration target: Domain started succ|migration sender: Target reports successful startup")


def migration_downtime(timed_lines):
    """Seconds the guest ran nowhere during a migration, from ``xl -vvv migrate``'s output lines as
    [(seconds, line)] (any monotonic clock, in the order read): the last suspension before the first
    startup after it. None when either mark is missing (another Xen's words, or a migration that failed)."""
    suspended = None
    for stamp, line in timed_lines:
        if SUSPENDED.search(line):
            suspended = stamp
        elif suspended is not None and STARTED.search(line):
            return round(max(0.0, stamp - suspended), 1)
    return None


# ---------------------------------------------------------------------------------------------------
# The rest of a dom0's live state that evacuate.yml, rebalance.yml and failover.yml check, read from
# /sys and /proc (paths are arguments, so tests can point them at directories of their own).

SYS_NET = "/sys/class/net"
PROC = "/proc"

# A migration still running here: the sending `xl [-vvv] migrate` (as xl or /usr/lib/xen-4.17/bin/xl; the
# receiving `xl migrate-receive` stays on as the domain's monitor after the move, and is no migration),
# or an xl_domain job (an async job of a killed ansible-playbook may not have started xl migrate yet).
MIGRATION = re.compile(r"(^|/)xl (-v+ )?migrate |AnsiballZ_xl_domain")


def bridges(sys_net=SYS_NET):
    """The names of this host's bridge interfaces (those with a ``bridge`` directory in sysfs), sorted."""
    try:
        names = os.listdir(sys_net)
    except OSError:
        return []
    return sorted(n for n in names if os.path.isdir(os.path.join(sys_net, n, "bridge")))


def migrations(proc=PROC, own_pid=None):
    """Command lines (arguments joined by spaces, as ``pgrep -f`` matches them) of the processes that are
    migrations still running here (MIGRATION), in pid order. Processes that end while read are skipped."""
    found = []
    try:
        pids = sorted(int(p) for p in os.listdir(proc) if p.isdigit())
    except OSError:
        return found
    for pid in pids:
        if pid == own_pid:
            continue
        try:
            with open(os.path.join(proc, str(pid), "cmdline"), "rb") as f:
                raw = f.read()
        except OSError:
            continue
        line = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        if line and MIGRATION.search(line):
            found.append("%d %s" % (pid, line))
    return found


def _unescape_mount(path):
    # /proc/*/mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mount_fstype(mountinfo_text, path):
    """The filesystem type mounted at ``path`` (the top one where mounts are stacked), or None.

    ``mountinfo_text`` is /proc/self/mountinfo: ``ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] -
    FSTYPE SOURCE SUPEROPTIONS``."""
    want = os.path.normpath(path)
    fstype = None
    for line in mountinfo_text.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if sep + 1 < len(fields) and os.path.normpath(_unescape_mount(fields[4])) == want:
            fstype = fields[sep + 1]
    return fstype


def entries(directory):
    """The names in ``directory`` (sorted), or None when it does not exist."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return None


def run_timed(argv):
    """Run ``argv`` (C locale, no stdin) and time each output line as it arrives (monotonic seconds): what
    xl_domain needs for xl migrate's downtime, which AnsibleModule.run_command cannot give (it returns at the
    end). Returns (rc, stdout, stderr without xl's debug lines, [(seconds, line)] of both streams)."""
    env = dict(os.environ, LC_ALL="C", LANG="C")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                            stderr=subprocess.PIPE, env=env)
    pending = {proc.stdout.fileno(): b"", proc.stderr.fileno(): b""}
    timed = []  # (arrival, fd, line)
    with selectors.DefaultSelector() as sel:
        for fd in pending:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            for key, _events in sel.select():
                chunk = os.read(key.fd, 65536)
                stamp = time.monotonic()
                if not chunk:
                    sel.unregister(key.fd)
                parts = re.split(rb"[\r\n]", pending[key.fd] + chunk) if chunk else [pending[key.fd], b""]
                timed.extend((stamp, key.fd, raw.decode("utf-8", "replace")) for raw in parts[:-1] if raw)
                pending[key.fd] = parts[-1]
    rc = proc.wait()
    out = "\n".join(line for _t, fd, line in timed if fd == proc.stdout.fileno())
    err = "\n".join(line for _t, fd, line in timed if fd == proc.stderr.fileno() and ": debug: " not in line)
    proc.stdout.close()
    proc.stderr.close()
    return rc, out, err, [(stamp, line) for stamp, _fd, line in timed]
