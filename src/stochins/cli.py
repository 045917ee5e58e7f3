"""The ``stochins`` command line: run | validate | info | summarize | plot | report | models | methods | export.

Bad input (run file, model, arguments, output path) exits with status 2 and one line on stderr,
never a traceback; a simulation failure exits 1; an output that cannot be written (disk full, I/O
error) exits 3 leaving a resumable file; SIGINT (Ctrl-C) exits 130 and SIGTERM 143, leaving a
resumable file.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys

from ._version import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="stochins", description="Stochastic single-cell simulation of insulin signalling.")
    parser.add_argument("--version", action="version", version=f"stochins {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="simulate a run file and write an HDF5 results file",
                       description="Simulate a run file (YAML) and write its HDF5 results file.")
    p.add_argument("runfile", help="run file (YAML)")
    p.add_argument("-o", "--output", help="output file (default: the run file's output.path)")
    p.add_argument("--cells", type=int, help="number of cells per condition (overrides the run file)")
    p.add_argument("--seed", type=int, help="random seed (overrides the run file)")
    p.add_argument("--threads", type=int, help="numba threads (results do not depend on it)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the blocks on a Dask cluster: a scheduler address, or local[:N] for N local workers")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run's output file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per finished block (for logs)")

    p = sub.add_parser("validate", help="check a run file and its model without simulating",
                       description="Check a run file and its model without simulating.")
    p.add_argument("runfile")

    p = sub.add_parser("info", help="describe a results file", description="Describe an HDF5 results file.")
    p.add_argument("results")

    sub.add_parser("models", help="list the built-in models", description="List the built-in models.")
    sub.add_parser("methods", help="list the simulation methods and their options",
                   description="List the simulation methods (run-file key 'method') with their options "
                               "(run-file key named after the method, e.g. 'tau: {epsilon: 0.01}').")

    p = sub.add_parser("export", help="write a model as SBML (Level 3 Version 2)",
                       description="Write a model (built-in name, model YAML or SBML file) as SBML Level 3 Version 2: "
                                   "amounts in molecules, propensities as kinetic laws, inputs as parameters, "
                                   "expressions as assignment rules, events.")
    p.add_argument("model", help="built-in model name, model YAML or SBML file")
    p.add_argument("-o", "--output", required=True, help="SBML file to write")

    p = sub.add_parser("summarize", help="population statistics (and EC50s) of a results file",
                       description="Print mean, SD, CV, Fano factor and 5/50/95 % quantiles across cells per "
                                   "condition, species and time, from the stored summaries.")
    p.add_argument("results")
    p.add_argument("--times", help="comma-separated times in min (default: the last recorded time)")
    p.add_argument("--species", help="comma-separated species (default: all recorded)")
    p.add_argument("--dose-response", action="store_true",
                   help="for a sweep over inputs.<name>.dose: EC50 and Hill coefficient per species and time")
    p.add_argument("--capacity", action="store_true",
                   help="for a dose sweep: channel capacity (bits) between the dose and a single cell's response, "
                        "per species and time, bias-corrected, with a 95 %% bootstrap interval")
    p.add_argument("--bins", type=int, help="with --capacity: response bins (default: from the cells per dose)")

    p = sub.add_parser("plot", help="plot time courses (or a dose-response) of a results file",
                       description="Plot, per species, the mean, ±SD band, 5-95 % band and a few single cells "
                                   "over time for each condition (or, with --dose-response, the dose-response).")
    p.add_argument("results")
    p.add_argument("-o", "--output", required=True, help="figure file (.png, .pdf, .svg)")
    p.add_argument("--species", help="comma-separated species (default: all recorded)")
    p.add_argument("--conditions", help="comma-separated condition names (default: all)")
    p.add_argument("--cells", type=int, help="single-cell trajectories drawn per condition "
                   "(default: 5, fewer with many conditions)")
    p.add_argument("--dose-response", action="store_true", help="plot response against dose instead of time")
    p.add_argument("--times", help="with --dose-response: comma-separated times in min (default: the last)")

    p = sub.add_parser("report", help="write a self-contained HTML report of a results file",
                       description="Write one HTML page (figures embedded) with the run's provenance, summaries and "
                                   "the single-cell analyses that apply: dose-response with EC50 intervals, channel "
                                   "capacity, responding cells and bimodality, response timing, noise decomposition.")
    p.add_argument("results")
    p.add_argument("-o", "--output", required=True, help="HTML file to write")
    p.add_argument("--species", help="comma-separated species in the tables (default: all recorded)")
    p.add_argument("--main", help="species in the figures (default: Akt_active if recorded, else the first)")
    p.add_argument("--times", help="comma-separated capacity times in min (default: up to five)")
    p.add_argument("--boot", type=int, default=200, help="bootstrap resamples for the intervals (default 200)")

    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # a C locale must not turn a "—" or a path into a traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        status = _VERBS[args.verb](args)
        if status == 3 and argv is None:
            # the program itself, after a failed write: HDF5's state may be broken, and its shutdown code
            # can crash on it (the file on disk is already as consistent as it will get); leave at once
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)
        return status
    except BrokenPipeError:  # e.g. `stochins info out.h5 | head -3`: the reader has all it wanted
        if argv is None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        output = getattr(exc, "output", None)
        what = "SIGTERM" if signum == signal.SIGTERM else "interrupted"
        tail = (f"; {output} is marked incomplete: continue with --resume" if output is not None
                else "; no output was written")
        print(f"stochins: {what}{tail}", file=sys.stderr)
        return 128 + int(signum)


def _run(args) -> int:
    from .config import ConfigError
    from .executors import ExecutorError, SchedulerError
    from .errors import ArgumentError, ModelError
    from .io.hdf5 import OutputWriteError, ResultsError
    from .runner import run
    from .simulation import SimulationError

    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.verbose else None
    try:
        out = run(args.runfile, output=args.output, resume=args.resume, overwrite=args.overwrite,
                  progress=False if args.quiet else None, log=log, cells=args.cells, seed=args.seed,
                  threads=args.threads, scheduler=args.scheduler)
    except (OutputWriteError, ExecutorError) as exc:
        return _fail(exc, 3)
    except (ConfigError, ResultsError, ModelError, ArgumentError, SchedulerError) as exc:
        return _fail(exc, 2)
    except SimulationError as exc:
        return _fail(exc, 1)
    if not args.quiet:
        print(out)
    return 0


def _validate(args) -> int:
    from .config import ConfigError
    from .runner import prepare

    try:
        prepared = prepare(args.runfile)
        out = prepared.config.output_path()
    except ConfigError as exc:
        return _fail(exc, 2)
    c = prepared.config
    print(f"{args.runfile}: ok — model {prepared.model.network.name} ({len(prepared.model.species)} species, "
          f"{len(prepared.model.reactions)} reactions), {len(prepared.conditions)} condition(s) x {c.cells} cells, "
          f"method {c.method}, {c.time.samples} samples from {c.time.start} to {c.time.end} min, "
          f"output {out} (about {_size(prepared.output_bytes())})")
    return 0


def _info(args) -> int:
    from .io.hdf5 import ResultsError, open_results

    try:
        r = open_results(args.results)
        conditions = list(r)
    except ResultsError as exc:
        return _fail(exc, 2)
    a = r.attrs
    print(f"{r.path}: {'complete' if r.complete else 'INCOMPLETE (resume with stochins run RUNFILE --resume)'}")
    print(f"  model {a.get('model_name')} · method {a.get('method')} · seed {a.get('seed')} · "
          f"stochins {a.get('stochins_version')} · created {a.get('created')}")
    for cond in conditions:
        s = cond.settings
        settings = ", ".join(f"{k}={v}" for k, v in s.items()
                             if k not in ("index", "cells", "cells_done", "trajectories_kept", "condition_key",
                                          "quantiles_cells", "model_hash"))
        print(f"  condition {cond.name}: {cond.cells_done}/{s.get('cells')} cells, "
              f"{s.get('trajectories_kept')} trajectories kept, {cond.time.size} samples "
              f"{cond.time[0]:g}-{cond.time[-1]:g} min{'; ' + settings if settings else ''}")
        print(f"    species: {', '.join(cond.species)}")
        if cond.observables:
            print(f"    observables: {', '.join(cond.observables)}")
    return 0


def _summarize(args) -> int:
    from .analysis import AnalysisError, dose_keys, dose_response, ec50, format_table, summary_table, time_index
    from .io.hdf5 import ResultsError, open_results

    try:
        r = open_results(args.results)
        species = _csv(args.species)
        times = _times(args.times)
        # one readable table by default, at each condition's last time (every time would be conditions x species
        # x samples rows)
        rows = summary_table(r, times=times or "last", species=species)
        if times is None:
            times = [float(r[r.conditions[0]].time[-1])]
        keys = dose_keys(r) if args.dose_response else []
        if args.dose_response and not keys:
            raise AnalysisError(f"{r.path}: not a dose sweep (no inputs.<name>.dose varies across conditions)")
        grid = r[r.conditions[0]].time
        recorded = list(dict.fromkeys(float(grid[time_index(grid, t)]) for t in times))  # 15 and 14.8 -> once
        fits = []
        for key in keys:
            for sp in species or r[r.conditions[0]].quantities:
                for t in recorded:
                    dr = dose_response(r, sp, t, dose_key=key)
                    try:
                        fit = ec50(dr.doses, dr.response)
                        fits.append((key, sp, dr.time, f"{fit.ec50:.4g}", f"{fit.hill:.3g}" if fit.method == "hill"
                                     else "-", fit.method, f"{fit.baseline:.4g}", f"{fit.top:.4g}"))
                    except AnalysisError as exc:
                        fits.append((key, sp, dr.time, "-", "-", str(exc), "-", "-"))
        if args.bins is not None and not args.capacity:
            raise AnalysisError("--bins applies to --capacity")
        capacity = _capacity_rows(r, species, recorded, args.bins) if args.capacity else []
    except (ResultsError, AnalysisError) as exc:
        return _fail(exc, 2)
    print(f"{r.path}: {len(r.conditions)} condition(s){'' if r.complete else ' (INCOMPLETE run)'}; "
          f"statistics across cells (molecules per cell)")
    print(format_table(rows))
    if fits:
        print()
        print("EC50 (response normalised between the lowest dose's and the maximal response; Hill fit in log dose)")
        head = ("dose", "species", "t (min)", "EC50 (nM)" if keys == ["inputs.insulin.dose"] else "EC50", "hill n",
                "method", "baseline", "max")
        body = [(k, sp, f"{t:g}", e, n, m, b, top) for k, sp, t, e, n, m, b, top in fits]
        width = [max(len(x) for x in col) for col in zip(head, *body)]
        for line in [head, ["-" * w for w in width]] + body:
            print("  ".join(c.ljust(w) for c, w in zip(line, width)).rstrip())
    if capacity:
        print()
        print("channel capacity (bits) between the dose and one cell's response; bias-corrected (subsampling, "
              "1/n extrapolation), 95 % bootstrap interval")
        _print_table(("species", "t (min)", "capacity (bits)", "95 % CI", "plug-in", "bins", "cells/dose",
                      "optimal dose weights"), capacity)
    return 0


def _capacity_rows(r, species, times, bins) -> list[tuple]:
    """``summarize --capacity``: one row per species and time (errors: not a sweep, too few cells)."""
    from .analysis.information import sweep_conditions, channel_capacity

    sweep_conditions(r, None, None)  # "not a dose sweep" before any reading
    rows = []
    for sp in species or r[r.conditions[0]].species:
        for t in times:
            e = channel_capacity(r, sp, t, bins=bins)
            weights = " ".join(f"{d:g}:{w:.2f}" for d, w in zip(e.inputs, e.input_distribution) if w >= 0.01)
            rows.append((sp, f"{t:g}", f"{e.bits:.3f}", f"{e.ci[0]:.3f}-{e.ci[1]:.3f}", f"{e.naive:.3f}",
                         str(e.bins), str(int(e.cells.min())), weights))
    return rows


def _print_table(head, body) -> None:
    width = [max(len(x) for x in col) for col in zip(head, *body)]
    for line in [head, ["-" * w for w in width]] + list(body):
        print("  ".join(c.ljust(w) for c, w in zip(line, width)).rstrip())


def _plot(args) -> int:
    from .analysis import AnalysisError
    from .io.hdf5 import ResultsError, open_results

    try:
        r = open_results(args.results)
        species, conditions = _csv(args.species), _csv(args.conditions)
        if args.cells is not None and args.cells < 0:
            raise AnalysisError(f"--cells must be >= 0 (got {args.cells})")
        try:
            from .analysis import plots
        except ImportError:
            raise AnalysisError("plotting needs matplotlib: pip install 'stochins[plot]'") from None
        if args.dose_response:
            out = plots.plot_dose_response(r, args.output, species=species, times=_times(args.times),
                                           conditions=conditions)
        else:
            out = plots.plot_results(r, args.output, species=species, conditions=conditions, cells=args.cells)
    except (ResultsError, AnalysisError) as exc:
        return _fail(exc, 2)
    except OSError as exc:  # e.g. the figure's directory is not writable
        return _fail(exc, 2)
    print(out)
    return 0


def _report(args) -> int:
    from .analysis import AnalysisError
    from .io.hdf5 import ResultsError, open_results

    try:
        r = open_results(args.results)
        if args.boot < 1:
            raise AnalysisError(f"--boot must be >= 1 (got {args.boot})")
        try:
            from .analysis.report import write_report
        except ImportError:
            raise AnalysisError("the report needs matplotlib: pip install 'stochins[plot]'") from None
        out = write_report(r, args.output, species=_csv(args.species), main=args.main, times=_times(args.times),
                           boot=args.boot)
    except (ResultsError, AnalysisError) as exc:
        return _fail(exc, 2)
    except OSError as exc:  # e.g. -o names a directory
        return _fail(OSError(f"{args.output}: cannot write the report ({exc.strerror or exc})"), 2)
    print(out)
    return 0


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def _times(text: str | None) -> list[float] | None:
    from .analysis import AnalysisError

    if text is None:
        return None
    try:
        times = [float(x) for x in _csv(text)]
    except ValueError:
        times = []
    if not times or not all(map(math.isfinite, times)):
        raise AnalysisError(f"--times expects comma-separated numbers of minutes (got {text!r})")
    return times


def _models(args) -> int:
    from .models.loader import builtin_models

    for name, description in builtin_models().items():
        print(f"{name:28s} {description}")
    return 0


def _methods(args) -> int:
    from .engine.composition_rejection import AUTO_ABOVE_REACTIONS
    from .engine.methods import AUTO, METHODS

    for m in METHODS.values():
        print(f"{m.name:6s} {'exact' if m.exact else 'approximate'} — {m.summary} ({m.reference})")
        for o in m.options:
            print(f"         {m.name}.{o.name} = {o.default:g}  ({o.range()}): {o.doc}")
    print(f"{AUTO:6s} chooses per condition: cr above {AUTO_ABOVE_REACTIONS} reactions (models without events), "
          f"otherwise ssa or tau from short pilots (see the README)")
    return 0


def _export(args) -> int:
    from pathlib import Path

    from .errors import ModelError
    from .models.loader import load_network
    from .models.sbml import to_sbml

    try:
        network = load_network(args.model)
        source, out = Path(network.source), Path(args.output)
        if source.exists() and out.exists() and out.samefile(source):
            raise ModelError(f"{out}: is the model file being exported; refusing to write SBML over it")
        text = to_sbml(network)
        out.write_text(text, encoding="utf-8")
    except ModelError as exc:
        return _fail(exc, 2)
    except OSError as exc:
        return _fail(OSError(f"{args.output}: cannot write ({exc.strerror})"), 2)
    return 0


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:,.0f} TB"


def _fail(exc: Exception, status: int) -> int:
    print(f"stochins: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
    return status


_VERBS = {"run": _run, "validate": _validate, "info": _info, "summarize": _summarize, "plot": _plot,
          "models": _models, "methods": _methods, "export": _export, "report": _report}

if __name__ == "__main__":
    sys.exit(main())
