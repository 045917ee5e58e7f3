"""Results files with known single-cell laws, written through the real writer (no simulation)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from stochins.io.hdf5 import ConditionSpec, TrajectoryWriter


def write_file(path: Path, time: np.ndarray, species: Sequence[str], conditions: Sequence[dict],
               block: Callable[[int, int, int], tuple[np.ndarray, np.ndarray | None]], cells: int,
               parameter_names: Sequence[str] = (), block_cells: int = 10_000, attrs: dict | None = None,
               compression: str = "gzip", compression_level: int = 1) -> Path:
    """``conditions``: settings per condition (e.g. {"inputs.insulin.dose": 1.0}); ``block(c, first, n)``
    returns (trajectories (n, T, S) int32, drawn (n, P) or None) of condition c's cells first..first+n-1."""
    specs = []
    for i, settings in enumerate(conditions):
        name = ",".join(f"{k.split('.')[-1]}={v:g}" for k, v in settings.items()) or "default"
        specs.append(ConditionSpec(name, i, dict(settings), cells, np.asarray(time, dtype=float), list(species),
                                   list(parameter_names), np.int32, cells))
    base = {"model_name": "synthetic", "method": "ssa", "seed": "0", "cells": cells, "run_config": "synthetic",
            "model": "", "model_hash": ""}
    writer = TrajectoryWriter(path, attrs={**base, **(attrs or {})}, conditions=specs, compression=compression,
                              compression_level=compression_level)
    try:
        for c, spec in enumerate(specs):
            for first in range(0, cells, block_cells):
                n = min(block_cells, cells - first)
                traj, drawn = block(c, first, n)
                writer.append(spec.name, first, traj.astype(np.int32), drawn)
        writer.finish()
    finally:
        writer.close()
    return Path(path)
