#!/usr/bin/env python3
"""How long roles/guests takes on 3 dom0s: the first run, and the idempotent re-run, for 30 and 300 guests.

The point of writing every config in one ``consolidation.xen.xl_configs`` task per host: a re-run
over 300 guests costs one module round-trip per dom0, not 300.

Targets (``--mode``):

* ``containers`` - three Debian 12 systemd containers from molecule/shared/create.yml (podman, the
  base image of scripts/build-base-image.sh), reached with the containers.podman connection: the
  same set-up as the molecule ``guests`` scenario.
* ``local`` - three "hosts" on this machine (connection local), each writing into its own
  directory under a temporary root.
* ``auto`` (default) - containers when podman and the base image are there, else local. The output
  says which was used.

Per size it generates the guests (about 1 in 7.5 HVM, the rest PVH, 256 to 1024 MiB, one 256 MiB
sparse disk each) and 3 hosts big enough for N-1, places them with the engine (timed apart: the
role's input, not its cost) and runs ``ansible-playbook`` with just the role, its assignment passed
as ``guests_assignments``. It times the whole ansible-playbook command (wall clock, including
Ansible's start-up), and the xl_configs task alone (from the ansible.posix.json callback). The
first run writes every config, disk and link; the re-runs (``--runs``, median reported) must
report no change, or the benchmark fails.

Run from the repository root::

    .venv/bin/python benchmarks/bench_guests.py [--sizes 30 300] [--runs 3] [--mode auto|containers|local]

Figures go to stdout and to benchmarks/output/bench_guests.json (gitignored).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO / ".collections"))

from ansible_collections.consolidation.xen.plugins.module_utils import engine  # noqa: E402

OUTPUT = REPO / "benchmarks" / "output"
VENV_BIN = REPO / ".venv" / "bin"
BASE_IMAGE = os.environ.get("MOLECULE_BASE_IMAGE", "localhost/consolidation-xen-base:bookworm")
HOSTS = ("bench-blade1", "bench-blade2", "bench-blade3")
NETWORK = ("molecule-bench-guests", "10.89.209.0/24")
XL_TASK = "Write every guest's xl config; link this host's guests for autostart"

PLAYBOOK = """---
- name: Apply the guests role
  hosts: xen_hosts
  gather_facts: false
  roles:
    - role: consolidation.xen.guests
"""


def make_guests(n, seed):
    rng = random.Random(seed)
    guests, inventory = [], {}
    hvm_every = 7.5
    for i in range(n):
        hvm = math.floor((i + 1) / hvm_every) > math.floor(i / hvm_every)
        name = "win%03d" % i if hvm else "lin%03d" % i
        memory = rng.choice((256, 512, 512, 1024))
        guests.append({"name": name, "memory_mb": memory, "vcpus": 1, "type": "hvm" if hvm else "pvh"})
        hv = {"xen_guest_memory": memory, "xen_guest_type": "hvm" if hvm else "pvh"}
        if hvm:
            hv["xen_guest_os"] = "windows"
        else:
            hv.update({"xen_guest_kernel": "/srv/xen/boot/vmlinuz", "xen_guest_ramdisk": "/srv/xen/boot/initrd.img",
                       "xen_guest_cmdline": "root=/dev/xvda ro console=hvc0"})
        inventory[name] = hv
    total = sum(g["memory_mb"] for g in guests)
    # N-1 on 3 hosts: two survivors carry everything, plus Xen's overhead and some slack
    host_mb = int(math.ceil((total / 2 * 1.15 + 2048) / 1024.0)) * 1024
    cpus = max(8, int(math.ceil(n / 2 / 4 * 1.2)))
    hosts = [{"name": h, "memory_mb": host_mb, "cpus": cpus, "dom0_memory_mb": 1024} for h in HOSTS]
    return guests, hosts, inventory


def write_inventory(path, inventory, hosts, mode, root):
    host_vars = {"xen_host_memory": hosts[0]["memory_mb"], "xen_host_cpus": hosts[0]["cpus"],
                 "xen_host_dom0_memory": 1024, "guests_default_disks": [{"name": "root", "size": "256M"}],
                 # Containers are no dom0: the role writes configs, disks and links; it starts nothing.
                 "guests_start": False}
    if mode == "containers":
        host_vars.update({"ansible_connection": "containers.podman.podman",
                          "guests_config_dir": root + "/domains", "guests_autostart_dir": root + "/auto",
                          "guests_image_dir": root + "/images"})
    else:
        host_vars.update({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                          "guests_config_dir": root + "/{{ inventory_hostname }}/domains",
                          "guests_autostart_dir": root + "/{{ inventory_hostname }}/auto",
                          "guests_image_dir": root + "/{{ inventory_hostname }}/images"})
    data = {"all": {"children": {
        "molecule": {"children": {"xen_hosts": {}},
                     "vars": {"molecule_network": NETWORK[0], "molecule_network_subnet": NETWORK[1]}},
        "xen_hosts": {"hosts": {h: {} for h in HOSTS}, "vars": host_vars},
        "xen_guests": {"hosts": inventory},
    }}}
    path.write_text(json.dumps(data, indent=1))  # JSON is YAML


def env():
    e = dict(os.environ)
    e["PATH"] = "%s:%s" % (VENV_BIN, e.get("PATH", ""))
    e["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    e["CONTAINERS_CONF"] = str(REPO / "scripts" / "containers.conf")
    e["MOLECULE_BASE_IMAGE"] = BASE_IMAGE
    e["ANSIBLE_NOCOLOR"] = "1"
    return e


def containers_available():
    if not shutil.which("podman"):
        return False, "podman is not installed"
    if not (REPO / "molecule" / "shared" / "create.yml").exists():
        return False, "molecule/shared/create.yml is missing"
    rc = subprocess.run(["podman", "image", "exists", BASE_IMAGE], env=env()).returncode
    if rc != 0:
        return False, "base image %s is not built (scripts/build-base-image.sh)" % BASE_IMAGE
    return True, "podman and %s" % BASE_IMAGE


def playbook(inventory, book, extra_vars_file=None, json_out=False):
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(book)]
    if extra_vars_file:
        cmd += ["-e", "@%s" % extra_vars_file]
    e = env()
    if json_out:
        e["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        e["ANSIBLE_JSON_INDENT"] = "0"
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=e, cwd=str(REPO), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-3000:])
        raise SystemExit("ansible-playbook %s failed (rc %d)" % (book, proc.returncode))
    return wall, (json.loads(proc.stdout) if json_out else None)


def task_seconds(report, name):
    """The xl_configs task's duration (all hosts in parallel) and whether any host changed."""
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].split(" : ")[-1] == name:
                d = task["task"]["duration"]
                start = datetime.fromisoformat(d["start"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(d["end"].replace("Z", "+00:00"))
                changed = any(r.get("changed") for r in task["hosts"].values())
                return (end - start).total_seconds(), changed
    raise SystemExit("task %r not in the report" % name)


def bench_size(n, mode, runs, work, seed):
    guests, hosts, inventory = make_guests(n, seed)
    t0 = time.perf_counter()
    plan = engine.placement(guests, hosts, tolerate=1)
    plan_s = time.perf_counter() - t0
    if not plan["ok"]:
        raise SystemExit("the generated %d-guest cluster does not pass N-1: %s" % (n, plan["reasons"]))
    root = "/srv/bench-guests-%d" % n if mode == "containers" else str(work / ("local-%d" % n))
    inv = work / ("inventory-%d.yml" % n)
    write_inventory(inv, inventory, hosts, mode, root)
    extra = work / ("assignments-%d.json" % n)
    extra.write_text(json.dumps({"guests_assignments": plan["assignments"]}))
    book = work / "guests.yml"
    book.write_text(PLAYBOOK)

    first_wall, report = playbook(inv, book, extra, json_out=True)
    first_task, first_changed = task_seconds(report, XL_TASK)
    if not first_changed:
        raise SystemExit("%d guests: the first run changed nothing; is %s left over from an earlier run?" % (n, root))
    rerun_wall, rerun_task = [], []
    for _ in range(runs):
        wall, report = playbook(inv, book, extra, json_out=True)
        secs, changed = task_seconds(report, XL_TASK)
        if changed:
            raise SystemExit("%d guests: the re-run reported a change: not idempotent" % n)
        rerun_wall.append(wall)
        rerun_task.append(secs)
    hvm = sum(1 for g in guests if g["type"] == "hvm")
    return {"guests": n, "hvm": hvm, "hosts": len(hosts), "host_memory_mb": hosts[0]["memory_mb"],
            "plan_s": plan_s, "first_wall_s": first_wall, "first_task_s": first_task,
            "rerun_wall_s": rerun_wall, "rerun_task_s": rerun_task,
            "rerun_wall_median_s": statistics.median(rerun_wall),
            "rerun_task_median_s": statistics.median(rerun_task)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 300])
    ap.add_argument("--runs", type=int, default=3, help="idempotent re-runs per size (median reported)")
    ap.add_argument("--mode", choices=("auto", "containers", "local"), default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the containers / directories afterwards")
    args = ap.parse_args()

    mode, why = args.mode, ""
    if mode in ("auto", "containers"):
        ok, why = containers_available()
        if not ok and mode == "containers":
            raise SystemExit("containers requested, but %s" % why)
        mode = "containers" if ok else "local"
    target = ("3 Debian 12 systemd containers (podman, connection containers.podman.podman; %s)" % why
              if mode == "containers" else
              "3 local directories (connection local; no containers%s)" % (": " + why if why else ""))
    print("bench_guests: roles/guests on %s" % target)
    print("python %s, %s, %d CPUs, load %.2f" % (platform.python_version(), platform.machine(), os.cpu_count(),
                                                 os.getloadavg()[0]))

    work = Path(tempfile.mkdtemp(prefix="bench-guests-"))
    results = []
    inv0 = work / "inventory-hosts.yml"
    write_inventory(inv0, {}, [{"memory_mb": 1, "cpus": 1}], mode, "/unused")
    try:
        if mode == "containers":
            t0 = time.perf_counter()
            playbook(inv0, REPO / "molecule" / "shared" / "create.yml")
            print("containers started in %.1f s" % (time.perf_counter() - t0))
        for n in args.sizes:
            res = bench_size(n, mode, args.runs, work, args.seed)
            results.append(res)
            print("  %4d guests (%d HVM): first run %.2f s (xl_configs task %.2f s); re-run %.2f s "
                  "(xl_configs task %.2f s), median of %d" % (
                      n, res["hvm"], res["first_wall_s"], res["first_task_s"], res["rerun_wall_median_s"],
                      res["rerun_task_median_s"], len(res["rerun_wall_s"])))
    finally:
        if mode == "containers" and not args.keep:
            playbook(inv0, REPO / "molecule" / "shared" / "destroy.yml")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("%-7s %-6s %-15s %-15s %-16s %-16s %-8s" % ("guests", "hosts", "first run (s)", "re-run (s)",
                                                      "xl_configs 1st", "xl_configs re-run", "plan (s)"))
    for r in results:
        print("%-7d %-6d %-15.2f %-15.2f %-16.2f %-16.2f %-8.3f" % (
            r["guests"], r["hosts"], r["first_wall_s"], r["rerun_wall_median_s"], r["first_task_s"],
            r["rerun_task_median_s"], r["plan_s"]))
    print("(wall seconds of the whole ansible-playbook run with only the role, 3 hosts in parallel; the re-runs "
          "reported no change. 'plan' is engine.placement + N-1 proof, done before and passed in.)")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    out = OUTPUT / "bench_guests.json"
    out.write_text(json.dumps({"mode": mode, "target": target, "results": results}, indent=2))
    print("written: %s" % out.relative_to(REPO))


if __name__ == "__main__":
    main()
