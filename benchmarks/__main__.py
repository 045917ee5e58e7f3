"""``python -m benchmarks [--quick]`` (``python -m benchmarks peers``: the peer suite, see peer_suite.py; ``startup``: start-up, see startup.py): stochins vs gillespy2 in one process run, as Markdown and JSON.

Writes benchmarks/results/latest.json and benchmarks/results/latest.md (override with --out).
Full run: ~12-15 min on 2 cores; --quick: ~2 min (shorter runs, fewer rows).
Sections: our SSA and tau per workload, gillespy2, events per minute, compile times, peak memory,
batch runs (stochins.run and the HDF5 writer), tau vs SSA on the insulin model, protocol and
variability overhead; each of the last three can be skipped (--no-batch, --no-insulin-tau, --no-protocols).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from . import REPO, RESULTS, batch, insulin_tau, peers, probes, protocols, report, ssa
from .workloads import CASCADE, INSULIN, WORKLOADS

T_START = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T_START:6.1f} s] {msg}", file=sys.stderr, flush=True)


def _versions() -> dict:
    import numba
    import numpy

    out = {"python": platform.python_version(), "numpy": numpy.__version__, "numba": numba.__version__}
    try:
        import stochins

        out["stochins"] = stochins.__version__
    except Exception as exc:  # noqa: BLE001
        out["stochins"] = f"import failed: {exc}"
    try:
        import gillespy2

        out["gillespy2"] = gillespy2.__version__
    except Exception:  # noqa: BLE001
        out["gillespy2"] = "not installed"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        out["git"] = head + (" (src modified)" if dirty else "")
    except Exception:  # noqa: BLE001
        pass
    return out


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["peers"]:  # the peer suite (benchmarks/peer_suite.py)
        from . import peer_suite

        return peer_suite.main(argv[1:])
    if argv[:1] == ["startup"]:  # import, compile and quickstart from empty caches (benchmarks/startup.py)
        from . import startup

        return startup.main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="~2 minutes: short runs, fewer rows")
    ap.add_argument("--only", nargs="+", metavar="WORKLOAD", help=f"workloads: {', '.join(w.key for w in WORKLOADS)}")
    ap.add_argument("--no-tau", action="store_true", help="skip our tau-leaping rows")
    ap.add_argument("--no-peers", action="store_true", help="skip gillespy2")
    ap.add_argument("--no-slow-peers", action="store_true", help="skip NumPySSASolver and TauLeapingCSolver")
    ap.add_argument("--no-compile", action="store_true", help="skip the compile-time subprocesses")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--no-batch", action="store_true",
                    help="skip batch runs (stochins.run vs simulate, HDF5 size, peak memory of 10^5-10^6 cells)")
    ap.add_argument("--no-insulin-tau", action="store_true",
                    help="skip tau vs SSA on the insulin model at scale 1 and 0.1 (and gillespy2's tau there)")
    ap.add_argument("--no-protocols", action="store_true", help="skip the protocol and variability overhead")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for latest.json and latest.md")
    args = ap.parse_args(argv)
    quick = args.quick

    # gillespy2's C solvers build with SCons, installed next to this interpreter
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

    import numba

    workloads = [w for w in WORKLOADS if (args.only is None and (w.in_quick or not quick))
                 or (args.only is not None and w.key in args.only)]
    target_s = 1.0 if quick else 5.0
    notes: list[str] = []
    res: dict = {
        "meta": {"quick": quick, "command": "python -m benchmarks" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
                 "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                 "cpu": _cpu(), "cpus": os.cpu_count(), "numba_threads": numba.config.NUMBA_NUM_THREADS,
                 "loadavg_start": _loadavg(), "versions": _versions(), "target_run_s": target_s},
        "workloads": [{**asdict(w), "describe": w.describe()} for w in workloads],
        "ours": {}, "ours_tau": {}, "gillespy2": [], "compile": [], "memory": [], "notes": notes,
    }
    if numba.config.NUMBA_NUM_THREADS < 2:
        notes.append(f"numba has only {numba.config.NUMBA_NUM_THREADS} thread(s): the 2-thread rows use fewer.")
    if quick:
        notes.append("Quick mode: ~1 s runs instead of ~5 s, short gillespy2 budgets, no scale-0.1 insulin row, "
                     "no NumPySSASolver/TauLeapingCSolver rows, compile times for the cascade only; "
                     "batch runs: 50 cells for the writer overhead, 10^4 and 10^5 cells for peak memory; "
                     "insulin tau vs SSA: 1/8 (scale 1) and 2/4 (scale 0.1) SSA/tau cells, no 1,000-cell run, "
                     "gillespy2 tau on t=0..0.05 min; protocols: 16/12 cells, one run each. "
                     "Run `python -m benchmarks` for the full tables.")

    # ------------------------------------------------------------------ compile times (fresh processes)
    if not args.no_compile:
        log("compile times (subprocesses, fresh cache directory)")
        specs = [("cascade", {"model": CASCADE, "t_end": 1.0, "samples": 2})]
        if not quick:
            specs.append(("sedaghat2002", {"model": "sedaghat2002", "t_end": 1.0, "samples": 2, "inputs": INSULIN,
                                           "model_parameters": {"scale": 0.01}}))
        for name, spec in specs:
            try:
                res["compile"].append(probes.compile_times(name, spec, log))
            except Exception as exc:  # noqa: BLE001
                res["compile"].append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
                log(f"  compile {name}: FAILED {exc}")

    # ------------------------------------------------------------------ our SSA
    for w in workloads:
        log(f"ours: {w.key}")
        try:
            res["ours"][w.key] = ssa.benchmark(w, target_s, log)
        except Exception as exc:  # noqa: BLE001
            res["ours"][w.key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            log(f"  FAILED {exc}")
    if not args.no_tau:
        for w in workloads:
            o = res["ours"].get(w.key, {})
            if "events_per_cell" not in o:
                continue
            log(f"ours tau-leaping: {w.key}")
            try:
                t = ssa.tau_benchmark(w, o, target_s / 2, log)
                if t is None:
                    notes.append("This stochins has no method='tau': no tau-leaping rows.")
                    break
                t["check"] = peers.agreement(o["final"], t["final"])
                res["ours_tau"][w.key] = t
            except Exception as exc:  # noqa: BLE001
                res["ours_tau"][w.key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
                log(f"  FAILED {exc}")

    log("events per cell per minute, sedaghat2002 at scale 1")
    try:
        res["events_per_minute"] = ssa.events_per_minute("sedaghat2002", INSULIN, minutes=(1.0, 2.0), cells=2)
        log(f"  {res['events_per_minute']['mean_per_minute']:.3g} events per cell per minute")
    except Exception as exc:  # noqa: BLE001
        res["events_per_minute"] = {"error": f"{type(exc).__name__}: {exc}"}
        log(f"  FAILED {exc}")

    # ------------------------------------------------------------------ gillespy2
    if not args.no_peers:
        for w in workloads:
            o = res["ours"].get(w.key, {})
            if "events_per_cell" not in o:
                continue
            budget = w.peer_budget[1 if quick else 0]
            if budget <= 0:
                continue
            log(f"gillespy2 SSACSolver: {w.key}")
            row = peers.benchmark("SSACSolver", w, o["events_per_cell"], budget, log, species=o["final"]["species"])
            if "final" in row:
                row["check"] = peers.agreement(o["final"], row["final"])
            res["gillespy2"].append(row)
        if not quick and not args.no_slow_peers:
            for solver, kwargs in (("TauLeapingCSolver", {"tau_tol": 0.03}), ("NumPySSASolver", {})):
                for w in workloads:
                    if w.slow_t_end is None or w.key not in res["ours"] or "error" in res["ours"][w.key]:
                        continue
                    log(f"gillespy2 {solver}: {w.key} (t=0..{w.slow_t_end:g})")
                    try:
                        ev, stats = ssa.truncated_events(w, w.slow_t_end, w.slow_samples)
                    except Exception as exc:  # noqa: BLE001
                        log(f"  FAILED (our reference run) {exc}")
                        continue
                    row = peers.benchmark(solver, w, ev, 8.0, log, t_end=w.slow_t_end, samples=w.slow_samples,
                                          species=stats["species"], run_kwargs=kwargs)
                    if "final" in row:
                        row["check"] = peers.agreement(stats, row["final"])
                    res["gillespy2"].append(row)
            skipped = [w.key for w in workloads if w.slow_t_end is None]
            if skipped:
                notes.append(f"NumPySSASolver and TauLeapingCSolver skipped for {', '.join(skipped)}: "
                             "same per-event cost as the smaller scale, minutes per trajectory.")

    export_notes: dict[str, list[str]] = {}
    for r in res["gillespy2"]:
        if r.get("export_note") and r["workload"] not in export_notes.setdefault(r["export_note"], []):
            export_notes[r["export_note"]].append(r["workload"])
    notes += [f"gillespy2 export of {', '.join(keys)}: {note}" for note, keys in export_notes.items()]

    # ------------------------------------------------------------------ peak memory (fresh processes)
    if not args.no_memory:
        spec = {"model": CASCADE, "t_end": 0.2, "samples": 11, "record": ["K3p", "LRp"], "threads": 2}
        res["memory_spec"] = spec
        log("peak memory (subprocesses)")
        runs = [(10_000, None), (100_000, None), (100_000, 10_000)] + ([] if quick else [(1_000_000, None)])
        for cells, block in runs:
            try:
                res["memory"].append(probes.memory({**spec, "cells": cells, "block_size": block}, log))
            except Exception as exc:  # noqa: BLE001
                res["memory"].append({"cells": cells, "error": f"{type(exc).__name__}: {exc}"})
                log(f"  memory {cells}: FAILED {exc}")

    # ------------------------------------------------------------------ batch runs, insulin tau, protocols
    for flag, key, module in ((args.no_batch, "batch", batch), (args.no_insulin_tau, "insulin_tau", insulin_tau),
                              (args.no_protocols, "protocols", protocols)):
        if flag:
            continue
        try:
            res[key] = module.benchmark(quick, log)
        except Exception as exc:  # noqa: BLE001
            res[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            log(f"  {key}: FAILED {exc}")

    res["meta"]["loadavg_end"] = _loadavg()
    res["meta"]["total_s"] = time.perf_counter() - T_START
    md = report.markdown(res)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    (args.out / "latest.md").write_text(md + "\n")
    print(md)
    log(f"wrote {args.out / 'latest.json'} and {args.out / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
