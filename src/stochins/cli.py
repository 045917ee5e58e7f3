"""The ``stochins`` command line: run | validate | info | models.

Bad input (run file, model, arguments) exits with status 2 and one line on stderr, never a
traceback; a simulation failure exits 1; Ctrl-C exits 130 leaving a resumable file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


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

    args = parser.parse_args(argv)
    try:
        return _VERBS[args.verb](args)
    except KeyboardInterrupt:
        print("stochins: interrupted; the output is marked incomplete: continue with --resume", file=sys.stderr)
        return 130


def _run(args) -> int:
    from .config import ConfigError
    from .io.hdf5 import ResultsError
    from .runner import run
    from .simulation import SimulationError

    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.verbose else None
    try:
        out = run(args.runfile, output=args.output, resume=args.resume, overwrite=args.overwrite,
                  progress=False if args.quiet else None, log=log, cells=args.cells, seed=args.seed,
                  threads=args.threads, scheduler=args.scheduler)
    except (ConfigError, ResultsError) as exc:
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
    except ConfigError as exc:
        return _fail(exc, 2)
    c = prepared.config
    print(f"{args.runfile}: ok — model {prepared.model.network.name} ({len(prepared.model.species)} species, "
          f"{len(prepared.model.reactions)} reactions), {len(prepared.conditions)} condition(s) x {c.cells} cells, "
          f"method {c.method}, {c.time.samples} samples from {c.time.start} to {c.time.end} min, "
          f"output {c.output_path()}")
    return 0


def _info(args) -> int:
    from .io.hdf5 import ResultsError, open_results

    try:
        r = open_results(args.results)
    except ResultsError as exc:
        return _fail(exc, 2)
    a = r.attrs
    print(f"{r.path}: {'complete' if r.complete else 'INCOMPLETE (resume with stochins run RUNFILE --resume)'}")
    print(f"  model {a.get('model_name')} · method {a.get('method')} · seed {a.get('seed')} · "
          f"stochins {a.get('stochins_version')} · created {a.get('created')}")
    for cond in r:
        s = cond.settings
        settings = ", ".join(f"{k}={v}" for k, v in s.items()
                             if k not in ("index", "cells", "cells_done", "trajectories_kept", "condition_key",
                                          "quantiles_cells"))
        print(f"  condition {cond.name}: {cond.cells_done}/{s.get('cells')} cells, "
              f"{s.get('trajectories_kept')} trajectories kept, {cond.time.size} samples "
              f"{cond.time[0]:g}-{cond.time[-1]:g} min{'; ' + settings if settings else ''}")
        print(f"    species: {', '.join(cond.species)}")
    return 0


def _models(args) -> int:
    from .api import builtin_models

    for name, description in builtin_models().items():
        print(f"{name:28s} {description}")
    return 0


def _fail(exc: Exception, status: int) -> int:
    print(f"stochins: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
    return status


_VERBS = {"run": _run, "validate": _validate, "info": _info, "models": _models}

if __name__ == "__main__":
    sys.exit(main())
