# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filer plan: what the filer must export, to whom, and with which quota.

Pure Python over plain data (no Ansible, no netaddr): the role's backends (ONTAP, Linux NFS) only
apply this plan. Every inventory problem is collected and reported at once, naming the guest or
host and the variable, before anything is sent to a filer.

Addresses are parsed by the standard library's ``ipaddress`` and compared in canonical form, so two
spellings of one address are a duplicate, and strings that are not canonical dotted quads (leading
zeros such as ``192.0.2.010``, which some tools read as octal) are refused.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from ansible_collections.consolidation.xen.plugins.module_utils.contract import BACKUP_NAME_RE, NAME_RE, NAME_RULE
from ansible_collections.consolidation.xen.plugins.module_utils.units import SizeError, parse_size_mb

# Inventory variables read by the plan.
HOST_ADDRESS_VAR = "xen_host_storage_address"
GUEST_ADDRESS_VAR = "xen_guest_address"
GUEST_DATA_VAR = "xen_guest_data"
# A guest whose desired state is absent is left out of the plan as if it had left the inventory: its
# export goes, its data stay (deleted only with filer_purge). Stopped guests keep theirs.
GUEST_STATE_VAR = "xen_guest_state"

# Keys of the defaults mapping (each is the role variable filer_<key>).
DEFAULT_KEYS = ("image_volume", "image_size", "image_junction", "data_volume", "data_size",
                "data_junction", "quota", "soft_quota", "files", "root_squash", "policy_prefix")
# What a guest's xen_guest_data mapping may override.
GUEST_DATA_KEYS = ("quota", "soft_quota", "files", "root_squash")

QTREE_MAX = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_VOLUME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class FilerPlanError(ValueError):
    """One or more inventory problems; ``problems`` lists each, the message joins them."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def qtree_name(guest):
    """A guest name made safe for a qtree, an XFS project and an export policy name.

    Characters other than letters, digits, ``_`` and ``-`` become ``_`` (``www.example`` ->
    ``www_example``); a name longer than 64 characters is cut and ends in 8 hex digits of its SHA-1,
    so it stays unique and stable.
    """
    safe = _UNSAFE.sub("_", str(guest))
    if len(safe) > QTREE_MAX:
        digest = hashlib.sha1(str(guest).encode("utf-8")).hexdigest()[:8]
        safe = "%s_%s" % (safe[:QTREE_MAX - 9], digest)
    return safe


def _address(value):
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        raise ValueError("expected an IP address such as 192.0.2.10, got %r" % (value,))
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError("%r is not a single IP address in canonical form (no prefix, no leading zeros)"
                         % (value,)) from None


def _client(ip):
    return "%s/%d" % (ip, ip.max_prefixlen)


def _bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true or false, got %r" % (value,))


def _files(value):
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("expected a positive whole number of files, got %r" % (value,))
    return value


def _quota(value, what):
    try:
        return parse_size_mb(value)
    except SizeError as exc:
        raise ValueError("%s: %s" % (what, exc)) from None


def _soft_quota(value, hard_mb):
    """A soft limit: a size, or a percentage of the hard limit (``"90%"``, rounded down)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        match = _PERCENT_RE.match(value)
        if not match or not 0 < float(match.group(1)) <= 100:
            raise ValueError("expected a percentage of the hard quota from 1%% to 100%%, got %r" % (value,))
        if hard_mb is None:
            return None
        return max(1, int(hard_mb * float(match.group(1)) // 100))
    try:
        return parse_size_mb(value)
    except SizeError as exc:
        raise ValueError(str(exc)) from None


class _Problems:
    def __init__(self):
        self.items = []

    def add(self, where, exc_or_text):
        self.items.append("%s: %s" % (where, exc_or_text))


def _check_defaults(defaults, problems):
    """Validate the role-level defaults; return the parsed values (None where invalid)."""
    missing = [k for k in DEFAULT_KEYS if k not in defaults]
    if missing:
        problems.add("defaults", "missing key(s) %s" % ", ".join(missing))
    out = {}
    for key in ("image_volume", "data_volume"):
        value = defaults.get(key)
        if not isinstance(value, str) or not _VOLUME_RE.match(value):
            problems.add("filer_%s" % key, "expected a volume name (letters, digits, '_'; not starting "
                                           "with a digit), got %r" % (value,))
        out[key] = value
    if defaults.get("image_volume") == defaults.get("data_volume") and defaults.get("image_volume"):
        problems.add("filer_data_volume", "must differ from filer_image_volume (%r)" % defaults["image_volume"])
    for key in ("image_junction", "data_junction"):
        value = defaults.get(key)
        if not isinstance(value, str) or not value.startswith("/"):
            problems.add("filer_%s" % key, "expected an absolute path such as /images, got %r" % (value,))
        out[key] = value
    for key in ("image_size", "data_size"):
        try:
            out[key] = parse_size_mb(defaults.get(key))
        except SizeError as exc:
            problems.add("filer_%s" % key, exc)
            out[key] = None
    prefix = defaults.get("policy_prefix", "xen_")
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        problems.add("filer_policy_prefix", "expected letters, digits, '_' or '-', got %r" % (prefix,))
        prefix = "xen_"
    out["policy_prefix"] = prefix
    return out


def _guest_limits(name, data, defaults, problems):
    """The data area of one guest: {hard_mb, soft_mb, files, root_squash}, or None if invalid."""
    if data is True:
        settings = {k: defaults.get(k) for k in GUEST_DATA_KEYS}
    elif isinstance(data, dict):
        unknown = sorted(set(data) - set(GUEST_DATA_KEYS))
        if unknown:
            problems.add("guest %s" % name, "%s: unknown key(s) %s (allowed: %s)"
                         % (GUEST_DATA_VAR, ", ".join(map(str, unknown)), ", ".join(GUEST_DATA_KEYS)))
        settings = {k: data[k] if k in data else defaults.get(k) for k in GUEST_DATA_KEYS}
    else:
        problems.add("guest %s" % name, "%s: expected true, false or a mapping of %s, got %r"
                     % (GUEST_DATA_VAR, ", ".join(GUEST_DATA_KEYS), data))
        return None
    ok = True
    where = "guest %s" % name
    hard = soft = files = root_squash = None
    try:
        hard = _quota(settings["quota"], "%s.quota" % GUEST_DATA_VAR)
    except ValueError as exc:
        problems.add(where, exc)
        ok = False
    if settings["soft_quota"] is not None:
        try:
            soft = _soft_quota(settings["soft_quota"], hard)
        except ValueError as exc:
            problems.add(where, "%s.soft_quota: %s" % (GUEST_DATA_VAR, exc))
            ok = False
    if hard is not None and soft is not None and soft > hard:
        problems.add(where, "%s.soft_quota (%d MiB) is above the hard quota (%d MiB)"
                     % (GUEST_DATA_VAR, soft, hard))
        ok = False
    try:
        files = _files(settings["files"])
    except ValueError as exc:
        problems.add(where, "%s.files: %s" % (GUEST_DATA_VAR, exc))
        ok = False
    try:
        root_squash = _bool(True if settings["root_squash"] is None else settings["root_squash"])
    except ValueError as exc:
        problems.add(where, "%s.root_squash: %s" % (GUEST_DATA_VAR, exc))
        ok = False
    if not ok:
        return None
    return {"hard_mb": hard, "soft_mb": soft, "files": files, "root_squash": root_squash}


# ONTAP backend: the snapshot policy of the image and data volumes (filer_ontap_snapshot_policy). ONTAP
# keeps at most 1,023 Snapshot copies per volume and a policy has one to five schedules.
SNAPSHOT_KEYS = ("name", "enabled", "schedules")
SNAPSHOT_SCHEDULE_KEYS = ("schedule", "count", "snapmirror_label", "prefix")
SNAPSHOT_MAX_SCHEDULES = 5
SNAPSHOT_MAX_COPIES = 1023
_SNAP_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}$")


def snapshot_policy(value, prefix, problems, var="filer_ontap_snapshot_policy"):
    """The snapshot policy to put on the image and data volumes, from the role variable: None (leave
    the volumes' policy alone) or {name, enabled, copies: [{schedule, count, snapmirror_label, prefix}]}
    (the name defaults to <prefix>snapshots, a copy's prefix to its schedule, its label to none)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(var, "expected null or a mapping with schedules, got %r" % (value,))
        return None
    unknown = sorted(str(k) for k in value if k not in SNAPSHOT_KEYS)
    if unknown:
        problems.add(var, "unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(SNAPSHOT_KEYS)))
    name = value.get("name") or "%ssnapshots" % prefix
    if not isinstance(name, str) or not _SNAP_NAME_RE.match(name):
        problems.add(var, "name: expected letters, digits, '_', '.' or '-', got %r" % (name,))
    try:
        enabled = _bool(value.get("enabled", True))
    except ValueError as exc:
        problems.add(var, "enabled: %s" % exc)
        enabled = True
    schedules = value.get("schedules")
    if not isinstance(schedules, list) or not 1 <= len(schedules) <= SNAPSHOT_MAX_SCHEDULES:
        problems.add(var, "schedules: expected a list of 1 to %d mappings {schedule, count}, got %r"
                     % (SNAPSHOT_MAX_SCHEDULES, schedules))
        return None
    copies, seen = [], set()
    for i, item in enumerate(schedules, start=1):
        where = "%s: schedules[%d]" % (var, i)
        if not isinstance(item, dict):
            problems.add(where, "expected a mapping {schedule, count}, got %r" % (item,))
            continue
        unknown = sorted(str(k) for k in item if k not in SNAPSHOT_SCHEDULE_KEYS)
        if unknown:
            problems.add(where, "unknown key(s) %s (known: %s)"
                         % (", ".join(unknown), ", ".join(SNAPSHOT_SCHEDULE_KEYS)))
        schedule = item.get("schedule")
        if not isinstance(schedule, str) or not _PREFIX_RE.match(schedule) or not schedule:
            problems.add(where, "schedule: expected the name of an ONTAP job schedule such as hourly, got %r"
                         % (schedule,))
            continue
        if schedule in seen:
            problems.add(where, "schedule %s is listed twice" % schedule)
        seen.add(schedule)
        count = item.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= SNAPSHOT_MAX_COPIES:
            problems.add(where, "count: expected a whole number from 1 to %d, got %r" % (SNAPSHOT_MAX_COPIES, count))
            continue
        label = item.get("snapmirror_label") or ""
        copy_prefix = item.get("prefix") or schedule
        for key, text in (("snapmirror_label", label), ("prefix", copy_prefix)):
            if not isinstance(text, str) or not _PREFIX_RE.match(text):
                problems.add(where, "%s: expected letters, digits, '_' or '-', got %r" % (key, text))
        copies.append({"schedule": schedule, "count": count, "snapmirror_label": label, "prefix": copy_prefix})
    total = sum(c["count"] for c in copies)
    if total > SNAPSHOT_MAX_COPIES:
        problems.add(var, "the counts add up to %d Snapshot copies; a volume holds at most %d"
                     % (total, SNAPSHOT_MAX_COPIES))
    return {"name": name, "enabled": enabled, "copies": copies}


# ONTAP backend: an optional SnapMirror vault of the volumes to another SVM (filer_ontap_vault). Over
# REST every relationship is extended data protection (XDP); the policy makes it a vault: ONTAP's
# XDPDefault keeps the copies labelled daily (7) and weekly (52) on the destination.
VAULT_KEYS = ("vserver", "policy", "schedule", "volumes", "suffix")
VAULT_VOLUMES = ("image", "data")
VAULT_DEFAULTS = {"policy": "XDPDefault", "schedule": "daily", "volumes": ["data"], "suffix": "_vault"}
VAULT_POLICY_LABELS = {"XDPDefault": ("daily", "weekly"), "MirrorAndVault": ("daily", "weekly")}


def vault(value, source_vserver, volumes, snapshots, problems, var="filer_ontap_vault"):
    """The SnapMirror vault relationships to make, from the role variable: None (no vault) or
    {vserver, policy, schedule, relationships: [{volume, source_path, destination_volume, destination_path}]}.
    ``volumes``: {"image": name, "data": name}; ``snapshots``: the snapshot policy (its labels are what the
    vault policy selects)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(var, "expected null or a mapping {vserver, policy, schedule, volumes, suffix}, got %r" % (value,))
        return None
    unknown = sorted(str(k) for k in value if k not in VAULT_KEYS)
    if unknown:
        problems.add(var, "unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(VAULT_KEYS)))
    out = dict(VAULT_DEFAULTS, **{k: v for k, v in value.items() if k in VAULT_KEYS and v is not None})
    ok = True
    vserver = out.get("vserver")
    if not isinstance(vserver, str) or not _SNAP_NAME_RE.match(vserver):
        problems.add(var, "vserver: expected the name of the destination SVM (peered with %s), got %r"
                     % (source_vserver, vserver))
        ok = False
    elif vserver == source_vserver:
        problems.add(var, "vserver: the vault must be another SVM than %s (the source)" % source_vserver)
        ok = False
    for key in ("policy", "schedule"):
        if not isinstance(out[key], str) or not _SNAP_NAME_RE.match(out[key]):
            problems.add(var, "%s: expected letters, digits, '_', '.' or '-', got %r" % (key, out[key]))
            ok = False
    if not isinstance(out["suffix"], str) or not re.match(r"^[A-Za-z0-9_]{1,64}$", out["suffix"]):
        problems.add(var, "suffix (of the destination volumes' names): expected letters, digits or '_', got %r"
                     % (out["suffix"],))
        ok = False
    chosen = out["volumes"]
    if (not isinstance(chosen, list) or not chosen or any(v not in VAULT_VOLUMES for v in chosen)
            or len(set(chosen)) != len(chosen)):
        problems.add(var, "volumes: expected a list of %s (each once), got %r" % (" and ".join(VAULT_VOLUMES), chosen))
        ok = False
    labels = VAULT_POLICY_LABELS.get(out["policy"])
    unlabelled = snapshots is not None and not any(c["snapmirror_label"] in (labels or ()) for c in snapshots["copies"])
    if ok and labels and unlabelled:
        problems.add(var, "policy %s keeps the Snapshot copies labelled %s, but filer_ontap_snapshot_policy labels "
                     "none of them (snapmirror_label): the vault would keep nothing"
                     % (out["policy"], " and ".join(labels)))
        ok = False
    if not ok or not isinstance(source_vserver, str) or not source_vserver:
        return None
    relationships = []
    for which in sorted(chosen, key=VAULT_VOLUMES.index):
        volume = volumes[which]
        destination = volume + out["suffix"]
        relationships.append({"volume": volume, "source_path": "%s:%s" % (source_vserver, volume),
                              "destination_volume": destination,
                              "destination_path": "%s:%s" % (vserver, destination)})
    return {"vserver": vserver, "policy": out["policy"], "schedule": out["schedule"], "relationships": relationships}


# Linux backend: backups of the data area to a second disk (filer_linux_backup). rsync copies the
# whole data directory into <dest>/<UTC time>; files unchanged since the previous backup are hard
# links to it (--link-dest), so every backup is complete and the disk holds each version once.
BACKUP_KEYS = ("dest", "keep", "on_calendar", "own_filesystem", "timer")
BACKUP_DEFAULTS = {"keep": 7, "on_calendar": "daily", "own_filesystem": True, "timer": True}
BACKUP_KEEP_MAX = 1000
# systemd.time(7) calendar events: letters, digits and the punctuation they use; systemd-analyze
# calendar checks the expression itself on the filer before the timer is written.
_CALENDAR_RE = re.compile(r"^[A-Za-z0-9*][A-Za-z0-9 :*/,.~+_-]{0,127}$")
_BACKUP_PATH_RE = re.compile(r"^(/[A-Za-z0-9_.@+-]+)+$")


def backup(value, backend, problems, var="filer_linux_backup"):
    """The backup settings from the role variable: None (no backups) or
    {dest, keep, on_calendar, own_filesystem, timer}."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(var, "expected null or a mapping {dest, keep, on_calendar, own_filesystem, timer}, got %r"
                     % (value,))
        return None
    if backend is not None and backend != "linux":
        problems.add(var, "backups of the data area are for filer_backend linux; on ONTAP (%s) use "
                          "filer_ontap_snapshot_policy and filer_ontap_vault" % backend)
        return None
    unknown = sorted(str(k) for k in value if k not in BACKUP_KEYS)
    if unknown:
        problems.add(var, "unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(BACKUP_KEYS)))
    out = dict(BACKUP_DEFAULTS, **{k: v for k, v in value.items() if k in BACKUP_KEYS and v is not None})
    ok = not unknown
    dest = out.get("dest")
    if isinstance(dest, str) and len(dest) > 1:
        dest = dest.rstrip("/") or dest
    if not isinstance(dest, str) or not _BACKUP_PATH_RE.match(dest) or any(
            part in (".", "..") for part in dest.split("/")):
        problems.add(var, "dest: expected the absolute path of the backup disk's directory (letters, digits, "
                          "'_', '.', '@', '+', '-'; not /), got %r" % (dest,))
        ok = False
    keep = out["keep"]
    if isinstance(keep, str) and keep.strip().isdigit():
        keep = int(keep.strip())
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= BACKUP_KEEP_MAX:
        problems.add(var, "keep: expected how many backups to keep, 1 to %d, got %r" % (BACKUP_KEEP_MAX, out["keep"]))
        ok = False
    if not isinstance(out["on_calendar"], str) or not _CALENDAR_RE.match(out["on_calendar"]):
        problems.add(var, "on_calendar: expected a systemd calendar event (daily, hourly, *-*-* 02:30:00), got %r"
                     % (out["on_calendar"],))
        ok = False
    flags = {}
    for key in ("own_filesystem", "timer"):
        try:
            flags[key] = _bool(out[key])
        except ValueError as exc:
            problems.add(var, "%s: %s" % (key, exc))
            ok = False
    if not ok:
        return None
    return {"dest": dest, "keep": keep, "on_calendar": out["on_calendar"], **flags}


def pick_backup(names, wanted, guest, dest):
    """The backup to restore ``guest`` from: ``wanted`` (a backup's name, or ``latest``) among ``names``
    (the backups in ``dest`` that hold the guest's directory). Raises ValueError naming the guest."""
    held = sorted(n for n in names or () if isinstance(n, str) and BACKUP_NAME_RE.match(n))
    if not held:
        raise ValueError("guest %s: no backup in %s holds its data area yet (the timer makes them; for one now, "
                         "run the backup script, filer_linux_backup_script, on the filer)" % (guest, dest))
    if wanted in (None, "", "latest"):
        return held[-1]
    if wanted not in held:
        raise ValueError("guest %s: snapshot %r: no such backup of its data area in %s (have: %s)"
                         % (guest, wanted, dest, ", ".join(held[-10:])))
    return wanted


_ITEMIZE_RE = re.compile(r"^([<>ch.*][fdLDS.][^ ]{9}|\*deleting ) +(.*)$")


def restore_changes(lines):
    """What an ``rsync --itemize-changes`` restore did (or, with --dry-run, would do):
    {restored: [files and links created or replaced], deleted: [...], directories: [created]}."""
    out = {"restored": [], "deleted": [], "directories": []}
    for line in lines or ():
        match = _ITEMIZE_RE.match(str(line))
        if not match:
            continue
        code, path = match.groups()
        if code.startswith("*deleting"):
            out["deleted"].append(path)
        elif code[1] == "d":
            if code[2:].startswith("+"):
                out["directories"].append(path)
        elif code[0] in "<>ch":
            out["restored"].append(path.split(" -> ")[0].split(" => ")[0])
    return out


def filer_plan(host_names, host_vars, guest_names, guest_vars, defaults):
    """Plan the filer's volumes, qtrees, quotas and export policies.

    ``host_vars`` and ``guest_vars`` are mappings of inventory variables, parallel to the name lists
    (only the variables named above are read). ``defaults`` holds DEFAULT_KEYS. Raises
    FilerPlanError listing every problem at once.
    """
    problems = _Problems()
    defaults = dict(defaults or {})
    parsed = _check_defaults(defaults, problems)
    prefix = parsed["policy_prefix"]
    snapshots = snapshot_policy(defaults.get("ontap_snapshot_policy"), prefix, problems)
    vaulted = vault(defaults.get("ontap_vault"), defaults.get("ontap_vserver"),
                    {"image": parsed.get("image_volume"), "data": parsed.get("data_volume")}, snapshots, problems)
    backups = backup(defaults.get("linux_backup"), defaults.get("backend"), problems)

    owners = {}  # ip -> ["host blade1", "guest www1", ...]
    clients = []
    host_clients = {}
    for name, hv in zip(host_names, host_vars):
        value = (hv or {}).get(HOST_ADDRESS_VAR)
        if value is None:
            problems.add("host %s" % name, "%s is not set (the address the filer sees this dom0 at)"
                         % HOST_ADDRESS_VAR)
            continue
        try:
            ip = _address(value)
        except ValueError as exc:
            problems.add("host %s" % name, "%s: %s" % (HOST_ADDRESS_VAR, exc))
            continue
        owners.setdefault(ip, []).append("host %s" % name)
        clients.append(ip)
        host_clients[name] = _client(ip)

    for what, name in [("host", n) for n in host_names] + [("guest", n) for n in guest_names]:
        # Names reach the exports file, qtree and policy names: one pattern, nothing else.
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.add("%s %r" % (what, name), "name: not a valid name (%s)" % NAME_RULE)
    guests = []
    qtrees = {}
    for name, gv in zip(guest_names, guest_vars):
        gv = gv or {}
        if gv.get(GUEST_STATE_VAR) == "absent":
            continue
        data = gv.get(GUEST_DATA_VAR, False)
        wants_data = data is not None and data is not False
        value = gv.get(GUEST_ADDRESS_VAR)
        ip = None
        if value is None:
            if wants_data:
                problems.add("guest %s" % name, "has a data area (%s) but no %s" % (GUEST_DATA_VAR, GUEST_ADDRESS_VAR))
        else:
            try:
                ip = _address(value)
                owners.setdefault(ip, []).append("guest %s" % name)
            except ValueError as exc:
                problems.add("guest %s" % name, "%s: %s" % (GUEST_ADDRESS_VAR, exc))
        if not wants_data:
            continue
        limits = _guest_limits(name, data, defaults, problems)
        qtree = qtree_name(name)
        qtrees.setdefault(qtree, []).append(str(name))
        if limits is None or ip is None:
            continue
        guests.append(dict({"guest": str(name), "qtree": qtree, "policy": "%sguest_%s" % (prefix, qtree),
                            "client": _client(ip), "address": str(ip)}, **limits))

    for ip, users in sorted(owners.items(), key=lambda kv: (kv[0].version, int(kv[0]))):
        if len(users) > 1:
            problems.add("address %s" % ip, "used by more than one machine: %s" % ", ".join(users))
    for qtree, names in sorted(qtrees.items()):
        if len(names) > 1:
            problems.add("qtree %s" % qtree, "guests %s map to the same qtree name; rename one"
                         % ", ".join(sorted(names)))

    if problems.items:
        raise FilerPlanError(problems.items)

    return {
        "image": {
            "volume": parsed["image_volume"],
            "size_mb": parsed["image_size"],
            "junction": parsed["image_junction"],
            "policy": "%simages" % prefix,
            "clients": [_client(ip) for ip in sorted(set(clients), key=lambda i: (i.version, int(i)))],
            "host_clients": host_clients,
        },
        "data": {
            "volume": parsed["data_volume"],
            "size_mb": parsed["data_size"],
            "junction": parsed["data_junction"],
            "policy": "%sdata" % prefix,
        },
        "guests": sorted(guests, key=lambda g: g["guest"]),
        "policy_prefix": prefix,
        "snapshot_policy": snapshots,
        "vault": vaulted,
        "linux_backup": backups,
    }


# --- Linux backend: XFS project quotas -----------------------------------------------------------

XFS_PROJECT_ID_MAX = 2 ** 32 - 1
_BRACKETS = re.compile(r"\[[^\]]*\]")


def project_id(qtree, base, span):
    """A stable XFS project id for a qtree name: ``base + sha1(qtree) mod span``.

    It depends on the name alone, so adding or removing other guests never renumbers a guest.
    """
    digest = int(hashlib.sha1(str(qtree).encode("utf-8")).hexdigest()[:12], 16)
    return base + digest % span


def xfs_projects(plan, base=10000, span=1000000, overrides=None):
    """The plan's guests, each with ``project`` (its XFS project name: the guest's export policy
    name) and ``project_id`` (from project_id(), or ``overrides[guest]``).

    Raises FilerPlanError when two guests get one id (naming both and the way out: an entry in
    ``overrides``), or when an id or the range is not a valid XFS project id.
    """
    overrides = dict(overrides or {})
    problems = _Problems()
    for key, value in (("filer_linux_project_base", base), ("filer_linux_project_span", span)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.add(key, "expected a positive whole number, got %r" % (value,))
    if not problems.items and base + span - 1 > XFS_PROJECT_ID_MAX:
        problems.add("filer_linux_project_span", "base + span exceeds the largest XFS project id %d"
                     % XFS_PROJECT_ID_MAX)
    if problems.items:
        raise FilerPlanError(problems.items)
    names = {g["guest"] for g in plan["guests"]}
    for guest in sorted(set(overrides) - names):
        problems.add("filer_linux_project_ids", "guest %s has no data area in the plan" % guest)
    out = []
    by_id = {}
    for entry in plan["guests"]:
        guest = entry["guest"]
        if guest in overrides:
            pid = overrides[guest]
            if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= XFS_PROJECT_ID_MAX:
                problems.add("filer_linux_project_ids", "guest %s: expected a project id from 1 to %d, got %r"
                             % (guest, XFS_PROJECT_ID_MAX, pid))
                continue
        else:
            pid = project_id(entry["qtree"], base, span)
        by_id.setdefault(pid, []).append(guest)
        out.append(dict(entry, project=entry["policy"], project_id=pid))
    for pid, guests in sorted(by_id.items()):
        if len(guests) > 1:
            problems.add("project id %d" % pid, "shared by guests %s; give one of them another id in "
                         "filer_linux_project_ids" % ", ".join(guests))
    if problems.items:
        raise FilerPlanError(problems.items)
    return out


def parse_xfs_report(text):
    """Limits from ``xfs_quota -x -c 'report -p -b -i -N -n' <fs>`` (1 KiB blocks).

    Returns {project id (int): {"bsoft_kb", "bhard_kb", "isoft", "ihard"}}. Lines that are not
    project rows (headers, blank lines) are skipped. A row reads
    ``#<id> used soft hard warn [grace] used soft hard warn [grace]``; the grace field may contain
    spaces (``[7 days]``), so bracketed fields are dropped before splitting.
    """
    limits = {}
    for line in str(text or "").splitlines():
        fields = _BRACKETS.sub(" ", line).split()
        if len(fields) != 9 or not fields[0].startswith("#") or not fields[0][1:].isdigit():
            continue
        try:
            numbers = [int(f) for f in fields[1:]]
        except ValueError:
            continue
        limits[int(fields[0][1:])] = {"bsoft_kb": numbers[1], "bhard_kb": numbers[2],
                                      "isoft": numbers[5], "ihard": numbers[6]}
    return limits


def xfs_limits(project):
    """The limits one xfs_projects() entry asks for, in parse_xfs_report()'s units (0 = none)."""
    return {"bsoft_kb": (project["soft_mb"] or 0) * 1024, "bhard_kb": project["hard_mb"] * 1024,
            "isoft": 0, "ihard": project["files"] or 0}
