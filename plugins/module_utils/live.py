# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live state of the dom0s (what ``xen_host_info`` read) against the inventory, and the checks that
must pass before a guest is moved off a host. Pure Python: no Ansible, no I/O."""

from __future__ import annotations

from ansible_collections.consolidation.xen.plugins.module_utils import engine
from ansible_collections.consolidation.xen.plugins.module_utils.engine import evacuation_plan
from ansible_collections.consolidation.xen.plugins.module_utils.maintenance import resolve_hosts
from ansible_collections.consolidation.xen.plugins.module_utils.model import (
    DEFAULT_DOMAIN_PROTECT,
    ModelError,
    build_cluster,
)

# xl renames a domain while it migrates: NAME--incoming on the target, NAME--migratedaway on the source.
TRANSIENT_SUFFIXES = ("--incoming", "--migratedaway")


def live_placement(facts, known):
    """Where each guest runs, from ``facts`` ({host: xen_host_info's ``xen`` or None when unread}).

    ``known`` are the inventory's guest names. Returns ``current`` {guest: host} (guests running
    exactly once), ``twice`` {guest: [hosts]}, ``unknown`` {host: [domains not in the inventory]},
    ``transient`` [{domain, host}] (a migration in flight or interrupted) and ``unread`` [hosts].
    """
    known = set(known)
    where = {}
    unknown = {}
    transient = []
    unread = []
    for host in sorted(facts):
        xen = facts[host]
        if not xen:
            unread.append(host)
            continue
        for dom in xen.get("domains") or []:
            name = dom.get("name")
            if name is None:
                continue
            if name.endswith(TRANSIENT_SUFFIXES):
                transient.append({"domain": name, "host": host})
            elif name in known:
                where.setdefault(name, []).append(host)
            else:
                unknown.setdefault(host, []).append(name)
    return {
        "current": {g: hosts[0] for g, hosts in where.items() if len(hosts) == 1},
        "twice": {g: hosts for g, hosts in where.items() if len(hosts) > 1},
        "unknown": unknown,
        "transient": transient,
        "unread": unread,
    }


def _in_flight_problems(live, migrating):
    """What stops every move: a guest running twice, an xl migrate still running, a leftover of one."""
    problems = ["guest %s: runs on %s at once; stop the extra copy before anything moves" % (g, " and ".join(on))
                for g, on in sorted(live["twice"].items())]
    problems.extend(migrating_problems(migrating))
    problems.extend("host %s: domain %s is left from an unfinished xl migrate; check which copy is current, destroy "
                    "the other, then re-run" % (t["host"], t["domain"]) for t in live["transient"])
    return problems


def migrating_problems(migrating):
    return ["host %s: an xl migration is still running (%s); wait for it to end, then re-run"
            % (host, "; ".join(lines)) for host, lines in sorted((migrating or {}).items()) if lines]


def _caps_cover(target_caps, source_caps):
    """True when every CPU feature bit of ``source_caps`` is set in ``target_caps`` (xl info hw_caps)."""
    try:
        src = [int(w, 16) for w in source_caps.split(":")]
        tgt = [int(w, 16) for w in target_caps.split(":")]
    except (AttributeError, ValueError):
        return None
    if len(tgt) < len(src):
        tgt += [0] * (len(src) - len(tgt))
    return all(s & ~t == 0 for s, t in zip(src, tgt))


def evacuation_check(guests, hosts, drain, facts, tolerate=1, overhead=True, cpuid_masked=None, bridges=None,
                     guest_bridges=None, image_store=None, ssh_ok=None, dead=False, migrating=None, maintenance=None):
    """Plan draining ``drain`` from live state and check everything a move needs before the first one.

    ``guests`` and ``hosts`` are the inventory's model (``cluster_model``); where guests run comes from
    ``facts`` alone. Host-side readings, each {host: value}, None meaning "not checked": ``bridges``
    (bridge names present), ``image_store`` (True when the shared image store is mounted) and
    ``ssh_ok`` ({target: bool}: the drained host reaches it over ssh without a password).
    ``cpuid_masked`` lists guests whose config carries a common CPUID mask; ``guest_bridges`` gives
    each guest's bridges ({guest: [names]}). ``migrating`` ({host: [process lines]}) lists ``xl migrate``
    processes still running (an interrupted run's jobs): nothing moves until they end. ``maintenance``
    ({host: the maintenance record read there, or None}): a host that carries the marker (maintain.yml has
    it out) takes no guest.

    ``dead``: ``drain`` has failed and is fenced (failover.yml). Its guests are taken to be every
    inventory guest whose desired state is running (``state``) that runs on no other host (site.yml
    runs every such guest), and they are restarted, not migrated: no PV, CPU or ssh check; it is a
    problem if ``drain`` can still be read. A guest whose desired state is stopped or absent is never
    restarted, and one that still runs on ``drain`` is not moved by an evacuation (a problem names it).

    Returns ``ok``, ``problems`` (each naming a guest or host; empty when ok), ``moves`` [{guest, from,
    to, memory_mb, type}], ``lines`` (the moves for people), ``live`` (from live_placement), ``plan``
    (the engine's evacuation plan).
    """
    if drain not in {h.get("name") for h in hosts}:
        raise ModelError(["host %r: not a Xen host of the inventory (xen_hosts)" % (drain,)])
    names = [g.get("name") for g in guests]
    down = _desired_down(guests)
    live = live_placement(facts, names)
    problems = []
    if dead:
        if drain not in live["unread"]:
            problems.append("host %s: answers and runs Xen, so it is not dead: nothing is restarted (a second "
                            "copy of its guests would write the same disks); use evacuate.yml" % drain)
        live["current"] = dict(live["current"])
        for g in names:
            if g not in live["current"] and g not in live["twice"] and g not in down:
                live["current"][g] = drain
    elif drain in live["unread"]:
        problems.append("host %s: its running domains could not be read (xl info/xl list); nothing moves "
                        "off a host whose guests are unknown (is it down? then failover.yml)" % drain)
    for host in live["unread"]:
        if host != drain:
            problems.append("host %s: unreachable or not running Xen, so what runs there is unknown: "
                            "nothing moves while it is unread (fix it, or fence it and run failover.yml)" % host)
    problems.extend(_in_flight_problems(live, migrating))
    for g, host in sorted(live["current"].items()):
        if g in down and host == drain and not dead:
            problems.append("guest %s: runs on %s but its desired state is %s (xen_guest_state): evacuate.yml never "
                            "moves it; run site.yml, which shuts it down, or set it running" % (g, drain, down[g]))
    for name in live["unknown"].get(drain, []):
        problems.append("guest %s: runs on %s but is not in the inventory (xen_guests), so it cannot be "
                        "planned; add it or stop it" % (name, drain))

    unread_survivors = [h for h in live["unread"] if h != drain]
    marked = [h for h in marked_out(maintenance) if h != drain]
    states = dict({h: "maintenance" for h in marked}, **{h: "down" for h in unread_survivors})
    try:
        plan = evacuation_plan(guests, [dict(h, state=states[h.get("name")]) if h.get("name") in states else h
                                        for h in hosts],
                               drain, tolerate=tolerate, overhead=overhead, current=live["current"])
    except ModelError as exc:
        if not unread_survivors:
            raise
        # Counting the unread hosts out may leave too few for the tolerance asked (a "tolerate" error):
        # the unread hosts, reported above, are the reason; say that, not the arithmetic.
        plan = {"ok": False, "moves": [], "stranded": [], "reasons": [], "failover": None,
                "note": "not planned: %s could not be read (%s)" % (", ".join(unread_survivors), "; ".join(exc.errors))}
    problems.extend(plan.get("reasons") or ([] if plan["ok"] or unread_survivors else ["the evacuation plan failed"]))

    moves = [dict(m, type=_live_type(m, facts, guests)) for m in plan["moves"]]
    problems.extend(move_problems(moves, facts, cpuid_masked=cpuid_masked, bridges=bridges,
                                  guest_bridges=guest_bridges, image_store=image_store,
                                  ssh_ok={drain: ssh_ok} if ssh_ok is not None else None, dead=dead))
    seen = set()
    problems = [p for p in problems if not (p in seen or seen.add(p))]
    verb = "restart on" if dead else "->"
    lines = ["%d. %s: %s %s %s (%s, %d MiB)" % (i, m["guest"], m["from"], verb, m["to"], m["type"], m["memory_mb"])
             for i, m in enumerate(moves, 1)] or ["%s: no guest %s, nothing to %s" % (
                 drain, "is missing from the other hosts" if dead else "runs there", "restart" if dead else "move")]
    if dead:
        idle = sorted(g for g in down if g not in live["current"] and g not in live["twice"])
        if idle:
            lines.append("not restarted, desired state not running (xen_guest_state): %s"
                         % ", ".join("%s (%s)" % (g, down[g]) for g in idle))
    return {"ok": not problems, "problems": problems, "moves": moves, "lines": lines, "live": live, "plan": plan}


def _live_type(move, facts, guests):
    """The move's guest type: what runs decides, else the inventory's."""
    dom = {d.get("name"): d for d in (facts.get(move["from"]) or {}).get("domains") or []}.get(move["guest"]) or {}
    inv = {g.get("name"): g for g in guests}.get(move["guest"]) or {}
    return (dom.get("type") or inv.get("type") or "pvh").lower()


def move_problems(moves, facts, cpuid_masked=None, bridges=None, guest_bridges=None, image_store=None, ssh_ok=None,
                  dead=False):
    """What stops each of ``moves`` ([{guest, from, to, memory_mb, type}], in order) before the first runs:
    PV without shadow paging at either end, an HVM or PVH guest onto a Xen that cannot run one (no HAP,
    no shadow paging), an HVM guest onto a host without QEMU's device model, CPU features the target
    lacks (no common CPUID mask), a bridge
    missing on the target, the target's image store not mounted, no root ssh trust from the source to the
    target (``ssh_ok``: {source: {target: bool}}), and more memory moving to a host than it has free.
    ``dead``: restarts, not migrations (no PV, CPU or ssh check). Readings that are None were not checked."""
    masked = set(cpuid_masked or [])
    need, problems = {}, []
    for move in moves:
        g, src_host, to, gtype = move["guest"], move["from"], move["to"], move["type"]
        src = facts.get(src_host) or {}
        dom = {d.get("name"): d for d in src.get("domains") or []}.get(g) or {}
        tgt = facts.get(to) or {}
        need[to] = need.get(to, 0) + move["memory_mb"]
        if gtype == "pv" and not dead:
            for host, xen in ((src_host, src), (to, tgt)):
                if not xen.get("can_live_migrate_pv"):
                    problems.append(
                        "guest %s: PV, and Xen on %s has no shadow paging (virt_caps: %s), so it cannot be "
                        "live-migrated (it would fail to enable log-dirty); shut it down and start it on %s, "
                        "or make it PVH/HVM" % (g, host, " ".join(xen.get("virt_caps") or []) or "unknown", to))
                    break
        if gtype in ("hvm", "pvh") and tgt.get("hvm_capable") is False:
            problems.append("guest %s: %s, and Xen on %s cannot run %s guests (virt_caps: %s: no hap, no shadow)"
                            % (g, gtype.upper(), to, gtype.upper(), " ".join(tgt.get("virt_caps") or []) or "unknown"))
        if gtype == "hvm" and "device_model" in tgt and not tgt["device_model"]:
            problems.append("guest %s: HVM, and %s has no QEMU device model (Debian: qemu-system-xen; SUSE: "
                            "qemu-x86), so it cannot run there; run the dom0 role" % (g, to))
        if g not in masked and not dom.get("cpuid_masked") and not dead:
            cover = _caps_cover(tgt.get("hw_caps"), src.get("hw_caps"))
            if cover is False:
                problems.append("guest %s: %s lacks CPU features of %s (hw_caps %s vs %s) and the guest has no "
                                "common CPUID mask (xen_guest_cpuid / guests_cpuid)"
                                % (g, to, src_host, tgt.get("hw_caps"), src.get("hw_caps")))
        if bridges is not None and to in bridges:
            for bridge in dom.get("bridges") or (guest_bridges or {}).get(g) or []:
                if bridge not in (bridges[to] or []):
                    problems.append("guest %s: bridge %s is missing on %s" % (g, bridge, to))
        if image_store is not None and to in image_store and not image_store[to]:
            problems.append("host %s: the shared image store is not mounted, so guest %s cannot run there"
                            % (to, g))
        trust = (ssh_ok or {}).get(src_host)
        if trust is not None and to in trust and not trust[to] and not dead:
            problems.append("host %s: %s cannot ssh to it without a password (xl migrate needs root ssh "
                            "trust; run the dom0 role)" % (to, src_host))
    for to, mb in sorted(need.items()):
        free = (facts.get(to) or {}).get("free_memory_mb")
        if free is not None and mb > free:
            problems.append("host %s: %d MiB free now, the guests planned to move there need %d MiB"
                            % (to, free, mb))
    return problems


def marked_out(maintenance):
    """The hosts whose maintenance record says they are out (maintain.yml's marker), sorted."""
    return sorted(h for h, rec in (maintenance or {}).items() if isinstance(rec, dict) and rec.get("state") == "out")


def _since(record):
    return "maintain.yml's marker, roll %s, out since %s" % (record.get("roll", "?"), record.get("since", "?"))


def rebalance_check(guests, hosts, facts, tolerate=1, overhead=True, max_moves=None, strategy="spread",
                    migrating=None, maintenance=None):
    """Moves that bring the running guests back to the planned placement, fewest first.

    The planned placement is the engine's placement of the inventory (what plan.yml and site.yml compute). Only
    running guests move (each once, straight to its planned host); guests that run nowhere are left
    alone (site.yml starts them). The order is chosen so that every move fits when it runs and the
    N-``tolerate`` proof holds after every move; a move that would break either waits, and when none
    can run, the plan stops there and says why. ``max_moves`` caps the number of moves.

    Returns ``ok``, ``problems``, ``moves`` [{guest, from, to, memory_mb, type, proof}], ``lines``,
    ``left`` (guests still away from their planned host afterwards), ``planned`` {guest: host}, ``live``,
    ``not_reserved`` {guest: host} (guests whose desired state is stopped or absent and that still run:
    never moved, a line says so).
    """
    names = [g.get("name") for g in guests]
    live = live_placement(facts, names)
    problems = []
    for host in live["unread"]:
        problems.append("host %s: unreachable or not running Xen, so what runs there is unknown: nothing "
                        "moves while it is unread" % host)
    problems.extend(_in_flight_problems(live, migrating))
    for host in marked_out(maintenance):
        problems.append("host %s: in maintenance (%s); rebalance.yml waits until it is back (maintain.yml moves "
                        "its guests back)" % (host, _since(maintenance[host])))
    # Exactly what plan.yml / site.yml plan from the inventory; the engine orders the moves back to it.
    rebalanced = engine.rebalance_plan(guests, hosts, live["current"], tolerate=tolerate, overhead=overhead,
                                       max_moves=max_moves, strategy=strategy)
    plan, planned = rebalanced["plan"], rebalanced["planned"]
    if not plan["ok"]:
        problems.extend(plan["reasons"] or ["the planned placement fails (run plan.yml)"])
    down = _desired_down(guests)
    result = {"ok": False, "problems": problems, "moves": [], "lines": [], "left": [], "planned": planned,
              "live": live, "not_reserved": {g: host for g, host in sorted(live["current"].items()) if g in down}}
    if problems:
        return result

    moves, why = rebalanced["moves"], rebalanced["why"]
    limit = None if max_moves is None else max(0, int(max_moves))
    capped = limit is not None and len(moves) >= limit
    left = rebalanced["left"]
    if left and not capped:
        problems.extend("guest %s: %s" % (name, why.get(name, "cannot move")) for name in left)
    result.update(ok=not problems, problems=problems, moves=moves, left=left)
    result["lines"] = ["%d. %s: %s -> %s (%d MiB; after it %s)"
                       % (i, m["guest"], m["from"], m["to"], m["memory_mb"], m["proof"])
                       for i, m in enumerate(moves, 1)]
    if not moves:
        result["lines"] = ["every running guest is on its planned host: nothing to move"] if not left else []
    for g, host in result["not_reserved"].items():
        result["lines"].append("%s runs on %s though its desired state is %s (xen_guest_state): not moved; "
                               "site.yml shuts it down" % (g, host, down[g]))
    if left and capped:
        result["lines"].append("max_moves (%d) reached; still away from their planned host: %s"
                               % (limit, ", ".join(left)))
    return result


def _desired_down(guests):
    """{guest: desired state} of the inventory guests that must not run (xen_guest_state stopped, absent)."""
    return {g.get("name"): g.get("state") for g in guests if (g.get("state") or "running") != "running"}


def live_inputs(dom0s, masked_guests=(), drain=None, dead=False):
    """The check modules' live-state arguments from what each dom0's read left (read_live.yml).

    ``dom0s``: {host: {xen (xen_host_info's ``xen`` or None when unread), bridges, store_ok, migrating,
    ssh_ok, maintenance, boot, autostart}} in inventory order. Returns {facts, bridges, image_store, migrating,
    ssh_ok, ssh_from, maintenance, cpuid_masked, running, boot, autostart, elsewhere}: every dom0's facts, running
    migrations and maintenance record; the domains each dom0 that was read runs (``running``, names), its
    autostart entries, its boot ({id, time}) and ``elsewhere`` ({guest: the first dom0 other than ``drain`` that
    runs it}); the bridges and image store of the dom0s that were read (for a failover, not the dead host's); the ssh
    trust read from ``drain`` (``ssh_from``: from every host that checked it); the guests with a CPUID mask.
    """
    facts, bridges, store, migrating, records, ssh_from, running, boot = {}, {}, {}, {}, {}, {}, {}, {}
    autostart = {}
    for host, seen in dom0s.items():
        seen = seen or {}
        facts[host] = seen.get("xen") or None
        boot[host] = seen.get("boot") or None
        if facts[host]:
            running[host] = sorted({d["name"] for d in facts[host].get("domains") or [] if d.get("name")})
            autostart[host] = sorted(seen.get("autostart") or [])
        migrating[host] = list(seen.get("migrating") or [])
        records[host] = seen.get("maintenance") or None
        if seen.get("ssh_ok"):
            ssh_from[host] = dict(seen["ssh_ok"])
        if facts[host] and not (dead and host == drain):
            bridges[host] = list(seen.get("bridges") or [])
            store[host] = bool(seen.get("store_ok"))
    ssh_ok = dict((dom0s.get(drain) or {}).get("ssh_ok") or {}) if drain is not None else {}
    return {"facts": facts, "bridges": bridges, "image_store": store, "migrating": migrating, "ssh_ok": ssh_ok,
            "ssh_from": ssh_from, "maintenance": records, "cpuid_masked": list(masked_guests), "running": running,
            "boot": boot, "autostart": autostart,
            "elsewhere": {g: h for h, names in reversed(list(running.items())) if h != drain for g in names}}


ROLL_STATES = ("pending", "out", "done")


def maintenance_check(guests, hosts, maintain, facts, maintenance=None, roll_id=None, phase="out", batch=1,
                      min_tolerate=None, tolerate=1, overhead=True, strategy="spread", tolerate_domains=0,
                      domain_protect=None, cpuid_masked=None, bridges=None, guest_bridges=None, image_store=None,
                      ssh_ok=None, migrating=None):
    """The next step of a rolling maintenance (maintain.yml), planned from live state and checked.

    ``maintenance`` ({host: record or None}) is what each dom0 keeps about the roll it is in: {roll, hosts,
    state: pending|out|done, since}. A roll on record that is not finished is resumed: its hosts not done
    are the ones left (a host out first), and a request for other hosts is refused. Otherwise the roll is
    new: ``roll_id`` names it and ``maintain`` ('all', a failure domain, a host or a list) says its hosts.

    ``phase`` 'out': the engine's schedule of the hosts left (maintenance.schedule, ``batch`` at a time,
    ``min_tolerate`` the policy) from where the guests run now, ending on the inventory's plan; ``step``
    is its first step: the hosts going out and the moves before they go (each checked as evacuate.yml
    checks its moves). ``phase`` 'back': the hosts out have returned; ``step.moves`` bring home the
    guests whose planned host is up and not maintained later (nothing goes out).

    Returns ``ok``, ``problems`` (each naming a host, guest or step), ``roll`` {id, hosts, left, out,
    resumed, started}, ``step`` {hosts, moves [{guest, from, to, memory_mb, type}]}, ``lines`` (the
    schedule and its exposure ledger, for people) and ``report`` (the engine's schedule).
    """
    if phase not in ("out", "back"):
        raise ModelError(["phase: must be 'out' or 'back', got %r" % (phase,)])
    names = [g.get("name") for g in guests]
    host_names = [h.get("name") for h in hosts]
    records = {h: r for h, r in (maintenance or {}).items() if isinstance(r, dict) and r}
    problems = []
    for host, rec in sorted(records.items()):
        if rec.get("unreadable"):
            problems.append("host %s: its maintenance record cannot be read (%s); check it, then remove it"
                            % (host, rec.get("error")))
        elif rec.get("state") not in ROLL_STATES or not isinstance(rec.get("hosts"), list) or not rec.get("roll"):
            problems.append("host %s: its maintenance record is not one maintain.yml writes (%r); check it, "
                            "then remove it" % (host, rec))
    if problems:
        return {"ok": False, "problems": problems, "roll": None, "step": {"hosts": [], "moves": []}, "lines": [],
                "report": None}
    cluster = build_cluster(guests, hosts, tolerate=tolerate, overhead=overhead)
    rolls = sorted({r["roll"] for r in records.values() if r["state"] != "done"})
    if len(rolls) > 1:
        return {"ok": False, "problems": ["two unfinished rolls are on record (%s): finish one with maintain.yml"
                                          % ", ".join(rolls)], "roll": None,
                "step": {"hosts": [], "moves": []}, "lines": [], "report": None}
    # A roll whose hosts are all done is over (its guests' way home after its last host is the one thing
    # left of it: phase back); otherwise, with no roll on record, this is a new one.
    finished = sorted({r["roll"] for r in records.values()})
    asked = resolve_hosts(cluster, maintain)
    if not rolls and len(finished) == 1:
        hosts_of = next(r["hosts"] for r in records.values())
        if phase == "back" or sorted(hosts_of) == sorted(asked):
            rolls = finished  # killed after its last host was done: only the way home is left
    if rolls:
        roll = rolls[0]
        mine = {h: r for h, r in records.items() if r["roll"] == roll}
        order = next(r["hosts"] for r in mine.values())
        started = min(r.get("started", "") for r in mine.values())
        resumed = True
    else:
        roll, order, started, resumed = roll_id, None, None, False
    if order is None:
        order = asked
    elif sorted(asked) != sorted(order):
        problems.append("an unfinished maintenance roll (%s, started %s) of %s is on record: finish it first "
                        "(-e maintain=%s) or, when it is abandoned, remove its records (%s)"
                        % (roll, started, ", ".join(order), ",".join(order),
                           ", ".join(sorted(h for h in records if records[h]["roll"] == roll))))
    out = [h for h in order if (records.get(h) or {}).get("roll") == roll and records[h]["state"] == "out"]
    done = {h for h in order if (records.get(h) or {}).get("roll") == roll and records[h]["state"] == "done"}
    unknown = [h for h in order if h not in host_names]
    if unknown:
        problems.append("the roll on record names hosts not in the inventory: %s" % ", ".join(unknown))
    left = out + [h for h in order if h not in done and h not in out]

    live = live_placement(facts, names)
    for host in live["unread"]:
        if host in out:
            problems.append("host %s: has not come back from its maintenance (%s): %s" % (
                host, _since(records[host]), _exposure_now(guests, hosts, live["current"], [host], tolerate,
                                                           overhead, min_tolerate)))
        else:
            problems.append("host %s: unreachable or not running Xen, so what runs there is unknown: nothing "
                            "moves while it is unread (fix it, or fence it and run failover.yml)" % host)
    problems.extend(_in_flight_problems(live, migrating))
    down = _desired_down(guests)
    for g, host in sorted(live["current"].items()):
        if g in down and host in left:
            problems.append("guest %s: runs on %s but its desired state is %s (xen_guest_state): it is never "
                            "moved; run site.yml, which shuts it down, or set it running" % (g, host, down[g]))
    for host in left:
        for name in live["unknown"].get(host, []):
            problems.append("guest %s: runs on %s but is not in the inventory (xen_guests), so it cannot be "
                            "moved off for the maintenance; add it or stop it" % (name, host))
    result = {"ok": False, "problems": problems, "step": {"hosts": [], "moves": []}, "lines": [], "report": None,
              "roll": {"id": roll, "hosts": order, "left": left, "out": out, "resumed": resumed,
                       "started": started}, "live": live}
    if problems:
        return result

    current = dict(live["current"])
    try:
        report = engine.maintenance_plan(
            guests, hosts, left if phase == "out" else [h for h in left if h not in out], batch=batch,
            min_tolerate=min_tolerate, tolerate=tolerate, overhead=overhead, strategy=strategy,
            tolerate_domains=tolerate_domains, current=current,
            domain_protect=DEFAULT_DOMAIN_PROTECT if domain_protect is None else domain_protect)
    except ModelError as exc:
        problems.extend(exc.errors)
        return result
    lines = engine.maintenance_lines(report)
    if not report["ok"]:
        problems.extend("maintenance: %s" % r for r in report["reasons"])
        problems.append("maintenance: refused, nothing moved (-e maintain_min_tolerate=N accepts a lower "
                        "tolerance while hosts are out)")
    events = report["events"]
    if phase == "out":
        first_out = next((i for i, e in enumerate(events) if e["event"] == "out"), len(events))
        step_hosts = events[first_out]["hosts"] if first_out < len(events) else []
        before = events[:first_out]
        if out and sorted(out) != sorted(step_hosts):
            # A host out first, alone or with its batch; the schedule's first step must take it.
            problems.append("the schedule from live state does not take %s first (%s): check its guests, then "
                            "re-run" % (", ".join(out), ", ".join(step_hosts) or "nothing"))
    else:
        step_hosts = []
        before = [e for e in events if e["step"] == 0]
    moves = [dict({k: e[k] for k in ("guest", "from", "to", "memory_mb")}) for e in before if e["event"] == "move"]
    moves = [dict(m, type=_live_type(m, facts, guests)) for m in moves]
    problems.extend(move_problems(moves, facts, cpuid_masked=cpuid_masked, bridges=bridges,
                                  guest_bridges=guest_bridges, image_store=image_store, ssh_ok=ssh_ok))
    seen = set()
    problems[:] = [p for p in problems if not (p in seen or seen.add(p))]
    head = ["roll %s of %s%s: %s" % (roll, ", ".join(order), " (resumed; started %s)" % started if resumed else "",
                                     "done: %s; left: %s" % (", ".join(h for h in order if h in done) or "none",
                                                             ", ".join(left) or "none"))]
    if phase == "out":
        head.append("next: %s out after %d move(s)%s" % (", ".join(step_hosts) or "nothing", len(moves),
                                                         "".join("; %d. %s: %s -> %s" % (i, m["guest"], m["from"],
                                                                                         m["to"])
                                                                 for i, m in enumerate(moves, 1))))
    else:
        head.append("home: %s" % ("; ".join("%s: %s -> %s" % (m["guest"], m["from"], m["to"]) for m in moves)
                                  or "no guest to bring back"))
    result.update(ok=not problems, report=report, lines=head + lines,
                  step={"hosts": step_hosts, "moves": moves})
    return result


def _exposure_now(guests, hosts, current, out, tolerate, overhead, min_tolerate):
    """What the cluster survives with the hosts ``out`` down and the guests where they run: for a refusal."""
    required = tolerate if min_tolerate is None else min_tolerate
    seen = engine.exposure_now(guests, hosts, current, down=out, required=required, overhead=overhead)
    return "the cluster now survives %d host failure(s) (the policy asks %d); at risk: %s (%d MiB short)" % (
        seen["tolerated"], required, ", ".join(seen["at_risk"]) or "-", seen["short_mb"])
