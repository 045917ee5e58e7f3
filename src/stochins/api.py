"""The Python API: ``simulate`` (and ``load_model``, ``builtin_models`` from ``models.loader``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .engine.methods import METHODS
from .errors import ArgumentError
from .executors.local import LocalExecutor
from .models.loader import ModelLike, builtin_models, load_model
from .schedule import InputSpec
from .simulation import Plan, block_ranges

__all__ = ["Result", "simulate", "load_model", "builtin_models"]


@dataclass
class Result:
    """Recorded counts of every cell: ``trajectories[cell, time, species]``."""

    time: np.ndarray
    species: list[str]
    trajectories: np.ndarray
    events: np.ndarray
    seed: int
    method: str
    model: str
    work: np.ndarray | None = None  # (cells, W) the method's work statistics, columns named by work_names
    parameter_names: list[str] = field(default_factory=list)  # what variability drew per cell
    parameters: np.ndarray | None = None                       # (cells, len(parameter_names))
    work_names: list[str] = field(default_factory=list)        # e.g. ["events"] for the SSA
    method_reason: str = ""                                     # why method "auto" chose ``method``
    observables: list[str] = field(default_factory=list)       # recorded named expressions
    observable_trajectories: np.ndarray | None = None          # (cells, T, len(observables)) float64

    def __getitem__(self, name: str) -> np.ndarray:
        """(cells, T) trajectories of one species or observable."""
        if name in self.observables and name not in self.species:
            return self.observable_trajectories[:, :, self.observables.index(name)]
        return self.trajectories[:, :, self.species.index(name)]


def simulate(model: ModelLike, cells: int = 1000, t_end: float = 60.0, samples: int = 61, *,
             method: str = "ssa", seed: int | None = None,
             inputs: Mapping[str, InputSpec] | None = None, record: Sequence[str] | None = None,
             threads: int | None = None, model_parameters: Mapping[str, float] | None = None,
             t_start: float = 0.0, block_size: int | None = None,
             tau: Mapping[str, float] | None = None,
             variability: Mapping[str, Mapping] | None = None,
             options: Mapping[str, Mapping[str, float]] | None = None, sisters: int = 1) -> Result:
    """Simulate ``cells`` independent cells and record them at ``samples`` times in [t_start, t_end].

    An input is a number (held constant) or a schedule ``[[t0, v0], [t1, v1], ...]`` where ``v_i``
    holds from ``t_i`` to ``t_{i+1}`` (before ``t0`` the model's default). ``seed=None`` draws a
    seed, returned in ``Result.seed``. Results are bit-identical for any ``threads``/``block_size``.
    ``method``: one of ``stochins.engine.methods.method_names()`` ("ssa" exact, "tau" leaping, "ode",
    "auto"); ``options`` are method options per method name, ``tau`` a shortcut for ``options["tau"]``.
    ``sisters``: cells come in groups of this size sharing every per-cell draw, not their reactions.
    """
    if tau is not None and "tau" in (options or {}):
        raise ArgumentError("tau: given both as tau= and as options['tau']; give one")
    compiled = load_model(model)
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 1:
        raise ArgumentError(f"cells: expected a positive integer, got {cells!r}")
    plan = Plan.create(compiled, t_end=t_end, samples=samples, t_start=t_start, method=method, seed=seed,
                       inputs=inputs, record=record, model_parameters=model_parameters,
                       options={**(options or {}), **({"tau": tau} if tau is not None else {})},
                       variability=variability)
    if isinstance(sisters, bool) or not isinstance(sisters, (int, np.integer)) or sisters < 1:
        raise ArgumentError(f"sisters: expected a positive integer, got {sisters!r}")
    plan.sisters = int(sisters)
    if block_size is None:
        block_size = plan.default_block_size(cells)
    elif isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ArgumentError(f"block_size: expected a positive integer, got {block_size!r}")
    chosen = METHODS[plan.resolve_method(threads)]
    traj = np.empty((cells, plan.time.size, len(plan.record)), dtype=np.int32 if chosen.stochastic else np.float64)
    events = np.empty(cells, dtype=np.int64)
    work = np.empty((cells, len(chosen.work)), dtype=np.int64)
    names = list(plan.variability.names) if plan.variability else []
    drawn = np.empty((cells, len(names)))
    observed = np.empty((cells, plan.time.size, len(plan.observables))) if plan.observables else None
    for block in LocalExecutor(threads).map(plan, block_ranges(cells, block_size)):
        rows = slice(block.first_cell, block.first_cell + block.events.size)
        traj[rows], events[rows], work[rows], drawn[rows] = block.trajectories, block.events, block.work, block.drawn
        if observed is not None:
            observed[rows] = block.observables
    return Result(plan.time, list(plan.record), traj, events, plan.seed, plan.method, compiled.network.name, work,
                  names, drawn, list(chosen.work), plan.method_reason, list(plan.observables), observed)
