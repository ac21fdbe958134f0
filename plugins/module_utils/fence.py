# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage fencing on a Linux NFS filer: the fence records, the proof that a fence holds, the unfence check.

failover.yml fences a dead (or only hung) dom0 before it restarts a single guest: the dom0's address
leaves the image store's export, ``exportfs -ra`` re-reads the exports and flushes the kernel's export
caches, and the filer is read back to confirm that nothing still grants that address the image
directory. The fence is recorded on the filer, one JSON file per host, so that every later run of the
filer role keeps the host out until an explicit unfence (unfence.yml), which is refused until the host
has booted since it was fenced and runs no guest that also runs on another dom0.

Formats read (Debian 12, nfs-utils 2.6.2, Linux 6.1):

* ``exportfs -s``: one line per export and client, ``PATH<white space>CLIENT(OPTIONS)``; a long path
  puts the client on the next line, indented.
* ``/proc/net/rpc/nfsd.export/content`` (the kernel's export cache, (client name, path) -> options) and
  ``/proc/net/rpc/auth.unix.ip/content`` (address -> client name): a ``#`` line is a comment; a
  negative or expired entry starts with ``# `` too. ``auth.unix.ip`` lines are ``nfsd ADDRESS NAME``
  (IPv4 written as ``::ffff:a.b.c.d`` by newer kernels).

Pure Python, no Ansible import: it runs on the filer inside the ``nfs_fence`` module (Python 3.9+), and
in unit tests.
"""

from __future__ import annotations

import ipaddress
import json

from ansible_collections.consolidation.xen.plugins.module_utils.contract import NAME_RE

RECORD_SUFFIX = ".json"


class FenceError(ValueError):
    """A fence record or request that cannot be used; the message names the host."""


def record(host, address, at, by="failover.yml", boot_id=None):
    """The fence record of ``host`` (written once, when the fence is put up)."""
    _address(_host(host), address)
    rec = {"host": host, "address": address, "fenced_at": int(at), "by": by}
    if boot_id:
        rec["boot_id"] = boot_id
    return rec


def record_name(host):
    """The file name of ``host``'s record in the fence directory."""
    return _host(host) + RECORD_SUFFIX


def _host(host):
    if not isinstance(host, str) or not NAME_RE.match(host):
        raise FenceError("fence: %r is not a host name" % (host,))
    return host


def parse_records(files):
    """``{file name: text}`` of a fence directory -> (records sorted by host, problems).

    A record that cannot be read is a problem, never ignored: its host may be fenced."""
    records, problems = [], []
    for name in sorted(files):
        if not name.endswith(RECORD_SUFFIX):
            continue
        host = name[:-len(RECORD_SUFFIX)]
        try:
            rec = json.loads(files[name])
        except ValueError:
            problems.append("fence record %s is not JSON: %r" % (name, files[name][:120]))
            continue
        if not isinstance(rec, dict) or rec.get("host") != host or not isinstance(rec.get("fenced_at"), int):
            problems.append("fence record %s is not a record of host %s ({host, address, fenced_at, by}): %r"
                            % (name, host, rec))
            continue
        try:
            _address(host, rec.get("address"))
        except FenceError as exc:
            problems.append("fence record %s: %s" % (name, exc))
            continue
        records.append(rec)
    return records, problems


def _address(host, address):
    try:
        ip = ipaddress.ip_address(address)
    except (TypeError, ValueError):
        raise FenceError("fence: host %s: %r is not an IP address (xen_host_storage_address)" % (host, address)) \
            from None
    return ip


def _same_address(text, ip):
    """Whether an address as the kernel or exportfs writes it (``::ffff:`` mapped, ``/32``) is ``ip``."""
    text = text.strip()
    if text.endswith("/32") or text.endswith("/128"):
        text = text.rsplit("/", 1)[0]
    try:
        other = ipaddress.ip_address(text)
    except ValueError:
        return False
    if other.version == 6 and other.ipv4_mapped is not None:
        other = other.ipv4_mapped
    return other == ip


def _export_lines(exportfs_s):
    """(path, client, options) of each ``exportfs -s`` entry (a client may be on its own line)."""
    out, path = [], None
    for line in exportfs_s.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            fields = line.split(None, 1)
            path = fields[0]
            rest = fields[1] if len(fields) > 1 else ""
        else:
            rest = line
        for client in rest.split():
            name, opts = (client.split("(", 1) + [""])[:2]
            out.append((path, name, opts.rstrip(")")))
    return out


def _names_of(auth_unix_ip, ip):
    """The client names the kernel's address cache maps ``ip`` to (positive entries only)."""
    names = set()
    for line in auth_unix_ip.splitlines():
        if line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) >= 3 and _same_address(fields[1], ip):
            names.add(fields[2])
    return names


def access(path, address, exportfs_s, export_cache="", auth_cache=""):
    """Evidence that ``address`` may still reach ``path`` (None: any export): the lines that grant it (empty: fenced).

    ``exportfs -s`` must not export ``path`` to the address itself or to a wildcard, netgroup or subnet
    that holds it; the kernel's caches must hold no positive (client name, path) entry for a name the
    address maps to."""
    ip = ipaddress.ip_address(address)
    evidence = []
    for exp_path, client, opts in _export_lines(exportfs_s):
        if path is not None and exp_path != path:
            continue
        if _client_matches(client, ip):
            evidence.append("exportfs -s: %s %s(%s)" % (exp_path, client, opts))
    names = _names_of(auth_cache, ip) | {address}
    for line in export_cache.splitlines():
        if line.startswith("#"):
            continue
        fields = line.split(None, 1)
        if len(fields) == 2 and (path is None or fields[0] == path):
            client = fields[1].split("(", 1)[0].strip()
            if client in names or _client_matches(client, ip):
                evidence.append("nfsd.export cache: %s" % line.strip())
    return evidence


def _client_matches(client, ip):
    """Whether an exports(5) client specification admits ``ip`` (names other than addresses count as yes:
    a host name, wildcard or netgroup may resolve to it, and a fence must not guess)."""
    if client in ("", "*"):
        return True
    if client.startswith("@") or "*" in client or "?" in client:
        return True
    if "/" in client:
        try:
            return ip in ipaddress.ip_network(client, strict=False)
        except ValueError:
            return True
    if _same_address(client, ip):
        return True
    try:
        ipaddress.ip_address(client.rsplit("/", 1)[0])
    except ValueError:
        return True  # a host name: it may resolve to the address
    return False


def unfence_problems(rec, boot, running):
    """Why ``rec``'s host may not be unfenced yet (empty: it may).

    ``boot``: the host's ``{"id": boot id, "time": boot time (epoch s)}`` as read now, or None when the
    host cannot be read; ``running``: ``{dom0: [guest names running there]}`` read now from every dom0."""
    host = rec["host"]
    problems = []
    if not boot or boot.get("time") is None:
        return ["%s cannot be read (no boot id): unfence a host only once it runs again" % host]
    if rec.get("boot_id") and boot.get("id") == rec["boot_id"]:
        problems.append("%s still runs the boot it was fenced in (boot id %s): reboot it first" % (host, boot["id"]))
    elif int(boot["time"]) <= int(rec["fenced_at"]):
        problems.append("%s has not booted since it was fenced (booted at %d, fenced at %d, both epoch s): "
                        "reboot it first; a hung host that came back may still hold guests' writes"
                        % (host, int(boot["time"]), int(rec["fenced_at"])))
    mine = set(running.get(host) or [])
    twice = sorted((g, other) for other, guests in running.items() if other != host
                   for g in guests or [] if g in mine)
    if twice:
        problems.append("%s runs guest(s) that also run elsewhere: %s; destroy its copies (xl destroy) "
                        "and reboot it" % (host, ", ".join("%s (also on %s)" % t for t in twice)))
    return problems


# ------------------------------------------------------------------------------------------------
# ONTAP backend. The fence removes the host's own rule from the image volume's export policy and flushes
# the SVM's export caches (``vserver export-policy cache flush``: ONTAP keeps an allowed client in its
# access cache for up to an hour by default); ``vserver export-policy check-access`` then evaluates the
# rules for the host's address on every volume the plan exports. The record is an export policy that no
# volume uses, named ``<prefix>fenced_<host>_<epoch s>``, whose one rule (read-only and read-write
# ``never``) names the host's address: ONTAP's own object, read back by every later run of the role.

ONTAP_RECORD_INFIX = "fenced_"


def ontap_record_name(prefix, host, at):
    """The name of the export policy that records ``host``'s fence (``at``: epoch seconds)."""
    return "%s%s%s_%d" % (prefix, ONTAP_RECORD_INFIX, _host(host), int(at))


def ontap_client(ip):
    """The client-match of one address, as the filer plan writes it (``a.b.c.d/32``, ``x::y/128``)."""
    ip = ipaddress.ip_address(ip)
    return "%s/%d" % (ip, ip.max_prefixlen)


def _rule_clients(rule):
    return [c.get("match", "") for c in rule.get("clients") or [] if isinstance(c, dict)]


def ontap_records(policies, prefix):
    """Export policies (``protocols/nfs/export-policies`` records with ``name`` and ``rules``) -> (fence
    records sorted by host, problems). A record policy that cannot be read is a problem, never ignored."""
    records, problems = [], []
    start = prefix + ONTAP_RECORD_INFIX
    for policy in sorted(policies or [], key=lambda p: p.get("name", "")):
        name = policy.get("name", "")
        if not name.startswith(start):
            continue
        host, _sep, at = name[len(start):].rpartition("_")
        clients = [c for rule in policy.get("rules") or [] for c in _rule_clients(rule)]
        if not host or not NAME_RE.match(host) or not at.isdigit() or len(clients) != 1:
            problems.append("export policy %s is not a fence record (%sHOST_EPOCH with one rule naming the "
                            "host's address): its clients %s" % (name, start, clients))
            continue
        address = clients[0].split("/", 1)[0]
        try:
            ip = _address(host, address)
        except FenceError as exc:
            problems.append("export policy %s: %s" % (name, exc))
            continue
        records.append({"host": host, "address": str(ip), "fenced_at": int(at), "by": "failover.yml",
                        "policy": name, "client": ontap_client(ip)})
    seen = {}
    for rec in records:
        if rec["host"] in seen:
            problems.append("host %s has two fence records: %s and %s; remove the newer"
                            % (rec["host"], seen[rec["host"]], rec["policy"]))
        seen.setdefault(rec["host"], rec["policy"])
    return sorted(records, key=lambda r: r["host"]), problems


def ontap_fence(policies, prefix, image_policy, host, address, at):
    """What fencing ``host`` (at ``address``) off the image policy means on these export policies.

    Returns ``{"record": its fence record (the one on the SVM, else a new one stamped ``at``), "new": whether
    the record is new, "delete": [rule indexes of the image policy, highest first], "admitting": [evidence]}``.
    The image policy's rules whose every client is the address itself are to be deleted; any other rule of
    any policy but a fence record that admits the address (a subnet, a host name, a netgroup, a second
    client in the same rule) is evidence that deleting rules cannot fence the host."""
    ip = _address(_host(host), address)
    records, problems = ontap_records(policies, prefix)
    if problems:
        raise FenceError("; ".join(problems))
    rec = next((r for r in records if r["host"] == host), None)
    if rec is not None and ipaddress.ip_address(rec["address"]) != ip:
        raise FenceError("%s is fenced at %s, not at %s (export policy %s): unfence it first"
                         % (host, rec["address"], address, rec["policy"]))
    new = rec is None
    if new:
        rec = {"host": host, "address": str(ip), "fenced_at": int(at), "by": "failover.yml",
               "policy": ontap_record_name(prefix, host, at), "client": ontap_client(ip)}
    delete, admitting = [], []
    start = prefix + ONTAP_RECORD_INFIX
    for policy in policies or []:
        name = policy.get("name", "")
        if name.startswith(start):
            continue
        for rule in policy.get("rules") or []:
            clients = _rule_clients(rule)
            if not any(_ontap_client_matches(c, ip) for c in clients):
                continue
            if name == image_policy and clients and all(_same_address(c, ip) for c in clients):
                delete.append(int(rule["index"]))
            else:
                admitting.append("export policy %s rule %s (clients %s) admits %s"
                                 % (name, rule.get("index"), ",".join(clients), address))
    return {"record": rec, "new": new, "delete": sorted(delete, reverse=True), "admitting": admitting}


def _ontap_client_matches(client, ip):
    """Whether an ONTAP client-match admits ``ip``: an address, a subnet (``/len`` or ``/mask``), or a host
    name, domain (``.example.com``) or netgroup (``@name``), which may resolve to it and so count as yes."""
    client = client.strip()
    if client.startswith("."):
        return True
    return _client_matches(client, ip)


def ontap_access(records, address, want="denied"):
    """``vserver export-policy check-access`` records (one per path component: path, policy, ruleidx,
    access) -> why the volume's own component (the longest path) disagrees with ``want``, empty when it
    agrees. ``denied``: the fence holds; ``granted``: the host is exported the volume again. The parents
    (the SVM root's policy) are not the plan's and are only shown."""
    if not records:
        return ["check-access returned no path for %s" % address]
    last = max(records, key=lambda r: len(str(r.get("path", ""))))
    access = str(last.get("access", "")).strip()
    if (access == "denied") == (want == "denied"):
        return []
    return ["check-access %s for %s: %s (policy %s, rule %s)"
            % (last.get("path"), address, access or "?", last.get("policy"), last.get("ruleidx"))]


def ontap_confirm(policies, check, prefix, image_policy, host, address, state):
    """Why the fence (``state`` present) or its lifting (absent) of ``host`` is not confirmed by what the SVM
    shows now: its export policies read back and check-access's answer for the address (empty: confirmed).

    present: check-access denies the address, the record is there, no rule of the image policy names the
    address and no other rule admits it; absent: check-access grants read-write and the record is gone."""
    after = ontap_fence(policies, prefix, image_policy, host, address, 0)
    if state == "present":
        problems = ontap_access(check, address, "denied")
        if after["new"]:
            problems.append("no fence record of %s (%s%s%s_EPOCH)" % (host, prefix, ONTAP_RECORD_INFIX, host))
        problems.extend(after["admitting"])
        problems.extend("export policy %s rule %d still names %s" % (image_policy, index, address)
                        for index in after["delete"])
        return problems
    problems = ontap_access(check, address, "granted")
    if not after["new"]:
        problems.append("the fence record is still there: export policy %s" % after["record"]["policy"])
    return problems


def ontap_access_lines(records):
    """The check-access records as one line each, for the run's output."""
    return ["%s: %s (policy %s, rule %s)" % (r.get("path"), r.get("access"), r.get("policy"), r.get("ruleidx"))
            for r in records or []]
