"""One condition of a run, simulated block by block.

A :class:`Plan` fixes everything that defines the cells of one condition (model, parameters,
inputs, time grid, seed and condition key). ``plan.block(first, n)`` simulates cells
``first .. first+n-1``; because cell i's random stream is derived from (seed, condition, i) alone,
any split into blocks, in any order, on any number of threads gives the same bits.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import math
import secrets
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numba
import numpy as np

from .compile import CompiledModel, python_model
from .engine import common
from .engine import composition_rejection as _cr
from .engine import tau as _tau
from .engine.methods import AUTO, METHODS, Method, get_method, method_names
from .engine.rng import seed_streams
from .errors import ArgumentError, ModelError, SimulationError
from .observables import Observables, split_record
from .schedule import InputSpec, Schedule, build_schedule
from .variability import CELL_SIZE, Variability, parse_variability

__all__ = ["Plan", "Block", "SimulationError", "condition_key", "block_ranges"]

#: cells of the tau-leaping pilot that decides method "auto" (engine.tau.auto_choice)
AUTO_PILOT_CELLS = 2
#: above this many reactions ``auto`` skips its plain-Python pilot (the model code would take long to
#: compile and run as Python; as compile.PILOT_MAX_REACTIONS)
AUTO_PRECHECK_MAX_REACTIONS = 1000
#: ... and gives up (leaving the choice to the tau pilot) once a cell's events so far, at their pace,
#: project to this many times engine.tau.AUTO_MIN_EVENTS (a wrong give-up costs only compiling tau)
AUTO_PRECHECK_GIVE_UP = 4
#: default blocks: at most this many bytes of working memory, and at most BLOCK_CELLS cells so that
#: progress, Ctrl-C and --resume act at a fine grain (results never depend on the block size)
BLOCK_BYTES = 64 * 2**20
BLOCK_CELLS = 1024


def _check_events(model: CompiledModel, method: Method) -> None:
    """Refuse a method that cannot execute the model's events, before any output exists."""
    if model.events and not method.time_events:
        raise ArgumentError(f"method {method.name} does not execute events yet (model events: "
                            f"{', '.join(model.events)}); use method ssa")
    if model.state_events and not method.state_events:
        raise ArgumentError(f"method {method.name}: events triggered by the state "
                            f"({', '.join(model.state_events)}) need a stochastic method (ssa)")


@dataclass
class Block:
    first_cell: int
    trajectories: np.ndarray  # (n, T, R) int32 counts (float64 for a deterministic method)
    events: np.ndarray        # (n,) reaction events per cell (leaped firings included; 0 for the ODE)
    work: np.ndarray          # (n, W) the method's work statistics (Method.work names the columns)
    drawn: np.ndarray         # (n, V) per-cell drawn values (Plan.variability.names)
    observables: np.ndarray | None = None  # (n, T, O) float64 values of Plan.observables


def block_ranges(cells: int, block_size: int, start: int = 0) -> list[tuple[int, int]]:
    """``(first_cell, n)`` of the blocks that cover cells ``start .. cells-1``."""
    return [(first, min(block_size, cells - first)) for first in range(start, cells, block_size)]


def method_options(options: Mapping[str, Mapping[str, float]] | None) -> dict[str, np.ndarray]:
    """Every method's option vector, from options given per method name (unknown names refused)."""
    options = dict(options or {})
    for name in options:
        if name not in METHODS:
            raise ArgumentError(f"options: unknown method {name!r} (methods: {', '.join(METHODS)})")
        if not isinstance(options[name], Mapping):
            raise ArgumentError(f"{name}: expected a mapping of option: value, got {options[name]!r}")
    return {name: m.option_vector(options.get(name)) for name, m in METHODS.items()}


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
    options: dict[str, np.ndarray] = field(default_factory=dict)  # option vector per method name
    variability: Variability | None = None        # per-cell draws (None: every cell alike)
    method_reason: str = ""                       # why ``auto`` chose the method it did
    observables: list[str] = field(default_factory=list)  # recorded named expressions (observables.py)
    sisters: int = 1  # cells come in groups of this size sharing their draws (not their reaction streams)
    counts: str = "int32"  # dtype of recorded counts: int64 when conservation bounds exceed int32 (runner)

    @classmethod
    def create(cls, model: CompiledModel, *, t_end: float, samples: int, t_start: float = 0.0,
               method: str = "ssa", seed: int | None = None, condition: int | None = None,
               inputs: Mapping[str, InputSpec] | None = None, record: Sequence[str] | None = None,
               model_parameters: Mapping[str, float] | None = None,
               options: Mapping[str, Mapping[str, float]] | None = None,
               variability: Mapping[str, Mapping] | None = None) -> "Plan":
        """A validated plan; ``options`` are method options per method name (e.g. ``{"tau": {...}}``)."""
        if method != AUTO:
            _check_events(model, get_method(method))
        elif not isinstance(method, str):
            raise ArgumentError(f"method: expected one of {', '.join(method_names())}, got {method!r}")
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
            raise ArgumentError(f"samples: expected a positive integer, got {samples!r}")
        if not np.isfinite([t_start, t_end]).all() or t_end < t_start or (samples > 1 and t_end == t_start):
            raise ArgumentError(f"time: need finite t_start < t_end, got t_start={t_start!r}, t_end={t_end!r}")
        if seed is None:
            seed = secrets.randbits(63)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ArgumentError(f"seed: expected an integer in [0, 2**64), got {seed!r}")
        record, observables = split_record(model, record)
        if not record and not observables:
            raise ArgumentError("record: at least one species must be recorded")
        params = model.parameter_vector(model_parameters)
        model.initial_state(params)  # validates initial counts under these parameters
        schedule = build_schedule(model.inputs, model.network.inputs, inputs).from_time(t_start)
        if model_parameters or inputs:  # a rate the overrides make negative: before the first cell finds it
            try:
                model.network.check_initial_rates(dict(zip(model.parameters, params.tolist())),
                                                  dict(zip(model.inputs, schedule.values[0].tolist())),
                                                  context=" with these model_parameters and inputs")
            except ModelError as exc:  # an argument of simulate, not the model file, is wrong
                raise ArgumentError(str(exc)) from None
        if condition is None:
            condition = condition_key(params, schedule)
        spread = parse_variability(variability, dict(zip(model.parameters, params.tolist())),
                                   dict(zip(model.species, model.initial_state(params).tolist())))
        return cls(model, np.linspace(t_start, t_end, samples), record, method, int(seed), condition,
                   params, schedule, method_options(options), spread, observables=observables)

    def default_block_size(self, cells: int) -> int:
        """Cells per block: bounded by working memory (output, state, parameters, streams) and BLOCK_CELLS."""
        itemsize = 8 if self.method != AUTO and not METHODS[self.method].stochastic else 4
        per_cell = (self.time.size * len(self.record) * itemsize + 16 * len(self.model.species)
                    + 8 * self.parameters.size + 128)
        return int(max(1, min(cells, BLOCK_CELLS, BLOCK_BYTES // per_cell)))

    def resolve_method(self, threads: int | None = None) -> str:
        """``auto`` becomes ssa or tau (``engine.tau.auto_choice``, the reason kept in ``method_reason``)
        from a pilot of a few cells by tau-leaping over the whole time span (cheap), unless a plain-Python
        SSA of the same cells finds so few events that the SSA is chosen anyway (``_few_events``: then
        tau-leaping is never compiled). Deterministic: the pilots use the run's seed and the first cells, and
        the choice never depends on what numba's cache holds (a first and a second run give the same bits).
        Which method can execute the model's events is read from the methods' flags."""
        if self.method == AUTO and not _runs_events(self.model, _tau.METHOD):
            self.method, self.method_reason = "ssa", "ssa: the model has events, which tau does not execute"
        if (self.method == AUTO and len(self.model.reactions) > _cr.AUTO_ABOVE_REACTIONS
                and _runs_events(self.model, _cr.METHOD)):
            self.method, self.method_reason = _cr.METHOD.name, _cr.auto_reason(len(self.model.reactions))
        if self.method == AUTO:
            few = _few_events(self)
            if few is not None:  # the SSA will run: tau-leaping need not be compiled to find that out
                self.method, self.method_reason = "ssa", f"ssa: few events per cell, the exact SSA is cheap ({few})"
        if self.method == AUTO:
            pilot = dataclasses.replace(self, method=_tau.METHOD.name)
            work = pilot.block(0, AUTO_PILOT_CELLS, threads=threads).work
            self.method, self.method_reason = _tau.auto_choice(work, AUTO_PILOT_CELLS)
        return self.method

    # ------------------------------------------------------------------ simulation
    def block(self, first_cell: int, n: int, threads: int | None = None) -> Block:
        method = METHODS[self.resolve_method(threads)]
        _check_events(self.model, method)
        p, x0, drawn = self.cells(first_cell, n)
        observe = Observables(self.model, self.observables)
        kernel_record = self.record + [s for s in observe.species if s not in self.record]
        rec = self.model.species_index(kernel_record)
        rng = (seed_streams(np.uint64(self.seed), np.uint64(self.condition), first_cell, n) if method.stochastic
               else np.zeros((n, 4), dtype=np.uint64))
        out = np.zeros((n, self.time.size, rec.size), dtype=self.counts if method.stochastic else np.float64)
        status = np.zeros(n, dtype=np.int64)
        detail = np.zeros(n, dtype=np.int64)
        work = np.zeros((n, len(method.work)), dtype=np.int64)
        entry = getattr(self.model.kernels(method.module), method.entry)
        table = (np.zeros(0, dtype=np.int64) if method.model_functions is None
                 else self.model.function_table(method.model_functions, real=not method.stochastic, method=method.name))
        with _threads(threads):
            entry(x0, p, self.schedule.times, self.schedule.values, self.time, rec, rng, out, status, detail, work,
                  self.options[method.name], table, *self.model.needs(method.needs))
        self._check(status, detail, first_cell, out, kernel_record)
        block = Block(first_cell, out, method.event_count(work), work, drawn)
        if observe:  # evaluated on the recorded species; then only the requested species are kept
            block.observables = observe.evaluate(out, kernel_record, p, self.time, self.schedule)
            block.trajectories = np.ascontiguousarray(out[:, :, :len(self.record)])
        return block

    def cells(self, first_cell: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-cell parameter vectors (n, P+2+D), initial states (n, S) and drawn values (n, V)."""
        m = self.model
        p = np.repeat(self.parameters[None, :], n, axis=0)
        x0 = np.repeat(m.initial_state(self.parameters)[None, :], n, axis=0)
        if self.variability is None:
            self._derive(p)
            return p, x0, np.zeros((n, 0))
        names = self.variability.names
        group = np.arange(first_cell, first_cell + n) // self.sisters  # sisters share the draws of their group
        drawn = self.variability.draw(self.seed, self.condition, group[0], group[-1] - group[0] + 1)[group - group[0]]
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
                raise ArgumentError("variability.cell_size: drawn a cell size <= 0; use a distribution on (0, inf)")
            k = len(m.parameters)
            p[:, k], p[:, k + 1] = size, 1.0 / size
            x0 = np.floor(x0 * size[:, None] + 0.5).astype(np.int64)
        self._derive(p)
        return p, x0, drawn

    def _derive(self, p: np.ndarray) -> None:
        """The hoisted per-cell constants, which only generated code reads: a method that runs none
        (composition-rejection) needs no generated module."""
        if METHODS[self.method].model_functions is not None:
            self.model.module.derive(p)

    def _check(self, status: np.ndarray, detail: np.ndarray, first_cell: int, out: np.ndarray,
               recorded: list[str]) -> None:
        bad = np.flatnonzero(status != common.OK)
        if bad.size == 0:
            return
        c = int(bad[0])
        code, d = int(status[c]), int(detail[c])
        m = self.model
        if code == common.BAD_PROPENSITY:
            what = (f"the propensity of reaction {m.reactions[d]!r} became negative or NaN"
                    if d >= 0 else "a propensity became negative or NaN")
            hint = "; clamp it, e.g. max(..., 0)"
        elif code == common.NEGATIVE_COUNT:
            what = f"species {m.species[d]!r} went below zero"
            hint = "; a full propensity must be zero when its reactants are missing"
        elif code == common.BAD_EVENT_VALUE:
            what = f"event {m.events[d]!r} assigned a negative or non-finite count"
            hint = ""
        elif code == common.EVENT_CASCADE:
            what = f"events kept setting off one another at one instant ({common.MAX_EVENT_ROUNDS} rounds)"
            hint = ""
        else:  # record_state marked the species with -1
            species = recorded[int(np.flatnonzero(out[c, d] == -1)[0])]
            what = (f"species {species!r} exceeded the {out.dtype} range ({np.iinfo(out.dtype).max:,}) at time "
                    f"{self.time[d]:g}")
            hint = " (int64 is used only where the model's conservation laws show counts can exceed int32)"
        raise SimulationError(f"cell {first_cell + c} (and {bad.size - 1} more in its block): {what}{hint}")


def _runs_events(model: CompiledModel, method: Method) -> bool:
    """Whether ``method`` can execute the model's events (``_check_events`` would let it run)."""
    try:
        _check_events(model, method)
    except ArgumentError:
        return False
    return True


def _few_events(plan: Plan) -> str | None:
    """Why ``auto`` may choose the SSA without a tau-leaping pilot: its first AUTO_PILOT_CELLS cells, simulated
    exactly in plain Python (the generated code uncompiled, a few µs per event), fire fewer than half of
    ``engine.tau.AUTO_MIN_EVENTS`` events each on average (the tau pilot's first test, with a margin for the
    pilots' different draws). None when they fire more, when the count projected from the first events is far
    above it (give up early: leaping is likely), or for models with events or too many reactions."""
    m = plan.model
    if m.events or len(m.reactions) > AUTO_PRECHECK_MAX_REACTIONS:
        return None
    code = python_model(m)
    if code is None:
        return None
    budget = _tau.AUTO_MIN_EVENTS // 2 * AUTO_PILOT_CELLS
    p, x0, _ = dataclasses.replace(plan, method="ssa").cells(0, AUTO_PILOT_CELLS)
    rng = np.random.default_rng([plan.seed, plan.condition])
    total = 0
    for c in range(AUTO_PILOT_CELLS):
        try:
            n = _python_ssa(code, x0[c].tolist(), p[c].tolist(), plan.schedule.times.tolist(),
                            plan.schedule.values.tolist(), float(plan.time[0]), float(plan.time[-1]), rng,
                            budget - total)
        except (ArithmeticError, ValueError):  # Python raises where numba's code gives inf/NaN: ask the tau pilot
            return None
        if n is None:
            return None
        total += n
    return f"exact pilot of {AUTO_PILOT_CELLS} cells in plain Python: {total / AUTO_PILOT_CELLS:.3g} events per cell"


def _python_ssa(code: dict, x: list, p: list, times: list, values: list, t: float, t_end: float,
                rng: np.random.Generator, budget: int) -> int | None:
    """Events of one cell from t to t_end by the direct method on the plain-Python model code; None after
    ``budget`` events, when the events so far project to AUTO_PRECHECK_GIVE_UP x AUTO_MIN_EVENTS, or if the
    cell fails."""
    propensities, fire, n_r = code["propensities"], code["fire"], code["N_REACTIONS"]
    a = [0.0] * n_r
    b = max(0, bisect.bisect_right(times, t) - 1)
    t0, u = t, list(values[b])
    t_break = times[b + 1] if b + 1 < len(times) else math.inf
    propensities(x, p, u, a)
    a0 = math.fsum(a)
    events = 0
    while True:
        draws = rng.random((1024, 2))
        for e, r in draws.tolist():
            t_next = t - math.log1p(-e) / a0 if a0 > 0.0 else math.inf
            if t_next >= t_break and t_break < t_end:  # an input switches: redraw from there (memoryless)
                t, b = t_break, b + 1
                u = list(values[b])
                t_break = times[b + 1] if b + 1 < len(times) else math.inf
                propensities(x, p, u, a)
                a0 = math.fsum(a)
                continue
            if t_next >= t_end:
                return events
            t = t_next
            target, j = r * a0, 0
            while j < n_r - 1 and target >= a[j]:
                target -= a[j]
                j += 1
            if math.isnan(fire(j, x, p, u, a)):
                return None
            a0 = math.fsum(a)
            events += 1
            if events >= budget:
                return None
        if events >= 2048 and events * (t_end - t0) > AUTO_PRECHECK_GIVE_UP * _tau.AUTO_MIN_EVENTS * (t - t0):
            return None


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
                raise ArgumentError(f"threads: expected a positive integer, got {self.threads!r}")
            numba.set_num_threads(min(int(self.threads), numba.config.NUMBA_NUM_THREADS))
        return self

    def __exit__(self, *exc):
        numba.set_num_threads(self.before)
        return False
