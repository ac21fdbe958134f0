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
