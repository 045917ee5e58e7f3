"""RunConfig -> conditions x blocks of cells -> executor -> writer.

The only place that knows about blocks, executors and output files. Blocks are written as
they finish, so memory is bounded by the block size; an interruption (Ctrl-C, SIGTERM, an error,
a full disk) leaves a valid file marked incomplete, which ``resume=True`` continues bit for bit.
The run holds an exclusive lock on its output path from start to end.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from .models.loader import load_model, load_network
from .compile import compile_notices
from .conservation import wide_species
from .config import ConfigError, RunConfig, check_against_model, expand_conditions, load_run_config
from .engine.methods import METHODS
from .errors import ArgumentError, ModelError
from .executors.local import LocalExecutor, run_interruptibly
from .observables import Observables
from .io.hdf5 import QUANTILE_SAMPLE, ConditionSpec, OutputLock, ResultsError, TrajectoryWriter, output_state
from .simulation import BLOCK_BYTES, Plan, block_ranges
from .variability import CELL_SIZE

__all__ = ["run", "prepare", "Interrupted"]

#: bytes per stored value assumed when estimating the output's size (measured ~1.0 with gzip + shuffle)
_COMPRESSED_VALUE_BYTES = 1.0
#: most memory one block's records may take when block_size is given explicitly
_MAX_BLOCK_BYTES = 4 << 30
#: file bytes per condition besides its trajectories (groups, scales, summaries), for the size estimate
#: (measured 7.5 kB for a condition of one cell and one species; observables add datasets)
_CONDITION_OVERHEAD = 16 << 10


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run; ``signum`` says which (exit status 128 + signum)."""

    def __init__(self, signum: int, output: Path | None = None):
        super().__init__(signum)
        self.signum, self.output = signum, output


class Prepared:
    """A validated run: the model, its conditions as plans, and where the output goes."""

    def __init__(self, config: RunConfig, source: str):
        self.config = config
        self.source = source
        self.conditions = expand_conditions(config, source)
        models = {}
        self.model_files: list[Path] = []
        self.plans: list[Plan] = []
        self.wide: dict[str, str] = {}  # condition -> why its counts are int64
        bounds: dict = {}  # conservation analyses already made (sweeps repeat the same initial state)
        for cond in self.conditions:
            c = cond.config
            ref = c.model_reference()
            key = (ref, json.dumps(c.events, sort_keys=True, default=str))
            if key not in models:  # a sweep may compare models (e.g. with and without feedback)
                try:
                    network = load_network(ref, sbml=c.sbml)
                    if c.events:
                        network = network.with_events(c.events, f"{source}: events")
                    models[key] = load_model(network)
                except ModelError as exc:
                    raise ConfigError(f"{source}: model: {exc}") from None
                if isinstance(ref, Path) and ref not in self.model_files:
                    self.model_files.append(ref)
            model = models[key]
            check_against_model(c, model)
            try:
                self.plans.append(Plan.create(model, t_end=c.time.end, samples=c.time.samples,
                                              t_start=c.time.start, method=c.method, seed=config.seed or 0,
                                              inputs=c.inputs, record=c.record,
                                              model_parameters=c.model_parameters, options=c.method_options(),
                                              variability=c.variability))
                self.plans[-1].sisters = config.sisters
            except (ModelError, ArgumentError) as exc:
                raise ConfigError(f"{source} (condition {cond.name}): {exc}") from None
            reason = _wide_counts(self.plans[-1], bounds)
            if reason:
                self.plans[-1].counts = "int64"
                self.wide[cond.name] = reason
        self.model = self.plans[0].model
        self._check_sizes()

    def block_size(self) -> int:
        return self.config.block_size or min(plan.default_block_size(self.config.cells) for plan in self.plans)

    def _check_sizes(self) -> None:
        """Refuse before allocating anything: a single cell's record must fit a block's memory."""
        for plan in self.plans:
            itemsize = 8 if plan.method == "ode" else np.dtype(plan.counts).itemsize
            per_cell = plan.time.size * (len(plan.record) * itemsize + len(plan.observables) * 8)
            if per_cell > BLOCK_BYTES:
                raise ConfigError(f"{self.source}: time.samples: one cell's record would take "
                                  f"{per_cell / 2**20:,.0f} MiB ({plan.time.size:,} samples x {len(plan.record)} "
                                  f"species); at most {BLOCK_BYTES >> 20} MiB: record fewer samples or species")
            block = min(self.config.block_size or 0, self.config.cells)
            if block * per_cell > _MAX_BLOCK_BYTES:
                raise ConfigError(f"{self.source}: block_size: {block:,} cells of {per_cell / 2**20:.2f} MiB each "
                                  f"would hold {block * per_cell / 2**30:,.1f} GiB in memory at once (at most "
                                  f"{_MAX_BLOCK_BYTES >> 30} GiB); leave block_size out for blocks of <= "
                                  f"{BLOCK_BYTES >> 20} MiB")

    def output_bytes(self) -> float:
        """Estimated size of the output file (compressed trajectories, plus per-condition overhead)."""
        c = self.config
        per_value = 4.0 if c.output.compression == "none" else _COMPRESSED_VALUE_BYTES
        kept = _kept(c)
        total = 0.0
        for plan in self.plans:
            itemsize = 8 if plan.method == "ode" else np.dtype(plan.counts).itemsize
            stored = max(kept, min(c.cells, QUANTILE_SAMPLE))
            values = len(plan.record) * itemsize + len(plan.observables) * 8  # bytes per cell and time
            total += stored * plan.time.size * values * per_value / 4 + _CONDITION_OVERHEAD
            total += c.cells * 8 * (1 + (len(plan.variability.names) if plan.variability else 0))
        return total


def prepare(path_or_config: str | Path | RunConfig, **overrides) -> Prepared:
    """Validate a run file against its model without simulating (``stochins validate``)."""
    if isinstance(path_or_config, RunConfig):
        return Prepared(path_or_config, "<run>")
    return Prepared(load_run_config(path_or_config, **overrides), str(path_or_config))


def run(path_or_config: str | Path | RunConfig, *, output: str | Path | None = None, resume: bool = False,
        overwrite: bool = False, progress: bool | None = None, log: Callable[[str], None] | None = None,
        scheduler: str | None = None, executor=None, **overrides) -> Path:
    """Run a run file (or config) to completion; returns the output path. ``overrides``: cells, seed,
    threads (top-level run-file keys). ``progress=None`` shows a bar only on a terminal.
    ``scheduler``: a Dask scheduler address, or ``local[:N]`` for a local Dask cluster; the results
    are identical to the default in-process executor. SIGINT and SIGTERM (when called from the main
    thread) stop the run within about a second, leaving the output incomplete and resumable, and
    raise :class:`Interrupted`."""
    prepared = prepare(path_or_config, **overrides)
    config = prepared.config
    out = Path(output) if output is not None else config.output_path()
    _check_output_path(out, path_or_config, prepared)
    if executor is None and scheduler:
        from .executors.dask import DaskExecutor

        executor = DaskExecutor(scheduler, threads=config.threads or 1)  # before any file: a bad address leaves none
    executor = executor or LocalExecutor(config.threads)
    try:
        with _Signals() as signals, OutputLock(out):
            return _run_locked(prepared, out, resume, overwrite, progress, log, executor, signals)
    finally:
        executor.close()


def _run_locked(prepared: Prepared, out: Path, resume, overwrite, progress, log, executor,
                signals: "_Signals") -> Path:
    config = prepared.config
    state = output_state(out) if out.exists() else None
    if out.exists() and not resume:
        if not overwrite:
            what = "not a stochins results file" if state is None else \
                "complete" if state["complete"] else "incomplete (use --resume to continue it)"
            raise ResultsError(f"{out}: output exists and is {what}; use --overwrite to replace it")
        try:
            out.unlink()
        except OSError as exc:
            raise ResultsError(f"{out}: cannot replace the output ({exc.strerror})") from None
    if resume and state is not None and config.seed is None and state["seed"] not in (None, "none"):
        config.seed = int(state["seed"])
    if not resume:
        _check_free_space(out, prepared)
    if config.seed is None:
        config.seed = secrets.randbits(63)
    notice = log or ((lambda line: print(line, file=sys.stderr, flush=True))
                     if progress or (progress is None and sys.stderr.isatty()) else None)
    if prepared.wide and notice:
        first, reason = next(iter(prepared.wide.items()))
        others = f" and {len(prepared.wide) - 1} more condition(s)" if len(prepared.wide) > 1 else ""
        notice(f"counts of condition {first}{others} are stored as int64: {reason}")
    with compile_notices(notice):
        return _run(prepared, out, resume, progress, log, executor, signals)


def _run(prepared: Prepared, out: Path, resume: bool, progress: bool | None, log: Callable[[str], None] | None,
         executor, signals: "_Signals") -> Path:
    config = prepared.config
    for plan in prepared.plans:
        plan.seed = config.seed
        run_interruptibly(lambda: plan.resolve_method(config.threads), signals.check)
    block = prepared.block_size()
    specs = [ConditionSpec(cond.name, cond.index, {**cond.settings, "condition_key": str(plan.condition),
                                                   "method": plan.method, "model": plan.model.network.name,
                                                   "model_hash": plan.model.model_hash,
                                                   **({"method_reason": plan.method_reason} if plan.method_reason
                                                      else {}),
                                                   **({"counts": plan.counts, "counts_reason": prepared.wide[cond.name]}
                                                      if cond.name in prepared.wide else {})},
                           config.cells, plan.time, list(plan.record),
                           list(plan.variability.names) if plan.variability else [],
                           np.dtype(plan.counts).type if METHODS[plan.method].stochastic else np.float64, _kept(config),
                           block,
                           list(plan.observables))
             for cond, plan in zip(prepared.conditions, prepared.plans)]
    attrs = {"run_config": config.to_yaml(), "model": prepared.model.network.text,
             "model_name": prepared.model.network.name, "model_hash": prepared.model.model_hash,
             "seed": str(config.seed), "method": config.method, "cells": config.cells, "sisters": config.sisters}
    writer = None
    bar = None
    try:
        writer = TrajectoryWriter(out, attrs=attrs, conditions=specs, compression=config.output.compression,
                                  compression_level=config.output.compression_level, resume=resume,
                                  fingerprint=config.fingerprint())
        bar = _progress(config.cells * len(specs), progress)
        for spec, plan in zip(specs, prepared.plans):
            start = writer.cells_done(spec.name)
            bar.update(start)
            for result in executor.map(plan, block_ranges(config.cells, block, start), signals.check):
                signals.check()
                writer.append(spec.name, result.first_cell, result.trajectories, result.drawn, result.observables)
                n = result.trajectories.shape[0]
                bar.update(n)
                if log:  # a block reported done is on disk
                    writer.commit()
                    log(f"{spec.name}: cells {result.first_cell}-{result.first_cell + n - 1} done "
                        f"({result.first_cell + n}/{config.cells})")
        signals.check()
        if not writer.finish(lambda: signals.signum is not None):
            signals.check()
    except KeyboardInterrupt as exc:  # Interrupted, or raised by a caller's callback
        exc.output = out if writer is not None else None
        raise
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    return out


def _check_output_path(out: Path, source, prepared: Prepared) -> None:
    """The output must not be a directory, a device, the run file or a model file (--overwrite would replace it)."""
    if out.is_dir():
        raise ResultsError(f"{out}: is a directory; give an output file name (e.g. {out / 'run.h5'})")
    if out.exists() and not out.is_file():  # --overwrite would unlink it: /dev/null, a FIFO, a socket
        raise ResultsError(f"{out}: is not a regular file (a device, pipe or socket); give an output file name")
    candidates = [(path, "model") for path in prepared.model_files]
    if not isinstance(source, RunConfig):
        candidates.append((Path(source), "run"))
    for path, kind in candidates:
        try:
            same = out.exists() and path.exists() and out.samefile(path)
        except OSError:
            same = False
        if same or out.resolve() == path.resolve():
            raise ResultsError(f"{out}: is this run's {kind} file; refusing to write results over it")


def _check_free_space(out: Path, prepared: Prepared) -> None:
    try:
        free = shutil.disk_usage(out.parent).free
    except OSError:
        return
    need = prepared.output_bytes()
    if need > free:
        raise ResultsError(f"{out}: the output needs about {need / 1e6:,.1f} MB and {out.parent} has "
                           f"{free / 1e6:,.1f} MB free; keep fewer trajectories (output.trajectories), "
                           f"record fewer species or samples, or write elsewhere (-o)")


class _Signals:
    """SIGINT and SIGTERM during a run set a flag that the run checks while it waits for a block, between
    blocks and inside the end-of-run pass, so neither is ever swallowed and the file is left consistent."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> "_Signals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def _wide_counts(plan: Plan, done: dict) -> str:
    """Why the plan's recorded counts need int64 (a conservation bound at the run's largest initial
    state exceeds int32), or "". Events may assign any count, so models with events are not analysed."""
    model = plan.model
    if model.events:
        return ""
    recorded = plan.record + [s for s in Observables(model, plan.observables).species if s not in plan.record]
    x0 = _largest_initial_state(plan)
    key = (id(model), x0.tobytes(), tuple(recorded))
    if key not in done:
        wide = wide_species(model.change, x0, model.species_index(recorded), model.species)
        done[key] = ("species " + ", ".join(f"{name!r} (up to {bound:,.0f})" for name, bound in wide[:3])
                     + (f" and {len(wide) - 3} more" if len(wide) > 3 else "")
                     + " can exceed 2^31-1 by the model's conservation laws at the run's largest initial counts"
                     if wide else "")
    return done[key]


def _largest_initial_state(plan: Plan) -> np.ndarray:
    """Initial counts at least as large as any cell's: drawn values at their largest (10 SDs above the
    mean for unbounded distributions; a cell beyond that still has its overflow reported when it happens)."""
    model, v = plan.model, plan.variability
    x0 = model.initial_state(plan.parameters).astype(np.float64)
    if v is None:
        return x0
    top = {}
    for name, kind, (a, b), values in zip(v.names, v.kinds, v.args, v.lists):
        top[name] = values.max() if values.size else b if kind == 3 else a + 10 * b if kind == 1 else a * (1 + 10 * b)
    params = plan.parameters.copy()
    for i, name in enumerate(model.parameters):
        params[i] = top.get(name, params[i])
    try:
        x0 = np.maximum(x0, model.initial_state(params))
    except (ModelError, ArgumentError):
        pass  # initial counts that cannot take every drawn value at its largest: the base counts stand
    for i, name in enumerate(model.species):
        if name in top:
            x0[i] = max(x0[i], top[name])
    return x0 * top.get(CELL_SIZE, 1.0)


def _kept(config: RunConfig) -> int:
    keep = config.output.trajectories
    return config.cells if keep == "all" else 0 if keep == "none" else min(int(keep), config.cells)


def _progress(total: int, show: bool | None):
    if show is None:
        show = sys.stderr.isatty()
    if not show:  # no bar: not even tqdm's import (start-up time)
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="cell", smoothing=0.1, dynamic_ncols=True,
                desc="cells", file=sys.stderr)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass
