"""Issue 14's closing numbers, apart from model size (benchmarks/large_models.py).

``python -m benchmarks.integrity [--cells N]`` prints Markdown:
- the writer's cost with the integrity measures (checksummed journal, moment slots, flush and fsync
  at every commit) against the simulation, on the insulin model at scale 0.01
  (benchmarks.batch.writer_overhead), and the time spent in fsync at the default block size and at
  blocks of 32 cells (``fsync_share``);
- Dask throughput against the number of workers (1, 2, 4) of a LocalCluster, same run, same bits;
- a many-condition sweep: seconds and bytes per condition;
- CPU time of a 2-thread run while another process keeps one core busy, with numba's OpenMP threads
  waiting passively (stochins' default) or spinning (OMP_WAIT_POLICY=active).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = """model: sedaghat2002
model_parameters: {{scale: 0.01}}
cells: {cells}
seed: 3
method: ssa
time: {{start: 0, end: 30, samples: 31}}
inputs: {{insulin: 100}}
record: [IR_ins2_p, PIP3, Akt_active, GLUT4_surface]
block_size: {block}
threads: 1
"""


def fsync_share(cells: int) -> list[dict]:
    """Seconds in ``os.fsync`` when the blocks of one simulation are written at the run's default block
    size and at 32 cells per block, against the simulation's time (the writer commits each block)."""
    import numpy as np

    import stochins
    from stochins.io import hdf5
    from stochins.io.hdf5 import ConditionSpec, TrajectoryWriter
    from stochins.runner import prepare

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run.yaml"
        run.write_text(RUN.format(cells=cells, block=0).replace("block_size: 0\n", ""), encoding="utf-8")
        kw = dict(t_end=30, samples=31, seed=3, threads=1, method="ssa", inputs={"insulin": 100},
                  model_parameters={"scale": 0.01},
                  record=["IR_ins2_p", "PIP3", "Akt_active", "GLUT4_surface"])
        stochins.simulate("sedaghat2002", **{**kw, "cells": 2})
        w0, c0 = time.perf_counter(), time.process_time()
        res = stochins.simulate("sedaghat2002", cells=cells, **kw)
        simulate_s, simulate_cpu = time.perf_counter() - w0, time.process_time() - c0
        fsync, spent = os.fsync, []

        def timed(fd):
            t = time.perf_counter()
            fsync(fd)
            spent.append(time.perf_counter() - t)

        for block in (prepare(run).block_size(), 32):
            spec = ConditionSpec("default", 0, {}, cells, res.time, list(res.species), [], np.int32, cells, block)
            spent.clear()
            hdf5.os.fsync = timed
            try:
                t0 = time.perf_counter()
                w = TrajectoryWriter(Path(tmp) / f"b{block}.h5", attrs={}, conditions=[spec])
                for first in range(0, cells, block):
                    n = min(block, cells - first)
                    w.append("default", first, res.trajectories[first:first + n], np.zeros((n, 0)))
                w.finish()
                total = time.perf_counter() - t0
            finally:
                hdf5.os.fsync = fsync
            rows.append({"block": block, "blocks": -(-cells // block), "fsyncs": len(spent), "fsync_s": sum(spent),
                         "writer_s": total, "simulate_s": simulate_s, "simulate_cpu_s": simulate_cpu,
                         "fsync_pct": 100 * sum(spent) / simulate_s, "writer_pct": 100 * total / simulate_s})
    return rows


def dask_throughput(cells: int, workers=(1, 2, 4)) -> list[dict]:
    import numpy as np
    from distributed import Client, LocalCluster

    import stochins

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run.yaml"
        run.write_text(RUN.format(cells=cells, block=max(1, cells // 16)), encoding="utf-8")
        ref = stochins.run(run, output=Path(tmp) / "local.h5", progress=False)
        for n in workers:
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                client.run(lambda: __import__("stochins").load_model("sedaghat2002"))  # import on every worker
                stochins.run(run, output=Path(tmp) / f"warm{n}.h5", progress=False, cells=2,
                             scheduler=client.scheduler.address)  # compile/load the kernels on the workers
                t0 = time.perf_counter()
                out = stochins.run(run, output=Path(tmp) / f"dask{n}.h5", progress=False,
                                   scheduler=client.scheduler.address)
                wall = time.perf_counter() - t0
            same = np.array_equal(stochins.open_results(ref)["default"].trajectories,
                                  stochins.open_results(out)["default"].trajectories)
            rows.append({"workers": n, "wall_s": wall, "cells_per_s": cells / wall, "identical": same})
    return rows


def sweep(conditions: int) -> dict:
    import stochins

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "m.yaml").write_text('name: bd\nspecies: {X: 10}\nparameters: {k: 1.0}\nreactions:\n'
                                          '  b: {equation: "0 -> X", rate: k}\n  d: {equation: "X -> 0", rate: 0.1}\n',
                                          encoding="utf-8")
        values = ", ".join(f"{1.0 + i * 1e-3:.4f}" for i in range(conditions))
        run = Path(tmp) / "sweep.yaml"
        run.write_text(f"model: m.yaml\ncells: 1\nseed: 1\ntime: {{end: 1, samples: 2}}\n"
                       f"sweep: {{model_parameters.k: [{values}]}}\nthreads: 1\n", encoding="utf-8")
        t0, c0 = time.perf_counter(), time.process_time()
        out = stochins.run(run, output=Path(tmp) / "sweep.h5", progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = out.stat().st_size
    return {"conditions": conditions, "wall_s": wall, "cpu_s": cpu, "bytes": size,
            "bytes_per_condition": size / conditions}


_BUSY = "import time\nt = time.time()\nwhile time.time() - t < {seconds}: pass\n"


def threads_on_a_busy_machine(cells: int, method: str = "ssa") -> list[dict]:
    """CPU and wall time of a 2-thread simulate while one core is taken by a busy loop (the ssa block
    kernel runs on plain threads, tau-leaping's on numba's OpenMP ``prange``)."""
    code = ("import time, stochins\n"
            "kw = dict(cells={cells}, t_end=30, samples=31, seed=3, threads=2, inputs={{'insulin': 100}},"
            " model_parameters={{'scale': 0.01}}, method={method!r})\n"
            "stochins.simulate('sedaghat2002', **{{**kw, 'cells': 2}})\n"
            "w, c = time.perf_counter(), time.process_time()\n"
            "stochins.simulate('sedaghat2002', **kw)\n"
            "print(time.perf_counter() - w, time.process_time() - c)\n").format(cells=cells, method=method)
    rows = []
    for policy in ("PASSIVE", "ACTIVE"):
        busy = subprocess.Popen([sys.executable, "-c", _BUSY.format(seconds=600)])
        try:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 env={**os.environ, "OMP_WAIT_POLICY": policy})
        finally:
            busy.kill()
        wall, cpu = map(float, out.stdout.split()[-2:])
        rows.append({"method": method, "OMP_WAIT_POLICY": policy, "wall_s": wall, "cpu_s": cpu})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=400)
    ap.add_argument("--conditions", default="2000", help="comma-separated sweep sizes")
    ap.add_argument("--skip", default="", help="comma-separated: writer,fsync,dask,sweep,threads")
    args = ap.parse_args(argv)
    skip = set(args.skip.split(","))
    if "writer" not in skip:
        from . import batch

        b = batch.writer_overhead(args.cells, lambda m: print(m, file=sys.stderr), t_end=30.0, samples=31)
        print(f"writer: {args.cells} cells, simulate {b['simulate_s']:.2f} s, run {b['run_s']:.2f} s "
              f"({b['overhead_pct']:+.1f} % wall; the two simulate calls differ by {b['simulate_spread_pct']:.1f} %); "
              f"writer alone {b['replay'].get('total_s', float('nan')):.3f} s = "
              f"{b['replay'].get('pct_of_simulate', float('nan')):.2f} % of the simulation", flush=True)
    if "fsync" not in skip:
        print("\n| cells per block | blocks | fsync calls | fsync (s) | writer (s) | simulate (s, CPU s) | fsync % "
              "| writer % |\n|---|---|---|---|---|---|---|---|")
        for r in fsync_share(args.cells):
            print(f"| {r['block']} | {r['blocks']} | {r['fsyncs']} | {r['fsync_s']:.3f} | {r['writer_s']:.2f} | "
                  f"{r['simulate_s']:.1f} ({r['simulate_cpu_s']:.1f}) | {r['fsync_pct']:.2f} | {r['writer_pct']:.2f} |",
                  flush=True)
    if "dask" not in skip:
        print("\n| Dask workers | wall (s) | cells/s | identical to local |\n|---|---|---|---|")
        for r in dask_throughput(args.cells):
            print(f"| {r['workers']} | {r['wall_s']:.1f} | {r['cells_per_s']:.1f} | {r['identical']} |", flush=True)
    if "sweep" not in skip:
        for n in (int(x) for x in args.conditions.split(",")):
            s = sweep(n)
            print(f"\nsweep of {s['conditions']:,} one-cell conditions: {s['wall_s']:.0f} s ({s['cpu_s']:.0f} s CPU), "
                  f"{s['bytes'] / 1e6:.1f} MB ({s['bytes_per_condition'] / 1e3:.1f} kB per condition)", flush=True)
    if "threads" not in skip:
        print("\n| 2 threads, one core busy | wall (s) | CPU (s) |\n|---|---|---|")
        for method, cells in (("ssa", args.cells), ("tau", 20 * args.cells)):
            for r in threads_on_a_busy_machine(cells, method):
                print(f"| {method}, {cells} cells, OMP_WAIT_POLICY={r['OMP_WAIT_POLICY']} | {r['wall_s']:.1f} | "
                      f"{r['cpu_s']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
