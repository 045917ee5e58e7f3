"""``python -m benchmarks.peer_dsmts``: the peers' exact methods on the whole DSMTS, judged by the suite's criteria.

Each peer reads the case's own SBML file (``<case>-sbml-l3v1.xml``, from the upstream DSMTS folder given
as ``--dsmts DIR``: a clone has only the few cases its tests need) and runs n independent realisations
recorded at t = 0..50; tests/dsmts_all.py's judge (the one our SSA is held to) applies the DSMTS
criteria: |Z_t| < 3 for means, |Y_t| < 5 for SDs, exact equality where the reference SD is 0, at most
2 mean and 3 SD excursions per species by chance. Peers: COPASI's direct method with its stochastic
correction of rate laws off (the DSMTS laws are propensities; see peer_suite.copasi_datamodel), COPASI
as it imports SBML (correction on; run only where it changes a propensity: a reactant with
stoichiometry >= 2), libroadrunner's gillespie and gillespy2's SSACSolver (a C++ build per case, a few
seconds). n is ``--runs`` (10,000, the suite's standard) unless a case is slow: then as
many as fit in ``--budget`` seconds, never fewer than ``--min-runs`` (1,000, the suite's minimum).
One process, no threads; writes benchmarks/results/peer_dsmts.md and peer_dsmts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import REPO, RESULTS
from .peer_suite import copasi_datamodel, cpu

PEERS = ("copasi", "copasi-corrected", "roadrunner", "gillespy2")
SEED_BASES, SEED_RUNS = (1_000_000, 2_000_000, 3_000_000), 20_000  # the 00030 evidence's extra COPASI runs


def _copasi(correction: bool):
    def build(sbml: Path, names: list[str], duration: float, steps: int):
        import COPASI

        dm = copasi_datamodel(str(sbml), path=True, correction=correction)
        model = dm.getModel()
        if correction and not any(model.getReaction(i).getChemEq().getSubstrates().get(j).getMultiplicity() >= 2
                                  for i in range(model.getReactions().size())
                                  for j in range(model.getReaction(i).getChemEq().getSubstrates().size())):
            return None  # the correction multiplies by (N-1)/N per extra reactant copy: nothing to change here
        task = dm.getTask("Time-Course")
        task.setMethodType(COPASI.CTaskEnum.Method_directMethod)
        problem = task.getProblem()
        problem.setStepNumber(steps)
        problem.setDuration(duration)
        problem.setTimeSeriesRequested(True)
        method = task.getMethod()
        method.getParameter("Max Internal Steps").setIntValue(2_000_000_000)
        method.getParameter("Use Random Seed").setBoolValue(True)
        # fixed (boundary) species are not in COPASI's time series: their initial particle numbers
        species = [model.getMetabolite(i) for i in range(model.getMetabolites().size())]
        fixed = {m.getObjectName(): m.getInitialValue() for m in species
                 if m.getStatus() == COPASI.CModelEntity.Status_FIXED}

        def run(n: int, seed: int) -> np.ndarray:
            out = np.empty((n, steps + 1, len(names)))
            for i in range(n):
                method.getParameter("Random Seed").setUIntValue(seed + i)
                task.initializeRaw(COPASI.CCopasiTask.OUTPUT_UI)
                task.processRaw(True)
                ts = task.getTimeSeries()
                cols = {ts.getTitle(j): j for j in range(ts.getNumVariables())}
                if ts.getRecordedSteps() != steps + 1:
                    raise RuntimeError(f"COPASI recorded {ts.getRecordedSteps()} time points, not {steps + 1}")
                # getData: particle numbers (the DSMTS models count in items)
                out[i] = [[ts.getData(k, cols[s]) if s in cols else fixed[s] for s in names] for k in range(steps + 1)]
            return out

        return run

    return build


def _roadrunner(sbml: Path, names: list[str], duration: float, steps: int):
    import roadrunner

    # its warning that time events are not exact under gillespie is printed once per run: once is enough here
    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_FATAL)
    rr = roadrunner.RoadRunner(str(sbml))
    rr.setIntegrator("gillespie")
    rr.getIntegrator().setValue("variable_step_size", False)
    rr.timeCourseSelections = ["time"] + names  # bare ids: amounts

    def run(n: int, seed: int) -> np.ndarray:
        out = np.empty((n, steps + 1, len(names)))
        for i in range(n):
            rr.reset()
            rr.getIntegrator().setValue("seed", seed + i)
            res = np.array(rr.simulate(0.0, duration, steps + 1))
            if res.shape[0] != steps + 1 or not np.allclose(res[:, 0], np.linspace(0, duration, steps + 1)):
                raise RuntimeError(f"libroadrunner returned {res.shape[0]} rows, not the grid of {steps + 1}")
            out[i] = res[:, 1:]
        return out

    return run


def _gillespy2(sbml: Path, names: list[str], duration: float, steps: int):
    import gillespy2
    from stochins.models.gillespy2_interop import solver_environment

    model, _ = gillespy2.import_SBML(str(sbml))  # (model, the importer's messages)
    model.timespan(np.linspace(0, duration, steps + 1))
    with solver_environment():
        solver = gillespy2.SSACSolver(model=model)

    def run(n: int, seed: int) -> np.ndarray:
        res = solver.run(number_of_trajectories=n, seed=seed)
        return np.array([[np.asarray(tr[s], dtype=float) for s in names] for tr in res]).transpose(0, 2, 1)

    return run


BUILDERS = {"copasi": _copasi(False), "copasi-corrected": _copasi(True), "roadrunner": _roadrunner,
            "gillespy2": _gillespy2}
LABELS = {"copasi": "COPASI direct (correction off)", "copasi-corrected": "COPASI direct (as imported: correction on)",
          "roadrunner": "libroadrunner gillespie", "gillespy2": "gillespy2 SSACSolver"}


def _dsmts_all(*names: str) -> list:
    """The readers and the judge of tests/dsmts_all.py (the criteria our own SSA is held to)."""
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    import dsmts_all

    return [getattr(dsmts_all, name) for name in names]


def check(peer: str, folder: Path, runs: int, min_runs: int, budget: float, seed: int) -> dict | None:
    """One peer on one case: the criteria's verdict, worst |Z| and |Y|, runs and CPU seconds; None if skipped."""
    dsmts_statistics, judge, read_reference, read_settings = _dsmts_all(
        "dsmts_statistics", "judge", "read_reference", "read_settings")
    case = folder.name
    settings = read_settings(folder / f"{case}-settings.txt")
    times, names, mean = read_reference(next(folder.glob("dsmts-*-mean.csv")))
    _, _, sd = read_reference(next(folder.glob("dsmts-*-sd.csv")))
    duration, steps = float(settings["duration"]), int(settings["steps"])
    c0, w0 = cpu(), time.perf_counter()
    row = {"case": case, "peer": peer, "seed": seed}
    try:
        run = BUILDERS[peer](folder / f"{case}-sbml-l3v1.xml", names, duration, steps)
        if run is None:
            return None
        row["build_cpu_s"] = cpu() - c0
        c1 = cpu()
        x = run(20, seed)
        per_run = max(cpu() - c1, 1e-3) / 20
        n = int(min(runs, max(min_runs, budget / per_run)))
        x = np.concatenate([x, run(n - 20, seed + 20)]) if n > 20 else x[:n]
    except Exception as exc:  # noqa: BLE001 (a peer that refuses or fails a case is a result, not a crash)
        row.update(status="not run", detail=f"{type(exc).__name__}: {exc}".splitlines()[0][:200], cpu_s=cpu() - c0)
        return row
    status, detail, n_mean, n_sd = judge(case, names, mean, sd, lambda name: x[:, :, names.index(name)])
    z, y = zip(*(dsmts_statistics(x[:, :, k], mean[:, k], sd[:, k]) for k in range(len(names))))
    worst = int(np.nanargmax(np.abs(np.array(z))))
    k, t = divmod(worst, len(times))
    row.update(status=status, detail=detail, runs=n, mean_excursions=n_mean, sd_excursions=n_sd,
               worst_z=float(np.array(z)[k, t]), worst_z_at=f"{names[k]} t={times[t]:g}",
               worst_y=float(np.nanmax(np.abs(np.array(y)))),
               mean_path={s: x[:, :, i].mean(0).tolist() for i, s in enumerate(names)},
               cpu_s=cpu() - c0, wall_s=time.perf_counter() - w0)
    return row


def dimerisation_master_equation(corrected: bool, k1: float = 0.001, k2: float = 0.01, p0: int = 100,
                                  t_end: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and SD of P at t = 0..t_end for DSMTS 00030 (2P -> P2 at k1 P(P-1)/2, P2 -> 2P at k2 P2),
    or for the law COPASI simulates with its correction on: k1 P(P-1)/2 * (P-1)/P."""
    from scipy.linalg import expm

    dimers = np.arange(p0 // 2 + 1)
    p = p0 - 2 * dimers
    up = k1 * p * (p - 1) / 2 * (np.maximum(p - 1, 0) / np.maximum(p, 1) if corrected else 1)
    q = np.diag(up[:-1], 1) + np.diag(k2 * dimers[1:], -1)
    q -= np.diag(q.sum(1))
    step, prob, mean, sd = expm(q), np.eye(len(p))[0], [], []
    for _ in range(t_end + 1):
        m = prob @ p
        mean.append(m)
        sd.append(np.sqrt(prob @ p**2 - m**2))
        prob = prob @ step
    return np.array(mean), np.array(sd)


def copasi_propensities(sbml: Path, correction: bool) -> list[float]:
    """COPASI's reaction propensities at the initial state."""
    mc = copasi_datamodel(str(sbml), path=True, correction=correction).getModel().getMathContainer()
    mc.applyInitialValues()
    mc.updateSimulatedValues(False)
    a = mc.getPropensities()
    return [a.get(i) for i in range(a.size())]


def explain_00030(rows: list[dict], folder: Path) -> list[str]:
    """The evidence for COPASI's 00030 miss: its propensities, and its means against two master equations."""
    exact, exact_sd = dimerisation_master_equation(False)
    twice, twice_sd = dimerisation_master_equation(True)
    _, _, ref = _dsmts_all("read_reference")[0](next(folder.glob("dsmts-*-mean.csv")))
    out = ["", "## DSMTS 00030 under COPASI's stochastic correction", "",
           "COPASI imports an SBML model as a *deterministic* model: its model setting \"Apply Stochastic "
           "Correction to Rate Laws\" (the GUI's model page; `CModel.setModelType`, default `deterministic`) is "
           "on. Its stochastic methods then multiply a reaction's particle flux by (N − 1)/N, (N − 2)/N, … for "
           "each extra copy of a reactant (copasi/math/CMathObject.cpp, `compilePropensity`, \"Apply correction "
           "for deterministic models\"), which turns a deterministic k·N² into the stochastic k·N(N − 1). The "
           "DSMTS law k1·P(P − 1)/2 is already the propensity, so COPASI simulates k1·(P − 1)²/2: 1 % less "
           "dimerisation at P = 100, 3.5 % less at P ≈ 29, and the mean P at t = 50 moves from 28.54 to 28.97. "
           "Our export (`to_sbml`) writes propensities the same way, so the peer suite's COPASI rows of the "
           "dimerisation table carried the same error. Not the cause: sampling error (the bias is there from "
           "t = 1 and grows with n as a bias does, see below), the import of the initial state (P = 100 "
           "particles, compartment 1 l, quantity unit #, both reactions irreversible, the law imported as "
           "k1·P·(P·Cell − 1)/2 with Cell = 1), the output grid (t = 0, 1, …, 50 exactly), the seeds (every seed "
           "base gives the same bias) or Max Internal Steps (2e9; a run is ~65 events). Switching only the model "
           "type to stochastic removes the bias, and the master equation of the twice-corrected law reproduces "
           "COPASI's means. `peer_suite.copasi_datamodel` now switches the correction off for our exports and "
           "the DSMTS files; the other cases are unaffected (no reactant with stoichiometry ≥ 2: the correction "
           "is the identity, and COPASI's two settings give the same numbers).", "",
           f"COPASI's propensities at P = 100, P2 = 0: {copasi_propensities(folder / '00030-sbml-l3v1.xml', True)} "
           f"as imported, {copasi_propensities(folder / '00030-sbml-l3v1.xml', False)} with the correction off "
           f"(exact: k1·100·99/2 = 4.95; k1·99²/2 = 4.9005). Master equation (51 states, matrix exponential): mean "
           f"P at t = 50 is {exact[-1]:.4f} for the DSMTS law (the reference file says {ref[-1, 0]:.4f}; the largest "
           f"difference over t = 0..50 is {np.abs(exact - ref[:, 0]).max():.1e}) and {twice[-1]:.4f} for the law "
           f"COPASI simulates as imported.", "",
           "| COPASI run | n | mean P, t = 50 | Z against the DSMTS law (t = 50; worst over t) | "
           "Z against the twice-corrected law (t = 50; worst over t) |", "|---|---|---|---|---|"]
    # the main run's rows, then three more seed bases at 20,000 runs each (a bias stays, chance does not)
    extra = [check(peer, folder, SEED_RUNS, SEED_RUNS, np.inf, seed)
             for seed in SEED_BASES for peer in ("copasi", "copasi-corrected")]
    for r in [r for r in rows if r["case"] == "00030"] + extra:
        if r["peer"].startswith("copasi") and "mean_path" in r:
            m, n = np.array(r["mean_path"]["P"]), r["runs"]
            with np.errstate(divide="ignore", invalid="ignore"):
                za, zb = (np.sqrt(n) * (m - mu) / s for mu, s in ((exact, exact_sd), (twice, twice_sd)))
            za, zb = za[1:], zb[1:]
            out.append(f"| {LABELS[r['peer']]}, seeds {r['seed']} + i | {n} | {m[-1]:.3f} | {za[-1]:+.1f}; {za[np.argmax(np.abs(za))]:+.1f} | "
                       f"{zb[-1]:+.1f}; {zb[np.argmax(np.abs(zb))]:+.1f} |")
    return out


def markdown(rows: list[dict], head: str, peers: list[str]) -> str:
    out = [head, "", "| case | " + " | ".join(LABELS[p] for p in peers) + " |", "|---" * (len(peers) + 1) + "|"]
    by = {(r["case"], r["peer"]): r for r in rows}
    for case in sorted({r["case"] for r in rows}):
        cells = []
        for p in peers:
            r = by.get((case, p))
            if r is None:
                cells.append("(same as correction off)" if p == "copasi-corrected" else "")
            elif r["status"] == "not run":
                cells.append(f"not run: {r['detail']}")
            else:
                verdict = "pass" if r["status"] == "pass" else "**FAIL**"
                cells.append(f"{verdict}: worst Z {r['worst_z']:+.1f} ({r['worst_z_at']}), \\|Y\\| ≤ {r['worst_y']:.1f}, "
                             f"{r['mean_excursions']}/{r['sd_excursions']} excursions, n = {r['runs']}")
        out.append(f"| {case} | " + " | ".join(cells) + " |")
    out.append("")
    for p in peers:
        mine = [r for r in rows if r["peer"] == p]
        counts = {s: sum(r["status"] == s for r in mine) for s in ("pass", "FAIL", "not run")}
        out.append(f"- {LABELS[p]}: {counts['pass']} pass, {counts['FAIL']} fail, {counts['not run']} not run "
                   f"of {len(mine)} cases; {sum(r.get('cpu_s', 0) for r in mine):.0f} CPU-s")
    for r in rows:
        if r.get("status") == "FAIL":
            out.append(f"- {r['case']} {LABELS[r['peer']]}: {r['detail']}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.peer_dsmts", description=__doc__.splitlines()[0])
    ap.add_argument("--dsmts", type=Path, required=True, help="the upstream DSMTS folder (one folder per case)")
    ap.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    ap.add_argument("--cases", nargs="+", help="case numbers (default: every folder)")
    ap.add_argument("--runs", type=int, default=10_000, help="realisations per case (default 10,000)")
    ap.add_argument("--min-runs", type=int, default=1_000, help="fewest realisations of a slow case (default 1,000)")
    ap.add_argument("--budget", type=float, default=60.0, help="CPU seconds per case and peer before n is cut")
    ap.add_argument("--seed", type=int, default=20_080_000)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--from-json", type=Path, help="only rewrite peer_dsmts.md from this peer_dsmts.json")
    args = ap.parse_args(argv)
    if args.from_json:
        write_markdown(json.loads(args.from_json.read_text(encoding="utf-8")), args.dsmts, args.out)
        return 0
    if not args.dsmts.is_dir():
        print(f"peer_dsmts: {args.dsmts}: no DSMTS folder (--dsmts DIR)", file=sys.stderr)
        return 2
    folders = sorted(f for f in args.dsmts.iterdir() if f.is_dir() and f.name.isdigit()
                     and (not args.cases or f.name in args.cases))
    rows = []
    for folder in folders:
        for peer in args.peers:
            r = check(peer, folder, args.runs, args.min_runs, args.budget, args.seed)
            if r is not None:
                rows.append(r)
                print(f"{r['case']} {peer:17s} {r['status']:5s} n={r.get('runs', 0):6d} {r['cpu_s']:6.1f} CPU-s "
                      f"worst Z {r.get('worst_z', float('nan')):+6.2f}  {r['detail']}", file=sys.stderr, flush=True)
    head = (f"Made by `python -m benchmarks.peer_dsmts {' '.join(argv if argv is not None else sys.argv[1:])}`"
            f" on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (load average "
            f"{os.getloadavg()[0]:.1f}); seeds {args.seed} + i (the same for every case and peer).")
    args.out.mkdir(parents=True, exist_ok=True)
    run = {"head": head, "peers": args.peers, "rows": rows}
    (args.out / "peer_dsmts.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
    write_markdown(run, args.dsmts, args.out)
    return 0


#: why the other peers fail, read from their mean paths (peer_dsmts.json) and generated code, 2026-12-02
OTHER_FAILURES = """
## The other peers' failures

- libroadrunner 2.10 gillespie, the time events (00028 X := 50 at t = 25; 00029 X := 20 at t = 22.5;
  00032 P := 100, P2 := 0 at t = 25): the event fires at the first reaction after its time, and the
  output at t = 25 is the state before it (00028: mean X 9.2 at t = 25 against exactly 50, 41.6 at
  t = 26 against 46.2). libroadrunner warns that time is not continuous for events under gillespie; its
  state event (00033) passes.
- gillespy2 1.8.3 SSACSolver, through `gillespy2.import_SBML`: boundary species are simulated like
  ordinary ones (00006: Sink reaches 433 at t = 50 against a constant 0; 00024–00026: Source, an
  unsigned int, wraps to 2^32 − 10 after its first immigration); a species in concentration is read as
  a count (00011: X(50) = 60.7, 00001's answer, against 77.9); `X/2` in a rate law is C++ integer
  division of the unsigned count (00015: 58.8 against 60.65); a local parameter is renamed but the
  rate law keeps reading the global one (00022: immigration 10 not 5, X(50) = 99.3 against 49.7;
  00027: 19.9 against 9.9). It refuses events (00028, 00029, 00032, 00033) and assignment rules (00019).
"""


def write_markdown(run: dict, dsmts: Path, out: Path) -> None:
    text = markdown(run["rows"], run["head"], run["peers"]) + OTHER_FAILURES
    if any(r["case"] == "00030" for r in run["rows"]):
        text += "\n".join(explain_00030(run["rows"], dsmts / "00030")) + "\n"
    (out / "peer_dsmts.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
