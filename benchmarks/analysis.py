"""Single-cell analyses on 10^6 cells: time and peak memory of capacity, noise decomposition and the report.

``python -m benchmarks.analysis [--cells N] [--out DIR]`` writes two synthetic files through the real
writer (no simulation): a dose sweep of 10 doses x N/10 cells and one condition of N sister cells
(pairs sharing a lognormal rate), 13 times x 4 species of int32 counts. Each analysis then runs in a
fresh subprocess that prints one JSON line: wall time, tracemalloc peak (numpy and Python allocations)
and the peak RSS after import (VmHWM, reset after importing). Results: benchmarks/results/analysis.md
and analysis.json.
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

from . import REPO, RESULTS
from .probes import _peak_bytes, _reset_peak, _rss_bytes

TIMES = 13
SPECIES = ["R", "S", "A", "G"]
DOSES = [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]


def _block(c: int, first: int, n: int, sisters: bool):
    """Counts with a Hill dose-response (EC50 1), extrinsic lognormal rate per pair, Poisson noise."""
    import numpy as np

    rng = np.random.default_rng([c, first])
    k = np.repeat(rng.lognormal(0.0, 0.3, (n + 1) // 2), 2)[:n] if sisters else rng.lognormal(0.0, 0.3, n)
    t = np.linspace(0, 60, TIMES)
    dose = DOSES[c] if not sisters else 10.0
    level = 20 + 400 * dose / (dose + 1.0) * (1 - np.exp(-t / 10))
    mean = k[:, None, None] * level[None, :, None] * np.array([1.0, 0.5, 2.0, 0.25])[None, None, :]
    return rng.poisson(mean).astype(np.int32), k[:, None]


def write(directory: Path, cells: int) -> dict:
    import numpy as np

    from stochins.io.hdf5 import ConditionSpec, TrajectoryWriter

    t = np.linspace(0, 60, TIMES)
    out = {}
    for name, conditions, per, sisters in (("sweep", DOSES, cells // len(DOSES), False),
                                           ("sisters", [10.0], cells, True)):
        path = directory / f"{name}.h5"
        specs = [ConditionSpec(f"dose={d:g}", i, {"inputs.insulin.dose": d}, per, t, SPECIES, ["k"], np.int32, per)
                 for i, d in enumerate(conditions)]
        attrs = {"model_name": "synthetic", "method": "ssa", "seed": "0", "cells": per, "run_config": "synthetic",
                 "model": "", "model_hash": "", "sisters": 2 if sisters else 1}
        t0 = time.perf_counter()
        w = TrajectoryWriter(path, attrs=attrs, conditions=specs)
        for c, spec in enumerate(specs):
            for first in range(0, per, 50_000):
                n = min(50_000, per - first)
                traj, drawn = _block(c, first, n, sisters)
                w.append(spec.name, first, traj, drawn)
        w.finish()
        out[name] = {"path": str(path), "seconds": time.perf_counter() - t0, "bytes": path.stat().st_size,
                     "raw_bytes": cells * TIMES * len(SPECIES) * 4}
    return out


JOBS = {
    "capacity (A at 60 min, 200 bootstraps)": "channel_capacity(SWEEP, 'A', 60.0)",
    "capacity, vector (A at 30 and 60 min)": "channel_capacity(SWEEP, 'A', [30.0, 60.0])",
    "capacity over time (A, 12 times)": "capacity_over_time(SWEEP, 'A')",
    "noise decomposition (4 species x 13 times)": "noise_decomposition(SISTERS)",
    "report of the sweep": "write_report(SWEEP, OUT / 'sweep.html')",
    "report of the sister cells": "write_report(SISTERS, OUT / 'sisters.html')",
}


def _child(spec: dict) -> dict:
    import tracemalloc

    from stochins import analysis  # noqa: F401  (imports before the peak is reset)
    from stochins.analysis import capacity_over_time, channel_capacity, noise_decomposition  # noqa: F401
    from stochins.analysis.report import write_report  # noqa: F401

    env = {"SWEEP": spec["sweep"], "SISTERS": spec["sisters"], "OUT": Path(spec["out"]), **locals()}
    base = _rss_bytes()
    _reset_peak()
    tracemalloc.start()
    t0 = time.perf_counter()
    eval(spec["job"], globals(), env)
    seconds = time.perf_counter() - t0
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": seconds, "traced_peak": traced, "rss_peak_over_import": _peak_bytes() - base}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analysis", description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as tmp:
        files = write(Path(tmp), args.cells)
        rows = []
        for label, job in JOBS.items():
            spec = {"job": job, "sweep": files["sweep"]["path"], "sisters": files["sisters"]["path"], "out": tmp}
            proc = subprocess.run([sys.executable, "-m", "benchmarks.analysis", "--child", json.dumps(spec)], cwd=REPO,
                                  env=env, capture_output=True, text=True, check=True)
            rows.append({"analysis": label, **json.loads(proc.stdout.strip().splitlines()[-1])})
            print(f"{label}: {rows[-1]}", file=sys.stderr, flush=True)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "analysis.json").write_text(json.dumps({"cells": args.cells, "files": files, "rows": rows,
                                                        "loadavg": load}, indent=1), encoding="utf-8")
    mib = 2**20
    lines = [f"Single-cell analyses on {args.cells:,} cells ({TIMES} times x {len(SPECIES)} species, int32; "
             f"sweep: {len(DOSES)} doses; uncompressed {files['sweep']['raw_bytes'] / mib:.0f} MiB per file, "
             f"{files['sweep']['bytes'] / mib:.0f} MiB on disk); load average at the end {load}", "",
             "| analysis | time (s) | tracemalloc peak (MiB) | peak RSS over import (MiB) |", "|---|---|---|---|"]
    lines += [f"| {r['analysis']} | {r['seconds']:.1f} | {r['traced_peak'] / mib:.1f} | "
              f"{r['rss_peak_over_import'] / mib:.0f} |" for r in rows]
    (args.out / "analysis.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(json.loads(sys.argv[2]))))
    else:
        sys.exit(main())
