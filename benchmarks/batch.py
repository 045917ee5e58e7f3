"""Batch runs (``stochins.run`` on a run file) and the HDF5 writer: its overhead over ``simulate``,
the output size, and the peak RSS of runs of 10^5-10^6 cells (a fresh subprocess per row).

Parent side: :func:`writer_overhead` and :func:`memory`; child side: ``python -m benchmarks.batch
memory <json>`` prints one JSON line. stochins is imported only inside the functions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import REPO
from .probes import _peak_bytes, _reset_peak, _rss_bytes
from .report import MiB, _f, _table

SEED = 20240611
MODEL = "sedaghat2002"
INPUTS = {"insulin": 100.0}
#: ~5 readouts along the pathway (receptor, IRS1, lipid, kinase, GLUT4)
RECORD = ["IR_ins2_p", "IRS1_pY", "PIP3", "Akt_active", "GLUT4_surface"]


def write_run_file(directory: Path, name: str, *, cells: int, scale: float, t_end: float, samples: int,
                   method: str, threads: int, output: Path) -> Path:
    """A run file with the run-file defaults for everything not given (output: gzip, trajectories all)."""
    import yaml

    cfg = {"model": MODEL, "model_parameters": {"scale": scale}, "cells": cells, "seed": SEED, "method": method,
           "threads": threads, "time": {"start": 0.0, "end": t_end, "samples": samples}, "inputs": dict(INPUTS),
           "record": list(RECORD), "output": {"path": str(output)}}
    path = Path(directory) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _file_info(path: Path) -> dict:
    """File size, the trajectories dataset's stored size and its filters."""
    import h5py

    with h5py.File(path, "r") as f:
        out = {"file_bytes": os.path.getsize(path), "datasets": {}}
        for name, g in f["conditions"].items():
            traj = g["trajectories"]
            out.update(trajectories_bytes=int(traj.id.get_storage_size()), shape=list(traj.shape),
                       chunks=list(traj.chunks or ()), compression=traj.compression,
                       compression_opts=traj.compression_opts, shuffle=bool(traj.shuffle),
                       complete=bool(f.attrs.get("complete")))
            for key, d in g.items():
                out["datasets"][key] = int(d.id.get_storage_size())
            break
    return out


def writer_overhead(cells: int, log, *, scale: float = 0.01, t_end: float = 60.0, samples: int = 61,
                    method: str = "ssa", threads: int = 2) -> dict:
    """stochins.run (run file -> HDF5) vs stochins.simulate on the same cells, in this process.

    Both are given the model by name (both load it: a cached compile), the same seed and threads; the
    kernels are loaded and the thread pool started before either is timed. The simulate Result's blocks
    are then replayed through the same TrajectoryWriter to time the writer alone (no simulation noise).
    """
    import numpy as np
    import stochins

    tmp = Path(tempfile.mkdtemp(prefix="stochins-bench-batch-"))
    out: dict = {"cells": cells, "scale": scale, "t_end": t_end, "samples": samples, "method": method,
                 "threads": threads, "record": list(RECORD), "inputs": dict(INPUTS), "model": MODEL}
    try:
        path = write_run_file(tmp, "overhead", cells=cells, scale=scale, t_end=t_end, samples=samples, method=method,
                              threads=threads, output=tmp / "overhead.h5")
        kw = dict(t_end=t_end, samples=samples, method=method, seed=SEED, threads=threads, inputs=dict(INPUTS),
                  record=list(RECORD), model_parameters={"scale": scale})
        t0 = time.perf_counter()
        stochins.run(path, output=tmp / "warm.h5", cells=2, progress=False)
        stochins.simulate(MODEL, cells=2, **kw)
        out["warmup_s"] = time.perf_counter() - t0

        # ABBA: simulate, run, run, simulate (the same seed: the same work each time), so a linear drift of
        # the machine's load cancels; wall and process CPU time (all threads) of each call
        res = result_path = None
        calls = []
        for i, kind in enumerate(("simulate", "run", "run", "simulate")):
            w0, c0 = time.perf_counter(), time.process_time()
            if kind == "simulate":
                r = stochins.simulate(MODEL, cells=cells, **kw)
            else:
                p = stochins.run(path, output=tmp / f"run{i}.h5", progress=False)
            calls.append({"call": kind, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0})
            if kind == "simulate" and res is None:
                res = r  # the first Result: checked against the file and replayed below
            elif kind == "run" and result_path is None:
                result_path = p
            r = None
        out["calls"] = calls
        for kind in ("simulate", "run"):
            out[f"{kind}_s"] = sum(c["wall_s"] for c in calls if c["call"] == kind) / 2
            out[f"{kind}_cpu_s"] = sum(c["cpu_s"] for c in calls if c["call"] == kind) / 2
        out["events_per_cell"] = float(res.events.mean())
        out["overhead_s"] = out["run_s"] - out["simulate_s"]
        out["overhead_pct"] = 100.0 * out["overhead_s"] / out["simulate_s"]
        out["overhead_cpu_pct"] = 100.0 * (out["run_cpu_s"] - out["simulate_cpu_s"]) / out["simulate_cpu_s"]
        sims = [c["wall_s"] for c in calls if c["call"] == "simulate"]
        out["simulate_spread_pct"] = 100.0 * abs(sims[0] - sims[1]) / min(sims)
        info = _file_info(result_path)
        out["file"] = info
        values = cells * samples * len(RECORD)
        out["bytes_per_value_file"] = info["file_bytes"] / values
        out["bytes_per_value_trajectories"] = info["trajectories_bytes"] / values
        import h5py

        with h5py.File(result_path, "r") as f:
            stored = f["conditions"]["default"]["trajectories"][...]
        out["identical_to_simulate"] = bool(np.array_equal(stored, res.trajectories))
        log(f"  batch writer: {cells} cells, simulate {out['simulate_s']:.2f} s, run {out['run_s']:.2f} s "
            f"({out['overhead_pct']:+.1f} % wall, {out['overhead_cpu_pct']:+.1f} % CPU; the two simulate calls differ "
            f"by {out['simulate_spread_pct']:.1f} %), {out['bytes_per_value_file']:.2f} B/value in the file "
            f"({out['bytes_per_value_trajectories']:.2f} in the trajectories), identical {out['identical_to_simulate']}")

        # the writer alone: the same blocks through the same writer, with the run's block size
        try:
            from stochins.io.hdf5 import ConditionSpec, TrajectoryWriter
            from stochins.runner import prepare

            block = prepare(path).block_size()
            spec = ConditionSpec("default", 0, {}, cells, res.time, list(res.species), [], np.int32, cells)
            t0 = time.perf_counter()
            w = TrajectoryWriter(tmp / "replay.h5", attrs={"replay": True}, conditions=[spec])
            t1 = time.perf_counter()
            for first in range(0, cells, block):
                n = min(block, cells - first)
                w.append("default", first, res.trajectories[first:first + n], np.zeros((n, 0)))
            t2 = time.perf_counter()
            w.finish()
            t3 = time.perf_counter()
            out["replay"] = {"block_size": block, "blocks": -(-cells // block), "create_s": t1 - t0,
                             "append_s": t2 - t1, "finish_s": t3 - t2, "total_s": t3 - t0,
                             "pct_of_simulate": 100.0 * (t3 - t0) / out["simulate_s"],
                             "us_per_cell": 1e6 * (t3 - t0) / cells}
            log(f"  batch writer alone (replay, block {block}): {t3 - t0:.3f} s "
                f"({out['replay']['pct_of_simulate']:.2f} % of simulate; finish/quantiles {t3 - t2:.3f} s)")
        except Exception as exc:  # noqa: BLE001 (internal API: may change)
            out["replay"] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------------- peak memory (child side)
def _child_memory(spec: dict) -> dict:
    t0 = time.perf_counter()
    import stochins

    tmp = Path(tempfile.mkdtemp(prefix="stochins-bench-batchmem-"))
    try:
        path = write_run_file(tmp, "memory", cells=spec["cells"], scale=spec["scale"], t_end=spec["t_end"],
                              samples=spec["samples"], method=spec["method"], threads=spec["threads"],
                              output=tmp / "memory.h5")
        stochins.run(path, output=tmp / "warm.h5", cells=2, progress=False)  # kernels, thread pool, h5py
        os.unlink(tmp / "warm.h5")
        startup = time.perf_counter() - t0
        peak_startup = _peak_bytes()
        reset = _reset_peak()
        base = _rss_bytes()
        seen = {"peak": 0, "t": None, "blocks": 0}

        def on_block(_msg: str) -> None:  # after each block is appended: the peak before finish()
            seen["peak"] = _peak_bytes()
            seen["t"] = time.perf_counter()
            seen["blocks"] += 1

        t0 = time.perf_counter()
        out_path = stochins.run(path, progress=False, log=on_block)
        t1 = time.perf_counter()
        peak = _peak_bytes()
        info = _file_info(out_path)
        values = spec["cells"] * spec["samples"] * len(RECORD)
        return {**spec, "wall_s": t1 - t0, "finish_s": t1 - seen["t"] if seen["t"] else None,
                "blocks": seen["blocks"], "startup_s": startup, "peak_startup_bytes": peak_startup,
                "peak_reset": reset, "rss_before_bytes": base, "peak_bytes": peak,
                "peak_increase_bytes": peak - base, "peak_before_finish_bytes": seen["peak"],
                "rss_after_bytes": _rss_bytes(), "file_bytes": info["file_bytes"],
                "trajectories_bytes": info["trajectories_bytes"], "bytes_per_value_file": info["file_bytes"] / values,
                "trajectories_raw_bytes": values * 4, "complete": info["complete"]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def memory(spec: dict, log, timeout: float = 1200) -> dict:
    """Peak RSS of one stochins.run in a fresh subprocess (VmHWM after a reset, as probes.py)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.batch", "memory", json.dumps(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"batch memory probe failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    out = json.loads(lines[-1])
    log(f"  batch memory {out['cells']:,} cells: {out['wall_s']:.1f} s (finish {out['finish_s'] or 0:.1f} s), "
        f"peak {out['peak_bytes'] / MiB:.0f} MiB (before finish {out['peak_before_finish_bytes'] / MiB:.0f}, "
        f"RSS before {out['rss_before_bytes'] / MiB:.0f}), file {out['file_bytes'] / MiB:.1f} MiB")
    return out


def benchmark(quick: bool, log) -> dict:
    """The section: writer overhead and output size, then peak memory per cell count."""
    out: dict = {}
    cells = 50 if quick else 1000
    log(f"batch runs: stochins.run vs stochins.simulate, {cells} cells, 2 calls each")
    try:
        out["overhead"] = writer_overhead(cells, log)
    except Exception as exc:  # noqa: BLE001
        out["overhead"] = {"error": f"{type(exc).__name__}: {exc}"}
        log(f"  FAILED {exc}")
    spec = {"scale": 0.001, "t_end": 1.0, "samples": 61, "method": "ssa", "threads": 2}
    out["memory_spec"] = {**spec, "record": list(RECORD), "model": MODEL, "inputs": dict(INPUTS)}
    out["memory"] = []
    for n in ((10_000, 100_000) if quick else (100_000, 1_000_000)):
        log(f"batch runs: peak memory, {n:,} cells (subprocess)")
        try:
            out["memory"].append(memory({**spec, "cells": n}, log))
        except Exception as exc:  # noqa: BLE001
            out["memory"].append({"cells": n, "error": f"{type(exc).__name__}: {exc}"})
            log(f"  FAILED {exc}")
    return out


# ---------------------------------------------------------------------- report
def markdown(b: dict) -> list[str]:
    L = ["## Batch runs: `stochins.run` and the HDF5 writer", ""]
    o = b.get("overhead", {})
    if "error" in o:
        L += [f"Writer overhead: FAILED: {o['error']}", ""]
    elif o:
        fi = o["file"]
        rp = o.get("replay", {})
        comp = f"{fi['compression']} {fi['compression_opts']}" + (" + shuffle" if fi.get("shuffle") else "")
        rows = [[f"{o['cells']:,}", o["simulate_s"], o["run_s"], f"{o['overhead_s']:+.2f}",
                 f"{o['overhead_pct']:+.1f} %", f"{o['overhead_cpu_pct']:+.1f} %", f"{o['simulate_spread_pct']:.1f} %",
                 "–" if "total_s" not in rp else f"{rp['total_s']:.3f} ({rp['pct_of_simulate']:.2f} %)",
                 "–" if "finish_s" not in rp else f"{rp['finish_s']:.3f}",
                 f"{fi['file_bytes']:,}", f"{o['bytes_per_value_file']:.2f}", f"{o['bytes_per_value_trajectories']:.2f}",
                 "yes" if o.get("identical_to_simulate") else "NO"]]
        L += _table(["cells", "simulate s", "run s", "run − simulate s", "overhead (% of simulate, wall)",
                     "overhead (% of simulate, CPU time)", "simulate vs simulate (noise)",
                     "writer alone s (% of simulate)", "of which finish s", "file bytes",
                     "bytes / (cell·sample·species), file", "same, trajectories dataset", "file = simulate"], rows)
        L += ["", f"{o['model']}, scale {o['scale']:g}, {o['method']}, t=0..{o['t_end']:g} min, {o['samples']} samples, "
                  f"insulin {o['inputs']['insulin']:g} nM, {len(o['record'])} recorded species ({', '.join(o['record'])}), "
                  f"{o['threads']} threads, {o['events_per_cell']:.3g} events per cell. `stochins.run` on a run file "
                  f"in a temporary directory with the run-file output defaults (stored: {comp}, chunks "
                  f"{tuple(fi['chunks'])}, trajectories all) vs `stochins.simulate` with the same model name, "
                  "seed, cells and threads (both load the model from the compile cache), kernels already loaded; "
                  "timed in the order simulate, run, run, simulate (identical work each time) and averaged per kind, "
                  "so a linear drift of the machine's load cancels. CPU time: the process's, all threads. Noise: "
                  "how much the two simulate calls differ. Writer alone: the simulate Result's blocks "
                  f"({rp.get('blocks', '?')} of {rp.get('block_size', '?')} cells, the run's block size) appended to "
                  "a new `TrajectoryWriter` and finished (running moments per block, quantiles at the end) — "
                  "the writer's own cost without the simulation's run-to-run noise, which dominates the "
                  "difference of two runs here. Bytes per value: the whole file (which also holds the "
                  "uncompressed per-cell `cell` index in 64 Ki-cell chunks, means, SDs, quantiles, the run file and "
                  "the model text) and the compressed trajectories dataset alone; raw int32 is 4 bytes.", ""]
    mem = b.get("memory", [])
    if mem:
        spec = b.get("memory_spec", {})
        rows = []
        for m in mem:
            if "error" in m:
                rows.append([f"{m['cells']:,}", "FAILED: " + m["error"][:200]] + [""] * 8)
                continue
            rows.append([f"{m['cells']:,}", m["wall_s"], _f(m["finish_s"]), f"{m['peak_bytes'] / MiB:.0f}",
                         f"{m['rss_before_bytes'] / MiB:.0f}", f"{m['peak_increase_bytes'] / MiB:.0f}",
                         f"{(m['peak_before_finish_bytes'] - m['rss_before_bytes']) / MiB:.0f}",
                         f"{m['trajectories_raw_bytes'] / MiB:.0f}", f"{m['file_bytes'] / MiB:.1f}",
                         f"{m['bytes_per_value_file']:.2f}"])
        L += _table(["cells", "run s", "of which finish s", "peak RSS MiB", "RSS before MiB", "peak increase MiB",
                     "increase before finish MiB", "trajectories, raw int32 MiB", "file MiB",
                     "file bytes / value"], rows)
        L += ["", f"Peak RSS of `stochins.run` with trajectories kept (all cells): {spec.get('model')} at scale "
                  f"{spec.get('scale')}, method {spec.get('method')} (at this scale nothing would be leaped), "
                  f"t=0..{spec.get('t_end')} min, {spec.get('samples')} samples, {len(spec.get('record', []))} "
                  f"species, insulin {spec.get('inputs', {}).get('insulin', 0):g} nM, {spec.get('threads')} threads "
                  "— a short, small-cell workload so 10^6 cells are affordable; memory depends on the cell count, "
                  "samples and species, not on the events. One fresh subprocess per row: a 2-cell run first (kernels, "
                  "thread pool, h5py), then the peak-RSS mark is reset (`/proc/self/clear_refs`) and read as VmHWM "
                  "after the run; 'before finish' is VmHWM after the last block was appended (the blocks and "
                  "running moments), the rest is `finish()` (quantiles over the kept trajectories, read back a few "
                  "time points at a time within 512 MiB of float64).", ""]
    return L


if __name__ == "__main__":
    kind, arg = sys.argv[1], json.loads(sys.argv[2])
    result = {"memory": _child_memory}[kind](arg)
    sys.stdout.write(json.dumps(result) + "\n")
