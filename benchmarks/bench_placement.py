#!/usr/bin/env python3
"""Placement, N-1 proof and evacuation benchmarks, and the same N-1 question put to Ganeti htools.

Synthetic clusters as in shared/reference/placement-anchors.md section 2 (3/30, 50/1,000,
200/5,000 and 500/15,000 hosts/guests), generated from a fixed seed. For each one it times,
through the engine's public functions:

* ``engine.placement`` (placement + N-1 proof), once per strategy;
* ``check_failover`` alone on the placed layout (the N-1 check, what hcheck's global N+1 does);
* ``engine.evacuation_plan`` draining the most loaded host, with ``current`` = the placement.

Where Debian's ganeti-htools-3.0 is installed it writes the same cluster and the same placement in
htools' text format and times ``hcheck --no-simulation`` (global N+1 check) and ``hspace`` (1 GiB /
1 vCPU standard spec) on it, next to our N-1 check and ``engine.capacity`` for the same spec.

Run from the repository root (``make bench`` sets PYTHONPATH)::

    PYTHONPATH=.collections .venv/bin/python benchmarks/bench_placement.py [--sizes 3/30 50/1000] [--runs N]

Figures go to stdout and to benchmarks/output/bench_placement.json (gitignored).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Appended, so PYTHONPATH (make bench) wins; without it, the link scripts/bootstrap.sh makes is used.
sys.path.append(str(Path(__file__).resolve().parent.parent / ".collections"))

from ansible_collections.consolidation.xen.plugins.module_utils import engine
from ansible_collections.consolidation.xen.plugins.module_utils.failover import DEFAULT_MAX_SCENARIOS, check_failover
from ansible_collections.consolidation.xen.plugins.module_utils.layout import Layout
from ansible_collections.consolidation.xen.plugins.module_utils.model import build_cluster

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "benchmarks" / "output"

TOLERATE = 1
DOM0_MB = 512
VCPU_RATIO = 4
MEMORY_MIX = ((512, 40), (1024, 40), (2048, 20))  # MiB: weight in %
HVM_PER_30 = 4
PAPER_MIX = [512] * 10 + [1024] * 15 + [2048] * 5  # the paper case: exactly 30 GiB (placement-anchors.md s.2)
SPEC = {"memory_mb": 1024, "vcpus": 1, "type": "pvh"}  # hspace --standard-alloc and engine.capacity
HTOOLS_STD_ALLOC = "1024,1024,1"  # disk,ram,cpu
HTOOLS_TIERED_ALLOC = "1024,2048,2"  # start tiered allocation at the largest guest shape, not the ipolicy max
HTOOLS_DISK_MB = 1024  # sharedfile disks are not charged to nodes; any size will do
HTOOLS_NODE_DISK_MB = 1048576
HTOOLS_DIRS = ("/usr/lib/ganeti/3.0/usr/bin", "/usr/lib/ganeti/default/usr/bin")  # ganeti-htools-3.0 alone
REPEAT_UNDER_S = 30.0  # repeat an external command only while one run stays under this
TARGET_HCHECK_RATIO = 100.0  # our N-1 check vs hcheck on 50/1,000
TARGET_BIG_PLACEMENT_S = 2.0  # placement + N-1 proof on 500/15,000 (also with failure domains and classes)
TARGET_MAINTENANCE_S = 5.0  # the whole rolling-maintenance schedule and its exposure ledger on 50/1,000
MAINTENANCE_MAX_HOSTS = 50  # the schedule is benchmarked up to this size (it measures N-1 after every move)
CHASSIS_HOSTS = 16  # failure-domain runs: hosts per chassis (fewer on small clusters: at least three domains)
HIGH_EVERY = 10  # failure-domain runs: one guest in ten is of priority high


@dataclass(frozen=True)
class Scenario:
    name: str
    hosts: int
    guests: int
    host_gib: int
    cores: int
    runs: int
    htools: bool  # run htools by default (the reference measured > 300 s for hcheck at 200 nodes)
    paper: bool = False

    @property
    def label(self):
        return "%d/%s" % (self.hosts, format(self.guests, ","))


SCENARIOS = (
    Scenario("paper", 3, 30, 16, 8, runs=7, htools=True, paper=True),
    Scenario("n50", 50, 1000, 32, 16, runs=5, htools=True),
    Scenario("n200", 200, 5000, 40, 20, runs=3, htools=False),
    Scenario("n500", 500, 15000, 48, 24, runs=3, htools=False),
)


# ------------------------------------------------------------------------------------- cluster --
def make_cluster(sc, seed):
    """Hosts and guests as plain mappings (the engine's input), deterministic for (seed, scenario)."""
    rng = random.Random("%s/%s" % (seed, sc.name))
    width = len(str(sc.hosts - 1))
    hosts = [{"name": "node%0*d" % (width, i), "memory_mb": sc.host_gib * 1024, "cpus": sc.cores,
              "dom0_memory_mb": DOM0_MB, "vcpu_ratio": VCPU_RATIO} for i in range(sc.hosts)]
    if sc.paper:
        memories = list(PAPER_MIX)
        rng.shuffle(memories)
    else:
        sizes, weights = zip(*MEMORY_MIX, strict=True)
        memories = rng.choices(sizes, weights=weights, k=sc.guests)
    hvm = set(rng.sample(range(sc.guests), round(sc.guests * HVM_PER_30 / 30)))
    gwidth = len(str(sc.guests - 1))
    guests = []
    for i, memory in enumerate(memories):
        guests.append({"name": "vm%0*d" % (gwidth, i), "memory_mb": memory, "vcpus": rng.randint(1, 2),
                       "type": "hvm" if i in hvm else rng.choice(("pv", "pvh"))})
    return guests, hosts


def with_domains(guests, hosts):
    """The same cluster in chassis (xen_host_failure_domain) with one guest in HIGH_EVERY of priority high,
    the others split between normal and low."""
    size = max(1, min(CHASSIS_HOSTS, len(hosts) // 3))
    hosts = [dict(h, domain="chassis%d" % (i // size)) for i, h in enumerate(hosts)]
    guests = [dict(g, priority="high" if i % HIGH_EVERY == 0 else ("normal" if i % 2 else "low"))
              for i, g in enumerate(guests)]
    return guests, hosts


def placed_layout(guests, hosts, assignments):
    """The engine's model of ``assignments``: (cluster, layout), built through the public model."""
    cluster = build_cluster(guests, hosts, tolerate=TOLERATE, overhead=True)
    layout = Layout(cluster)
    by_name = cluster.host_by_name
    for guest in cluster.guests:
        host = assignments.get(guest.name)
        if host is not None:
            layout.place(guest, by_name[host])
    return cluster, layout


# ---------------------------------------------------------------------------------------- timing --
def timed(fn, runs):
    """(last result, wall seconds per run, CPU seconds per run) with time.perf_counter."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return result, walls, cpus


def stats(walls, cpus=None):
    out = {"median_s": statistics.median(walls), "min_s": min(walls), "runs": len(walls),
           "all_s": [round(w, 6) for w in walls]}
    if cpus:
        out["cpu_median_s"] = statistics.median(cpus)
    return out


# ---------------------------------------------------------------------------------------- engine --
def bench_engine(sc, guests, hosts, runs, strategies):
    result = {"placement": {}}
    primary = None
    for strategy in strategies:
        report, walls, cpus = timed(
            lambda s=strategy: engine.placement(guests, hosts, tolerate=TOLERATE, overhead=True, keep_current=True,
                                                strategy=s, max_scenarios=DEFAULT_MAX_SCENARIOS), runs)
        failover = report["failover"]
        result["placement"][strategy] = dict(
            stats(walls, cpus), ok=report["ok"], chosen=report["strategy"], tried=report["tried"],
            unplaced=len(report["unplaced"]), failover_ok=failover["ok"], method=failover.get("method"),
            scenarios_total=failover.get("scenarios_total"), bounds=report["bounds"])
        if primary is None:
            primary = report
    assignments = primary["assignments"]

    # Failure domains and classes: any one whole chassis lost, its high-priority guests restart outside it,
    # beside the N-1 proof for every guest (the first strategy).
    dom_guests, dom_hosts = with_domains(guests, hosts)
    report, walls, cpus = timed(
        lambda: engine.placement(dom_guests, dom_hosts, tolerate=TOLERATE, overhead=True, keep_current=True,
                                 strategy=strategies[0], max_scenarios=DEFAULT_MAX_SCENARIOS, tolerate_domains=1),
        runs)
    domains = report["failover"]["domains"]
    result["domains"] = dict(stats(walls, cpus), ok=report["ok"], chosen=report["strategy"],
                             domains=domains["scenarios_total"], domain_ok=domains["ok"],
                             restarts=sum(len(d["restarts"]) for d in domains["scenarios"]),
                             left_down=sum(len(d["left_down"]) for d in domains["scenarios"]))

    # Rolling maintenance of every host, one at a time, with the exposure ledger after every event (the
    # policy lowered to 0 so that the whole schedule is built even where a host out breaks N-1).
    if len(hosts) <= MAINTENANCE_MAX_HOSTS:
        sched, walls, cpus = timed(
            lambda: engine.maintenance_plan(guests, hosts, "all", tolerate=TOLERATE, overhead=True, min_tolerate=0,
                                            current=assignments), max(1, min(runs, 3)))
        result["maintenance"] = dict(
            stats(walls, cpus), ok=sched["ok"], hosts=len(sched["hosts"]),
            moves=sum(1 for e in sched["events"] if e["event"] == "move"), ledger=len(sched["ledger"]),
            worst=sched["worst"]["tolerated"],
            states_below=sum(1 for e in sched["ledger"] if e["tolerated"] < TOLERATE))

    # The N-1 check alone on the placed layout (model build timed apart: hcheck's time includes parsing).
    (cluster, layout), walls, cpus = timed(lambda: placed_layout(guests, hosts, assignments), runs)
    result["model_build"] = stats(walls, cpus)
    check, walls, cpus = timed(
        lambda: check_failover(cluster, layout, TOLERATE, DEFAULT_MAX_SCENARIOS, fail_fast=False, detail=True), runs)
    result["n1_check"] = dict(stats(walls, cpus), ok=check["ok"], method=check.get("method"),
                              scenarios_total=check.get("scenarios_total"),
                              failing=[sc_["failed"] for sc_ in check.get("scenarios", []) if not sc_["ok"]],
                              plan_errors=verify_restart_plans(cluster, layout, check))

    # Evacuation of the most loaded host, live state = the placement.
    drain = max(primary["hosts"].items(), key=lambda kv: (kv[1]["used_mb"], kv[0]))[0]
    plan, walls, cpus = timed(
        lambda: engine.evacuation_plan(guests, hosts, drain, tolerate=TOLERATE, overhead=True, current=assignments),
        runs)
    evac_failover = plan.get("failover") or {}
    result["evacuation"] = dict(stats(walls, cpus), drain=drain, ok=plan["ok"], moves=len(plan["moves"]),
                                guests_on_host=len(primary["hosts"][drain]["guests"]),
                                stranded=len(plan["stranded"]), failover_ok=evac_failover.get("ok"),
                                method=evac_failover.get("method"))
    return result, primary, cluster, layout


def verify_restart_plans(cluster, layout, check):
    """Re-check every restart plan of a passing scenario by plain arithmetic, apart from the engine.

    Each failed host's guests must all restart, on surviving active hosts, within their free memory
    and vCPUs. Returns the problems found (empty: every plan holds)."""
    problems = []
    by_host, by_guest = cluster.host_by_name, cluster.guest_by_name
    for sc in check.get("scenarios", []):
        if not sc["ok"]:
            continue
        failed = {by_host[name].index for name in sc["failed"]}
        expected = {g.name for f in failed for g in layout.members[f] if g.movable}
        if set(sc["restarts"]) != expected:
            problems.append("%s: restarts %d guests, %d ran there" % (sc["failed"], len(sc["restarts"]), len(expected)))
        mb, vcpus = {}, {}
        for guest_name, host_name in sc["restarts"].items():
            host, guest = by_host[host_name], by_guest[guest_name]
            if host.index in failed or not host.active:
                problems.append("%s: %s restarts on %s, which is down" % (sc["failed"], guest_name, host_name))
            mb[host_name] = mb.get(host_name, 0) + guest.footprint(host)
            vcpus[host_name] = vcpus.get(host_name, 0) + guest.vcpus
        for host_name, need in mb.items():
            host = by_host[host_name]
            if need > layout.free_mb(host) or vcpus[host_name] > layout.free_vcpus(host):
                problems.append("%s: %s takes %d MiB / %d vCPUs, has %d / %d free" % (
                    sc["failed"], host_name, need, vcpus[host_name], layout.free_mb(host), layout.free_vcpus(host)))
    return problems[:20]


# ---------------------------------------------------------------------------------------- htools --
def find_tool(name):
    path = shutil.which(name)
    if path:
        return path
    for folder in HTOOLS_DIRS:
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def write_htools(path, cluster, layout):
    """The cluster and placement in htools' text format (``man htools``, option -t).

    Instances are ``sharedfile`` (migratable, disks not charged to nodes) with mem = the engine's
    footprint (guest memory + Xen overhead). Nodes: t_mem = physical memory, n_mem = dom0, and
    f_mem recomputed from the placed instances as t_mem - n_mem - Xen reserve - sum(instance mem),
    so htools' free memory equals the engine's free_mb to the MiB and its unexplained x_mem is the
    Xen reserve (128 MiB, under htools' 512 MiB "missing memory" warning) -- not a stale figure.
    """
    group_uuid = "uuid-default"
    nodes = []
    for host in cluster.hosts:
        f_mem = host.memory_mb - host.dom0_memory_mb - host.xen_reserve_mb - layout.used_mb[host.index]
        nodes.append("|".join(str(v) for v in (
            host.name, host.memory_mb, host.dom0_memory_mb, f_mem, HTOOLS_NODE_DISK_MB, HTOOLS_NODE_DISK_MB,
            host.cpus, "M" if host.index == 0 else "N", group_uuid, 1, "", "N", 0, 0, "1.0")))
    instances = []
    for guest in cluster.guests:
        h = layout.host_of[guest.index]
        if h < 0:
            continue
        host = cluster.hosts[h]
        instances.append("|".join(str(v) for v in (
            guest.name, guest.footprint(host), HTOOLS_DISK_MB, guest.vcpus, "running", "Y", host.name, "",
            "sharedfile", "", 1, "-", "N")))
    # ipolicy: owner|std spec|min;max|disk templates|vcpu ratio|spindle ratio; spec = mem,cpu,disk,disks,nics,spindles
    policy = "1024,1,%d,1,1,1|128,1,1,1,1,1;65536,8,%d,16,8,12|sharedfile|%.1f|32.0" % (
        HTOOLS_DISK_MB, HTOOLS_NODE_DISK_MB, VCPU_RATIO)
    sections = [
        "default|%s|preferred||" % group_uuid,
        "\n".join(nodes),
        "\n".join(instances),
        "",  # cluster tags: an empty section is an empty line
        "|%s\ndefault|%s" % (policy, policy),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(sections) + "\n")
    return {"nodes": len(nodes), "instances": len(instances),
            "free_mb": sum(host.capacity_mb - layout.used_mb[host.index] for host in cluster.hosts)}


def _shown(path):
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def run_tool(argv, timeout):
    """One run: (wall s, child CPU s, returncode or None on timeout, stdout, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = None, _text(exc.stdout), _text(exc.stderr)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc, out, err


def _text(data):
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def run_repeated(argv, runs, timeout):
    """Up to ``runs`` runs, fewer once one run takes REPEAT_UNDER_S or more; stops at a timeout or error."""
    walls, cpus, rc, out, err = [], [], None, "", ""
    for _ in range(runs):
        wall, cpu, rc, out, err = run_tool(argv, timeout)
        if rc is None:
            return {"timeout_s": timeout, "rc": None, "runs": len(walls), "stderr": err[-2000:]}, out
        walls.append(wall)
        cpus.append(cpu)
        if rc != 0 or wall >= REPEAT_UNDER_S:
            break
    return dict(stats(walls, cpus), rc=rc, stderr=err[-2000:]), out


def machine_readable(text):
    return dict(re.findall(r"^(\w+)=(.*)$", text, re.M))


def bench_htools(sc, cluster, layout, tools, runs, timeout, data_path):
    expected = write_htools(data_path, cluster, layout)
    result = {"file": _shown(data_path), "expected": expected, "verified": False}

    # Does htools read the file as we meant it? hinfo uses the same loader and prints the counts.
    wall, _, rc, out, err = run_tool([tools["hinfo"], "-t", str(data_path)], timeout)
    loaded = re.search(r"Loaded (\d+) nodes?, (\d+) instances?", out + err)
    counts = (int(loaded.group(1)), int(loaded.group(2))) if loaded else None
    missing = re.findall(r"node \S+ is missing.*", out + err)
    result["hinfo"] = {"rc": rc, "wall_s": wall, "nodes": counts and counts[0], "instances": counts and counts[1],
                       "missing_memory_warnings": missing[:5]}
    problems = []
    if rc != 0:
        problems.append("hinfo exit code %s: %s" % (rc, err.strip()[-300:]))
    if counts != (expected["nodes"], expected["instances"]):
        problems.append("hinfo loaded %s nodes/instances, expected %d/%d"
                        % (counts, expected["nodes"], expected["instances"]))
    if missing:
        problems.append("htools reports unexplained memory (x_mem): %s" % missing[0])

    argv = [tools["hcheck"], "-t", str(data_path), "--no-simulation", "--machine-readable"]
    hcheck, out = run_repeated(argv, runs, timeout)
    mr = machine_readable(out)
    hcheck["gn1_fail"] = int(mr["HCHECK_INIT_CLUSTER_GN1_FAIL"]) if "HCHECK_INIT_CLUSTER_GN1_FAIL" in mr else None
    hcheck["n1_fail"] = int(mr["HCHECK_INIT_CLUSTER_N1_FAIL"]) if "HCHECK_INIT_CLUSTER_N1_FAIL" in mr else None
    hcheck["argv"] = argv[:1] + ["-t", data_path.name] + argv[3:]
    if hcheck.get("rc") is not None and (hcheck["rc"] != 0 or hcheck["gn1_fail"] is None):
        problems.append("hcheck exit code %s, global N+1 figure %s: %s"
                        % (hcheck["rc"], hcheck["gn1_fail"], hcheck.get("stderr", "").strip()[-300:]))
    result["hcheck"] = hcheck

    # The same run without the global N+1 check: what hcheck spends loading and on its other checks.
    base, _ = run_repeated(argv + ["--no-capacity-checks"], runs, timeout)
    result["hcheck_no_capacity"] = base

    argv = [tools["hspace"], "-t", str(data_path), "--machine-readable", "--disk-template", "sharedfile",
            "--standard-alloc", HTOOLS_STD_ALLOC, "--tiered-alloc", HTOOLS_TIERED_ALLOC]
    hspace, out = run_repeated(argv, min(runs, 3), timeout)
    mr = machine_readable(out)
    hspace["argv"] = argv[:1] + ["-t", data_path.name] + argv[3:]
    for key in ("CLUSTER_NODES", "INI_INST_CNT", "INI_MEM_FREE", "ALLOC_INSTANCES", "ALLOC_FAIL_REASON", "TSPEC"):
        if "HTS_" + key in mr:
            value = mr["HTS_" + key]
            hspace[key.lower()] = int(value) if value.isdigit() else value
    if hspace.get("rc") == 0:
        if (hspace.get("cluster_nodes"), hspace.get("ini_inst_cnt")) != (expected["nodes"], expected["instances"]):
            problems.append("hspace saw %s nodes / %s instances, expected %d/%d" % (
                hspace.get("cluster_nodes"), hspace.get("ini_inst_cnt"), expected["nodes"], expected["instances"]))
        if hspace.get("ini_mem_free") != expected["free_mb"]:
            problems.append("hspace free memory %s MiB, the engine's %d MiB" % (hspace.get("ini_mem_free"),
                                                                                expected["free_mb"]))
    result["hspace"] = hspace

    # hspace without the global N+1 check (placement-anchors.md measured both): the cost of the check.
    loose, out = run_repeated(argv + ["--no-capacity-checks"], min(runs, 3), timeout)
    mr = machine_readable(out)
    for key in ("ALLOC_INSTANCES", "ALLOC_FAIL_REASON"):
        if "HTS_" + key in mr:
            value = mr["HTS_" + key]
            loose[key.lower()] = int(value) if value.isdigit() else value
    result["hspace_no_capacity"] = loose
    result["problems"] = problems
    result["verified"] = not problems
    return result


# ------------------------------------------------------------------------------------------ output --
def fmt_s(entry, key="median_s"):
    if entry is None:
        return "-"
    if entry.get("timeout_s") is not None:
        return "> %ds (timeout)" % entry["timeout_s"]
    value = entry.get(key)
    if value is None:
        return "-"
    return ("%.4f" % value) if value < 10 else ("%.1f" % value)


def table(headers, rows):
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def yes(flag):
    return {True: "yes", False: "NO", None: "-"}[flag]


def print_engine(results, strategies):
    rows = []
    for r in results:
        e = r["engine"]
        for i, strategy in enumerate(strategies):
            p = e["placement"][strategy]
            b = p["bounds"]
            row = [r["label"] if i == 0 else "", strategy, "%s (%d)" % (fmt_s(p), p["runs"]), yes(p["ok"]),
                   p["chosen"], p["method"],
                   "%d / %d / %d" % (b["hosts_used"], b["fluid_hosts"], b["binpack_hosts"])]
            if i == 0:
                c, v = e["n1_check"], e["evacuation"]
                row += ["%s (%d)" % (fmt_s(c), c["runs"]),
                        "%s%s" % (yes(c["ok"]), "" if not c["plan_errors"] else " (PLAN ERRORS)"),
                        "%s (%d)" % (fmt_s(v), v["runs"]),
                        "%s, %d/%d moved, N-1 %s" % (yes(v["ok"]), v["moves"], v["guests_on_host"],
                                                     yes(v["failover_ok"]))]
            else:
                row += ["", "", "", ""]
            rows.append(row)
    print(table(["hosts/guests", "strategy", "place+N-1 s (runs)", "ok", "chosen", "N-1 method",
                 "hosts used / LB fluid / LB binpack", "N-1 check s (runs)", "ok", "evac 1 host s (runs)",
                 "evac ok, moves, N-1 after"], rows))
    print("\nMedian wall seconds (time.perf_counter), runs in brackets. N-1 check = check_failover alone on the"
          "\nplaced layout of the first strategy, model build apart (%s); its restart plans are"
          "\nre-checked by plain arithmetic. Hosts used = hosts with guests; the lower bounds count active hosts"
          "\nincluding the +1 spare (placement-anchors.md s.3), so a pack that leaves a host empty can use LB - 1."
          "\nEvacuation drains the most loaded host, live state = the placement." % ", ".join(
              "%s %s s" % (r["label"], fmt_s(r["engine"]["model_build"])) for r in results))
    for r in results:
        for problem in r["engine"]["n1_check"]["plan_errors"]:
            print("  %s: restart plan error: %s" % (r["label"], problem))
    rows = []
    for r in results:
        d = r["engine"]["domains"]
        rows.append([r["label"], "%s (%d)" % (fmt_s(d), d["runs"]), yes(d["ok"]), d["chosen"], str(d["domains"]),
                     yes(d["domain_ok"]), str(d["restarts"]), str(d["left_down"])])
    print()
    print(table(["hosts/guests", "place+N-1+domains s (runs)", "ok", "chosen", "chassis", "any chassis ok",
                 "high restarts", "left down"], rows))
    rows = [[r["label"], "%s (%d)" % (fmt_s(m), m["runs"]), str(m["hosts"]), str(m["moves"]), str(m["ledger"]),
             "N-%d" % m["worst"], str(m["states_below"]), yes(m["ok"])]
            for r in results for m in [r["engine"].get("maintenance")] if m]
    if rows:
        print()
        print(table(["hosts/guests", "maintenance s (runs)", "hosts rolled", "migrations", "ledger states",
                     "worst", "states below N-1", "ok"], rows))
        print("\nRolling maintenance: every host out in turn, its guests moved off and back, N-1 measured after"
              "\nevery event (engine.maintenance_plan, the policy lowered to N-0 so the whole schedule is built).")
    print("\nFailure domains: the same clusters in chassis of up to %d hosts, one guest in %d of priority high;"
          "\nplacement proves N-1 for every guest and the loss of any one whole chassis for the high ones"
          "\n(restarts and left-down guests summed over the chassis failure sets)." % (CHASSIS_HOSTS, HIGH_EVERY))


def print_htools(results):
    rows = []
    for r in results:
        h = r.get("htools")
        if not h or h.get("skipped"):
            continue
        c = r["engine"]["n1_check"]
        hc, hs, cap = h["hcheck"], h["hspace"], r.get("capacity")
        ours = c["median_s"] + r["engine"]["model_build"]["median_s"]
        rows.append([
            r["label"], "yes" if h["verified"] else "NO",
            _with_runs(hc), "-" if hc.get("gn1_fail") is None else hc["gn1_fail"],
            fmt_s(h["hcheck_no_capacity"]),
            fmt_s(c), len(c["failing"]),
            _ratio(hc, c["median_s"]), _ratio(hc, ours),
            _with_runs(hs),
            _alloc(hs), "%s: %s" % (fmt_s(h["hspace_no_capacity"]), _alloc(h["hspace_no_capacity"])),
            ("%s: +%d %s" % (fmt_s(cap), cap["fits"], cap["limited_by"])) if cap else "-",
        ])
    if not rows:
        return
    print(table(["hosts/guests", "file ok", "hcheck s (runs)", "hcheck GN1 fail", "hcheck w/o GN1 s",
                 "our N-1 s", "our N-1 fail", "x (check)", "x (model+check)", "hspace s (runs)",
                 "hspace adds", "hspace w/o GN1 s: adds", "our capacity() s: adds"], rows))
    print("\nGN1 fail = nodes hcheck finds not directly evacuateable (global N+1); our N-1 fail = failing"
          "\nscenarios of check_failover. x = hcheck wall / our wall: the N-1 check alone, and model build +"
          "\ncheck (hcheck's time includes loading the file). hspace runs standard (%s) and tiered (%s)"
          "\nallocation (disk,ram,cpu) with the global N+1 check, and again with --no-capacity-checks; 'adds' is"
          "\nits standard-spec count and why it stopped. engine.capacity adds 1 GiB/1 vCPU guests while N-1 holds."
          % (HTOOLS_STD_ALLOC, HTOOLS_TIERED_ALLOC))
    for r in results:
        h = r.get("htools") or {}
        for problem in h.get("problems", []):
            print("  %s: htools file check: %s" % (r["label"], problem))
        gn1, ours = (h.get("hcheck") or {}).get("gn1_fail"), r["engine"]["n1_check"]
        if gn1 and ours["ok"] and not ours["plan_errors"]:
            print("  %s: hcheck finds %d node(s) not evacuateable where our check passes with restart plans that"
                  "\n  re-check by arithmetic. htools (GlobalN1.canEvacuateNode) moves the node's instances in list"
                  "\n  order, not largest first, each to the best-score node: on a tight cluster that greedy can"
                  "\n  strand a large guest that a largest-first packing places." % (r["label"], gn1))
        if gn1 == 0 and not ours["ok"]:
            print("  %s: hcheck passes global N+1 where our check fails: see the JSON for the failing scenarios."
                  % r["label"])


def _with_runs(entry):
    return fmt_s(entry) if entry.get("timeout_s") is not None else "%s (%d)" % (fmt_s(entry), entry.get("runs", 0))


def _alloc(entry):
    if entry.get("rc") != 0:
        return "-"
    return "+%s %s" % (entry.get("alloc_instances", "?"), entry.get("alloc_fail_reason", ""))


def _ratio(hcheck, ours):
    if hcheck.get("timeout_s") is not None:
        return "> %.0fx" % (hcheck["timeout_s"] / ours) if ours else "-"
    if hcheck.get("median_s") is None or not ours:
        return "-"
    return "%.0fx" % (hcheck["median_s"] / ours)


def targets(results):
    out = []
    by_name = {r["name"]: r for r in results}
    r = by_name.get("n50")
    if r and r.get("htools") and not r["htools"].get("skipped"):
        hc = r["htools"]["hcheck"]
        c = r["engine"]["n1_check"]["median_s"]
        with_model = c + r["engine"]["model_build"]["median_s"]
        if hc.get("timeout_s") is not None:
            ratio = hc["timeout_s"] / with_model
        else:
            ratio = hc["median_s"] / with_model if hc.get("median_s") else None
        out.append({"target": "our N-1 check >= %dx faster than hcheck on 50/1,000" % TARGET_HCHECK_RATIO,
                    "ratio_with_model_build": ratio, "ratio_check_only": (ratio * with_model / c) if ratio else None,
                    "met": bool(ratio and ratio >= TARGET_HCHECK_RATIO and r["htools"]["verified"]),
                    "htools_file_verified": r["htools"]["verified"]})
    r = by_name.get("n500")
    if r:
        strategy = next(iter(r["engine"]["placement"]))
        p = r["engine"]["placement"][strategy]
        out.append({"target": "placement + N-1 proof on 500/15,000 <= %.0f s (%s)" % (TARGET_BIG_PLACEMENT_S, strategy),
                    "median_s": p["median_s"], "met": p["median_s"] <= TARGET_BIG_PLACEMENT_S and p["ok"]})
        d = r["engine"]["domains"]
        out.append({"target": "the same with any chassis of 16 proven <= %.0f s" % TARGET_BIG_PLACEMENT_S,
                    "median_s": d["median_s"], "met": d["median_s"] <= TARGET_BIG_PLACEMENT_S and d["ok"]})
    r = by_name.get("n50")
    if r and r["engine"].get("maintenance"):
        m = r["engine"]["maintenance"]
        out.append({"target": "rolling maintenance of 50/1,000 with its ledger <= %.0f s" % TARGET_MAINTENANCE_S,
                    "median_s": m["median_s"], "met": m["median_s"] <= TARGET_MAINTENANCE_S and m["ok"]})
    return out


def print_targets(items):
    for t in items:
        if "ratio_with_model_build" in t:
            ratio = t["ratio_with_model_build"]
            detail = ("%.0fx with model build, %.0fx check only" % (ratio, t["ratio_check_only"])) if ratio else "n/a"
            if not t["htools_file_verified"]:
                detail += "; htools file NOT verified"
        else:
            detail = "%.3f s median" % t["median_s"]
        print("  %-62s %s  -> %s" % (t["target"], detail, "MET" if t["met"] else "NOT MET"))


# -------------------------------------------------------------------------------------------- main --
def select(sizes):
    if not sizes:
        return list(SCENARIOS)
    wanted = [w for item in sizes for w in item.split(",") if w]
    chosen = []
    for w in wanted:
        key = w.replace("_", "").lower()
        match = [s for s in SCENARIOS if key in (s.name, "%d/%d" % (s.hosts, s.guests), "%dx%d" % (s.hosts, s.guests))]
        if not match:
            names = ", ".join("%s (%d/%d)" % (s.name, s.hosts, s.guests) for s in SCENARIOS)
            raise SystemExit("--sizes: unknown scenario %r; choose from %s" % (w, names))
        if match[0] not in chosen:
            chosen.append(match[0])
    return chosen


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", metavar="SIZE",
                        help="scenarios by name or hosts/guests: paper|3/30 n50|50/1000 n200|200/5000 "
                             "n500|500/15000 (default: all)")
    parser.add_argument("--runs", type=int, help="timed runs per measurement (default: 7, 5, 3, 3 by size)")
    parser.add_argument("--strategies", default="spread,pack",
                        help="placement strategies to time, comma-separated; the first one's placement feeds the "
                             "N-1 check, the evacuation and htools (default: spread,pack)")
    parser.add_argument("--seed", default="1", help="random seed for the synthetic clusters (default: 1)")
    parser.add_argument("--no-htools", action="store_true", help="skip the Ganeti htools comparison")
    parser.add_argument("--htools-large", action="store_true",
                        help="also run htools on 200+ hosts (the reference measured > 300 s for hcheck there)")
    parser.add_argument("--htools-timeout", type=float, default=300.0,
                        help="timeout for each htools run, seconds (default: 300)")
    parser.add_argument("--no-capacity", action="store_true",
                        help="skip engine.capacity (our counterpart of hspace) on the htools scenarios")
    parser.add_argument("--output", type=Path, default=OUTPUT / "bench_placement.json", help="JSON output file")
    args = parser.parse_args(argv)
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    bad = [s for s in args.strategies if s not in ("spread", "pack")]
    if bad or not args.strategies:
        parser.error("--strategies: choose from spread, pack")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be >= 1")
    return args


def htools_version(tool):
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except OSError:
        return None
    return out.splitlines()[0].strip() if out else None


def main(argv=None):
    args = parse_args(argv)
    scenarios = select(args.sizes)
    tools = {}
    if not args.no_htools:
        tools = {name: find_tool(name) for name in ("hcheck", "hspace", "hinfo")}
        if not all(tools.values()):
            print("htools: not found (%s); install Debian's ganeti-htools-3.0 to compare, or pass --no-htools\n"
                  % ", ".join(n for n, p in tools.items() if not p))
            tools = {}
    meta = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": sys.version.split()[0],
        "platform": platform.platform(), "cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(),
        "seed": args.seed, "argv": sys.argv[1:] if argv is None else argv, "tolerate": TOLERATE,
        "htools": htools_version(tools["hcheck"]) if tools else None,
    }
    print("consolidation.xen placement benchmark: seed %s, N-%d, Python %s, %d CPUs, load %.2f %.2f %.2f%s\n" % (
        args.seed, TOLERATE, meta["python"], meta["cpus"] or 0, *meta["loadavg_at_start"],
        (", " + meta["htools"]) if meta["htools"] else ""))

    results = []
    for sc in scenarios:
        runs = args.runs or sc.runs
        guests, hosts = make_cluster(sc, args.seed)
        print("%s %s: %d x %d GiB x %d cores, %d guests (%d MiB), %d runs ..." % (
            sc.name, sc.label, sc.hosts, sc.host_gib, sc.cores, len(guests), sum(g["memory_mb"] for g in guests),
            runs), flush=True)
        entry = {"name": sc.name, "label": sc.label, "scenario": asdict(sc), "runs": runs,
                 "guest_memory_mb": sum(g["memory_mb"] for g in guests),
                 "hvm_guests": sum(1 for g in guests if g["type"] == "hvm")}
        entry["engine"], report, cluster, layout = bench_engine(sc, guests, hosts, runs, args.strategies)
        if tools:
            if sc.htools or args.htools_large:
                entry["htools"] = bench_htools(sc, cluster, layout, tools, runs, args.htools_timeout,
                                               args.output.parent / "htools" / ("%s.data" % sc.name))
                if not args.no_capacity:
                    live = [dict(g, current_host=report["assignments"].get(g["name"])) for g in guests]
                    cap, walls, cpus = timed(lambda live=live, hosts=hosts: engine.capacity(
                        live, hosts, SPEC, tolerate=TOLERATE, overhead=True, limit=100000), 1)
                    entry["capacity"] = dict(stats(walls, cpus), fits=cap["fits"], limited_by=cap["limited_by"],
                                             spec=SPEC)
            else:
                entry["htools"] = {"skipped": "htools skipped on %s: the reference measured hcheck > 300 s at "
                                              "200 nodes / 5,000 instances (--htools-large runs it, with "
                                              "--htools-timeout)" % sc.label}
        results.append(entry)

    print("\n== engine (N-%d, Xen overhead on) ==" % TOLERATE)
    print_engine(results, args.strategies)
    if tools:
        print("\n== Ganeti htools on the same cluster and placement (%s) ==" % meta["htools"])
        print_htools(results)
        for r in results:
            note = (r.get("htools") or {}).get("skipped")
            if note:
                print("  note: " + note)
    elif not args.no_htools:
        print("\n(htools comparison skipped: tools not installed)")
    goals = targets(results)
    if goals:
        print("\n== targets ==")
        print_targets(goals)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"meta": meta, "scenarios": results, "targets": goals}, indent=2,
                                      default=str) + "\n")
    print("\nJSON: %s" % _shown(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
