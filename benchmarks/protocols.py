"""The cost of input protocols and cell-to-cell variability: a constant 10 nM run vs the same with
per-cell variability, and vs a 100-step ramp (sedaghat2002, scale 0.01, 60 min; SSA and tau)."""

from __future__ import annotations

import time
import traceback

from .report import _table

SEED = 20240613
MODEL = "sedaghat2002"
SCALE, T_END, SAMPLES, THREADS = 0.01, 60.0, 61, 2
VARIABILITY = {"IR_level": {"distribution": "lognormal", "cv": 0.3},
               "cell_size": {"distribution": "lognormal", "cv": 0.2}}
RAMP = {"protocol": "ramp", "from": 0, "to": 10, "start": 0, "duration": 60, "steps": 100}
VARIANTS = {
    "constant": ("constant 10 nM", {"inputs": {"insulin": 10.0}}),
    "variability": ("10 nM + variability (IR_level lognormal cv 0.3, cell_size lognormal cv 0.2)",
                    {"inputs": {"insulin": 10.0}, "variability": VARIABILITY}),
    "ramp": ("ramp 0 → 10 nM over 60 min, 100 steps", {"inputs": {"insulin": RAMP}}),
}


def _run(model, method: str, cells: int, variant: str, t_end: float = T_END, samples: int = SAMPLES):
    import stochins

    t0, c0 = time.perf_counter(), time.process_time()
    res = stochins.simulate(model, cells=cells, t_end=t_end, samples=samples, method=method, seed=SEED,
                            threads=THREADS, model_parameters={"scale": SCALE}, **VARIANTS[variant][1])
    return time.perf_counter() - t0, time.process_time() - c0, res


def benchmark(quick: bool, log) -> dict:
    import stochins

    model = stochins.load_model(MODEL)
    cells = {"ssa": 16, "tau": 12} if quick else {"ssa": 80, "tau": 64}
    reps = 1 if quick else 3
    out: dict = {"model": MODEL, "scale": SCALE, "t_end": T_END, "samples": SAMPLES, "threads": THREADS,
                 "seed": SEED, "reps": reps, "variants": {k: v[0] for k, v in VARIANTS.items()}, "methods": {}}
    t0 = time.perf_counter()
    for method in ("ssa", "tau"):
        for variant in VARIANTS:  # load (or compile) whatever each variant needs
            _run(model, method, THREADS, variant, t_end=1.0, samples=2)
    out["warmup_s"] = time.perf_counter() - t0
    for method in ("ssa", "tau"):
        n = cells[method]
        log(f"protocols and variability: {method}, {n} cells, {reps} rep(s)")
        try:
            walls = {v: [] for v in VARIANTS}
            cpus = {v: [] for v in VARIANTS}
            events = {}
            for _ in range(reps):  # interleaved, so drifting machine load hits every variant alike
                for variant in VARIANTS:
                    wall, cpu, res = _run(model, method, n, variant)
                    walls[variant].append(wall)
                    cpus[variant].append(cpu)
                    events[variant] = float(res.events.mean())
            rows = {}
            for variant in VARIANTS:
                wall, cpu = min(walls[variant]), min(cpus[variant])
                rows[variant] = {"cells": n, "wall_s": wall, "walls_s": walls[variant], "cpu_s": cpu,
                                 "cpus_s": cpus[variant], "events_per_cell": events[variant],
                                 "s_per_event": wall / (n * events[variant])}
            base = rows["constant"]
            for variant, r in rows.items():
                r["wall_ratio"] = r["wall_s"] / base["wall_s"]
                r["cpu_ratio"] = r["cpu_s"] / base["cpu_s"]
                r["per_event_ratio"] = r["s_per_event"] / base["s_per_event"]
            out["methods"][method] = rows
            log("  " + ", ".join(f"{v}: {r['wall_s']:.2f} s (x{r['wall_ratio']:.2f}, CPU x{r['cpu_ratio']:.2f}, "
                                 f"per event x{r['per_event_ratio']:.2f})"
                                 for v, r in rows.items()))
        except Exception as exc:  # noqa: BLE001
            out["methods"][method] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            log(f"  FAILED {exc}")
    return out


def markdown(p: dict) -> list[str]:
    L = [f"## Input protocols and cell-to-cell variability: overhead ({p['model']}, scale {p['scale']:g}, "
         f"t=0..{p['t_end']:g} min)", ""]
    rows = []
    for method, m in p.get("methods", {}).items():
        if "error" in m:
            rows.append([method, "FAILED: " + m["error"][:200]] + [""] * 7)
            continue
        for variant, r in m.items():
            rows.append([method, p["variants"][variant], f"{r['cells']:,}", r["wall_s"], r["events_per_cell"],
                         f"{r['wall_ratio']:.2f}", f"{r['cpu_ratio']:.2f}", f"{r['per_event_ratio']:.2f}"])
    L += _table(["method", "input / variability", "cells", "wall s", "events (firings) per cell",
                 "wall time / constant", "CPU time / constant", "wall per event / constant"], rows)
    L += ["", f"Same cells, seed and {p['threads']} threads for every row, {p['samples']} samples, all species "
              f"recorded; {str(p['reps']) + ' interleaved runs' if p['reps'] > 1 else 'one run'} "
              "per row (wall and process CPU time, all threads, each the least over the runs), after a warm-up "
              "run (2 cells, t=0..1 min) of each variant. The ramp (a staircase of 100 breakpoints "
              "the engines stop at) gives less insulin than 10 nM held and variability changes the copy numbers, "
              "so the event counts differ: 'per event' divides them out (for tau: per firing, leaped ones "
              "included).", ""]
    return L
