"""Cell-to-cell variability: parameters, initial counts and cell size drawn per cell.

Each cell draws its values from its own stream (seed, condition, cell), separate from the stream
its reactions use, so the draws are reproducible whatever the threads or blocks, and adding
variability does not reshuffle the reaction noise of the cells.

Distributions (``mean`` defaults to the model's value: the parameter, or the initial count):
``lognormal`` {mean, cv}; ``normal`` {mean, sd | cv}, truncated at 0 by redrawing; ``gamma``
{mean, cv}; ``uniform`` {low, high}; ``list`` {values} (cell i takes values[i mod len]).
``cell_size`` (mean 1) is a volume factor: every initial count is multiplied by it, and each
propensity becomes Ω·a(x/Ω) — mass action of order n scales by Ω^(1-n) — so concentrations and
the deterministic limit are the same for every cell size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numba import njit

from .engine.rng import gamma, normal, seed_streams, uniform
from .errors import ArgumentError

CELL_SIZE = "cell_size"
_KINDS = {"lognormal": 0, "normal": 1, "gamma": 2, "uniform": 3, "list": 4}
_KEYS = {"lognormal": ({"cv"}, {"mean"}), "normal": (set(), {"mean", "sd", "cv"}), "gamma": ({"cv"}, {"mean"}),
         "uniform": ({"low", "high"}, set()), "list": ({"values"}, set())}
#: mixed into the condition key so variability draws never share a stream with reaction events
_SALT = 0x5EED_CE11_5EED_CE11


@dataclass(frozen=True)
class Variability:
    names: tuple[str, ...]   # what is drawn, canonical (sorted) order
    kinds: np.ndarray        # (V,) distribution codes
    args: np.ndarray         # (V, 2) distribution parameters (see _draw)
    lists: tuple[np.ndarray, ...]  # values of 'list' distributions (empty arrays otherwise)

    def draw(self, seed: int, condition: int, first_cell: int, n: int) -> np.ndarray:
        """(n, V) drawn values of cells first_cell .. first_cell+n-1."""
        streams = seed_streams(np.uint64(seed), np.uint64(condition ^ _SALT), first_cell, n)
        out = _draw(streams, self.kinds, self.args)
        for v, values in enumerate(self.lists):
            if values.size:
                out[:, v] = values[np.arange(first_cell, first_cell + n) % values.size]
        return out


def parse_variability(spec: Mapping[str, Any] | None, defaults: Mapping[str, float],
                      species_defaults: Mapping[str, float]) -> Variability | None:
    """Validate a ``variability`` mapping against the model; None when nothing varies."""
    if not spec:
        return None
    names, kinds, args, lists = [], [], [], []
    for name in sorted(spec):
        where = f"variability.{name}"
        entry = spec[name]
        if name == CELL_SIZE:
            default = 1.0
        elif name in defaults:
            default = defaults[name]
        elif name in species_defaults:
            default = species_defaults[name]
        else:
            raise ArgumentError(f"{where}: not a parameter or species of the model, nor 'cell_size'")
        if not isinstance(entry, Mapping) or entry.get("distribution") not in _KINDS:
            raise ArgumentError(f"{where}: expected {{distribution: {' | '.join(_KINDS)}, ...}}, got {entry!r}")
        kind = entry["distribution"]
        required, optional = _KEYS[kind]
        given = set(entry) - {"distribution"}
        for key in sorted(given - required - optional):
            raise ArgumentError(f"{where}.{key}: unknown key for {kind} (expected {', '.join(sorted(required | optional))})")
        for key in sorted(required - given):
            raise ArgumentError(f"{where}: {kind} needs {key!r}")
        values = np.empty(0)
        if kind == "list":
            raw = entry["values"]
            if not isinstance(raw, (list, tuple)) or not raw or not all(_finite(v) and v >= 0 for v in raw):
                raise ArgumentError(f"{where}.values: expected a non-empty list of non-negative numbers")
            values = np.array(raw, dtype=np.float64)
            a = (0.0, 0.0)
        else:
            for key in given:
                if not _finite(entry[key]):
                    raise ArgumentError(f"{where}.{key}: expected a finite number, got {entry[key]!r}")
            g = {k: float(entry[k]) for k in given}
            mean = g.get("mean", default)
            if kind == "uniform":
                if not 0 <= g["low"] <= g["high"]:
                    raise ArgumentError(f"{where}: uniform needs 0 <= low <= high, got {g['low']}, {g['high']}")
                a = (g["low"], g["high"])
            else:
                if mean < 0:
                    raise ArgumentError(f"{where}.mean: must be non-negative, got {mean}")
                if kind == "normal":
                    if ("sd" in g) == ("cv" in g):
                        raise ArgumentError(f"{where}: normal needs exactly one of 'sd' or 'cv'")
                    sd = g["sd"] if "sd" in g else g["cv"] * mean
                    if sd < 0:
                        raise ArgumentError(f"{where}: the SD must be non-negative, got {sd}")
                    a = (mean, sd)
                else:
                    if g["cv"] < 0:
                        raise ArgumentError(f"{where}.cv: must be non-negative, got {g['cv']}")
                    if not math.isfinite(g["cv"] * g["cv"]):  # the draw needs cv²: NaN for every cell
                        raise ArgumentError(f"{where}.cv: {g['cv']:g} is too large (at most 1e150)")
                    a = (mean, g["cv"])
        if name == CELL_SIZE and (values.size and values.min() <= 0 or kind == "uniform" and a[0] <= 0
                                  or kind not in ("list", "uniform") and a[0] <= 0):
            raise ArgumentError(f"{where}: a cell size must be positive; this {kind} can draw 0 "
                                f"(use mean > 0, low > 0 or positive values)")
        names.append(name)
        kinds.append(_KINDS[kind])
        args.append(a)
        lists.append(values)
    return Variability(tuple(names), np.array(kinds, dtype=np.int64), np.array(args, dtype=np.float64),
                       tuple(lists))


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@njit(cache=True)
def _draw(streams, kinds, args):
    n, n_v = streams.shape[0], kinds.shape[0]
    out = np.zeros((n, n_v))
    for c in range(n):
        s = streams[c]
        for v in range(n_v):
            a, b = args[v, 0], args[v, 1]
            k = kinds[v]
            if k == 0:  # lognormal with mean a and cv b
                sigma2 = math.log(1.0 + b * b)
                out[c, v] = a * math.exp(math.sqrt(sigma2) * normal(s) - 0.5 * sigma2) if a > 0 else 0.0
            elif k == 1:  # normal (a, b) truncated at 0
                x = -1.0
                while x < 0.0:
                    x = a + b * normal(s)
                out[c, v] = x
            elif k == 2:  # gamma with mean a and cv b
                out[c, v] = a * gamma(s, 1.0 / (b * b)) * b * b if b > 0 else a
            elif k == 3:
                out[c, v] = a + (b - a) * uniform(s)
    return out
