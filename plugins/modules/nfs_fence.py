#!/usr/bin/python
# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nfs_fence
short_description: Fence a dom0 off a Linux NFS filer's image store, prove it holds, and lift it
version_added: 0.1.0
description:
  - Runs on a Linux NFS filer (the C(linux) backend of the C(consolidation.xen.filer) role). Keeps one fence
    record per fenced dom0 in O(record_dir), a JSON file C(HOST.json) with the host, its address, when it was
    fenced (the filer's clock, epoch seconds) and by what. The filer role leaves every recorded address out
    of the image export, so a fence outlives any later C(site.yml) run until it is lifted on purpose.
  - O(state=present) writes O(host)'s record (the first time only; an existing record is kept as it is).
  - O(state=enforced) runs C(exportfs -ra) (which re-reads the exports and flushes the kernel's export
    caches) and then proves that no recorded address can still reach any export - not in C(exportfs -s), not
    through a wildcard, subnet or name that admits it, not in the kernel's caches
    (C(/proc/net/rpc/nfsd.export/content), C(/proc/net/rpc/auth.unix.ip/content)). It fails, quoting the
    lines that still grant access, when one can. With O(open), those addresses must be exported O(path)
    (an unfence took effect).
  - O(state=absent) removes O(host)'s record, only when the host has booted since it was fenced (O(boot))
    and runs no guest that also runs on another dom0 (O(running)); otherwise it fails, saying why, and
    changes nothing.
  - O(state=read) returns the records only.
  - A record that cannot be read fails the task (its host may be fenced); fix or remove the file.
author:
  - consolidation.xen maintainers (@consolidation-xen)
options:
  state:
    description: What to do (see the description).
    type: str
    choices: [present, enforced, absent, read]
    default: read
  host:
    description: The dom0 (inventory name) to fence or unfence. Required with O(state=present) and O(state=absent).
    type: str
  address:
    description: O(host)'s address as the filer sees it (C(xen_host_storage_address)). Required with O(state=present).
    type: str
  by:
    description: What put the fence up, kept in the record.
    type: str
    default: failover.yml
  path:
    description: The exported image directory; O(open) addresses must be exported it. Required with O(state=enforced).
    type: path
  open:
    description: Addresses that must be exported O(path) (O(state=enforced), after an unfence).
    type: list
    elements: str
    default: []
  boot:
    description:
      - O(host)'s boot as read now, C({id, time}) (the C(live.boot) that M(consolidation.xen.xen_host_info)
        returns); required with O(state=absent).
    type: dict
  running:
    description: "C({dom0: [guest names]}) running now on every dom0 that could be read (O(state=absent))."
    type: dict
    default: {}
  record_dir:
    description: Where the fence records are kept on the filer.
    type: path
    default: /var/lib/consolidation-xen/fenced
extends_documentation_fragment:
  - consolidation.xen.attributes
attributes:
  check_mode:
    support: full
    details: O(state=present) and O(state=absent) report what they would change; O(state=enforced) checks the
      exports as they are without running C(exportfs -ra).
  diff_mode:
    support: none
notes:
  - A dom0 that still runs can keep writing to files it has open until its next request is refused; the
    kernel refuses that request once the export and its caches no longer admit the address, which is what
    O(state=enforced) proves.
seealso:
  - name: exports(5)
    description: The Linux NFS server's export table.
    link: https://man7.org/linux/man-pages/man5/exports.5.html
  - name: exportfs(8)
    description: C(exportfs -ra) re-exports everything and flushes the kernel's export caches.
    link: https://man7.org/linux/man-pages/man8/exportfs.8.html
"""

EXAMPLES = r"""
- name: Fence blade2 off the image store (the filer role's exports then leave it out)
  consolidation.xen.nfs_fence:
    state: present
    host: blade2
    address: 192.0.2.12

- name: Re-export and prove that no fenced dom0 can reach the images
  consolidation.xen.nfs_fence:
    state: enforced
    path: /srv/nfs/xen_images
"""

RETURN = r"""
records:
  description: Every fence record on the filer after the task, sorted by host.
  returned: always
  type: list
  elements: dict
  sample: [{"host": "blade2", "address": "192.0.2.12", "fenced_at": 1764930000, "by": "failover.yml"}]
record:
  description: O(host)'s record (O(state=present)), or the one removed (O(state=absent)).
  returned: when O(host) is given and had or got a record
  type: dict
evidence:
  description: With O(state=enforced), what the filer showed (C(exportfs -s)) after the reload.
  returned: with O(state=enforced)
  type: list
  elements: str
"""

import json
import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.consolidation.xen.plugins.module_utils import fence

PROC_EXPORTS = "/proc/net/rpc/nfsd.export/content"
PROC_AUTH = "/proc/net/rpc/auth.unix.ip/content"


def _read_dir(module, directory):
    files = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return files
    for name in names:
        if name.endswith(fence.RECORD_SUFFIX):
            try:
                with open(os.path.join(directory, name)) as f:
                    files[name] = f.read()
            except OSError as exc:
                module.fail_json(msg="fence record %s/%s cannot be read: %s" % (directory, name, exc))
    return files


def _records(module, directory):
    records, problems = fence.parse_records(_read_dir(module, directory))
    if problems:
        module.fail_json(msg="; ".join(problems) + " (in %s): fix or remove it; a fenced host stays fenced" % directory)
    return records


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(directory, name, data):
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "enforced", "absent", "read"], default="read"),
            host=dict(type="str"),
            address=dict(type="str"),
            by=dict(type="str", default="failover.yml"),
            path=dict(type="path"),
            open=dict(type="list", elements="str", default=[]),
            boot=dict(type="dict"),
            running=dict(type="dict", default={}),
            record_dir=dict(type="path", default="/var/lib/consolidation-xen/fenced"),
        ),
        required_if=[("state", "present", ("host", "address")), ("state", "absent", ("host",)),
                     ("state", "enforced", ("path",))],
        supports_check_mode=True,
    )
    p = module.params
    state, directory = p["state"], p["record_dir"]
    records = _records(module, directory)
    by_host = {r["host"]: r for r in records}
    result = dict(changed=False)
    try:
        if state == "present":
            rec = by_host.get(p["host"])
            if rec is None:
                rec = fence.record(p["host"], p["address"], time.time(), by=p["by"])
                result["changed"] = True
                if not module.check_mode:
                    _write(directory, fence.record_name(p["host"]), rec)
                records = sorted(records + [rec], key=lambda r: r["host"])
            elif rec["address"] != p["address"]:
                module.fail_json(msg="%s is fenced at %s, not at %s (its record in %s): unfence it first"
                                 % (p["host"], rec["address"], p["address"], directory), record=rec)
            result["record"] = rec
        elif state == "absent":
            rec = by_host.get(p["host"])
            if rec is not None:
                problems = fence.unfence_problems(rec, p["boot"], p["running"])
                if problems:
                    module.fail_json(msg="unfence of %s refused, nothing changed: %s"
                                     % (p["host"], " | ".join(problems)), record=rec, problems=problems)
                result.update(changed=True, record=rec)
                if not module.check_mode:
                    os.unlink(os.path.join(directory, fence.record_name(p["host"])))
                records = [r for r in records if r["host"] != p["host"]]
        elif state == "enforced":
            result["evidence"] = _enforce(module, records)
    except fence.FenceError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(records=records, **result)


def _enforce(module, records):
    p = module.params
    path = p["path"].rstrip("/") or "/"
    exportfs = module.get_bin_path("exportfs", required=True)
    if not module.check_mode:
        rc, out, err = module.run_command([exportfs, "-ra"])
        if rc != 0:
            module.fail_json(msg="exportfs -ra failed (rc=%s): %s; the fence is not confirmed"
                             % (rc, (err or out).strip()))
    rc, shown, err = module.run_command([exportfs, "-s"])
    if rc != 0:
        module.fail_json(msg="exportfs -s failed (rc=%s): %s; the fence is not confirmed"
                         % (rc, (err or shown).strip()))
    export_cache, auth_cache = _read(PROC_EXPORTS), _read(PROC_AUTH)
    problems = []
    for rec in records:
        still = fence.access(None, rec["address"], shown, export_cache, auth_cache)
        if still:
            problems.append("%s (%s) can still reach an export: %s" % (rec["host"], rec["address"], "; ".join(still)))
    for address in p["open"]:
        if not fence.access(path, address, shown):
            problems.append("%s is not exported %s (exportfs -s)" % (address, path))
    if problems:
        module.fail_json(msg="fence not confirmed: " + " | ".join(problems), exportfs=shown.splitlines())
    return shown.splitlines()


if __name__ == "__main__":
    main()
