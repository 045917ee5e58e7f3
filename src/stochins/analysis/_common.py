"""Shared helpers: accepting a path or an open file, finding a recorded time, naming species."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Sequence

import numpy as np

from ..io.hdf5 import Results, open_results


class AnalysisError(ValueError):
    """An analysis cannot be done as asked (unknown species, time not recorded, no dose sweep)."""


def as_results(results: Results | str | Path) -> Results:
    """Accept an opened :class:`Results` or a path, so scripts can pass either."""
    return results if isinstance(results, Results) else open_results(results)


def time_index(grid: np.ndarray, t: float) -> int:
    """Index of the recorded time nearest ``t``; an error if it is more than half a sample step away,
    so a typo (``--times 150`` on a 120-min run) is never silently read at another time."""
    grid = np.asarray(grid, dtype=float)
    i = int(np.argmin(np.abs(grid - t)))
    step = float(np.min(np.diff(grid))) if grid.size > 1 else 0.0
    if abs(grid[i] - t) > step / 2 + 1e-9 * max(1.0, abs(t)):
        every = f" every {step:g} min" if grid.size > 1 else ""
        raise AnalysisError(f"time {t:g} min is not recorded (samples {grid[0]:g}-{grid[-1]:g} min{every})")
    return i


def check_species(requested: Sequence[str], recorded: Sequence[str]) -> None:
    """One clear error naming an unknown species and the closest recorded name."""
    for s in requested:
        if s not in recorded:
            close = difflib.get_close_matches(s, recorded, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise AnalysisError(f"unknown species {s!r} (recorded: {', '.join(recorded)}){hint}")


def parse_species(species: str | Sequence[str]) -> list[str]:
    """``"A+B"`` or ``["A", "B"]`` -> parts of a summed readout (e.g. total phosphorylated receptor)."""
    parts = species.split("+") if isinstance(species, str) else list(species)
    parts = [p.strip() for p in parts if p.strip()]
    if not parts:
        raise AnalysisError("no species given")
    return parts


def quantile_row(levels: np.ndarray, q: float) -> int | None:
    """Where quantile level ``q`` is stored, or None if the file has no such level."""
    hits = np.flatnonzero(np.isclose(levels, q))
    return int(hits[0]) if hits.size else None
