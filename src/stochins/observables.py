"""Observables: a model's named expressions (``expressions:``, SBML assignment rules) recorded like species.

The kernels never see them: they record the species an observable reads along with the requested
ones, and each block's observables are evaluated afterwards in numpy over every cell and recorded
time at once, from the same expression trees the kernels were generated from (so a rate and an
observable with the same text cannot disagree). Values are float64 (a fraction or a concentration
is rarely a whole number).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import ArgumentError
from .schedule import Schedule


class Observables:
    """The observables one plan records, and the species they need from the kernel."""

    def __init__(self, model, names: Sequence[str]):
        self.names = list(names)
        self.exprs = [model.network.expressions[n] for n in self.names]
        used = set().union(*(e.symbols for e in self.exprs)) if self.exprs else set()
        bad = sorted(used & {"t", "time"})
        if bad:  # expressions are resolved at load time, so this only guards hand-built networks
            raise ArgumentError(f"record: observable {self.names[0]!r} reads time {bad[0]!r}")
        self.species = [s for s in model.species if s in used]  # canonical order
        self.parameters = {q: i for i, q in enumerate(model.parameters) if q in used}
        self.inputs = {q: i for i, q in enumerate(model.inputs) if q in used}

    def __bool__(self) -> bool:
        return bool(self.names)

    def evaluate(self, counts: np.ndarray, species: Sequence[str], p: np.ndarray, time: np.ndarray,
                 schedule: Schedule) -> np.ndarray:
        """(n, T, O) float64 from recorded ``counts`` (n, T, R) of ``species``, per-cell parameter
        vectors ``p`` (n, >= P) and the input schedule at the recorded times."""
        col = {s: k for k, s in enumerate(species)}
        env: dict[str, np.ndarray] = {s: counts[:, :, col[s]].astype(np.float64) for s in self.species}
        env.update({q: p[:, i, None] for q, i in self.parameters.items()})  # (n, 1): per cell
        if self.inputs:
            row = np.searchsorted(schedule.times, time, side="right") - 1  # v_k holds from times[k] on
            env.update({q: schedule.values[row, i][None, :] for q, i in self.inputs.items()})  # (1, T)
        n, n_t = counts.shape[0], time.size
        out = np.empty((n, n_t, len(self.names)))
        for k, expr in enumerate(self.exprs):
            out[:, :, k] = np.broadcast_to(expr.evaluate_array(env), (n, n_t))
        return out


def split_record(model, record: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """A ``record`` list -> (species, observables), in the order given; default: every species."""
    if record is None:
        return list(model.declared_species), []
    if isinstance(record, str) or not all(isinstance(name, str) for name in record):  # "AB" is not ["A", "B"]
        raise ArgumentError(f"record: expected a list of species and observable names, got {record!r}")
    species, observables = [], []
    for name in record:
        if name in model.species:
            species.append(name)
        elif name in model.network.expressions:
            observables.append(name)
        else:
            extra = f"; observables: {', '.join(model.network.expressions)}" if model.network.expressions else ""
            raise ArgumentError(f"record: unknown species or observable {name!r} "
                             f"(model species: {', '.join(model.declared_species)}{extra})")
    if len(set(record)) != len(record):
        dup = next(n for n in record if list(record).count(n) > 1)
        raise ArgumentError(f"record: {dup!r} is listed twice")
    return species, observables
