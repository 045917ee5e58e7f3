"""gillespy2 on the same models, exported with stochins.models.gillespy2_interop.to_gillespy2.

gillespy2 does not report reaction events, so a trajectory's event count is taken to be OUR mean
events per cell for the same model and settings (exact SSA: the same law, so the same expected count).
For tau-leaping that makes "events/s" an SSA-equivalent rate: the exact events it stands in for.
"""

from __future__ import annotations

import math
import time
import traceback

import numpy as np

from .workloads import Workload

SEED = 7


#: models whose conditionals compare whole numbers and may be exported with integer_comparisons:
#: sedaghat2002's receptor synthesis k5 switches on the internal receptor count against
#: k5_threshold * scale, an integer at the benchmark scales (checked below)
INTEGER_THRESHOLDS = {"sedaghat2002": "k5_threshold * scale"}


def export(wl: Workload, t_end: float, samples: int):
    """(gillespy2 model, note): the workload's model via to_gillespy2."""
    from stochins.models.gillespy2_interop import to_gillespy2
    import stochins

    kw = dict(inputs=dict(wl.inputs) or None, model_parameters=dict(wl.model_parameters) or None,
              t_end=t_end, samples=samples)
    compiled = stochins.load_model(wl.model)
    threshold = INTEGER_THRESHOLDS.get(compiled.network.name)
    if threshold is None:
        return to_gillespy2(compiled, **kw), None
    values = {**compiled.network.parameters, **wl.model_parameters}
    value = eval(threshold, {}, values)  # noqa: S307 (a fixed expression of our own)
    if value != round(value):
        raise stochins.ModelError(f"{threshold} = {value!r} is not an integer: the k5 switch cannot be exported")
    return to_gillespy2(compiled, integer_comparisons=True, **kw), \
        f"exported with integer_comparisons=True (the k5 switch; {threshold} = {value:g} is an integer)"


def _final(results, species: list[str]) -> np.ndarray:
    """(trajectories, species) counts at the last sample."""
    return np.array([[float(np.asarray(traj[s])[-1]) for s in species] for traj in results])


def _run(solver, n: int, seed: int, timeout: float, kwargs: dict):
    t0 = time.perf_counter()
    results = solver.run(number_of_trajectories=n, seed=seed, timeout=max(1, int(math.ceil(timeout))), **kwargs)
    return time.perf_counter() - t0, results


def benchmark(solver_name: str, wl: Workload, events_per_trajectory: float, budget_s: float, log,
              t_end: float | None = None, samples: int | None = None, max_trajectories: int | None = None,
              species: list[str] | None = None, run_kwargs: dict | None = None) -> dict:
    """Build once (timed), calibrate, then run as many trajectories as fit in ``budget_s``."""
    t_end = wl.t_end if t_end is None else t_end
    samples = wl.samples if samples is None else samples
    max_trajectories = max_trajectories or wl.max_trajectories
    run_kwargs = dict(run_kwargs or {})
    row = {"solver": solver_name, "workload": wl.key, "t_end": t_end, "samples": samples,
           "events_per_trajectory": events_per_trajectory, "run_kwargs": run_kwargs}
    try:
        import gillespy2

        row["gillespy2"] = gillespy2.__version__
        t0 = time.perf_counter()
        gmodel, note = export(wl, t_end, samples)
        row["export_s"] = time.perf_counter() - t0
        if note:
            row["export_note"] = note
        cls = getattr(gillespy2, solver_name)
        t0 = time.perf_counter()
        solver = cls(model=gmodel)  # the C solvers generate and compile their C++ here
        row["build_s"] = time.perf_counter() - t0

        # calibrate: grow the trajectory count until a run takes >= budget/8 (at least 0.2 s)
        n, seed = 1, SEED
        while True:
            wall, results = _run(solver, n, seed, 20 * budget_s + 60, run_kwargs)
            seed += 1
            if wall >= max(0.2, budget_s / 8) or n >= max_trajectories:
                break
            n = min(max_trajectories, n * 4)
        per_traj = wall / n
        final_n = int(min(max_trajectories, max(1, round(budget_s / per_traj))))
        if final_n > n and wall < budget_s / 2:
            wall, results = _run(solver, final_n, seed, 20 * budget_s + 60, run_kwargs)
            n = final_n
        row.update(trajectories=n, wall_s=wall, trajectories_per_s=n / wall,
                   events_per_s=n * events_per_trajectory / wall)
        if species is not None:
            final = _final(results, species)
            row["final"] = {"n": n, "species": list(species), "mean": final.mean(axis=0).tolist(),
                            "var": (final.var(axis=0, ddof=1) if n > 1 else np.zeros(len(species))).tolist()}
        log(f"  {solver_name} {wl.key}: build {row['build_s']:.1f} s, {n} trajectories in {wall:.2f} s, "
            f"{row['events_per_s']:.3g} events/s")
    except Exception as exc:  # a failing peer must not stop the benchmark
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
        log(f"  {solver_name} {wl.key}: FAILED {row['error']}")
    return row


def mean_z(ma, va, na: int, mb, vb, nb: int) -> np.ndarray:
    """|z| per species of the difference of two sample means, with the pooled variance.

    Same law (the hypothesis checked) means same variance, so both samples estimate one variance.
    Welch's separate variances fail when a peer runs a few trajectories: a species that is 0 in all
    7 of them (mean 0.16 in the generated large network) has sample variance 0 and |z| = 15-18,
    whatever the simulator (our own method against itself too; benchmarks/results/peer_large.md).
    """
    ma, va, mb, vb = (np.asarray(v, dtype=float) for v in (ma, va, mb, vb))
    pooled = ((na - 1) * va + (nb - 1) * vb) / (na + nb - 2)
    se = np.sqrt(pooled * (1.0 / na + 1.0 / nb))
    diff = np.abs(ma - mb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff > 0, np.inf, 0.0))


def agreement(ours: dict, theirs: dict) -> dict | None:
    """Largest |z| over species of the difference of final-time means (a check that the export matches)."""
    if not ours or not theirs or theirs.get("n", 0) < 2 or ours.get("n", 0) < 2:
        return None
    mo, vo, no = np.asarray(ours["mean"]), np.asarray(ours["var"]), ours["n"]
    idx = [ours["species"].index(s) for s in theirs["species"]]
    z = mean_z(mo[idx], vo[idx], no, theirs["mean"], theirs["var"], theirs["n"])
    k = int(np.argmax(z))
    return {"max_z": float(z[k]), "species": theirs["species"][k], "ours_mean": float(mo[idx][k]),
            "their_mean": float(theirs["mean"][k])}
