"""Tau-leaping vs exact SSA on the insulin model (sedaghat2002, 100 nM held, 60 min, 61 samples):
per-cell wall and CPU times at scale 1, 0.1 and 0.01 with the accuracy tau achieves beside them (against the
cached exact-SSA reference of the accuracy family, tests/data/tau_family, on its short span at that scale),
the tau work split (Result.work), gillespy2's TauLeapingCSolver on a short span at scale 1, and the
projected wall time of 10^4 cells at scale 1.
"""

from __future__ import annotations

import time
import traceback

import numpy as np

from . import peers
from .report import _f, _table
from .ssa import final_stats
from .workloads import INSULIN, Workload

SEED = 20240612
MODEL = "sedaghat2002"
T_END, SAMPLES = 60.0, 61


def _simulate(model, cells: int, threads: int, method: str, scale: float, t_end: float = T_END,
              samples: int = SAMPLES, seed: int = SEED):
    import stochins

    t0, c0 = time.perf_counter(), time.process_time()
    res = stochins.simulate(model, cells=cells, t_end=t_end, samples=samples, inputs=dict(INSULIN), method=method,
                            threads=threads, seed=seed, model_parameters={"scale": scale})
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0  # CPU: the process's, all threads
    return wall, cpu, res


def _work(res) -> dict:
    """Per-cell means of the tau work statistics and what they imply."""
    w = res.work.astype(np.float64)
    EXACT, LEAPED, SSA_EVENTS, LEAPS, REJECTED = (res.work_names.index(n) for n in (
        "exact_events", "leaped_firings", "ssa_events", "leaps", "rejected_leaps"))
    firings = w[:, [EXACT, LEAPED, SSA_EVENTS]].sum(axis=1)
    total = firings.sum()
    leaps = w[:, LEAPS].sum()
    return {"firings_per_cell": float(firings.mean()), "exact_in_leaps_per_cell": float(w[:, EXACT].mean()),
            "leaped_per_cell": float(w[:, LEAPED].mean()), "ssa_fallback_per_cell": float(w[:, SSA_EVENTS].mean()),
            "leaps_per_cell": float(w[:, LEAPS].mean()), "rejected_per_cell": float(w[:, REJECTED].mean()),
            "share_exact_in_leaps": float(w[:, EXACT].sum() / total) if total else 0.0,
            "share_leaped": float(w[:, LEAPED].sum() / total) if total else 0.0,
            "share_ssa_fallback": float(w[:, SSA_EVENTS].sum() / total) if total else 0.0,
            "leaped_firings_per_leap": float(w[:, LEAPED].sum() / leaps) if leaps else None,
            "firings_per_leap": float(w[:, [EXACT, LEAPED]].sum() / leaps) if leaps else None}


def accuracy(model, scale: float) -> dict | None:
    """Tau against the cached exact reference of the family case ``insulin_scale_<scale>`` (fine grid):
    largest relative mean and SD errors over recorded species and times, and the share of the contract's
    allowance used (<= 1 meets it)."""
    import stochins
    import yaml

    from . import tau_accuracy as ta

    name = f"insulin_scale_{scale:g}"
    cases = yaml.safe_load((ta.FAMILY / "cases.yaml").read_text(encoding="utf-8"))
    if name not in cases:
        return None
    case = cases[name]
    ref = dict(np.load(ta.FAMILY / "reference.npz"))
    res = stochins.simulate(model, cells=case["tau_cells"], t_end=case["t_end"], samples=ta.GRIDS["fine"].size,
                            inputs=case.get("inputs"), model_parameters=case.get("model_parameters"),
                            record=case["record"], method="tau", seed=SEED)
    return {"case": name, "t_end": case["t_end"], "cells": case["tau_cells"], **ta.accuracy(name, res, "fine", ref)}


def compare(model, scale: float, n_ssa: int, n_tau: int, log) -> dict:
    """SSA and tau on one thread each, same seed (the tau run's first cells are the SSA's cells)."""
    row: dict = {"scale": scale, "threads": 1}
    wall, cpu, res = _simulate(model, n_ssa, 1, "ssa", scale)
    row["ssa"] = {"cells": n_ssa, "wall_s": wall, "s_per_cell": wall / n_ssa, "cpu_s": cpu,
                  "events_per_cell": float(res.events.mean()), "events_per_s": float(res.events.sum()) / wall}
    ssa_final = final_stats(res.species, res.trajectories[:, -1, :])
    del res
    wall, cpu, res = _simulate(model, n_tau, 1, "tau", scale)
    row["tau"] = {"cells": n_tau, "wall_s": wall, "s_per_cell": wall / n_tau, "cpu_s": cpu, **_work(res),
                  "ssa_equivalent_events_per_s": row["ssa"]["events_per_cell"] * n_tau / wall}
    row["speedup"] = row["ssa"]["s_per_cell"] / row["tau"]["s_per_cell"]
    row["speedup_cpu"] = (row["ssa"]["cpu_s"] / n_ssa) / (row["tau"]["cpu_s"] / n_tau)
    # with fewer than 4 SSA cells the SSA variance is too rough for a z-score
    row["check"] = peers.agreement(ssa_final, final_stats(res.species, res.trajectories[:, -1, :])) \
        if n_ssa >= 4 else None
    row["accuracy"] = accuracy(model, scale)
    acc = row["accuracy"]
    log(f"  insulin tau scale {scale:g}: SSA {row['ssa']['s_per_cell']:.3g} s/cell ({n_ssa} cells), tau "
        f"{row['tau']['s_per_cell']:.3g} s/cell ({n_tau} cells): x{row['speedup']:.1f} (CPU x{row['speedup_cpu']:.1f}); "
        f"{100 * row['tau']['share_leaped']:.1f} % leaped, {row['tau']['leaps_per_cell']:.3g} leaps/cell"
        + ("" if acc is None else f"; accuracy: mean {acc['max_mean_err_pct']:.2f} %, SD {acc['max_sd_err_pct']:.1f} %, "
           f"contract use {acc['contract_use']:.2f}"))
    return row


def gillespy2_tau(model, span: float, samples: int, n_ours: int, log, budget_s: float) -> dict:
    """gillespy2 TauLeapingCSolver (tau_tol 0.03, our epsilon) on t=0..span at scale 1, vs our tau (1 thread)."""
    out: dict = {"t_end": span, "samples": samples, "scale": 1.0}
    # our exact SSA's mean events per cell on the same span: the SSA-equivalent event count
    wall, cpu, res = _simulate(model, 4, 2, "ssa", 1.0, t_end=span, samples=samples, seed=SEED + 7)
    out["ssa_events_per_cell"] = float(res.events.mean())
    wall, cpu, res = _simulate(model, n_ours, 1, "tau", 1.0, t_end=span, samples=samples, seed=SEED + 7)
    out["ours"] = {"cells": n_ours, "threads": 1, "wall_s": wall, "s_per_cell": wall / n_ours,
                   "ssa_equivalent_events_per_s": out["ssa_events_per_cell"] * n_ours / wall}
    ours_final = final_stats(res.species, res.trajectories[:, -1, :])
    wl = Workload("sedaghat_1", "sedaghat2002, scale 1", MODEL, t_end=T_END, samples=SAMPLES, inputs=INSULIN,
                  model_parameters={"scale": 1.0}, max_trajectories=50)
    row = peers.benchmark("TauLeapingCSolver", wl, out["ssa_events_per_cell"], budget_s, log, t_end=span,
                          samples=samples, species=ours_final["species"], run_kwargs={"tau_tol": 0.03})
    if "final" in row:
        row["check"] = peers.agreement(ours_final, row["final"])
    out["gillespy2"] = row
    if "events_per_s" in row:
        out["ours_over_theirs"] = out["ours"]["ssa_equivalent_events_per_s"] / row["events_per_s"]
        log(f"  insulin tau scale 1, t=0..{span:g}: ours {out['ours']['ssa_equivalent_events_per_s']:.3g}, "
            f"gillespy2 {row['events_per_s']:.3g} SSA-equivalent events/s: x{out['ours_over_theirs']:.0f}")
    return out


def headline(model, cells: int, log, label: str) -> dict:
    """Our tau at scale 1 on 2 threads; the projected wall time of 10^4 cells."""
    wall, cpu, res = _simulate(model, cells, 2, "tau", 1.0, seed=SEED + 100)
    per_cell = wall / cells
    out = {"cells": cells, "threads": 2, "wall_s": wall, "s_per_cell": per_cell, "projected_10k_s": 1e4 * per_cell,
           "basis": label, "firings_per_cell": float(res.events.mean())}
    log(f"  insulin tau scale 1, 2 threads: {cells} cells in {wall:.1f} s -> 10^4 cells ~ {1e4 * per_cell / 60:.1f} min "
        f"({label})")
    return out


def benchmark(quick: bool, log) -> dict:
    import stochins

    out: dict = {"model": MODEL, "t_end": T_END, "samples": SAMPLES, "insulin": INSULIN["insulin"], "rows": [],
                 "headline": []}
    t0 = time.perf_counter()
    model = stochins.load_model(MODEL)
    for method in ("ssa", "tau"):
        for threads in (1, 2):
            _simulate(model, threads, threads, method, 0.01, t_end=1.0, samples=2)  # kernels, thread pool
    out["warmup_s"] = time.perf_counter() - t0
    sizes = [(1.0, 1, 8), (0.1, 2, 4), (0.01, 4, 8)] if quick else [(1.0, 4, 32), (0.1, 8, 16), (0.01, 32, 64)]
    for scale, n_ssa, n_tau in sizes:
        log(f"insulin tau vs SSA: scale {scale:g} ({n_ssa} SSA cells, {n_tau} tau cells, 1 thread)")
        try:
            out["rows"].append(compare(model, scale, n_ssa, n_tau, log))
        except Exception as exc:  # noqa: BLE001
            out["rows"].append({"scale": scale, "error": f"{type(exc).__name__}: {exc}",
                                "traceback": traceback.format_exc()})
            log(f"  FAILED {exc}")

    log("insulin tau: projected 10^4 cells at scale 1 on 2 threads")
    runs = [(16 if quick else 64, "projected from a short run")]
    if not quick:
        runs.append((1000, "1,000 cells run, x10"))
    for cells, label in runs:
        try:
            out["headline"].append(headline(model, cells, log, label))
        except Exception as exc:  # noqa: BLE001
            out["headline"].append({"cells": cells, "basis": label, "error": f"{type(exc).__name__}: {exc}"})
            log(f"  FAILED {exc}")

    span, samples = (0.05, 6) if quick else (0.5, 11)
    log(f"insulin tau: gillespy2 TauLeapingCSolver at scale 1, t=0..{span:g}")
    try:
        out["gillespy2"] = gillespy2_tau(model, span, samples, 16 if quick else 64, log, 2.0 if quick else 8.0)
    except Exception as exc:  # noqa: BLE001
        out["gillespy2"] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        log(f"  FAILED {exc}")
    return out


# ---------------------------------------------------------------------- report
def markdown(t: dict) -> list[str]:
    L = [f"## Tau-leaping vs exact SSA on the insulin model ({t['model']}, {t['insulin']:g} nM held, "
         f"t=0..{t['t_end']:g} min, {t['samples']} samples)", ""]
    rows, work_rows = [], []
    for r in t.get("rows", []):
        if "error" in r:
            rows.append([f"{r['scale']:g}", "FAILED: " + r["error"][:200]] + [""] * 9)
            continue
        s, u = r["ssa"], r["tau"]
        chk = r.get("check")
        acc = r.get("accuracy")
        rows.append([f"{r['scale']:g}", f"{s['cells']} / {u['cells']}", s["s_per_cell"], u["s_per_cell"],
                     f"{r['speedup']:.1f}", f"{r['speedup_cpu']:.1f}", s["events_per_cell"], s["events_per_s"], u["ssa_equivalent_events_per_s"],
                     "–" if not chk else f"{chk['max_z']:.1f} ({chk['species']})",
                     "–" if not acc else f"{acc['max_mean_err_pct']:.2f} % / {acc['max_sd_err_pct']:.1f} % / "
                                         f"{acc['contract_use']:.2f}"])
        work_rows.append([f"{r['scale']:g}", u["firings_per_cell"], f"{100 * u['share_exact_in_leaps']:.2f} %",
                          f"{100 * u['share_leaped']:.2f} %", f"{100 * u['share_ssa_fallback']:.3f} %",
                          u["exact_in_leaps_per_cell"], u["leaped_per_cell"], u["ssa_fallback_per_cell"],
                          u["leaps_per_cell"], u["rejected_per_cell"], _f(u["leaped_firings_per_leap"]),
                          _f(u["firings_per_leap"])])
    if rows:
        L += _table(["scale", "cells (SSA / tau)", "SSA s per cell", "tau s per cell", "tau speed-up",
                     "tau speed-up (CPU time)",
                     "SSA events per cell", "SSA events/s", "tau SSA-equiv. events/s", "check tau vs SSA: max |z|",
                     "accuracy: max mean error / max SD error / contract use"], rows)
        L += ["", "One thread each, kernels loaded; same seed, so the tau run's first cells have the SSA cells' "
                  "streams. s per cell = wall time of the `simulate` call / cells; the CPU-time speed-up uses the "
                  "process's CPU time instead (less sensitive to other load on the machine). SSA-equivalent events/s = tau "
                  "cells × the SSA's mean events per cell / tau wall time. Check: largest |z| over species of the "
                  "difference of final-time means (few SSA cells: a coarse check; none below 4 SSA cells). Accuracy: "
                  "tau cells of the accuracy family's case at that scale (short span, fine grid) against its cached "
                  "exact-SSA reference; contract use <= 1 meets the contract (2 % / 5 % plus sampling allowance).", ""]
        L += _table(["scale", "tau firings per cell", "exact inside leaps", "leaped", "plain SSA fallback",
                     "exact inside leaps per cell", "leaped per cell", "SSA fallback per cell", "leaps per cell",
                     "rejected leaps per cell", "leaped firings per leap", "all firings per leap"], work_rows)
        L += ["", "From `Result.work` (per cell: events of exactly simulated reactions inside leaps, firings of "
                  "leaped reactions, events of plain SSA steps taken when leaping does not pay, accepted leaps, "
                  "leaps rejected for a negative count); shares are of all firings. All firings per leap = (exact "
                  "inside leaps + leaped) / leaps.", ""]
    hl = t.get("headline", [])
    if hl:
        rows = []
        for h in hl:
            if "error" in h:
                rows.append([h["basis"], f"{h['cells']:,}", "FAILED: " + h["error"][:200], "", ""])
                continue
            rows.append([h["basis"], f"{h['cells']:,}", h["wall_s"], h["s_per_cell"],
                         f"{h['projected_10k_s']:,.0f} s = {h['projected_10k_s'] / 60:.1f} min"])
        L += ["**Headline: 10^4 cells × 60 min at scale 1 (100 nM), method='tau', 2 threads**", ""]
        L += _table(["basis", "cells run", "wall s", "s per cell (2 threads)", "10^4 cells, projected"], rows)
        L += ["", "Projected = 10^4 × the measured wall time per cell of a 2-thread run (for the 1,000-cell run: "
                  "its wall time × 10). All species recorded, 61 samples, trajectories returned in memory.", ""]
    g = t.get("gillespy2")
    if g:
        L += ["**gillespy2 TauLeapingCSolver on the insulin model at scale 1** (exported with `to_gillespy2(..., "
              "integer_comparisons=True)`)", ""]
        if "error" in g:
            L += [f"FAILED: {g['error']}", ""]
        else:
            p = g["gillespy2"]
            o = g["ours"]
            if "error" in p:
                prow = ["TauLeapingCSolver tau_tol=0.03", "–", "FAILED: " + p["error"].splitlines()[0][:150], "", "", ""]
            else:
                chk = p.get("check")
                prow = ["TauLeapingCSolver tau_tol=0.03", f"{p['build_s']:.1f}", f"{p['trajectories']:,}", p["wall_s"],
                        p["wall_s"] / p["trajectories"], p["events_per_s"],
                        "–" if not chk else f"{chk['max_z']:.1f} ({chk['species']})"]
            rows = [["ours, method='tau', 1 thread", "–", f"{o['cells']:,}", o["wall_s"], o["s_per_cell"],
                     o["ssa_equivalent_events_per_s"], "–"], prow]
            L += _table(["solver", "build s", "trajectories", "run s", "s per trajectory", "SSA-equiv. events/s",
                         "check vs ours: max |z|"], rows)
            ratio = g.get("ours_over_theirs")
            L += ["", f"t=0..{g['t_end']:g} min ({g['samples']} samples), 100 nM from t=0: a short span because "
                      f"gillespy2's tau-leaping takes seconds per simulated second at this size. SSA-equivalent "
                      f"events = our exact SSA's mean events per cell on the same span "
                      f"({g['ssa_events_per_cell']:.3g}). Ours / gillespy2: "
                      f"{'–' if ratio is None else f'{ratio:,.0f}×'} (one thread each; our tau's rate over 60 min is in the "
                      "first table).", ""]
    return L
