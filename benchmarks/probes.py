"""Measurements that need a fresh process: compile time (cold, warm) and peak memory.

The parent runs ``python -m benchmarks.probes <kind> <json>`` and reads one JSON line from stdout.
This module imports stochins only inside the probes, after the clock has started.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from . import REPO


def _maxrss_bytes() -> int:
    """Peak resident set size of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _rss_bytes() -> int:
    """Current resident set size (Linux /proc; falls back to the peak elsewhere)."""
    return _status_bytes("VmRSS") or _maxrss_bytes()


def _peak_bytes() -> int:
    """Peak RSS of this address space since exec or the last reset: VmHWM. ru_maxrss is not used for
    the tables: Linux folds into it the RSS of the forked parent at exec (here the benchmark process,
    hundreds of MiB) and of exited threads, and clear_refs does not reset those."""
    return _status_bytes("VmHWM") or _maxrss_bytes()


# ---------------------------------------------------------------------- child side
def _child_compile(spec: dict) -> dict:
    t0 = time.perf_counter()
    import stochins

    t1 = time.perf_counter()
    model = stochins.load_model(spec["model"])
    t2 = time.perf_counter()
    kw = dict(cells=1, t_end=spec["t_end"], samples=spec["samples"], inputs=spec.get("inputs") or None,
              model_parameters=spec.get("model_parameters") or None, threads=1, seed=1)
    stochins.simulate(model, **kw)
    t3 = time.perf_counter()
    stochins.simulate(model, **kw)  # the same run again: its cost without compilation
    t4 = time.perf_counter()
    return {"import_s": t1 - t0, "load_s": t2 - t1, "first_simulate_s": t3 - t2, "run_s": t4 - t3,
            "compile_s": (t2 - t1) + (t3 - t2) - (t4 - t3), "start_to_first_result_s": t3 - t0,
            "peak_rss_bytes": _peak_bytes()}


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so VmHWM covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _child_memory(spec: dict) -> dict:
    t0 = time.perf_counter()
    import numpy as np
    import stochins
    from stochins import api

    model = stochins.load_model(spec["model"])
    kw = dict(t_end=spec["t_end"], samples=spec["samples"], record=spec["record"], threads=spec["threads"], seed=3)
    stochins.simulate(model, cells=2, **kw)  # load kernels, start the thread pool
    startup = time.perf_counter() - t0
    peak_startup = _peak_bytes()
    reset = _reset_peak()
    base = _rss_bytes()
    peak_before = _peak_bytes()
    block = spec.get("block_size")
    t0 = time.perf_counter()
    res = stochins.simulate(model, cells=spec["cells"], block_size=block, **kw)
    wall = time.perf_counter() - t0
    peak = _peak_bytes()
    ru_maxrss = _maxrss_bytes()
    try:  # the block size simulate picks (its rule has changed over time: ask the package)
        from stochins.simulation import Plan

        default_block = Plan.create(model, t_end=spec["t_end"], samples=spec["samples"], record=spec["record"],
                                    method="ssa", seed=3).default_block_size(spec["cells"])
    except (ImportError, AttributeError):
        default_block = max(1, getattr(api, "BLOCK_BYTES", 64 * 2**20) // (spec["samples"] * len(spec["record"]) * 8))
    n_block = min(spec["cells"], block or default_block)
    # what one block allocates per cell: output (T, R) int32, initial state (S) int64, parameters (P) float64,
    # xoshiro state 4 x uint64, status/detail/events int64
    per_cell = (spec["samples"] * len(spec["record"]) * 4 + len(model.species) * 8 + len(model.parameters) * 8
                + 4 * 8 + 3 * 8)
    return {"cells": spec["cells"], "block_size": block or default_block, "block_size_default": block is None,
            "wall_s": wall, "events": int(res.events.sum()), "startup_s": startup,
            "peak_startup_bytes": peak_startup, "peak_reset": reset, "rss_before_bytes": base,
            "peak_before_bytes": peak_before, "peak_bytes": peak,
            "peak_increase_bytes": peak - base,
            "ru_maxrss_bytes": ru_maxrss,
            "result_bytes": int(res.trajectories.nbytes + res.events.nbytes + res.time.nbytes),
            "block_arrays_bytes_estimate": n_block * per_cell,
            "n_species": len(model.species), "n_parameters": len(model.parameters),
            "numpy": np.__version__}


# ---------------------------------------------------------------------- parent side
def _spawn(kind: str, spec: dict, env: dict | None = None, timeout: float = 600) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.probes", kind, json.dumps(spec)], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"probe {kind} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


def compile_times(name: str, spec: dict, log) -> dict:
    """Cold: a fresh STOCHINS_CACHE_DIR; warm: a second process on the same directory."""
    tmp = tempfile.mkdtemp(prefix="stochins-bench-cache-")
    try:
        env = {"STOCHINS_CACHE_DIR": tmp}
        cold = _spawn("compile", spec, env)
        warm = _spawn("compile", spec, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"  compile {name}: cold {cold['compile_s']:.1f} s, warm start {warm['start_to_first_result_s']:.2f} s "
        f"(import {warm['import_s']:.2f} s)")
    return {"model": name, "spec": spec, "cold": cold, "warm": warm}


def memory(spec: dict, log) -> dict:
    out = _spawn("memory", spec)
    log(f"  memory {out['cells']} cells (block {out['block_size']}): peak during the run {out['peak_bytes'] / 2**20:.0f} "
        f"MiB (reset {out['peak_reset']}), RSS before {out['rss_before_bytes'] / 2**20:.0f} MiB, result "
        f"{out['result_bytes'] / 2**20:.1f} MiB; start-up peak {out['peak_startup_bytes'] / 2**20:.0f} MiB "
        f"in {out['startup_s']:.1f} s")
    return out


if __name__ == "__main__":
    kind, arg = sys.argv[1], json.loads(sys.argv[2])
    result = {"compile": _child_compile, "memory": _child_memory}[kind](arg)
    sys.stdout.write(json.dumps(result) + "\n")
