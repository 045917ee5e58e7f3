"""Full-size runs of real BioModels files, timed: ``python -m benchmarks.biomodels [--cells N] [--t-end T]``.

Smith 2013 (BIOMD0000000474: 109 state species, 367 reactions, 29 assignment rules; imported with
``ignore_events``, amounts as counts) and Kubota 2012 (MODEL1204060000, substance_scale 100), each with the
exact SSA and tau-leaping on one thread: import, first-run (numba compile) and per-cell times.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import stochins

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "sbml"
MODELS = {"Smith 2013": ("BIOMD0000000474_Smith2013_InsulinOxidativeStress.xml", {"ignore_events": True}, 60.0),
          "Kubota 2012": ("MODEL1204060000_Kubota2012.xml", {"substance_scale": 100}, 60.0)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=20)
    p.add_argument("--t-end", type=float, help="time span in the model's unit (default: 60)")
    args = p.parse_args(argv)
    for label, (file, options, t_end) in MODELS.items():
        t0 = time.perf_counter()
        model = stochins.load_model(DATA / file, sbml=options)
        print(f"{label}: {len(model.species)} species, {len(model.reactions)} reactions, "
              f"import {time.perf_counter() - t0:.1f} s", flush=True)
        t_end = args.t_end or t_end
        for method in ("ssa", "tau"):
            t0 = time.perf_counter()
            stochins.simulate(model, cells=1, t_end=t_end, samples=2, seed=1, method=method, threads=1)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = stochins.simulate(model, cells=args.cells, t_end=t_end, samples=61, seed=2, method=method,
                                    threads=1)
            per = (time.perf_counter() - t0) / args.cells
            print(f"  {method}: first run (compile + 1 cell) {first:.1f} s; {per:.3g} s/cell over "
                  f"{t_end:g} {model.network.time_unit}, {res.events.mean():.3g} events/cell", flush=True)


if __name__ == "__main__":
    main()
