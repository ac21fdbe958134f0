#!/usr/bin/env python3
"""Certify the "big30" N-1 placement reference instance (benchmarks/anchors/big30.json).

NOTE: ortools is NOT a project dependency and must not be added to
requirements-dev.txt.  This script is run by hand, in a scratch virtualenv
outside the repository, only to (re)certify the fixture:

    /root/.pyenv/versions/3.12.1/bin/python3 -m venv /tmp/ortools-venv
    /tmp/ortools-venv/bin/pip install ortools
    /tmp/ortools-venv/bin/python benchmarks/anchors/certify_big30.py \
        --seed SEED --write-json benchmarks/anchors/big30.json

The project's tests only read big30.json; they never import ortools.

Model (exact semantics certified)
---------------------------------
* H identical hosts, usable memory C = 16384 - 512 = 15872 MiB each
  (16 GiB host, 512 MiB dom0, no other overhead).  CPU is ignored.
* 30 guests, whole GiB sizes in 2..8 GiB, total 142 GiB (145408 MiB), drawn
  from random.Random(seed) by rejection sampling (see generate_guests).
* A placement assigns every guest to one host with per-host load <= C.
* N-1, real-HA semantics: for EVERY host f, the guests on f can be restarted
  on the other hosts (every other guest stays put) so that for each surviving
  host h: load(h) + restarted onto h <= C.
* optimum = the minimal H for which such a placement exists.

CP-SAT model: booleans x[g,h] (g placed on h) and z[g,h,f] (g restarts on h
when f fails; sum_h z[g,h,f] == x[g,f], so it is only non-zero for g on f),
capacities for the placement and for every failure f, and symmetry breaking
by non-increasing host load (valid: hosts are identical and the N-1
condition is invariant under host permutation).

The witness placement at H=optimum is re-verified in plain Python, without
ortools: capacities, and for each failed host f a complete (exhaustive,
backtracking) search for a restart assignment.  H=optimum-1 is also
cross-checked in plain Python by exact bin packing (see below).

Why optimum == BP* + 1 here: with identical hosts and a single resource, the
survivors of any failure must hold every guest, so H - 1 >= BP* (bin-packing
optimum at capacity C); and BP* packed hosts plus one empty host survive any
single failure (the empty host takes the whole failed host).  So the
"other guests stay put" semantics add nothing on this model, and
optimum > LB2 happens only when Martello-Toth L2 is not tight.

Seed choice: uniform draws almost always give optimum == LB2 == 11 (0 of the
first 300 seeds differed).  Exhaustive enumeration of the 30,498 size
multisets shows that only ~1e-6 of conditioned draws need 11 bins.  Seeds
were scanned upward from 0 with an exact bin-packing filter;
seed 919073 is the smallest with LB1 == LB2 == 11 and optimum 12.  Its sizes
are mostly even (6x2, 13x4, 3x5, 1x7, 7x8 GiB), so most hosts cannot be
filled to the usable 15 GiB, which is where the extra host comes from.
"""

import argparse
import functools
import json
import random
import sys
import time

HOST_MEMORY_MB = 16384
DOM0_MEMORY_MB = 512
CAPACITY_MB = HOST_MEMORY_MB - DOM0_MEMORY_MB  # 15872
N_GUESTS = 30
MIN_GIB, MAX_GIB = 2, 8
TOTAL_GIB = 142
GIB = 1024


# ---------------------------------------------------------------- instance --
def generate_guests(seed):
    """30 sizes (MiB), whole GiB in 2..8, summing to 142 GiB.

    Rejection sampling: draw 30 independent uniform sizes from 2..8 GiB with
    random.Random(seed).choices until the total is exactly 142 GiB.
    Returned in draw order (guest index = position in the list).
    """
    rng = random.Random(seed)
    values = range(MIN_GIB, MAX_GIB + 1)
    while True:
        gib = rng.choices(values, k=N_GUESTS)
        if sum(gib) == TOTAL_GIB:
            return [s * GIB for s in gib]


# ------------------------------------------------------------------ bounds --
def lb1(sizes, cap=CAPACITY_MB):
    """Fluid bound: ceil(total / C) + 1."""
    return -(-sum(sizes) // cap) + 1


def martello_toth_l2(sizes, cap=CAPACITY_MB):
    """Martello-Toth L2 lower bound on the number of bins of capacity cap."""
    best = -(-sum(sizes) // cap)
    alphas = {0} | {w for w in sizes if 2 * w <= cap}
    for a in alphas:
        j1 = [w for w in sizes if w > cap - a]
        j2 = [w for w in sizes if cap - a >= w and 2 * w > cap]
        j3 = [w for w in sizes if 2 * w <= cap and w >= a]
        free_j2 = len(j2) * cap - sum(j2)
        extra = max(0, -(-(sum(j3) - free_j2) // cap))
        best = max(best, len(j1) + len(j2) + extra)
    return best


def lb2(sizes, cap=CAPACITY_MB):
    """Bins needed by all guests after one failure (MT L2), plus one."""
    return martello_toth_l2(sizes, cap) + 1


# ----------------------------------------------------------------- CP-SAT --
def solve(sizes, n_hosts, time_limit, workers, seed=0, log=False):
    """Return (status_name, seconds, placement or None, ortools version)."""
    import ortools
    from ortools.sat.python import cp_model

    G, H, C = len(sizes), n_hosts, CAPACITY_MB
    m = cp_model.CpModel()
    x = {(g, h): m.NewBoolVar(f"x_{g}_{h}") for g in range(G) for h in range(H)}
    z = {(g, h, f): m.NewBoolVar(f"z_{g}_{h}_{f}") for g in range(G) for f in range(H) for h in range(H) if h != f}
    for g in range(G):
        m.AddExactlyOne(x[g, h] for h in range(H))
    load = [m.NewIntVar(0, C, f"load_{h}") for h in range(H)]
    for h in range(H):
        m.Add(load[h] == sum(sizes[g] * x[g, h] for g in range(G)))
    for f in range(H):
        for g in range(G):
            # g restarts on exactly one survivor iff it was on f
            m.Add(sum(z[g, h, f] for h in range(H) if h != f) == x[g, f])
        for h in range(H):
            if h != f:
                m.Add(load[h] + sum(sizes[g] * z[g, h, f] for g in range(G)) <= C)
    for h in range(H - 1):  # symmetry breaking
        m.Add(load[h] >= load[h + 1])

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.log_search_progress = log
    t0 = time.perf_counter()
    status = solver.Solve(m)
    dt = time.perf_counter() - t0
    name = solver.StatusName(status)
    placement = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        placement = [[g for g in range(G) if solver.Value(x[g, h])] for h in range(H)]
    return name, dt, placement, ortools.__version__


# ------------------------------------------------- independent verification --
def restart_assignment(items, residual):
    """Exhaustive backtracking: map each item size to a host index with
    enough residual.  Returns list of host indices or None (proven none)."""
    order = sorted(range(len(items)), key=lambda i: -items[i])
    res = list(residual)
    out = [None] * len(items)

    def rec(k):
        if k == len(order):
            return True
        i = order[k]
        tried = set()
        for j in range(len(res)):
            if res[j] >= items[i] and res[j] not in tried:  # equal residuals are interchangeable
                tried.add(res[j])
                res[j] -= items[i]
                out[i] = j
                if rec(k + 1):
                    return True
                res[j] += items[i]
        return False

    return out if rec(0) else None


def verify(sizes, placement, cap=CAPACITY_MB):
    """Plain-Python check of a placement; returns (ok, messages)."""
    msgs = []
    ok = True
    flat = sorted(g for host in placement for g in host)
    if flat != list(range(len(sizes))):
        return False, ["placement does not assign every guest exactly once"]
    loads = [sum(sizes[g] for g in host) for host in placement]
    for h, L in enumerate(loads):
        if L > cap:
            ok = False
            msgs.append(f"host {h}: load {L} > {cap}")
    for f, host in enumerate(placement):
        survivors = [h for h in range(len(placement)) if h != f]
        residual = [cap - loads[h] for h in survivors]
        items = [sizes[g] for g in host]
        assign = restart_assignment(items, residual)
        if assign is None:
            ok = False
            msgs.append(f"fail host {f}: no restart assignment for {items}")
        else:
            plan = {host[i]: survivors[j] for i, j in enumerate(assign)}
            # re-check the plan itself
            extra = [0] * len(placement)
            for g, h in plan.items():
                extra[h] += sizes[g]
            assert all(loads[h] + extra[h] <= cap for h in survivors)
            msgs.append(f"fail host {f}: restart {plan}")
    return ok, msgs


def bins_feasible(sizes, n_bins, cap=CAPACITY_MB):
    """Exact plain-Python bin packing decision: do `sizes` fit into n_bins
    bins of capacity cap?  Memoised search over remaining count vectors; the
    bin holding the largest remaining item is filled first with every
    possible combination of the remaining items."""
    vals = sorted(set(sizes), reverse=True)
    start = tuple(sizes.count(v) for v in vals)

    @functools.cache
    def f(counts, k):
        if not any(counts):
            return True
        if k == 0 or sum(n * v for n, v in zip(counts, vals, strict=True)) > k * cap:
            return False
        i0 = next(i for i, n in enumerate(counts) if n)

        def fill(i, room, cur):
            if i == len(vals):
                yield tuple(cur)
                return
            for take in range(min(cur[i], room // vals[i]), -1, -1):
                nxt = list(cur)
                nxt[i] -= take
                yield from fill(i + 1, room - take * vals[i], nxt)

        first = list(counts)
        first[i0] -= 1
        return any(f(rest, k - 1) for rest in fill(i0, cap - vals[i0], first))

    return f(start, n_bins)


# -------------------------------------------------------------------- main --
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=600.0, help="CP-SAT time limit per H, seconds")
    ap.add_argument("--max-hosts", type=int, default=20)
    ap.add_argument("--write-json", metavar="PATH")
    ap.add_argument("--log", action="store_true", help="CP-SAT search log")
    args = ap.parse_args(argv)

    sizes = generate_guests(args.seed)
    b1, b2 = lb1(sizes), lb2(sizes)
    print(f"seed={args.seed}")
    print(f"guests_gib={[s // GIB for s in sizes]}")
    print(f"total_mb={sum(sizes)} capacity_mb={CAPACITY_MB}")
    print(f"LB1={b1} LB2={b2}")
    # Note: with identical hosts and one resource, optimum == BP* + 1, where
    # BP* is the bin-packing optimum with capacity C: survivors must hold all
    # guests (>=), and BP* packed hosts plus one empty host absorb any single
    # failure (<=).  This is checked below in plain Python, independently of
    # CP-SAT.

    infeasible = []  # (H, seconds), CP-SAT proven
    opt = witness = None
    version = None
    for H in range(b2, args.max_hosts + 1):
        status, dt, placement, version = solve(sizes, H, args.time_limit, args.workers, log=args.log)
        print(f"H={H}: {status} in {dt:.2f} s (CP-SAT {version}, {args.workers} workers)", flush=True)
        if status == "INFEASIBLE":
            infeasible.append((H, dt))
            continue
        if status in ("FEASIBLE", "OPTIMAL"):
            opt, witness, feas_dt = H, placement, dt
            break
        print(f"H={H}: not decided ({status}); no certificate", file=sys.stderr)
        return 2
    if opt is None:
        print("no feasible H found", file=sys.stderr)
        return 2

    ok, msgs = verify(sizes, witness)
    loads = [sum(sizes[g] for g in host) for host in witness]
    print(f"optimum={opt}; witness loads (GiB)={[L // GIB for L in loads]}")
    for line in msgs:
        print("  " + line)
    print(f"independent verification: {'OK' if ok else 'FAILED'}")
    if not ok:
        return 1
    t0 = time.perf_counter()
    bp_lo = not bins_feasible(sizes, opt - 2)
    bp_hi = bins_feasible(sizes, opt - 1)
    bp_dt = time.perf_counter() - t0
    print(
        f"plain-Python bin packing (C={CAPACITY_MB}): fits in {opt - 2} hosts: "
        f"{not bp_lo}; fits in {opt - 1} hosts: {bp_hi} ({bp_dt:.2f} s)"
    )
    print(f"=> plain-Python cross-check of H={opt - 1} infeasible: {'OK' if bp_lo else 'FAILED'}")
    if not (bp_lo and bp_hi):
        return 1

    if args.write_json:
        proof_H, proof_dt = infeasible[-1] if infeasible else (None, None)
        doc = {
            "description": (
                "N-1 placement reference instance 'big30': 30 guests of whole "
                "GiB in 2..8 GiB (142 GiB total) on identical 16 GiB hosts "
                "with 512 MiB dom0 (usable 15872 MiB), CPU ignored. N-1 with "
                "real-HA semantics: for every host f, the guests on f must be "
                "restartable on the other hosts (others stay put) without "
                "exceeding usable memory. optimum_hosts is the minimal H; "
                "H=infeasible_hosts was proven infeasible by CP-SAT. "
                "Generated and certified by certify_big30.py (ortools is not a "
                "project dependency)."
            ),
            "seed": args.seed,
            "host": {"memory_mb": HOST_MEMORY_MB, "dom0_memory_mb": DOM0_MEMORY_MB},
            "guests_mb": sizes,
            "lb1": b1,
            "lb2": b2,
            "optimum_hosts": opt,
            "infeasible_hosts": opt - 1,
            "proof": {
                "solver": f"OR-Tools CP-SAT {version}",
                "infeasible_status": "INFEASIBLE" if proof_H == opt - 1 else None,
                "seconds": round(proof_dt, 2) if proof_dt is not None else None,
                "workers": args.workers,
                "feasible_seconds": round(feas_dt, 2),
                "independent_check": (
                    f"plain-Python exact bin packing: the guests do not fit "
                    f"in {opt - 2} hosts of {CAPACITY_MB} MiB, so no N-1 "
                    f"placement exists on {opt - 1} hosts (the survivors of "
                    f"any failure must hold every guest)"
                ),
            },
            "witness_placement": witness,
        }
        with open(args.write_json, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        print(f"wrote {args.write_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
