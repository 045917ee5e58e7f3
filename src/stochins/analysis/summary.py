"""Population summaries per condition, species and time, from the stored summaries.

The writer keeps exact means/SDs (merged block by block) and quantiles over the kept cells, so a
table of millions of cells costs a few small reads; the trajectories are never loaded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from ..io.hdf5 import Results
from ._common import AnalysisError, as_results, check_species, quantile_row, time_index


class SummaryRow(NamedTuple):
    condition: str
    species: str
    time: float      # min (the recorded time nearest the one asked for)
    mean: float      # molecules per cell
    sd: float        # across cells (ddof = 1)
    cv: float        # sd / mean: relative cell-to-cell variability
    fano: float      # variance / mean: 1 for a Poisson count
    q05: float
    q50: float
    q95: float
    cells: int


def cv(mean, sd):
    """Coefficient of variation sd/mean (NaN where the mean is 0: no relative spread is defined)."""
    mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(mean != 0, sd / mean, np.nan)
    return out[()] if out.ndim == 0 else out


def fano(mean, sd):
    """Fano factor variance/mean, the usual yardstick of intrinsic noise (1 for Poisson counts)."""
    mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(mean != 0, sd**2 / mean, np.nan)
    return out[()] if out.ndim == 0 else out


def summary_table(results: Results | str | Path, times: Sequence[float] | str | None = None,
                  species: Sequence[str] | None = None, conditions: Sequence[str] | None = None) -> list[SummaryRow]:
    """Rows (condition, species, time, mean, sd, cv, fano, q05, q50, q95, cells).

    ``times``: minutes, each read at the nearest recorded time (an error beyond half a sample
    step); default every recorded time; ``"last"``: each condition's own last time (a sweep over
    ``time.end`` gives conditions different grids). ``species``: default all recorded. The quantiles are over
    the cells the file kept for them (all cells, or at least 10,000; see the HDF5 reader).
    """
    r = as_results(results)
    rows: list[SummaryRow] = []
    for name in (r.conditions if conditions is None else conditions):
        cond = r[name]
        names = list(cond.quantities) if species is None else list(species)
        check_species(names, cond.quantities)
        if times is None:
            idx = range(cond.time.size)
        elif isinstance(times, str):
            if times != "last":
                raise ValueError(f"times: expected minutes or 'last', got {times!r}")
            idx = [cond.time.size - 1]
        else:
            try:
                idx = list(dict.fromkeys(time_index(cond.time, t) for t in times))
            except AnalysisError as exc:  # a sweep over time.end: say which condition lacks the time
                raise AnalysisError(f"{r.path}: condition {name!r}: {exc}") from None
        s = cond.summaries()
        qi = {q: quantile_row(s["quantile"], q) for q in (0.05, 0.5, 0.95)}

        def quant(q, ti, si):
            return float(s["quantiles"][qi[q], ti, si]) if qi[q] is not None else math.nan

        for sp in names:
            si = cond.quantities.index(sp)
            for ti in idx:
                m, sd = float(s["mean"][ti, si]), float(s["std"][ti, si])
                rows.append(SummaryRow(name, sp, float(cond.time[ti]), m, sd, float(cv(m, sd)), float(fano(m, sd)),
                                       quant(0.05, ti, si), quant(0.5, ti, si), quant(0.95, ti, si), s["cells"]))
    return rows


def format_table(rows: Sequence[SummaryRow]) -> str:
    """A fixed-width text table (what ``stochins summarize`` prints)."""
    head = ("condition", "species", "t (min)", "mean", "sd", "cv", "fano", "q05", "q50", "q95", "cells")
    body = [(r.condition, r.species, f"{r.time:g}", _num(r.mean), _num(r.sd), _num(r.cv, 3), _num(r.fano, 3),
             _num(r.q05), _num(r.q50), _num(r.q95), str(r.cells)) for r in rows]
    width = [max(len(x) for x in col) for col in zip(head, *body)]
    left = 2  # text columns left-aligned, numbers right-aligned

    def line(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, width)))

    return "\n".join([line(head), line(["-" * w for w in width])] + [line(b) for b in body])


def _num(x: float, digits: int = 4) -> str:
    if not math.isfinite(x):
        return "-"
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.0f}"
