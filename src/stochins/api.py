"""The Python API: ``load_model`` and ``simulate``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np

from .compile import CompiledModel, compile_network
from .expressions import ModelError
from .network import Network
from .schedule import InputSpec
from .simulation import Plan

ModelLike = Union[str, os.PathLike, Network, CompiledModel]


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
    work: np.ndarray | None = None  # tau-leaping: per cell [exact events in leaps, leaped firings,
    #                                 plain SSA events, leaps, rejected leaps]
    parameter_names: list[str] = field(default_factory=list)  # what variability drew per cell
    parameters: np.ndarray | None = None                       # (cells, len(parameter_names))

    def __getitem__(self, species: str) -> np.ndarray:
        """(cells, T) trajectories of one species."""
        return self.trajectories[:, :, self.species.index(species)]


def builtin_models() -> dict[str, str]:
    """Built-in model names with their one-line descriptions."""
    import yaml

    out = {}
    for entry in sorted(resources.files("stochins.models").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out[entry.name[:-5]] = str((yaml.safe_load(entry.read_text(encoding="utf-8")) or {}).get("description", ""))
    return out


def load_model(model: ModelLike, *, sbml: Mapping[str, object] | None = None) -> CompiledModel:
    """A built-in name, a model YAML or SBML (.xml, .sbml) path, a :class:`Network`, a compiled model or a
    ``gillespy2.Model``. ``sbml``: import options for SBML files (``substance_scale``, ``inputs``,
    ``ignore_events``; see :func:`stochins.models.sbml.from_sbml`)."""
    if isinstance(model, CompiledModel):
        return model
    if isinstance(model, Network):
        return compile_network(model)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.suffix and str(model) in builtin_models():
            with resources.as_file(resources.files("stochins.models") / f"{model}.yaml") as p:
                return compile_network(Network.from_yaml(p))
        if path.suffix.lower() in (".yaml", ".yml"):
            return compile_network(Network.from_yaml(path))
        if path.suffix.lower() in (".xml", ".sbml"):
            from .models.sbml import from_sbml

            options = dict(sbml or {})
            unknown = set(options) - {"substance_scale", "inputs", "ignore_events"}
            if unknown:
                raise ModelError(f"sbml.{sorted(unknown)[0]}: unknown SBML import option "
                                 f"(expected substance_scale, inputs, ignore_events)")
            return compile_network(from_sbml(path, **options))
        if not path.exists():
            names = ", ".join(builtin_models()) or "none"
            raise ModelError(f"{model}: no such model file and no built-in model of that name (built-ins: {names})")
        raise ModelError(f"{model}: unsupported model file type {path.suffix!r} (expected .yaml, .xml or .sbml)")
    try:  # a gillespy2.Model, without importing gillespy2 unless one is passed
        from .models.gillespy2_interop import from_gillespy2, is_gillespy2_model
    except ImportError:
        is_gillespy2_model = None
    if is_gillespy2_model is not None and is_gillespy2_model(model):
        return compile_network(from_gillespy2(model))
    raise ModelError(f"cannot load a model from {type(model).__name__}")


def simulate(model: ModelLike, cells: int = 1000, t_end: float = 60.0, samples: int = 61, *,
             method: str = "ssa", seed: int | None = None,
             inputs: Mapping[str, InputSpec] | None = None, record: Sequence[str] | None = None,
             threads: int | None = None, model_parameters: Mapping[str, float] | None = None,
             t_start: float = 0.0, block_size: int | None = None,
             tau: Mapping[str, float] | None = None,
             variability: Mapping[str, Mapping] | None = None) -> Result:
    """Simulate ``cells`` independent cells and record them at ``samples`` times in [t_start, t_end].

    An input is a number (held constant) or a schedule ``[[t0, v0], [t1, v1], ...]`` where ``v_i``
    holds from ``t_i`` to ``t_{i+1}`` (before ``t0`` the model's default). ``seed=None`` draws a
    seed, returned in ``Result.seed``. Results are bit-identical for any ``threads``/``block_size``.
    ``method``: "ssa" (exact), "tau" (partitioned tau-leaping; options in ``tau``, see README) or "ode".
    """
    compiled = load_model(model)
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 1:
        raise ModelError(f"cells: expected a positive integer, got {cells!r}")
    plan = Plan.create(compiled, t_end=t_end, samples=samples, t_start=t_start, method=method, seed=seed,
                       inputs=inputs, record=record, model_parameters=model_parameters, tau=tau,
                       variability=variability)
    if block_size is None:
        block_size = plan.default_block_size(cells)
    elif isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ModelError(f"block_size: expected a positive integer, got {block_size!r}")
    plan.resolve_method(threads)
    dtype = np.float64 if method == "ode" else np.int32
    traj = np.empty((cells, plan.time.size, len(plan.record)), dtype=dtype)
    events = np.empty(cells, dtype=np.int64)
    work = np.zeros((cells, 5), dtype=np.int64) if plan.method == "tau" else None
    names = list(plan.variability.names) if plan.variability else []
    drawn = np.zeros((cells, len(names)))
    for first in range(0, cells, block_size):
        n = min(block_size, cells - first)
        block = plan.block(first, n, threads=threads)
        traj[first:first + n] = block.trajectories
        events[first:first + n] = block.events
        if work is not None:
            work[first:first + n] = block.work
        drawn[first:first + n] = block.drawn
    return Result(plan.time, list(plan.record), traj, events, plan.seed, plan.method, compiled.network.name, work,
                  names, drawn)
