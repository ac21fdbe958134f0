# Copyright: consolidation.xen contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight: the whole inventory validated and the plan proved, before any host is contacted.

Everything any consumer would refuse later is refused here, all problems at once: the inventory
contract's types (contract.py), the xl renderer's rules (xlcfg.py: boot, HVM settings, MAC and UUID
collisions, disk paths), the filer plan's (filer.py: addresses, data areas, quotas), the engine's
(model.py: references, sizes) and the cross checks no single consumer can make (a host that is
also a guest, a writable disk image shared by two guests, role settings that differ between
dom0s, ssh addresses). Then the engine places every guest and proves N-k. Each message names the
inventory variable (``xen_guest_memory``) and the guest or host.

Pure Python, no Ansible import: the ``preflight`` and ``cluster_inventory`` filters are thin faces
over :func:`check`.
"""

from __future__ import annotations

import posixpath

from ansible_collections.consolidation.xen.plugins.module_utils import contract, engine, filer, xlcfg
from ansible_collections.consolidation.xen.plugins.module_utils.model import ModelError
from ansible_collections.consolidation.xen.plugins.module_utils.units import parse_whole

# Role settings the guests role reads once, from the first dom0, for every guest: they must agree.
SAME_ON_EVERY_DOM0 = ("guests_image_dir", "guests_default_bridge", "guests_default_disks", "guests_vnc_listen",
                      "guests_cpuid")
LIVE_PLAYBOOKS = ("evacuate", "failover", "rebalance", "unfence")
# They move no guest: a plan that does not hold is reported, and does not stop them (verify.yml reports it
# among its findings).
NO_MOVE_PLAYBOOKS = ("restore", "verify")
# They read every dom0 or pick their own hosts from the whole cluster: --limit, --tags, --skip-tags and
# --start-at-task are refused.
WHOLE_CLUSTER_PLAYBOOKS = LIVE_PLAYBOOKS + ("maintain", "restore", "verify")


class PreflightError(ValueError):
    """The inventory or the run options are refused; ``problems`` lists every reason."""

    def __init__(self, problems, report=None):
        self.problems = list(problems)
        self.report = report
        super().__init__("\n".join(self.problems))


def check(inventory, playbook="site"):
    """Validate and plan. ``inventory``:

    ``groups``   {group: [names]} (xen_hosts, xen_guests, filers; missing groups are empty)
    ``vars``     {inventory name: {variable: value}} (only the contract's variables are read)
    ``run``      {variable: value}: run options as the controller sees them (group all, -e)
    ``cli``      {limit, tags, skip_tags, start_at_task} of this run (optional)
    ``controller_files`` {path: whether it is a file on the controller} for run options naming one
    ``controller_dirs`` {path: whether its directory exists on the controller} for run options naming a file the
    run writes

    Returns the validated cluster: ``hosts`` and ``guests`` (engine mappings), ``xl_guests`` (xl
    renderer mappings), ``filers`` ({filer: plan}), ``run`` (typed run options), ``plan`` (the
    engine's placement with its failover proof), ``table`` (the proof for people), ``warnings``, ``refused``
    (plan.yml only: the reasons a failed plan is refused, which it reports before it fails; every other playbook
    raises instead).
    Raises :class:`PreflightError` listing every problem.
    """
    if playbook not in contract.PLAYBOOKS:
        raise PreflightError(["playbook: must be one of %s, got %r" % (", ".join(contract.PLAYBOOKS), playbook)])
    groups = inventory.get("groups") or {}
    all_vars = inventory.get("vars") or {}
    problems = []
    warnings = []
    host_names = [str(n) for n in groups.get("xen_hosts") or []]
    guest_names = [str(n) for n in groups.get("xen_guests") or []]
    filer_names = [str(n) for n in groups.get("filers") or []]

    _check_names(host_names, guest_names, filer_names, problems)
    ctx = {"hosts": host_names, "guests": guest_names}
    run = contract.typed_vars("run", "", inventory.get("run") or {}, problems, ctx=ctx, playbook=playbook)
    # Files the run reads on the controller (the filter says which exist): missing, the run would fail
    # half-way (maintain.yml after moving a host's guests off).
    for name in ("maintain_tasks",):
        path = run.get(name)
        if path and (inventory.get("controller_files") or {}).get(path) is False:
            problems.append("%s: no such file on the controller: %s" % (name, path))
    # Files the run writes on the controller: their directory must exist (plan.yml's report).
    for name in ("plan_report",):
        path = run.get(name)
        if path and (inventory.get("controller_dirs") or {}).get(path) is False:
            problems.append("%s: no such directory on the controller: %s" % (name, posixpath.dirname(path) or "/"))
    _check_cli(playbook, inventory.get("cli") or {}, problems)

    hosts_typed = {}
    for name in host_names:
        hosts_typed[name] = contract.typed_vars("host", "host %s: " % name, all_vars.get(name) or {}, problems, ctx)
    guests_typed = {}
    bad_guests = set()
    for name in guest_names:
        before = len(problems)
        guests_typed[name] = contract.typed_vars("guest", "guest %s: " % name, all_vars.get(name) or {}, problems,
                                                 ctx)
        if len(problems) > before:
            bad_guests.add(name)

    for name in guest_names:
        typed = guests_typed[name]
        if typed.get("xen_guest_check_port") is not None and typed.get("xen_guest_address") is None:
            problems.append("guest %s: xen_guest_check_port: needs xen_guest_address (the address failover.yml "
                            "connects to)" % name)

    role = _dom0_settings(host_names, hosts_typed, all_vars, problems)
    _check_dom0s(host_names, hosts_typed, all_vars, problems)

    xl_guests = [contract.xl_guest(n, guests_typed[n], role["guests_default_disks"], role["guests_vnc_listen"])
                 for n in guest_names]
    rendered = _check_xl(xl_guests, bad_guests, role, problems)
    _check_shared_disks(rendered, problems)

    filers = {}
    for name in filer_names:
        typed = contract.typed_vars("filer", "filer %s: " % name, all_vars.get(name) or {}, problems, ctx)
        filers[name] = _check_filer(name, typed, host_names, guest_names, all_vars, problems)
    if playbook == "restore" and run.get("guest") is not None:
        _check_restore(run["guest"], filers, filer_names, problems)

    hosts = [contract.engine_host(n, hosts_typed[n]) for n in host_names]
    guests = [contract.engine_guest(n, guests_typed[n]) for n in guest_names]
    if problems:
        raise PreflightError(_unique(problems))

    plan = _prove(hosts, guests, run, problems)
    if problems:
        raise PreflightError(_unique(problems))
    table = engine.failure_table(plan)
    refused = []
    if not plan["ok"]:
        reasons = list(plan.get("reasons") or []) or ["the N-%d proof fails" % run["xen_tolerate"]]
        if run["xen_allow_degraded"] and not plan["unplaced"]:
            warnings.append("DEGRADED CLUSTER ACCEPTED (xen_allow_degraded): " + "; ".join(reasons))
        elif playbook in LIVE_PLAYBOOKS:
            # They act on a cluster that may already be degraded (a dead host, one to drain) and prove
            # their own result from live state; refusing them here would block the way out.
            warnings.append("the inventory's plan does not hold (%s); %s.yml goes on and proves its own moves "
                            "from live state" % ("; ".join(reasons), playbook))
        elif playbook in NO_MOVE_PLAYBOOKS:
            warnings.append("the inventory's plan does not hold (%s); %s.yml moves no guest and goes on"
                            % ("; ".join(reasons), playbook))
        else:
            proof = "N-%d%s" % (run["xen_tolerate"], " and failure-domain" if plan["failover"].get("domains") else "")
            hint = ("" if plan["unplaced"] else " (-e xen_allow_degraded=true accepts a cluster that is not %s "
                                                "safe, loudly)" % proof)
            refused = ["plan: %s" % r for r in reasons] + ["plan: refused%s" % hint]
            if playbook != "plan":
                # the table without its reason lines: the problems list them already
                table = engine.failure_table(plan, reasons=False)
                raise PreflightError(refused, report={"plan": plan, "table": table})
    maintenance = None
    # plan.yml reports a refused plan (its text and HTML report), then fails: no maintenance schedule for it
    if run.get("maintain") is not None and not refused:
        maintenance = _maintenance(hosts, guests, run, plan)
    return {
        "ok": True, "playbook": playbook, "hosts": hosts, "guests": guests, "xl_guests": xl_guests,
        "maintenance": maintenance,
        "filers": filers, "run": run, "role": role, "plan": plan, "table": table, "warnings": warnings,
        "refused": refused,
        "summary": _summary(host_names, guest_names, filer_names, plan, run, warnings),
    }


def _unique(items):
    seen = set()
    return [i for i in items if not (i in seen or seen.add(i))]


def _check_names(host_names, guest_names, filer_names, problems):
    for what, names in (("host", host_names), ("guest", guest_names), ("filer", filer_names)):
        for name in names:
            try:
                contract.check_name(name)
            except ValueError as exc:
                problems.append("%s %r: name: %s" % (what, name, exc))
    for name in sorted(set(host_names) & set(guest_names)):
        problems.append("host %s: is in both xen_hosts and xen_guests: a dom0 cannot be a guest of the cluster"
                        % name)
    for name in sorted(set(filer_names) & (set(host_names) | set(guest_names))):
        problems.append("filer %s: is also in xen_hosts or xen_guests" % name)
    if not host_names:
        problems.append("xen_hosts: the inventory has no dom0 (group xen_hosts is empty or missing)")


def _check_cli(playbook, cli, problems):
    if playbook not in WHOLE_CLUSTER_PLAYBOOKS:
        return
    used = []
    if cli.get("limit"):
        used.append("--limit %s" % cli["limit"])
    tags = [t for t in cli.get("tags") or [] if t != "all"]
    if tags:
        used.append("--tags %s" % ",".join(tags))
    if cli.get("skip_tags"):
        used.append("--skip-tags %s" % ",".join(cli["skip_tags"]))
    if cli.get("start_at_task"):
        used.append("--start-at-task %r" % cli["start_at_task"])
    if used:
        problems.append("%s.yml: works on the whole cluster (it reads every dom0 and checks every move first), so "
                        "it takes no %s; run it without" % (playbook, " / ".join(used)))


def _dom0_settings(host_names, hosts_typed, all_vars, problems):
    """The guests role's once-read settings; every dom0 must agree on them."""
    role = {}
    for var in SAME_ON_EVERY_DOM0:
        values = {}
        for name in host_names:
            value = hosts_typed[name].get(var)
            values.setdefault(repr(value), []).append(name)
        if len(values) > 1:
            problems.append("%s: differs between dom0s (%s): set it alike on every dom0 (every dom0 renders every "
                            "guest and mounts the same store)"
                            % (var, "; ".join("%s on %s" % (v, ", ".join(h)) for v, h in sorted(values.items()))))
        first = hosts_typed[host_names[0]].get(var) if host_names else contract.BY_NAME[var].default
        role[var] = first if first is not None or var == "guests_cpuid" else contract.BY_NAME[var].default
    return role


def _check_dom0s(host_names, hosts_typed, all_vars, problems):
    owners = {}
    for name in host_names:
        typed = hosts_typed[name]
        address = typed.get("dom0_ssh_address") or name
        if "dom0_ssh_address" not in (all_vars.get(name) or {}):
            try:
                contract.check_destination(name)
            except ValueError as exc:
                problems.append("host %s: dom0_ssh_address (default: the inventory name): %s" % (name, exc))
        owners.setdefault(address, []).append(name)
        if typed.get("dom0_bridge_gateway") and not typed.get("dom0_bridge_address"):
            problems.append("host %s: dom0_bridge_gateway: set without dom0_bridge_address (a DHCP bridge gets "
                            "its gateway from DHCP)" % name)
        bmc = typed.get("xen_host_bmc")
        if bmc is not None:
            _check_bmc(name, bmc, problems)
    for address, hosts in sorted(owners.items()):
        if len(hosts) > 1:
            problems.append("dom0_ssh_address: %s is the address of more than one dom0 (%s)"
                            % (address, ", ".join(hosts)))


def _check_bmc(name, bmc, problems):
    where = "host %s: xen_host_bmc" % name
    unknown = sorted(set(bmc) - {"address", "user", "password", "port"})
    if unknown:
        problems.append("%s: unknown key(s) %s (address, user, password, port)" % (where, ", ".join(map(str, unknown))))
    try:
        contract.check_destination(bmc.get("address"))
    except ValueError as exc:
        problems.append("%s.address: %s" % (where, exc))
    for key in ("user", "password"):
        value = bmc.get(key)
        if not isinstance(value, str) or not value:
            # never echo the value: it may be the password
            problems.append("%s.%s: required, a non-empty string (the password from a vault)" % (where, key))
    if bmc.get("port") is not None:
        try:
            parse_whole(bmc["port"], minimum=1, maximum=65535)
        except ValueError as exc:
            problems.append("%s.port: %s" % (where, exc))


def _check_xl(xl_guests, bad_guests, role, problems):
    """Render every guest as each dom0 will (xl_configs runs the same code); return {name: info}."""
    candidates = [g for g in xl_guests if g["name"] not in bad_guests]
    try:
        rendered, errors = xlcfg.render_all(candidates, image_dir=role["guests_image_dir"],
                                            default_bridge=role["guests_default_bridge"],
                                            common_cpuid=role["guests_cpuid"])
    except xlcfg.GuestConfigError as exc:  # a broken role-level setting, e.g. guests_cpuid
        problems.append(contract.translate(str(exc)))
        return {}
    problems.extend(contract.translate(e) for e in errors)
    return {name: info for name, (_text, info) in rendered.items()}


def _check_shared_disks(rendered, problems):
    """No disk image is opened read-write by one guest and by any other guest at all."""
    users = {}
    for name in sorted(rendered):
        for disk in rendered[name]["disks"]:
            if disk["path"]:  # normalised: the renderer refuses any other spelling
                users.setdefault(disk["path"], []).append((name, disk["access"]))
    for path, who in sorted(users.items()):
        if len(who) > 1 and any(access == "rw" for _n, access in who):
            problems.append("xen_guest_disks: %s is used by guests %s and written by %s: two guests must never "
                            "share a writable image"
                            % (path, ", ".join(n for n, _a in who), ", ".join(n for n, a in who if a == "rw")))


def _check_filer(name, typed, host_names, guest_names, all_vars, problems):
    def pick(n, names):
        return {v: all_vars.get(n, {}).get(v) for v in names if all_vars.get(n, {}).get(v) is not None}

    host_vars = [pick(n, (filer.HOST_ADDRESS_VAR,)) for n in host_names]
    guest_vars = [pick(n, (filer.GUEST_ADDRESS_VAR, filer.GUEST_DATA_VAR, filer.GUEST_STATE_VAR)) for n in guest_names]
    try:
        return filer.filer_plan(host_names, host_vars, guest_names, guest_vars, contract.filer_defaults(typed))
    except filer.FilerPlanError as exc:
        problems.extend(p if p.startswith(("host ", "guest ", "address ", "qtree ")) else "filer %s: %s" % (name, p)
                        for p in exc.problems)
        return None


def _check_restore(guest, filers, filer_names, problems):
    """restore.yml: every filer holds the guest's data area in its plan and keeps backups of it."""
    if not filer_names:
        problems.append("guest: %s: there is no filer (group filers) to restore its data area on" % guest)
    for name in filer_names:
        plan = filers.get(name)
        if plan is None:
            continue  # its own problems are reported
        if not any(g["guest"] == guest for g in plan["guests"]):
            problems.append("guest: %s has no data area on filer %s (xen_guest_data unset or false, or "
                            "xen_guest_state absent): nothing to restore" % (guest, name))
        elif plan.get("linux_backup") is None:
            problems.append("filer %s: filer_linux_backup: not set, so there are no backups to restore %s from "
                            "(restore.yml restores the linux backend's backups; on ONTAP, copy from the qtree's "
                            ".snapshot directory or the SnapMirror vault)" % (name, guest))


def _prove(hosts, guests, run, problems):
    try:
        return engine.placement(guests, hosts, tolerate=run["xen_tolerate"], overhead=run["xen_overhead"],
                                strategy=run["xen_placement_strategy"], max_scenarios=run["xen_max_scenarios"],
                                tolerate_domains=run["xen_tolerate_domains"], domain_protect=run["xen_domain_protect"])
    except ModelError as exc:
        for error in exc.errors:
            for key, var in (("tolerate:", "xen_tolerate:"), ("tolerate_domains:", "xen_tolerate_domains:")):
                if error.startswith(key):
                    error = var + error[len(key):]
            problems.append(contract.translate(error))
        return None


def _maintenance(hosts, guests, run, plan):
    """plan.yml -e maintain=...: the rolling maintenance schedule and its exposure ledger, from the plan's
    placement (no host is read); a schedule that breaks the policy is refused with its ledger."""
    try:
        report = engine.maintenance_plan(
            guests, hosts, run["maintain"], batch=run["batch"], min_tolerate=run["maintain_min_tolerate"],
            tolerate=run["xen_tolerate"], overhead=run["xen_overhead"], max_scenarios=run["xen_max_scenarios"],
            tolerate_domains=run["xen_tolerate_domains"], domain_protect=run["xen_domain_protect"],
            current=plan["assignments"])
    except ModelError as exc:
        raise PreflightError([e.replace("min_tolerate:", "maintain_min_tolerate:", 1) for e in exc.errors]) from None
    lines = engine.maintenance_lines(report)
    if not report["ok"]:
        raise PreflightError(["maintenance: %s" % r for r in report["reasons"]]
                             + ["maintenance: refused (-e maintain_min_tolerate=N accepts a lower tolerance while "
                                "hosts are out)"], report={"plan": plan, "table": lines})
    return {"report": report, "lines": lines}


def _summary(host_names, guest_names, filer_names, plan, run, warnings):
    failover = plan["failover"]
    domains = failover.get("domains")
    domain_part = ("; failure domains (%d at once, priority %s and up) %s (%d failure set(s))" % (
        domains["tolerate"], domains["protect"], "PASSED" if domains["ok"] else "FAILED", domains["scenarios_total"])
        if domains else "")
    return ("consolidation.xen preflight: inventory valid (%d dom0s, %d guests, %d filer%s); N-%d proof %s "
            "(%s, %d failure set(s))%s%s" % (
                len(host_names), len(guest_names), len(filer_names), "" if len(filer_names) == 1 else "s",
                run["xen_tolerate"], "PASSED" if failover.get("hosts_ok", failover["ok"]) else "FAILED",
                failover.get("method"), failover.get("scenarios_total", 0), domain_part,
                "; " + "; ".join(warnings) if warnings else ""))
