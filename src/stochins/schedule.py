"""Piecewise-constant input schedules: the one form every input protocol reduces to.

A schedule is a list of breakpoints ``t_k`` with the values of *all* inputs holding from ``t_k``
to ``t_{k+1}``; the engines switch exactly at each breakpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

import numpy as np

from .expressions import ModelError

InputSpec = Union[float, int, Sequence[Sequence[float]]]


@dataclass(frozen=True)
class Schedule:
    times: np.ndarray   # (K,) breakpoints; times[0] is -inf (the model defaults hold before any change)
    values: np.ndarray  # (K, I) input values from times[k] on, inputs in the model's canonical order

    @property
    def breakpoints(self) -> np.ndarray:
        return self.times[1:]


def piecewise(spec: InputSpec, name: str) -> list[tuple[float, float]]:
    """A number (constant from t = -inf) or ``[[t0, v0], [t1, v1], ...]`` -> validated (t, v) pairs."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        pairs = [(-math.inf, float(spec))]
    elif isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) > 0:
        pairs = []
        for item in spec:
            if (not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2
                    or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in item)):
                raise ModelError(f"inputs.{name}: expected [[time, value], ...], got item {item!r}")
            pairs.append((float(item[0]), float(item[1])))
        times = [t for t, _ in pairs]
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ModelError(f"inputs.{name}: schedule times must be strictly increasing, got {times}")
        if not all(math.isfinite(t) for t in times):
            raise ModelError(f"inputs.{name}: schedule times must be finite numbers")
    else:
        raise ModelError(f"inputs.{name}: expected a number or a schedule [[time, value], ...], got {spec!r}")
    for t, v in pairs:
        if not (math.isfinite(v) and v >= 0):
            raise ModelError(f"inputs.{name}: input values must be finite and non-negative, got {v!r}")
    return pairs


def build_schedule(input_names: Sequence[str], defaults: Mapping[str, float],
                   inputs: Mapping[str, InputSpec] | None) -> Schedule:
    """Merge per-input schedules onto one breakpoint list."""
    inputs = dict(inputs or {})
    unknown = [n for n in inputs if n not in input_names]
    if unknown:
        known = ", ".join(input_names) or "none"
        raise ModelError(f"inputs.{unknown[0]}: the model has no input {unknown[0]!r} (its inputs: {known})")
    per_input = {n: piecewise(inputs[n], n) if n in inputs else [(-math.inf, defaults[n])] for n in input_names}
    times = sorted({t for pairs in per_input.values() for t, _ in pairs} | {-math.inf})
    values = np.empty((len(times), len(input_names)))
    for i, name in enumerate(input_names):
        pairs = per_input[name]
        for k, t in enumerate(times):
            current = defaults[name]
            for tp, v in pairs:
                if tp <= t:
                    current = v
            values[k, i] = current
    return Schedule(np.array(times, dtype=np.float64), values)
