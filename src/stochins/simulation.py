"""One condition of a run, simulated block by block.

A :class:`Plan` fixes everything that defines the cells of one condition (model, parameters,
inputs, time grid, seed and condition key). ``plan.block(first, n)`` simulates cells
``first .. first+n-1``; because cell i's random stream is derived from (seed, condition, i) alone,
any split into blocks, in any order, on any number of threads gives the same bits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numba
import numpy as np

from .compile import CompiledModel
from .engine import ode as _ode
from .engine import ssa as _ssa
from .engine import tau as _tau
from .engine.rng import seed_streams
from .expressions import ModelError
from .schedule import InputSpec, Schedule, build_schedule
from .variability import CELL_SIZE, Variability, parse_variability

METHODS = ("ssa", "tau", "auto", "ode")
#: cells of the tau-leaping pilot that decides method "auto" (engine.tau.auto_choice)
AUTO_PILOT_CELLS = 2
#: default blocks: at most this many bytes of working memory, and at most BLOCK_CELLS cells so that
#: progress, Ctrl-C and --resume act at a fine grain (results never depend on the block size)
BLOCK_BYTES = 64 * 2**20
BLOCK_CELLS = 1024
#: tau-leaping options (see engine/tau.py), in the kernel's option-vector order
#: The degrade_* options exist only for the power checks of the accuracy tests (a deliberately wrong
#: method must fail them): the step x degrade_step; degrade_splitting 1 restores the old splitting (exact
#: reactions out of the step bound, leaped propensities frozen over the step, reactions reading a small
#: species not leaped); degrade_elasticity 1 sets every g_i to 1.
TAU_DEFAULTS = {"epsilon": 0.03, "n_critical": 10, "ssa_steps": 100, "ssa_factor": 10.0, "exact_below": 100,
                "exact_firings": 3.0, "max_relaxation": 0.1, "drift_share": 0.3,
                "degrade_step": 1.0, "degrade_splitting": 0, "degrade_elasticity": 0}


class SimulationError(RuntimeError):
    """A cell reached a state the model does not allow (negative propensity or count, overflow)."""


@dataclass
class Block:
    first_cell: int
    trajectories: np.ndarray  # (n, T, R) int32 counts (float64 for the ODE)
    events: np.ndarray        # (n,) reaction events per cell (leaped firings included; 0 for the ODE)
    work: np.ndarray | None = None  # (n, 5) tau-leaping work: exact events in leaps, leaped firings,
    #                                 plain SSA events, leaps, rejected leaps
    drawn: np.ndarray | None = None  # (n, V) per-cell drawn values (Plan.variability.names)


def tau_options(options: Mapping[str, float] | None) -> np.ndarray:
    """Validated tau-leaping options as the kernel's option vector."""
    merged = dict(TAU_DEFAULTS)
    for key, value in (options or {}).items():
        if key not in TAU_DEFAULTS:
            raise ModelError(f"tau.{key}: unknown option (expected {', '.join(TAU_DEFAULTS)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ModelError(f"tau.{key}: expected a number, got {value!r}")
        merged[key] = value
    if not 0 < merged["epsilon"] < 1:
        raise ModelError(f"tau.epsilon: expected 0 < epsilon < 1, got {merged['epsilon']!r}")
    if not merged["max_relaxation"] > 0:
        raise ModelError(f"tau.max_relaxation: expected a positive number, got {merged['max_relaxation']!r}")
    for key in ("n_critical", "ssa_steps", "ssa_factor", "exact_below", "exact_firings"):
        if merged[key] < 0 or (key in ("n_critical", "ssa_steps") and merged[key] != int(merged[key])):
            raise ModelError(f"tau.{key}: expected a non-negative {'integer' if key in ('n_critical', 'ssa_steps') else 'number'}"
                             f", got {merged[key]!r}")
    if not 0 < merged["drift_share"] <= 1:
        raise ModelError(f"tau.drift_share: expected 0 < drift_share <= 1, got {merged['drift_share']!r}")
    if not merged["degrade_step"] > 0:
        raise ModelError(f"tau.degrade_step: expected a positive number, got {merged['degrade_step']!r}")
    for key in ("degrade_splitting", "degrade_elasticity"):
        if merged[key] not in (0, 1):
            raise ModelError(f"tau.{key}: expected 0 or 1, got {merged[key]!r}")
    if merged["ssa_steps"] < 1:
        raise ModelError("tau.ssa_steps: expected at least 1")
    return np.array([float(merged[k]) for k in TAU_DEFAULTS])


@dataclass
class Plan:
    model: CompiledModel
    time: np.ndarray
    record: list[str]
    method: str = "ssa"
    seed: int = 0
    condition: int = 0  # the stream key of the condition (see condition_key)
    parameters: np.ndarray = field(default=None)  # (P,) in the model's canonical order
    schedule: Schedule = field(default=None)
    tau: np.ndarray = field(default=None)         # tau-leaping option vector
    variability: Variability | None = None        # per-cell draws (None: every cell alike)
    method_reason: str = ""                       # why ``auto`` chose its method

    @classmethod
    def create(cls, model: CompiledModel, *, t_end: float, samples: int, t_start: float = 0.0,
               method: str = "ssa", seed: int | None = None, condition: int | None = None,
               inputs: Mapping[str, InputSpec] | None = None, record: Sequence[str] | None = None,
               model_parameters: Mapping[str, float] | None = None,
               tau: Mapping[str, float] | None = None,
               variability: Mapping[str, Mapping] | None = None) -> "Plan":
        if method not in METHODS:
            raise ModelError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
            raise ModelError(f"samples: expected a positive integer, got {samples!r}")
        if not np.isfinite([t_start, t_end]).all() or t_end < t_start or (samples > 1 and t_end == t_start):
            raise ModelError(f"time: need finite t_start < t_end, got t_start={t_start!r}, t_end={t_end!r}")
        if seed is None:
            seed = secrets.randbits(63)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ModelError(f"seed: expected an integer in [0, 2**64), got {seed!r}")
        record = list(model.declared_species if record is None else record)
        for name in record:
            if name not in model.species:
                raise ModelError(f"record: unknown species {name!r} (model species: {', '.join(model.declared_species)})")
        if not record:
            raise ModelError("record: at least one species must be recorded")
        params = model.parameter_vector(model_parameters)
        model.initial_state(params)  # validates initial counts under these parameters
        schedule = build_schedule(model.inputs, model.network.inputs, inputs).from_time(t_start)
        if condition is None:
            condition = condition_key(params, schedule)
        spread = parse_variability(variability, dict(zip(model.parameters, params.tolist())),
                                   dict(zip(model.species, model.initial_state(params).tolist())))
        return cls(model, np.linspace(t_start, t_end, samples), record, method, int(seed), condition,
                   params, schedule, tau_options(tau), spread)

    def default_block_size(self, cells: int) -> int:
        """Cells per block: bounded by working memory (output, state, parameters, streams) and BLOCK_CELLS."""
        itemsize = 8 if self.method == "ode" else 4
        per_cell = (self.time.size * len(self.record) * itemsize + 16 * len(self.model.species)
                    + 8 * self.parameters.size + 128)
        return int(max(1, min(cells, BLOCK_CELLS, BLOCK_BYTES // per_cell)))

    def resolve_method(self, threads: int | None = None) -> str:
        """``auto`` becomes ssa or tau (``engine.tau.auto_choice``, the reason kept in ``method_reason``)
        from a pilot of a few cells by tau-leaping over the whole time span (cheap). Deterministic: the
        pilot uses the run's seed and the first cells' streams."""
        if self.method == "auto":
            pilot = Plan(self.model, self.time, self.record, "tau", self.seed, self.condition, self.parameters,
                         self.schedule, self.tau, self.variability)
            work = pilot.block(0, AUTO_PILOT_CELLS, threads=threads).work
            self.method, self.method_reason = _tau.auto_choice(work, AUTO_PILOT_CELLS)
        return self.method

    # ------------------------------------------------------------------ simulation
    def block(self, first_cell: int, n: int, threads: int | None = None) -> Block:
        self.resolve_method(threads)
        p, x0, drawn = self.cells(first_cell, n)
        rec = self.model.species_index(self.record)
        if self.method == "ode":
            return self._ode_block(first_cell, x0, p, rec, drawn)
        rng = seed_streams(np.uint64(self.seed), np.uint64(self.condition), first_cell, n)
        out = np.zeros((n, self.time.size, rec.size), dtype=np.int32)
        status = np.zeros(n, dtype=np.int64)
        detail = np.zeros(n, dtype=np.int64)
        events = np.zeros(n, dtype=np.int64)
        work = None
        with _threads(threads):
            if self.method == "tau":
                work = np.zeros((n, 5), dtype=np.int64)
                self.model.module.tau_block(x0, p, self.schedule.times, self.schedule.values, self.time, rec, rng,
                                            out, status, detail, work, self.tau, *self.model.leap_arrays())
                events = work[:, :3].sum(axis=1)
            else:
                self.model.module.ssa_block(x0, p, self.schedule.times, self.schedule.values, self.time, rec,
                                            rng, out, status, detail, events)
        self._check(status, detail, first_cell)
        return Block(first_cell, out, events, work, drawn)

    def cells(self, first_cell: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-cell parameter vectors (n, P+2+D), initial states (n, S) and drawn values (n, V)."""
        m = self.model
        p = np.repeat(self.parameters[None, :], n, axis=0)
        x0 = np.repeat(m.initial_state(self.parameters)[None, :], n, axis=0)
        if self.variability is None:
            m.module.derive(p)
            return p, x0, np.zeros((n, 0))
        names = self.variability.names
        drawn = self.variability.draw(self.seed, self.condition, first_cell, n)
        pidx = {q: i for i, q in enumerate(m.parameters)}
        sidx = {q: i for i, q in enumerate(m.species)}
        for v, name in enumerate(names):
            if name in pidx:
                p[:, pidx[name]] = drawn[:, v]
        if set(names) & set().union(*(s.initial.symbols for s in m.network.species.values())):
            x0 = np.array([m.initial_state(row) for row in p])  # counts written in drawn parameters
        for v, name in enumerate(names):
            if name in sidx:
                x0[:, sidx[name]] = np.floor(drawn[:, v] + 0.5)
        if CELL_SIZE in names:
            size = drawn[:, names.index(CELL_SIZE)]
            if (size <= 0).any():
                raise ModelError("variability.cell_size: drawn a cell size <= 0; use a distribution on (0, inf)")
            k = len(m.parameters)
            p[:, k], p[:, k + 1] = size, 1.0 / size
            x0 = np.floor(x0 * size[:, None] + 0.5).astype(np.int64)
        m.module.derive(p)
        return p, x0, drawn

    def _ode_block(self, first_cell: int, x0: np.ndarray, p: np.ndarray, rec: np.ndarray,
                   drawn: np.ndarray) -> Block:
        n = x0.shape[0]
        out = np.empty((n, self.time.size, rec.size))
        for c in range(n if drawn.shape[1] else 1):  # identical cells need one integration
            out[c] = _ode.integrate(self.model.module.rates, self.model.change, x0[c], p[c], self.schedule.times,
                                    self.schedule.values, self.time)[:, rec]
        if not drawn.shape[1]:
            out[1:] = out[0]
        return Block(first_cell, out, np.zeros(n, dtype=np.int64), None, drawn)

    def _check(self, status: np.ndarray, detail: np.ndarray, first_cell: int) -> None:
        bad = np.flatnonzero(status != _ssa.OK)
        if bad.size == 0:
            return
        c = int(bad[0])
        code, d = int(status[c]), int(detail[c])
        m = self.model
        if code == _ssa.BAD_PROPENSITY:
            what = (f"the propensity of reaction {m.reactions[d]!r} became negative or NaN"
                    if d >= 0 else "a propensity became negative or NaN")
            hint = "; clamp it, e.g. max(..., 0)"
        elif code == _ssa.NEGATIVE_COUNT:
            what = f"species {m.species[d]!r} went below zero"
            hint = "; a full propensity must be zero when its reactants are missing"
        else:
            what = f"a recorded count exceeded the int32 range at time {self.time[d]!r}"
            hint = ""
        raise SimulationError(f"cell {first_cell + c} (and {bad.size - 1} more in its block): {what}{hint}")


def condition_key(parameters: np.ndarray, schedule: Schedule) -> int:
    """The random-stream key of a condition: a hash of what makes it biologically distinct.

    Cells of conditions with different parameters or inputs get independent streams, while the
    same settings give the same cells however they are reached (a sweep's condition, a single run,
    ``simulate``), and the time grid, cell count or method do not change a cell's stream.
    """
    h = hashlib.blake2b(digest_size=8)
    for arr in (parameters, schedule.times, schedule.values):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return int.from_bytes(h.digest(), "little")


class _threads:
    """Set numba's thread count for the duration of a call (results do not depend on it)."""

    def __init__(self, threads: int | None):
        self.threads = threads

    def __enter__(self):
        self.before = numba.get_num_threads()
        if self.threads is not None:
            if isinstance(self.threads, bool) or not isinstance(self.threads, (int, np.integer)) or self.threads < 1:
                raise ModelError(f"threads: expected a positive integer, got {self.threads!r}")
            numba.set_num_threads(min(int(self.threads), numba.config.NUMBA_NUM_THREADS))
        return self

    def __exit__(self, *exc):
        numba.set_num_threads(self.before)
        return False
