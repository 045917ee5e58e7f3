"""RunConfig -> conditions x blocks of cells -> executor -> writer.

The only place that knows about blocks, executors and output files. Blocks are written as
they finish, so memory is bounded by the block size; an interruption (Ctrl-C, an error) leaves a
valid file marked incomplete, which ``resume=True`` continues bit for bit.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from .models.loader import load_model
from .compile import compile_notices
from .config import ConfigError, RunConfig, check_against_model, expand_conditions, load_run_config
from .executors.local import LocalExecutor
from .engine.methods import METHODS
from .errors import ArgumentError, ModelError
from .io.hdf5 import ConditionSpec, ResultsError, TrajectoryWriter
from .simulation import Plan, block_ranges

__all__ = ["run", "prepare"]


class Prepared:
    """A validated run: the model, its conditions as plans, and where the output goes."""

    def __init__(self, config: RunConfig, source: str):
        self.config = config
        self.source = source
        self.conditions = expand_conditions(config, source)
        models = {}
        self.plans: list[Plan] = []
        for cond in self.conditions:
            c = cond.config
            ref = c.model_reference()
            if ref not in models:  # a sweep may compare models (e.g. with and without feedback)
                try:
                    models[ref] = load_model(ref, sbml=c.sbml)
                except ModelError as exc:
                    raise ConfigError(f"{source}: model: {exc}") from None
            model = models[ref]
            check_against_model(c, model)
            try:
                self.plans.append(Plan.create(model, t_end=c.time.end, samples=c.time.samples,
                                              t_start=c.time.start, method=c.method, seed=config.seed or 0,
                                              inputs=c.inputs, record=c.record,
                                              model_parameters=c.model_parameters, options=c.method_options(),
                                              variability=c.variability))
            except (ModelError, ArgumentError) as exc:
                raise ConfigError(f"{source} (condition {cond.name}): {exc}") from None
        self.model = self.plans[0].model

    def block_size(self) -> int:
        return self.config.block_size or min(plan.default_block_size(self.config.cells) for plan in self.plans)


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
    are identical to the default in-process executor."""
    prepared = prepare(path_or_config, **overrides)
    config = prepared.config
    out = Path(output) if output is not None else config.output_path()
    fingerprint = config.fingerprint()
    if out.exists() and not resume:
        if not overwrite:
            state = "complete" if _is_complete(out) else "incomplete (use --resume to continue it)"
            raise ResultsError(f"{out}: output exists and is {state}; use --overwrite to replace it")
        out.unlink()
    if resume and out.exists():
        import h5py

        try:
            with h5py.File(out, "r") as f:
                seed = int(f.attrs["seed"])
        except (OSError, KeyError):
            seed = None
        if config.seed is None and seed is not None:
            config.seed = seed
    if config.seed is None:
        config.seed = secrets.randbits(63)
    notice = log or ((lambda line: print(line, file=sys.stderr, flush=True))
                     if progress or (progress is None and sys.stderr.isatty()) else None)
    with compile_notices(notice):
        return _run(prepared, out, fingerprint, resume, progress, log, scheduler, executor)


def _run(prepared: Prepared, out: Path, fingerprint, resume: bool, progress: bool | None,
         log: Callable[[str], None] | None, scheduler: str | None, executor) -> Path:
    config = prepared.config
    for plan in prepared.plans:
        plan.seed = config.seed
        plan.resolve_method(config.threads)
    specs = [ConditionSpec(cond.name, cond.index, {**cond.settings, "condition_key": str(plan.condition),
                                                   "method": plan.method, "model": plan.model.network.name,
                                                   **({"method_reason": plan.method_reason} if plan.method_reason
                                                      else {})},
                           config.cells, plan.time, list(plan.record),
                           list(plan.variability.names) if plan.variability else [],
                           np.int32 if METHODS[plan.method].stochastic else np.float64, _kept(config))
             for cond, plan in zip(prepared.conditions, prepared.plans)]
    attrs = {"run_config": config.to_yaml(), "model": prepared.model.network.text,
             "model_name": prepared.model.network.name, "model_hash": prepared.model.model_hash,
             "seed": str(config.seed), "method": config.method, "cells": config.cells}
    writer = TrajectoryWriter(out, attrs=attrs, conditions=specs, compression=config.output.compression,
                              compression_level=config.output.compression_level, resume=resume,
                              fingerprint=fingerprint)
    if executor is None and scheduler:
        from .executors.dask import DaskExecutor

        executor = DaskExecutor(scheduler, threads=config.threads or 1)
    executor = executor or LocalExecutor(config.threads)
    bar = _progress(config.cells * len(specs), progress)
    block = prepared.block_size()
    try:
        for spec, plan in zip(specs, prepared.plans):
            start = writer.cells_done(spec.name)
            bar.update(start)
            for result in executor.map(plan, block_ranges(config.cells, block, start)):
                writer.append(spec.name, result.first_cell, result.trajectories, result.drawn)
                n = result.trajectories.shape[0]
                bar.update(n)
                if log:
                    log(f"{spec.name}: cells {result.first_cell}-{result.first_cell + n - 1} done "
                        f"({result.first_cell + n}/{config.cells})")
        writer.finish()
    finally:
        bar.close()
        writer.close()
        executor.close()
    return out


def _kept(config: RunConfig) -> int:
    keep = config.output.trajectories
    return config.cells if keep == "all" else 0 if keep == "none" else min(int(keep), config.cells)


def _is_complete(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("complete"))
    except OSError:
        return False


def _progress(total: int, show: bool | None):
    from tqdm import tqdm

    if show is None:
        show = sys.stderr.isatty()
    return tqdm(total=total, disable=not show, unit="cell", smoothing=0.1, dynamic_ncols=True,
                desc="cells", file=sys.stderr)
