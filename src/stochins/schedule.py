"""Piecewise-constant input schedules: the one form every input protocol reduces to.

A schedule is a list of breakpoints ``t_k`` with the values of *all* inputs holding from ``t_k``
to ``t_{k+1}``; the engines switch exactly at each breakpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

import numpy as np

from .errors import ArgumentError

InputSpec = Union[float, int, Sequence[Sequence[float]], Mapping[str, object]]


@dataclass(frozen=True)
class Schedule:
    times: np.ndarray   # (K,) breakpoints; times[0] is -inf (the model defaults hold before any change)
    values: np.ndarray  # (K, I) input values from times[k] on, inputs in the model's canonical order

    def from_time(self, t0: float) -> "Schedule":
        """The same inputs as seen from ``t0`` on: the values at t0 from -inf, then only real changes.

        Equivalent schedules become identical arrays, so they give the same random-stream key.
        """
        k = int(np.searchsorted(self.times, t0, side="right")) - 1
        times, rows = [-np.inf], [self.values[k]]
        for t, row in zip(self.times[k + 1:], self.values[k + 1:]):
            if not np.array_equal(row, rows[-1]):
                times.append(t)
                rows.append(row)
        return Schedule(np.array(times), np.array(rows).reshape(len(rows), self.values.shape[1]))


_PROTOCOL_KEYS = {
    "constant": ({"value"}, set()),
    "step": ({"dose", "start"}, {"baseline"}),
    "pulse": ({"dose", "duration"}, {"start", "baseline"}),
    "washout": ({"dose", "time"}, {"baseline"}),
    "pulses": ({"dose", "period", "width", "count"}, {"start", "baseline"}),
    "piecewise": ({"table"}, set()),
    "ramp": ({"from", "to", "start", "duration"}, {"steps"}),
}
#: default number of stairs of a ramp (each holds the ramp's mean value over its interval)
RAMP_STEPS = 50
#: most breakpoints of one run's schedule (ramp stairs, pulses, table rows): a guard against 1e8
#: stairs filling memory before anything runs; each is switched exactly by the engines anyway
MAX_BREAKPOINTS = 100_000


def piecewise(spec: InputSpec, name: str) -> list[tuple[float, float]]:
    """Any input protocol -> validated (time, value) pairs; the first pair may start at -inf.

    A number is a constant; ``[[t0, v0], [t1, v1], ...]`` a table (v_i from t_i on); a mapping
    ``{protocol: ..., ...}`` one of constant, step, pulse, washout, pulses, piecewise, ramp.
    """
    where = f"inputs.{name}"
    if isinstance(spec, Mapping):
        pairs = _protocol(dict(spec), where)
    elif _is_number(spec):
        pairs = [(-math.inf, float(spec))]
    elif isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) > 0:
        if len(spec) > MAX_BREAKPOINTS:
            raise ArgumentError(f"{where}: a table of {len(spec):,} rows (at most {MAX_BREAKPOINTS:,} breakpoints)")
        pairs = _table(spec, where)
    else:
        raise ArgumentError(f"{where}: expected a number, a table [[time, value], ...] or a protocol "
                         f"mapping, got {spec!r}")
    for t, v in pairs:
        if not (math.isfinite(v) and v >= 0):
            raise ArgumentError(f"{where}: input values must be finite and non-negative, got {v!r}")
    return pairs


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _table(spec, where: str) -> list[tuple[float, float]]:
    pairs = []
    for item in spec:
        if (not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2
                or not all(_is_number(v) for v in item)):
            raise ArgumentError(f"{where}: expected [[time, value], ...], got item {item!r}")
        pairs.append((float(item[0]), float(item[1])))
    times = [t for t, _ in pairs]
    if not all(math.isfinite(t) for t in times):
        raise ArgumentError(f"{where}: table times must be finite numbers")
    if any(b <= a for a, b in zip(times, times[1:])):
        raise ArgumentError(f"{where}: table times must be strictly increasing, got {times}")
    return pairs


def _protocol(spec: dict, where: str) -> list[tuple[float, float]]:
    kind = spec.pop("protocol", None)
    if kind not in _PROTOCOL_KEYS:
        raise ArgumentError(f"{where}.protocol: expected one of {', '.join(_PROTOCOL_KEYS)}, got {kind!r}")
    required, optional = _PROTOCOL_KEYS[kind]
    if kind == "constant" and "dose" in spec and "value" not in spec:
        spec["value"] = spec.pop("dose")
    for key in spec:
        if key not in required | optional:
            raise ArgumentError(f"{where}.{key}: unknown key for protocol {kind!r} "
                             f"(expected {', '.join(sorted(required | optional))})")
    for key in sorted(required):
        if key not in spec:
            raise ArgumentError(f"{where}: protocol {kind!r} needs {key!r}")
    if kind == "piecewise":
        table = spec["table"]
        if isinstance(table, str) or not isinstance(table, Sequence) or not table:
            raise ArgumentError(f"{where}.table: expected [[time, value], ...], got {table!r}")
        if len(table) > MAX_BREAKPOINTS:
            raise ArgumentError(f"{where}.table: {len(table):,} rows (at most {MAX_BREAKPOINTS:,} breakpoints)")
        return _table(table, f"{where}.table")
    for key, v in spec.items():
        if not _is_number(v) or not math.isfinite(v):
            raise ArgumentError(f"{where}.{key}: expected a finite number, got {v!r}")
    g = {k: float(v) for k, v in spec.items()}
    for key in [k for k in ("value", "dose", "baseline", "from", "to") if g.get(k, 0.0) < 0]:
        raise ArgumentError(f"{where}.{key}: input values must be non-negative, got {g[key]!r}")
    base = g.get("baseline", 0.0)
    if kind == "constant":
        return [(-math.inf, g["value"])]
    if kind == "step":
        return [(-math.inf, base), (g["start"], g["dose"])]
    if kind == "washout":
        return [(-math.inf, g["dose"]), (g["time"], base)]
    if kind == "pulse":
        if g["duration"] <= 0:
            raise ArgumentError(f"{where}.duration: a pulse must last a positive time, got {g['duration']!r}")
        start = g.get("start", 0.0)
        return [(-math.inf, base), (start, g["dose"]), (start + g["duration"], base)]
    if kind == "pulses":
        count = g["count"]
        if count < 1 or count != int(count):
            raise ArgumentError(f"{where}.count: expected a positive whole number, got {spec['count']!r}")
        if 2 * count > MAX_BREAKPOINTS:
            raise ArgumentError(f"{where}.count: {count:,.0f} pulses are more than {MAX_BREAKPOINTS // 2:,} "
                                f"(at most {MAX_BREAKPOINTS:,} breakpoints)")
        if g["width"] <= 0:
            raise ArgumentError(f"{where}.width: pulses must last a positive time, got {g['width']!r}")
        if g["width"] > g["period"]:
            raise ArgumentError(f"{where}: width {g['width']} exceeds period {g['period']}: pulses would overlap")
        start = g.get("start", 0.0)
        pairs = [(-math.inf, base)]
        for k in range(int(count)):
            t0 = start + k * g["period"]
            pairs.append((t0, g["dose"]))
            if g["width"] < g["period"] or k == int(count) - 1:
                pairs.append((t0 + g["width"], base))
        return pairs
    # ramp: a staircase of `steps` stairs; each stair holds the ramp's mean over its interval
    steps = g.get("steps", RAMP_STEPS)
    if steps < 1 or steps != int(steps):
        raise ArgumentError(f"{where}.steps: expected a positive whole number, got {spec.get('steps')!r}")
    if steps > MAX_BREAKPOINTS:
        raise ArgumentError(f"{where}.steps: {steps:,.0f} stairs are more than {MAX_BREAKPOINTS:,} (the ramp's "
                            f"resolution is duration/steps; a few hundred stairs are usually plenty)")
    if g["duration"] <= 0:
        raise ArgumentError(f"{where}.duration: a ramp must last a positive time, got {g['duration']!r}")
    steps = int(steps)
    h = g["duration"] / steps
    pairs = [(-math.inf, g["from"])]
    pairs += [(g["start"] + k * h, g["from"] + (g["to"] - g["from"]) * (k + 0.5) / steps) for k in range(steps)]
    pairs.append((g["start"] + g["duration"], g["to"]))
    return pairs


def build_schedule(input_names: Sequence[str], defaults: Mapping[str, float],
                   inputs: Mapping[str, InputSpec] | None) -> Schedule:
    """Merge per-input schedules onto one breakpoint list."""
    if inputs is not None and not isinstance(inputs, Mapping):
        raise ArgumentError(f"inputs: expected a mapping of input name to value, table or protocol, got {inputs!r}")
    inputs = dict(inputs or {})
    unknown = [n for n in inputs if n not in input_names]
    if unknown:
        known = ", ".join(input_names) or "none"
        raise ArgumentError(f"inputs.{unknown[0]}: the model has no input {unknown[0]!r} (its inputs: {known})")
    per_input = {n: piecewise(inputs[n], n) if n in inputs else [(-math.inf, defaults[n])] for n in input_names}
    times = np.array(sorted({t for pairs in per_input.values() for t, _ in pairs} | {-math.inf}), dtype=np.float64)
    if times.size > MAX_BREAKPOINTS:
        raise ArgumentError(f"inputs: {times.size:,} breakpoints in all (at most {MAX_BREAKPOINTS:,})")
    values = np.empty((times.size, len(input_names)))
    for i, name in enumerate(input_names):  # at each breakpoint, the value of the last pair at or before it
        tp = np.array([t for t, _ in per_input[name]], dtype=np.float64)
        vp = np.array([v for _, v in per_input[name]], dtype=np.float64)
        order = np.argsort(tp, kind="stable")
        k = np.searchsorted(tp[order], times, side="right") - 1
        values[:, i] = np.where(k >= 0, vp[order][np.maximum(k, 0)], defaults[name])
    return Schedule(times, values)
