# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""verify.yml's report: the live state of every dom0 against the plan, and the live N-k proof.

Pure Python: no Ansible, no I/O. What runs where comes from xen_host_info (read by
playbooks/tasks/read_live.yml); the plan is the engine's placement of the inventory (what plan.yml and
site.yml compute); the live proof is the engine's measure of the cluster as it runs now.
"""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils import engine
from ansible_collections.consolidation.xen.plugins.module_utils.live import (
    live_placement,
    marked_out,
    migrating_problems,
)
from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError

# A finding is one of these; "unsafe" ones make verify.yml exit non-zero.
UNSAFE, DRIFT, NOTE = "UNSAFE", "drift", "note"


def _autostart_entry(guest):
    """The name of a guest's link in the autostart directory (roles/guests and the move tasks write it)."""
    return "%s.cfg" % guest


def verify_check(guests, hosts, facts, autostart=None, tolerate=1, overhead=True, strategy="spread",
                 migrating=None, maintenance=None):
    """Compare the live state with the plan and prove N-``tolerate`` on the cluster as it runs now.

    ``facts`` {host: xen_host_info's ``xen``, or None when unread}; ``autostart`` {host: the autostart
    directory's entries}; ``migrating`` {host: running xl migrate lines}; ``maintenance`` {host: maintain.yml's
    record}. Returns ``ok`` (nothing unsafe), ``unsafe`` and ``drift`` (sentences naming the guest or host),
    ``guests`` and ``hosts`` (one row each), ``proof`` (the live measure), ``planned``, ``live`` and ``lines``
    (the report for people: one table per section, each finding once).
    """
    names = [g.get("name") for g in guests]
    desired = {g.get("name"): g.get("state") or "running" for g in guests}
    autostart = {h: set(v or []) for h, v in (autostart or {}).items()}
    live = live_placement(facts, names)
    out = set(marked_out(maintenance))
    unread = set(live["unread"])
    plan = engine.placement(guests, hosts, tolerate=tolerate, overhead=overhead, strategy=strategy)
    planned = plan["assignments"]
    findings = []

    def find(kind, text):
        findings.append((kind, text))
        return kind

    if not plan["ok"]:
        for reason in plan.get("reasons") or ["the placement of the inventory fails"]:
            find(UNSAFE, "plan: %s (run plan.yml)" % reason)
    host_rows = _host_rows(hosts, facts, live, out, migrating, find)
    guest_rows = []
    for name in names:
        guest_rows.append(_guest_row(name, desired[name], planned.get(name), live, autostart, unread, out, find))
    proof = _live_proof(guests, hosts, live, unread | out, tolerate, overhead, find)
    unsafe = [text for kind, text in findings if kind == UNSAFE]
    drift = [text for kind, text in findings if kind == DRIFT]
    notes = [text for kind, text in findings if kind == NOTE]
    result = {"ok": not unsafe, "unsafe": unsafe, "drift": drift, "notes": notes, "guests": guest_rows,
              "hosts": host_rows, "proof": proof, "planned": planned, "live": live}
    result["lines"] = report_lines(result)
    return result


def _host_rows(hosts, facts, live, out, migrating, find):
    rows = []
    for h in hosts:
        name = h.get("name")
        xen = facts.get(name)
        verdict = "ok"
        if name in live["unread"]:
            verdict = find(UNSAFE, "host %s: unreachable or not running Xen: what runs there is unknown" % name)
        for t in live["transient"]:
            if t["host"] == name:
                verdict = find(UNSAFE, "host %s: domain %s is left from an unfinished xl migrate; check which copy "
                                       "is current and destroy the other" % (name, t["domain"]))
        for text in migrating_problems({name: (migrating or {}).get(name)}):
            verdict = find(UNSAFE, text)
        unknown = live["unknown"].get(name) or []
        if unknown:
            find(NOTE, "host %s: runs domains the inventory does not know (their memory is not planned): %s"
                 % (name, ", ".join(sorted(unknown))))
        if name in out:
            find(NOTE, "host %s: out for maintenance (maintain.yml's marker); counted as down in the live proof"
                 % name)
            verdict = "maintenance" if verdict == "ok" else verdict
        running = sorted(g for g, on in live["current"].items() if on == name)
        running += sorted(g for g, on in live["twice"].items() if name in on)
        memory = "-"
        if xen:
            total, free = xen.get("total_memory_mb"), xen.get("free_memory_mb")
            if isinstance(total, int) and isinstance(free, int):
                memory = "%d/%d" % (total - free, total)
        rows.append({"host": name, "read": name not in live["unread"], "guests": running, "unknown": sorted(unknown),
                     "memory_mb": memory, "verdict": verdict})
    return rows


def _guest_row(name, want, planned, live, autostart, unread, out, find):
    on = live["twice"].get(name) or ([live["current"][name]] if name in live["current"] else [])
    links = sorted(h for h, entries in autostart.items() if _autostart_entry(name) in entries)
    verdicts = []

    def add(kind, text):
        verdicts.append(find(kind, "guest %s: %s" % (name, text)))

    if len(on) > 1:
        add(UNSAFE, "runs on %s at once: stop the extra copy (its disks are written twice)" % " and ".join(on))
    elif want == "running":
        if not on:
            if unread:
                add(UNSAFE, "runs nowhere on the dom0s that were read (%s unread): if a dom0 is dead, failover.yml "
                            "restarts its guests" % ", ".join(sorted(unread)))
            else:
                add(UNSAFE, "runs nowhere; site.yml starts it")
        elif planned is None:
            add(DRIFT, "runs on %s; the plan places it nowhere" % on[0])
        elif on[0] != planned:
            add(DRIFT, "runs on %s, the plan puts it on %s: rebalance.yml moves it back" % (on[0], planned))
    elif on:
        add(DRIFT, "runs on %s though its desired state is %s (xen_guest_state): site.yml shuts it down"
            % (on[0], want))
    # Where its autostart link belongs (what site.yml and the move tasks leave): on the dom0 it runs on; for a
    # guest meant to run that runs nowhere, on its planned dom0; for a guest meant to be down, nowhere.
    expected = None
    if want == "running":
        if len(on) == 1:
            expected = on[0]
        elif not on and planned is not None and planned not in out:
            expected = planned
    for host in links:
        if host == expected:
            continue
        if on and host not in on:
            add(UNSAFE, "autostart link on %s, but it runs on %s: a reboot of %s starts a second copy"
                % (host, " and ".join(on), host))
        else:
            add(DRIFT, "autostart link on %s, where it should have none (%s)"
                % (host, "its desired state is %s" % want if want != "running" else "it belongs on %s" % expected))
    if expected is not None and expected not in links and expected not in unread:
        add(DRIFT, "no autostart link on %s: it does not start again after %s reboots; site.yml links it"
            % (expected, expected))
    return {"guest": name, "state": want, "planned": planned, "running": on, "autostart": links,
            "verdict": UNSAFE if UNSAFE in verdicts else (DRIFT if verdicts else "ok")}


def _live_proof(guests, hosts, live, down, tolerate, overhead, find):
    down = sorted(down)
    up = [h.get("name") for h in hosts if h.get("name") not in down and (h.get("state") or "active") == "active"]
    seen = {"tolerated": 0, "required": tolerate, "at_risk": sorted(live["current"]), "short_mb": 0, "method": None}
    try:
        if up:
            seen = engine.exposure_now(guests, hosts, live["current"], down=down, required=tolerate,
                                       overhead=overhead)
    except ModelError as exc:
        seen["error"] = "; ".join(exc.errors)
    seen["down"] = down
    seen["ok"] = seen["tolerated"] >= tolerate and "error" not in seen and bool(up)
    if not up:
        find(UNSAFE, "live N-%d: no active dom0 was read; nothing is proved" % tolerate)
    elif "error" in seen:
        find(UNSAFE, "live N-%d: cannot be proved with %s down: %s" % (tolerate, ", ".join(down), seen["error"]))
    elif not seen["ok"]:
        find(UNSAFE, "live N-%d: the cluster as it runs now survives %d host failure(s)%s; stranded then: %s "
                     "(%d MiB short)" % (tolerate, seen["tolerated"],
                                         " with %s counted as down" % ", ".join(seen["down"]) if down else "",
                                         ", ".join(seen["at_risk"]) or "-", seen["short_mb"]))
    return seen


def report_lines(result):
    """verify.yml's report: a guest table, a host table, the live proof line, then every finding once."""
    rows = [("guest", "wanted", "planned", "running on", "autostart on", "verdict")]
    for r in result["guests"]:
        rows.append((r["guest"], r["state"], r["planned"] or "-", ", ".join(r["running"]) or "-",
                     ", ".join(r["autostart"]) or "-", r["verdict"]))
    lines = ["Guests, live against the plan:"] + engine.table_lines(rows)
    rows = [("host", "read", "memory used/total MiB", "guests", "verdict")]
    for r in result["hosts"]:
        rows.append((r["host"], "yes" if r["read"] else "NO", r["memory_mb"],
                     ", ".join(r["guests"] + ["%s (unknown)" % u for u in r["unknown"]]) or "-", r["verdict"]))
    lines.append("Dom0s:")
    lines.extend(engine.table_lines(rows))
    p = result["proof"]
    lines.append("live N-%d proof: %s (survives %d host failure(s)%s)" % (
        p["required"], "PASSED" if p["ok"] else "FAILED", p["tolerated"],
        "; counted as down: %s" % ", ".join(p["down"]) if p["down"] else ""))
    for label, key in (("UNSAFE", "unsafe"), ("drift", "drift"), ("note", "notes")):
        lines.extend("%s: %s" % (label, text) for text in result[key])
    lines.append("verdict: %s" % ("SAFE" if result["ok"] else "UNSAFE (%d finding(s))" % len(result["unsafe"]))
                 + (", %d drift(s) from the plan" % len(result["drift"]) if result["drift"] else ""))
    return lines
