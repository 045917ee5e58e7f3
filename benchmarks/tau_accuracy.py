"""Tau-leaping on the accuracy family (tests/data/tau_family): speed against our exact SSA, measured side
by side in one process on one thread, with the accuracy achieved beside it (against the cached exact
reference of tests/test_tau_accuracy.py) and the share of events simulated exactly.

``python -m benchmarks.tau_accuracy [--cases a,b] [--grid fine|coarse] [--tau '{"epsilon": 0.03}']``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

FAMILY = Path(__file__).resolve().parent.parent / "tests" / "data" / "tau_family"
GRIDS = {"coarse": np.arange(0, 79, 39), "fine": np.arange(0, 79, 2)}
EXACT, LEAPED, SSA_EVENTS, LEAPS, REJECTED = range(5)


def _model(case: dict):
    return FAMILY / case["model"] if case["model"].endswith(".yaml") else case["model"]


def accuracy(case: str, res, grid: str, ref: dict) -> dict:
    """Largest relative errors of mean and SD over recorded times and species, and of each in units of
    the contract's allowance (2 % / 5 % plus 4 standard errors: <= 1 meets it)."""
    idx = GRIDS[grid]
    m_ref, s_ref, k_ref = (ref[f"{case}.{q}"][idx] for q in ("mean", "sd", "kurtosis"))
    n_ref = float(ref[f"{case}.cells"])
    x = res.trajectories.astype(np.float64)
    n = x.shape[0]
    m, s = x.mean(0), x.std(0, ddof=1)
    c2 = ((x - m) ** 2).mean(0)
    kurt = np.where(c2 > 0, ((x - m) ** 4).mean(0) / np.where(c2 > 0, c2, 1.0) ** 2, 3.0)
    ok = s_ref > 0
    mean_err = np.abs(m - m_ref) / np.where(m_ref != 0, np.abs(m_ref), 1.0)
    mean_use = np.abs(m - m_ref) / (0.02 * np.abs(m_ref) + 4 * np.sqrt(s ** 2 / n + s_ref ** 2 / n_ref) + 1e-300)
    ratio = np.where(ok, s / np.where(ok, s_ref, 1.0), 1.0)
    se_log = np.sqrt((kurt - 1) / (4 * n) + (k_ref - 1) / (4 * n_ref))
    sd_use = np.where(ok, np.abs(ratio - 1) / (0.05 + 4 * se_log), 0.0)
    return {"max_mean_err_pct": float(100 * mean_err[ok].max()) if ok.any() else 0.0,
            "max_sd_err_pct": float(100 * np.abs(ratio - 1)[ok].max()) if ok.any() else 0.0,
            "contract_use": float(max(mean_use.max(), sd_use.max()))}


def compare(name: str, case: dict, ref: dict, grid: str, tau: dict | None, ssa_cells: int) -> dict:
    import stochins

    kw = dict(t_end=case["t_end"], samples=GRIDS[grid].size, inputs=case.get("inputs"), threads=1,
              model_parameters=case.get("model_parameters"), record=case["record"], seed=77)
    model = stochins.load_model(_model(case))
    for method in ("ssa", "tau"):  # kernels loaded before timing
        stochins.simulate(model, cells=1, method=method, **{**kw, "t_end": case["t_end"] / 20})
    t0 = time.perf_counter()
    stochins.simulate(model, cells=ssa_cells, method="ssa", **kw)
    ssa_s = (time.perf_counter() - t0) / ssa_cells
    t0 = time.perf_counter()
    res = stochins.simulate(model, cells=case["tau_cells"], method="tau", tau=tau, **kw)
    tau_s = (time.perf_counter() - t0) / case["tau_cells"]
    w = res.work.sum(axis=0).astype(np.float64)
    events = w[[EXACT, LEAPED, SSA_EVENTS]].sum()
    return {"case": name, "grid": grid, "ssa_s_per_cell": ssa_s, "tau_s_per_cell": tau_s, "speedup": ssa_s / tau_s,
            "exact_share": float((w[EXACT] + w[SSA_EVENTS]) / events), "leaps_per_cell": float(w[LEAPS] / res.work.shape[0]),
            **accuracy(name, res, grid, ref)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="")
    ap.add_argument("--grid", default="fine", choices=list(GRIDS))
    ap.add_argument("--tau", default=None, help="tau options as JSON")
    ap.add_argument("--ssa-cells", type=int, default=20)
    args = ap.parse_args()
    cases = yaml.safe_load((FAMILY / "cases.yaml").read_text(encoding="utf-8"))
    ref = dict(np.load(FAMILY / "reference.npz"))
    tau = json.loads(args.tau) if args.tau else None
    print("| case | grid | SSA s/cell | tau s/cell | tau speed-up | exactly simulated | leaps/cell | max mean error | "
          "max SD error | contract use |\n|---|---|---|---|---|---|---|---|---|---|")
    for name, case in cases.items():
        if args.cases and name not in args.cases.split(","):
            continue
        r = compare(name, case, ref, args.grid, tau, args.ssa_cells)
        print(f"| {name} | {r['grid']} | {r['ssa_s_per_cell']:.3g} | {r['tau_s_per_cell']:.3g} | {r['speedup']:.1f}x | "
              f"{100 * r['exact_share']:.1f} % | {r['leaps_per_cell']:.0f} | {r['max_mean_err_pct']:.2f} % | "
              f"{r['max_sd_err_pct']:.1f} % | {r['contract_use']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
