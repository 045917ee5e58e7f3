"""``python -m benchmarks peers``: our methods and the peer simulators, side by side, one process per table.

Each table (one model and workload) runs in a fresh subprocess: our stochastic methods at 1 and 2
threads (first-call time = compile or cache load, then warm runs); gillespy2's SSACSolver (C++ build
timed), TauLeapingCSolver, TauHybridCSolver and NumPySSASolver; rebop (mass-action models only, its
sparse mode: it cannot take our rate expressions); libroadrunner's gillespie and COPASI's direct
method, Gibson–Bruck next-reaction method and tau-leaping (both from our own SBML export, ``to_sbml``,
with the run's parameters and inputs set; COPASI's stochastic correction of rate laws off, see
``copasi_datamodel``). Every row gets wall and CPU time (children included, so
the C++ solvers' subprocesses count), events/s, and the ratio to gillespy2's SSACSolver of events per
CPU-second (on a loaded machine wall time says more about the other processes than about the
simulator). Peers' events are trajectories × our SSA's mean events per cell (the same law, so the
same expected count; for approximate methods these are SSA-equivalent events). Peers slower than
about 1e5 events/s (NumPySSASolver, gillespy2's tau solvers) run a span ``SLOW_SPAN`` times shorter,
against our SSA over the same span. A check column gives the largest |z| of the difference of
final-time means against the first of our methods run (``ssa`` unless
``--ours`` says otherwise). Writes benchmarks/results/peers.md and peers.json. Ratios within
one table are the meaningful numbers: the machine is shared; its load average is printed with each table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from . import MODELS, REPO, RESULTS
from .peers import mean_z

INSULIN = {"insulin": 100.0}
TABLES = {
    "insulin_0.01": ("sedaghat2002", 60.0, 61, INSULIN, {"scale": 0.01}),
    "insulin_0.1": ("sedaghat2002", 60.0, 61, INSULIN, {"scale": 0.1}),
    "cascade": (str(MODELS / "cascade.yaml"), 100.0, 101, {}, {}),
    "dimerisation": (str(REPO / "tests" / "data" / "dsmts" / "00030.yaml"), 50.0, 51, {}, {}),
    "large": ("<large>", 10.0, 11, {}, {}),
}
OURS = ("ssa", "direct", "lockstep", "cr", "tau")
#: slow peers simulate t_end / SLOW_SPAN (their events per cell from our first method over that span)
SLOW_SPAN = 20


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn):
    w, c = time.perf_counter(), cpu()
    out = fn()
    return out, time.perf_counter() - w, cpu() - c


def grow(run_n, budget: float, cap: int = 1 << 20):
    """Run n = 1, 4, 16, ... until a run takes >= budget/8, then once at the size that fills budget."""
    n = 1
    while True:
        out, wall, c = timed(lambda: run_n(n))
        if wall >= budget / 8 or n >= cap:
            break
        n *= 4
    m = int(min(cap, max(n, round(n * budget / max(wall, 1e-3)))))
    if m > n:
        out, wall, c = timed(lambda: run_n(m))
        n = m
    return n, out, wall, c


def table(key: str, budget: float, ours: tuple[str, ...] = OURS) -> dict:
    import stochins

    model_name, t_end, samples, inputs, params = TABLES[key]
    if model_name == "<large>":
        from .large_network import large_network_yaml

        path = Path(tempfile.mkdtemp()) / "large_network.yaml"
        path.write_text(large_network_yaml(), encoding="utf-8")
        model_name = str(path)
    model = stochins.load_model(model_name)
    kw = dict(t_end=t_end, samples=samples, inputs=inputs or None, model_parameters=params or None)
    rows, finals = [], {}
    species = list(model.declared_species)
    for method in ours:
        _, first, first_cpu = timed(lambda: stochins.simulate(model, cells=1, threads=1, seed=1, method=method,
                                                              **{**kw, "t_end": t_end / 100, "samples": 2}))
        for threads in (1, 2):
            n, res, wall, c = grow(lambda n: stochins.simulate(model, cells=n * threads, threads=threads, seed=11,
                                                               method=method, **kw), budget)
            events = float(res.events.sum())
            rows.append({"simulator": f"stochins {method}", "threads": threads, "trajectories": n * threads,
                         "wall_s": wall, "cpu_s": c, "events_per_s": events / wall,
                         "events_per_cpu_s": events / c, "build_s": first if threads == 1 else None})
            if threads == 1:
                finals[method] = res.trajectories[:, -1, :].astype(float)
                if method == ours[0]:
                    per_cell = events / n
    slow_kw = {**kw, "t_end": t_end / SLOW_SPAN, "samples": 2}
    slow = stochins.simulate(model, cells=40, threads=1, seed=13, method=ours[0], **slow_kw)
    slow_per_cell = float(slow.events.mean())
    slow_finals = {ours[0]: slow.trajectories[:, -1, :].astype(float)}
    for name, fn, short in PEERS:
        span_kw, events, into = (slow_kw, slow_per_cell, slow_finals) if short else (kw, per_cell, finals)
        try:
            row, final = fn(model, span_kw, budget, events, species)
            rows.append({"simulator": name, "threads": 1, **row, **({"span": span_kw["t_end"]} if short else {})})
            into[name] = final
        except Exception as exc:  # noqa: BLE001 (a missing or failing peer must not stop the table)
            rows.append({"simulator": name, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:160]})
            traceback.print_exc()
    for row in rows:
        name = row["simulator"].replace("stochins ", "")
        into = slow_finals if "span" in row else finals
        if name in into and name != ours[0] and row.get("threads") == 1:
            row["check_max_z"] = _max_z(into[ours[0]], into[name])
    return {"table": key, "model": model.network.name, "reactions": len(model.reactions),
            "species": len(model.species), "settings": {"t_end": t_end, "samples": samples, **inputs, **params},
            "events_per_cell": per_cell, "loadavg": os.getloadavg(), "rows": rows}


def _peer_row(n: int, wall: float, cpu_s: float, per_cell: float, build: float) -> dict:
    """A peer's row: its trajectories count our mean events per cell each (the same law)."""
    return {"trajectories": n, "wall_s": wall, "cpu_s": cpu_s, "events_per_s": n * per_cell / wall,
            "events_per_cpu_s": n * per_cell / cpu_s, "build_s": build}


def _max_z(a: np.ndarray, b: np.ndarray) -> float | None:
    """Largest |z| over species of the difference of means (species a peer does not report skipped;
    pooled variance: see peers.mean_z)."""
    if len(a) < 2 or len(b) < 2:
        return None
    keep = ~np.isnan(b).any(axis=0)
    a, b = a[:, keep], b[:, keep]
    return float(mean_z(a.mean(0), a.var(0, ddof=1), len(a), b.mean(0), b.var(0, ddof=1), len(b)).max())


def _gillespy2(solver_name: str, **run_kwargs):
    """A row maker for one of gillespy2's solvers (C++ ones are built once, build time reported)."""

    def row(model, kw, budget, per_cell, species):
        import gillespy2
        from stochins.models.gillespy2_interop import solver_environment, to_gillespy2

        gm = to_gillespy2(model, inputs=kw["inputs"], model_parameters=kw["model_parameters"], t_end=kw["t_end"],
                          samples=kw["samples"], integer_comparisons=model.network.name == "sedaghat2002")
        with solver_environment():
            solver, build, _ = timed(lambda: getattr(gillespy2, solver_name)(model=gm))
        n, res, wall, c = grow(lambda n: solver.run(number_of_trajectories=n, seed=5, **run_kwargs), budget)
        res = [res] if n == 1 and not isinstance(res, list) and hasattr(res, "keys") else res
        final = np.array([[float(np.asarray(tr[s])[-1]) for s in species] for tr in res])
        return _peer_row(n, wall, c, per_cell, build), final

    return row


def _rebop(model, kw, budget, per_cell, species):
    import rebop

    net = model.network
    if any(r.propensity is not None for r in net.reactions.values()):
        raise ValueError("rebop takes mass action or + - * / ^ exp rate strings only; this model has full propensities")
    env = {**net.parameters, **(kw["model_parameters"] or {})}
    s = rebop.Gillespie()
    for r in net.reactions.values():
        # rebop's mass action is k * A * (A - 1) for 2 A; ours k * C(A, 2)
        rate = net.rate_expr(r).evaluate(env) / math.prod(math.factorial(n) for _, n in r.reactants)
        s.add_reaction(float(rate), [x for x, n in r.reactants for _ in range(n)],
                       [x for x, n in r.products for _ in range(n)])
    init = model.network.initial_counts(env)

    def run_n(n):
        return [s.run({k: int(v) for k, v in init.items()}, tmax=kw["t_end"], nb_steps=kw["samples"] - 1, rng=i, sparse=True)
                for i in range(n)]

    _, build, _ = timed(lambda: run_n(1))
    n, res, wall, c = grow(run_n, budget, cap=200_000)
    final = np.array([[float(ds[x].values[-1]) for x in species] for ds in res])
    return _peer_row(n, wall, c, per_cell, build), final


def _sbml(model, kw) -> str:
    """Our SBML export of the model with this run's parameters and inputs as the parameters' values."""
    import libsbml
    from stochins.models.sbml import to_sbml

    doc = libsbml.readSBMLFromString(to_sbml(model))
    for name, value in {**(kw["model_parameters"] or {}), **(kw["inputs"] or {})}.items():
        doc.getModel().getParameter(name).setValue(float(value))
    return libsbml.writeSBMLToString(doc)


def _roadrunner(model, kw, budget, per_cell, species):
    import roadrunner

    def build():
        rr = roadrunner.RoadRunner(_sbml(model, kw))
        rr.setIntegrator("gillespie")
        rr.timeCourseSelections = ["time"] + species
        return rr

    rr, build_s, _ = timed(build)

    def run_n(n):
        out = []
        for i in range(n):
            rr.reset()
            rr.getIntegrator().setValue("seed", 1000 + i)
            out.append(np.array(rr.simulate(0.0, kw["t_end"], kw["samples"]))[-1, 1:])
        return out

    n, res, wall, c = grow(run_n, budget, cap=200_000)
    return _peer_row(n, wall, c, per_cell, build_s), np.array(res)


def copasi_datamodel(sbml: str, *, path: bool = False, correction: bool = False):
    """COPASI's data model of an SBML model whose kinetic laws are propensities in molecule counts.

    COPASI imports SBML as a "deterministic" model (its GUI's "Apply Stochastic Correction to Rate Laws",
    on by default), and then its stochastic methods multiply a rate law by (N - 1)/N per extra copy of a
    reactant, taking the law for deterministic mass action (k N^2): a law already written as
    k N (N - 1)/2, as in our export and the DSMTS, is corrected twice (benchmarks/results/peer_dsmts.md).
    So the correction is switched off unless ``correction`` asks for COPASI's default.
    """
    import COPASI

    dm = COPASI.CRootContainer.addDatamodel()
    if not (dm.importSBML(sbml) if path else dm.importSBMLFromString(sbml)):
        raise RuntimeError("COPASI could not import the SBML model")
    if not correction:
        dm.getModel().setModelType(COPASI.CModel.ModelType_stochastic)
        dm.getModel().forceCompile()
    return dm


def _copasi(method_type: str, epsilon: float | None = None):
    """A row maker for one of COPASI's stochastic time-course methods (python-copasi)."""

    def row(model, kw, budget, per_cell, species):
        import COPASI

        def build():
            dm = copasi_datamodel(_sbml(model, kw))
            task = dm.getTask("Time-Course")
            task.setMethodType(getattr(COPASI.CTaskEnum, method_type))
            problem = task.getProblem()
            problem.setStepNumber(kw["samples"] - 1)
            problem.setDuration(kw["t_end"])
            problem.setTimeSeriesRequested(True)
            method = task.getMethod()
            method.getParameter("Max Internal Steps").setIntValue(2_000_000_000)
            method.getParameter("Use Random Seed").setBoolValue(True)
            if epsilon is not None:
                method.getParameter("Epsilon").setDblValue(epsilon)
            return task, method

        (task, method), build_s, _ = timed(build)

        def run_n(n):
            out = []
            for i in range(n):
                method.getParameter("Random Seed").setUIntValue(1000 + i)
                task.initializeRaw(COPASI.CCopasiTask.OUTPUT_UI)
                task.processRaw(True)
                ts = task.getTimeSeries()
                last = ts.getRecordedSteps() - 1
                columns = {ts.getTitle(j): j for j in range(ts.getNumVariables())}
                out.append([ts.getData(last, columns[s]) if s in columns else np.nan for s in species])
            return out

        n, res, wall, c = grow(run_n, budget, cap=200_000)
        return _peer_row(n, wall, c, per_cell, build_s), np.array(res, dtype=float)

    return row


#: (row name, row maker, runs the short span)
PEERS = (("gillespy2 SSACSolver", _gillespy2("SSACSolver"), False),
         ("gillespy2 TauLeapingCSolver", _gillespy2("TauLeapingCSolver"), True),
         ("gillespy2 TauHybridCSolver", _gillespy2("TauHybridCSolver"), True),
         ("gillespy2 NumPySSASolver", _gillespy2("NumPySSASolver"), True),
         ("rebop", _rebop, False),
         ("libroadrunner gillespie", _roadrunner, False),
         ("COPASI direct", _copasi("Method_directMethod"), False),
         ("COPASI Gibson-Bruck", _copasi("Method_stochastic"), False),
         ("COPASI tau-leap (epsilon 0.03)", _copasi("Method_tauLeap", epsilon=0.03), False))


def markdown(tables: list[dict]) -> str:
    out = []
    for t in tables:
        if "rows" not in t:
            out += [f"### {t['table']}: FAILED {t.get('error', '')}", ""]
            continue
        settings = ", ".join(f"{k}={v:g}" for k, v in t["settings"].items())
        out += [f"### {t['table']}: {t['model']} ({t['species']} species, {t['reactions']} reactions; {settings}; "
                f"{t['events_per_cell']:.3g} events per cell; load average {t['loadavg'][0]:.1f})", "",
                "| simulator | threads | trajectories | wall s | CPU s | events/s | events per CPU-s | × gillespy2 per CPU-s "
                "| first call / build s | check max\\|z\\| |", "|---|---|---|---|---|---|---|---|---|---|"]
        base = next((r["events_per_cpu_s"] for r in t["rows"] if r["simulator"] == "gillespy2 SSACSolver"
                     and "events_per_cpu_s" in r), None)
        for r in t["rows"]:
            if "error" in r:
                out.append(f"| {r['simulator']} | | | | | failed: {r['error']} | | | | |")
                continue
            ratio = f"{r['events_per_cpu_s'] / base:.2f}" if base else ""
            build = f"{r['build_s']:.2f}" if r.get("build_s") is not None else ""
            check = f"{r['check_max_z']:.1f}" if r.get("check_max_z") is not None else ""
            if "span" in r:
                check += f" (t_end {r['span']:g})"
            out.append(f"| {r['simulator']} | {r['threads']} | {r['trajectories']} | {r['wall_s']:.2f} | "
                       f"{r['cpu_s']:.2f} | {r['events_per_s']:.3g} | {r['events_per_cpu_s']:.3g} | {ratio} | "
                       f"{build} | {check} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks peers", description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=10.0, help="seconds of simulation per row (default 10)")
    ap.add_argument("--only", nargs="+", choices=list(TABLES), help="tables to run")
    ap.add_argument("--ours", nargs="+", choices=OURS, default=list(OURS),
                    help="our methods to run (the first is the reference of the means check)")
    ap.add_argument("--from-json", type=Path, help="only rewrite peers.md from this peers.json")
    ap.add_argument("--table", help=argparse.SUPPRESS)  # the child process: one table, JSON on stdout
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.table:
        print(json.dumps(table(args.table, args.budget, tuple(args.ours))))
        return 0
    tables = json.loads(args.from_json.read_text(encoding="utf-8")) if args.from_json else []
    for key in [] if args.from_json else args.only or TABLES:
        print(f"peers: {key} ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", "benchmarks.peer_suite", "--table", key, "--budget",
                               str(args.budget), "--ours", *args.ours], cwd=REPO, capture_output=True, text=True)
        try:
            tables.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (json.JSONDecodeError, IndexError):
            tables.append({"table": key, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]})
        print(markdown(tables[-1:]), file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(tables, indent=1), encoding="utf-8")
    head = f"Made by `python -m benchmarks peers --budget {args.budget:g}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
    (args.out / "peers.md").write_text(head + markdown(tables), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
