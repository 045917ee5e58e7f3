"""Where composition-rejection (``cr``) beats the generated SSA: events/s and first-call (compile) time
on generated closed mass-action networks of growing size (benchmarks/large_network.py).

``python -m benchmarks.large_crossover [--sizes 30,100,320,1000] [--ssa-up-to 100] [--budget S]``. Each
(method, size) runs in a fresh process: the first call (a cold numba compile of the model's SSA, or for
``cr`` a load of its model-independent kernels from numba's cache) is timed, then one thread
simulates for about ``--budget`` seconds. CPU time is reported beside wall time (the machine is
shared: compare CPU seconds); the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def network(reactions: int) -> str:
    from .large_network import large_network_yaml

    pairs = reactions // 2
    return large_network_yaml(per_mass=max(4, (3 * pairs) // 8), pairs=pairs)


def row(method: str, reactions: int, budget: float) -> dict:
    import stochins

    path = Path(tempfile.mkdtemp()) / f"net_{reactions}.yaml"
    path.write_text(network(reactions), encoding="utf-8")
    w, c = time.perf_counter(), cpu()
    model = stochins.load_model(path)
    load = (time.perf_counter() - w, cpu() - c)
    kw = dict(t_end=10.0, samples=2, threads=1, method=method)
    w, c = time.perf_counter(), cpu()
    stochins.simulate(model, cells=1, seed=1, **{**kw, "t_end": 0.001})
    first = (time.perf_counter() - w, cpu() - c)
    n = 1
    while True:
        w, c = time.perf_counter(), cpu()
        res = stochins.simulate(model, cells=n, seed=2, **kw)
        wall, used = time.perf_counter() - w, cpu() - c
        if wall > budget / 4 or n >= 1 << 16:
            break
        n *= 4
    return {"method": method, "reactions": len(model.reactions), "species": len(model.species),
            "load_wall_s": load[0], "load_cpu_s": load[1], "first_wall_s": first[0], "first_cpu_s": first[1],
            "cells": n, "events_per_cell": float(res.events.mean()), "events_per_s": float(res.events.sum()) / wall,
            "events_per_cpu_s": float(res.events.sum()) / used, "loadavg": os.getloadavg()[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="30,100,320,1000")
    ap.add_argument("--methods", default="ssa,cr")
    ap.add_argument("--ssa-up-to", type=int, default=100, help="compile the generated SSA up to this many reactions")
    ap.add_argument("--budget", type=float, default=8.0)
    ap.add_argument("--row", nargs=2, help=argparse.SUPPRESS)  # child process: METHOD REACTIONS
    args = ap.parse_args(argv)
    if args.row:
        print(json.dumps(row(args.row[0], int(args.row[1]), args.budget)))
        return 0
    print("| method | reactions | species | load model s (CPU) | first call s (CPU) | events per cell | "
          "events/s | events per CPU-s | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in (int(s) for s in args.sizes.split(",")):
        for method in args.methods.split(","):
            if method != "cr" and m > args.ssa_up_to:
                continue
            proc = subprocess.run([sys.executable, "-m", "benchmarks.large_crossover", "--row", method, str(m),
                                   "--budget", str(args.budget)], cwd=REPO, capture_output=True, text=True)
            try:
                r = json.loads(proc.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                print(f"| {method} | {m} | failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]} |", flush=True)
                continue
            print(f"| {method} | {r['reactions']} | {r['species']} | {r['load_wall_s']:.1f} ({r['load_cpu_s']:.1f}) | "
                  f"{r['first_wall_s']:.1f} ({r['first_cpu_s']:.1f}) | {r['events_per_cell']:.3g} | "
                  f"{r['events_per_s']:.3g} | {r['events_per_cpu_s']:.3g} | {r['loadavg']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
