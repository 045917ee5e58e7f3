"""What a simulation method declares: name, options, work statistics, compiled arrays, block entry point.

Each method is one engine module with a ``METHOD`` of this type; ``methods.py`` lists them. A block
entry point takes, for ``n`` cells, ``(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail,
work, options, m, *needs)``: initial states (n, S), parameter vectors (n, P+2+D), the input schedule,
the recording grid and recorded species, per-cell random streams (n, 4), the options, the model's
function table (``model_abi.py``), and fills ``out`` (n, T, R), ``status``/``detail`` (n,) and ``work``
(n, len(work)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import ArgumentError


@dataclass(frozen=True)
class Option:
    """A numeric option: its default, its range and one line of documentation."""

    name: str
    default: float
    doc: str
    low: float = 0.0               # smallest allowed value
    high: float = math.inf         # largest allowed value
    open_low: bool = False         # the bounds themselves excluded
    open_high: bool = False
    integer: bool = False

    def check(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise ArgumentError(f"{where}.{self.name}: expected a number, got {value!r}")
        if self.integer and value != int(value):
            raise ArgumentError(f"{where}.{self.name}: expected an integer, got {value!r}")
        below = value <= self.low if self.open_low else value < self.low
        above = value >= self.high if self.open_high else value > self.high
        if below or above:
            raise ArgumentError(f"{where}.{self.name}: expected {self.range()}, got {value!r}")
        return float(value)

    def range(self) -> str:
        lo = f"{self.low:g} {'<' if self.open_low else '<='} {self.name}"
        if math.isinf(self.high):
            return f"{self.name} {'>' if self.open_low else '>='} {self.low:g}"
        return f"{lo} {'<' if self.open_high else '<='} {self.high:g}"


@dataclass(frozen=True)
class Method:
    """One simulation method (see the module docstring for the entry point's arguments)."""

    name: str
    summary: str                    # one line for the CLI and the README
    reference: str                  # the paper it implements
    exact: bool                     # samples the chemical master equation's law exactly
    stochastic: bool                # False: deterministic (float output, no random streams)
    module: str                     # engine module holding the entry point (see engine/kernels.py)
    entry: str                      # the block entry point's name in it
    work: tuple[str, ...] = ("events",)    # per-cell work statistics the entry fills, in order
    firings: tuple[str, ...] = ("events",)  # which of them count reaction firings (their sum: events)
    needs: tuple[str, ...] = ()     # CompiledModel arrays passed after the model table (``CompiledModel.needs``)
    #: the slots of the model's functions that its kernels call through the table passed after the options
    #: (``model_abi.py``; the event functions are added for a model with events); None: its kernels call no
    #: generated code (the table is empty)
    model_functions: tuple[int, ...] | None = ()
    options: tuple[Option, ...] = field(default_factory=tuple)
    time_events: bool = True        # executes events triggered at times fixed by the parameters
    state_events: bool = True       # executes events whose trigger reads the state

    def option_vector(self, given: Mapping[str, object] | None = None) -> np.ndarray:
        """The entry point's option vector, in declaration order, with every value checked."""
        names = {o.name: o for o in self.options}
        for key in given or {}:
            if key not in names:
                expected = ", ".join(names) if names else "none"
                raise ArgumentError(f"{self.name}.{key}: unknown option of method {self.name!r} (expected {expected})")
        values = {**{o.name: o.default for o in self.options}, **(given or {})}
        return np.array([names[k].check(v, self.name) for k, v in values.items()], dtype=np.float64)

    def event_count(self, work: np.ndarray) -> np.ndarray:
        """Reaction events per cell from its work statistics."""
        columns = [self.work.index(name) for name in self.firings]
        return work[:, columns].sum(axis=1) if columns else np.zeros(work.shape[0], dtype=np.int64)
