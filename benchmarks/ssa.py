"""Our exact SSA: events/s and cells/s at 1 and 2 threads."""

from __future__ import annotations

import math
import time

import numpy as np

from .workloads import Workload

SEED = 20240601


def run(model, wl: Workload, cells: int, threads: int, seed: int = SEED, **override) -> tuple[dict, object]:
    """One timed stochins.simulate call; the row and the Result."""
    import stochins

    t0 = time.perf_counter()
    res = stochins.simulate(model, cells=cells, threads=threads, seed=seed, method="ssa", **wl.settings(**override))
    wall = time.perf_counter() - t0
    events = int(res.events.sum())
    return {
        "cells": cells, "threads": threads, "wall_s": wall, "events": events,
        "events_per_cell": events / cells, "events_per_s": events / wall, "cells_per_s": cells / wall,
    }, res


def final_stats(species: list[str], final: np.ndarray) -> dict:
    """Mean, variance and n of each species at the last sample; final is (n, species)."""
    final = np.asarray(final, dtype=np.float64)
    return {"n": int(final.shape[0]), "species": list(species),
            "mean": final.mean(axis=0).tolist(),
            "var": (final.var(axis=0, ddof=1) if final.shape[0] > 1 else np.zeros(final.shape[1])).tolist()}


def benchmark(wl: Workload, target_s: float, log) -> dict:
    """Warm up (compile or load from cache), calibrate, then time threads=1 and threads=2."""
    import stochins

    t0 = time.perf_counter()
    model = stochins.load_model(wl.model)
    run(model, wl, 1, 1)  # compile or load the kernels
    run(model, wl, 2, 2, samples=2, t_end=wl.t_end / 100)  # start numba's thread pool
    warm_s = time.perf_counter() - t0

    # calibrate on one thread: grow the cell count until a run takes >= 0.3 s
    n = wl.calib_cells
    while True:
        row, _ = run(model, wl, n, 1, seed=SEED + 1)
        if row["wall_s"] >= 0.3 or n >= wl.max_cells:
            break
        n = min(wl.max_cells, n * 4)
    row2, _ = run(model, wl, n, 1, seed=SEED + 2)  # once more: the faster of two guards against a hiccup
    per_cell = min(row["wall_s"], row2["wall_s"]) / n
    log(f"  ours {wl.key}: warm-up {warm_s:.2f} s, calibration {n} cells in {per_cell * n:.2f} s")
    n1 = int(min(wl.max_cells, max(1, math.ceil(1.1 * target_s / per_cell))))  # 10 % margin for noise
    rows = {}
    for threads in (1, 2):
        cells = min(wl.max_cells, n1 * threads)
        if threads > 1 and cells % threads:
            cells += threads - cells % threads
        # one run of `cells` cells; at the cell cap (memory of the returned trajectories), repeat the same
        # run with new seeds until the target time is reached and report the totals
        total = None
        calls = 0
        while total is None or (cells >= wl.max_cells and total["wall_s"] < target_s):
            row, res = run(model, wl, cells, threads, seed=SEED + 1000 * calls)
            if total is None:
                total = dict(row)
                if threads == 1:
                    stats = final_stats(res.species, res.trajectories[:, -1, :])
            else:
                for k in ("cells", "wall_s", "events"):
                    total[k] += row[k]
            calls += 1
            del res
        total.update(calls=calls, cells_per_call=cells, events_per_cell=total["events"] / total["cells"],
                     events_per_s=total["events"] / total["wall_s"], cells_per_s=total["cells"] / total["wall_s"])
        rows[str(threads)] = total
        log(f"  ours {wl.key} threads={threads}: {total['cells']} cells in {calls} call(s), {total['wall_s']:.2f} s, "
            f"{total['events_per_s']:.3g} events/s, {total['cells_per_s']:.3g} cells/s")
    return {"warmup_s": warm_s, "calibration": {"cells": n, "wall_s": per_cell * n},
            "runs": rows, "speedup_2_threads": rows["2"]["events_per_s"] / rows["1"]["events_per_s"],
            "events_per_cell": rows["1"]["events_per_cell"], "final": stats}


def truncated_events(wl: Workload, t_end: float, samples: int, cells: int = 64) -> tuple[float, dict]:
    """Our mean events per cell (and final stats) on a truncated time span, for the slow peers."""
    import stochins

    model = stochins.load_model(wl.model)
    row, res = run(model, wl, cells, 2, seed=SEED + 2, t_end=t_end, samples=samples)
    return row["events_per_cell"], final_stats(res.species, res.trajectories[:, -1, :])


def events_per_minute(model_name: str, inputs: dict, minutes=(1.0, 2.0), cells: int = 2) -> dict:
    """Events per cell per simulated minute at the model's default parameters.

    Runs with the same seed and increasing t_end share their trajectories, so differences of the
    event counts are the events fired within each minute.
    """
    import stochins

    model = stochins.load_model(model_name)
    counts = [0.0]
    walls = []
    for t in minutes:
        t0 = time.perf_counter()
        res = stochins.simulate(model, cells=cells, t_end=t, samples=2, inputs=inputs, threads=2, seed=SEED)
        walls.append(time.perf_counter() - t0)
        counts.append(float(res.events.mean()))
    per_minute = [(counts[i + 1] - counts[i]) / (b - a)
                  for i, (a, b) in enumerate(zip((0.0,) + tuple(minutes[:-1]), minutes))]
    return {"cells": cells, "t_end": list(minutes), "events_per_cell": counts[1:], "per_minute": per_minute,
            "mean_per_minute": counts[-1] / minutes[-1], "wall_s": walls}


def tau_benchmark(wl: Workload, ssa: dict, target_s: float, log) -> dict | None:
    """Our tau-leaping on the same workload, if this stochins has it (None otherwise).

    Result.events counts reaction firings (leaped ones included); the SSA-equivalent rate uses our exact
    SSA's mean events per cell instead, as for gillespy2's tau-leaping.
    """
    import stochins
    from stochins.engine.methods import METHODS

    if "tau" not in METHODS:
        return None
    model = stochins.load_model(wl.model)

    def go(cells, threads, seed=SEED):
        t0 = time.perf_counter()
        res = stochins.simulate(model, cells=cells, threads=threads, seed=seed, method="tau", **wl.settings())
        return time.perf_counter() - t0, res

    t0 = time.perf_counter()
    go(1, 1)
    go(2, 2)
    warm = time.perf_counter() - t0
    n = wl.calib_cells
    while True:
        wall, _ = go(n, 1, SEED + 1)
        if wall >= 0.3 or n >= wl.max_cells:
            break
        n = min(wl.max_cells, n * 4)
    n1 = int(min(wl.max_cells, max(1, math.ceil(1.1 * target_s * n / wall))))
    rows = {}
    for threads in (1, 2):
        cells = min(wl.max_cells, n1 * threads)
        cells += (-cells) % threads
        wall, res = go(cells, threads)
        rows[str(threads)] = {"cells": cells, "threads": threads, "wall_s": wall, "events": int(res.events.sum()),
                              "events_per_s": float(res.events.sum()) / wall, "cells_per_s": cells / wall,
                              "ssa_equivalent_events_per_s": cells * ssa["events_per_cell"] / wall}
        if threads == 1:
            stats = final_stats(res.species, res.trajectories[:, -1, :])
        log(f"  ours tau {wl.key} threads={threads}: {cells} cells, {wall:.2f} s, {cells / wall:.3g} cells/s, "
            f"{rows[str(threads)]['ssa_equivalent_events_per_s']:.3g} SSA-equivalent events/s")
        del res
    return {"warmup_s": warm, "runs": rows, "final": stats,
            "speedup_vs_ssa": {k: rows[k]["cells_per_s"] / ssa["runs"][k]["cells_per_s"] for k in rows}}
