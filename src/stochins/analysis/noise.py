"""Intrinsic and extrinsic noise from sister cells: the computational dual-reporter experiment.

A run with ``sisters: N`` simulates cells in groups of N that share every per-cell draw
(parameters, initial counts, cell size) but not their reaction streams (Elowitz et al. 2002, with
N reporters instead of two). By the law of total variance, with theta a cell's draws,

    Var X = E[Var(X | theta)] + Var(E[X | theta]) = intrinsic + extrinsic.

The within-group variance (ddof 1) of each group is unbiased for Var(X | theta) of its draws, so
intrinsic = mean over groups of it; the variance of the group means is extrinsic + intrinsic / N,
so extrinsic = Var(group means) - intrinsic / N. Standard errors are delete-one jackknife over
``batches`` interleaved batches of groups (groups are independent).

The share of the variance explained by each drawn parameter is its first-order (Sobol) index
Var(E[X | theta_p]) / Var X, with E[X | theta_p] estimated by the mean over groups in each of
``parameter_bins`` equal-frequency bins of theta_p, less the sampling variance of those means; it
is slightly low when X varies within a bin. Everything is accumulated block by block.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..io.hdf5 import Results
from ._common import AnalysisError, as_results, check_species, time_index
from . import _stream


@dataclass(frozen=True)
class NoiseDecomposition:
    """Variances (molecules^2) per (time, species) of one condition; ``*_se`` are standard errors."""
    condition: str
    species: list[str]
    time: np.ndarray           # (T,) recorded times used
    sisters: int
    groups: int
    mean: np.ndarray           # (T, S)
    total: np.ndarray          # (T, S) = intrinsic + extrinsic
    intrinsic: np.ndarray      # E[Var(X | draws)]: the reactions' own noise
    extrinsic: np.ndarray      # Var(E[X | draws]): from the cell-to-cell differences in draws
    total_se: np.ndarray
    intrinsic_se: np.ndarray
    extrinsic_se: np.ndarray
    parameter_names: list[str]
    parameter_share: np.ndarray  # (P, T, S): Var(E[X | parameter]) / Var X

    @property
    def intrinsic_fraction(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.intrinsic / self.total

    def rows(self):
        """(species, time, mean, total, intrinsic, se, extrinsic, se, intrinsic fraction) for tables."""
        for j, s in enumerate(self.species):
            for i, t in enumerate(self.time):
                yield (s, float(t), self.mean[i, j], self.total[i, j], self.intrinsic[i, j], self.intrinsic_se[i, j],
                       self.extrinsic[i, j], self.extrinsic_se[i, j], self.intrinsic_fraction[i, j])


def noise_decomposition(results: Results | str | Path, species: str | Sequence[str] | None = None,
                        time: float | Sequence[float] | None = None, *, condition: str | None = None,
                        sisters: int | None = None, batches: int = 20,
                        parameter_bins: int | None = None) -> NoiseDecomposition:
    """Intrinsic and extrinsic variance of ``species`` (default all) at ``time`` (default every
    recorded time) in ``condition`` (needed when the file has several) of a run with sister cells.
    ``sisters`` overrides the file's group size (for files written by other tools)."""
    r = as_results(results)
    if condition is None:
        if len(r.conditions) > 1:
            raise AnalysisError(f"{r.path}: {len(r.conditions)} conditions; choose one with condition= "
                                f"({', '.join(r.conditions)})")
        condition = r.conditions[0]
    if condition not in r.conditions:
        raise AnalysisError(f"{r.path}: unknown condition {condition!r} (conditions: {', '.join(r.conditions)})")
    cond = r[condition]
    n_sis = int(r.attrs.get("sisters", 1) if sisters is None else sisters)
    if n_sis < 2:
        raise AnalysisError(f"{r.path}: no sister cells (sisters: {n_sis}); intrinsic and extrinsic noise need "
                            f"groups of cells sharing their draws: run with 'sisters: 2' or more")
    sp = list(cond.species) if species is None else ([species] if isinstance(species, str) else list(species))
    check_species(sp, cond.species)
    ti = np.arange(cond.time.size) if time is None else \
        np.array([time_index(cond.time, t) for t in np.atleast_1d(np.asarray(time, dtype=float))])
    si = np.array([cond.species.index(s) for s in sp])
    groups = cond.kept // n_sis
    if groups < 2 * batches:
        raise AnalysisError(f"{r.path}: {groups} groups of {n_sis} sister cells in condition {condition}; the "
                            f"decomposition needs at least {2 * batches}")
    n_p = len(cond.parameter_names)
    bins = int(np.clip(groups // 50, 4, 32)) if parameter_bins is None else int(parameter_bins)
    lookup = _parameter_bins(cond, n_sis, groups, bins) if n_p else []
    shape = (ti.size, si.size)
    acc = np.zeros((batches, 3) + shape)          # per batch: sum m, sum m^2, sum s^2
    count = np.zeros(batches)
    b_acc = np.zeros((n_p, bins, 2) + shape)      # per parameter bin: sum m, sum m^2
    b_count = np.zeros((n_p, bins))
    g0 = 0
    for m, s2, leaders in _groups(cond, n_sis, groups, ti, si):
        batch = (g0 + np.arange(m.shape[0])) % batches
        count += np.bincount(batch, minlength=batches)
        for k, x in enumerate((m, m * m, s2)):
            np.add.at(acc[:, k], batch, x)
        for p, (fine, starts_lookup) in enumerate(lookup):
            b = starts_lookup[fine.index(leaders[:, [p]])[:, 0]]
            b_count[p] += np.bincount(b, minlength=bins)
            np.add.at(b_acc[p, :, 0], b, m)
            np.add.at(b_acc[p, :, 1], b, m * m)
        g0 += m.shape[0]

    def estimate(keep):
        g = count[keep].sum()
        sm, smm, ss = (acc[keep, k].sum(axis=0) for k in range(3))
        mean = sm / g
        var_m = (smm - g * mean**2) / (g - 1)
        intr = ss / g
        return mean, var_m - intr / n_sis + intr, intr, var_m - intr / n_sis

    mean, total, intr, extr = estimate(np.arange(batches))
    jack = np.array([estimate(np.delete(np.arange(batches), k))[1:] for k in range(batches)])
    se = np.sqrt((batches - 1) / batches * ((jack - jack.mean(axis=0)) ** 2).sum(axis=0))
    share = np.zeros((n_p,) + shape)
    for p in range(n_p):
        n_b = b_count[p][:, None, None]
        ok = b_count[p] > 1
        with np.errstate(divide="ignore", invalid="ignore"):
            mb = b_acc[p, :, 0] / n_b
            var_b = (b_acc[p, :, 1] - n_b * mb**2) / (n_b - 1)
            w = n_b / groups
            between = (w * (mb - mean) ** 2)[ok].sum(axis=0) - (w * var_b / n_b)[ok].sum(axis=0)
            share[p] = np.where(total > 0, between / total, np.nan)
    return NoiseDecomposition(condition, sp, cond.time[ti], n_sis, groups, mean, total, intr, extr, se[0], se[1],
                              se[2], list(cond.parameter_names), share)


def _groups(cond, n_sis: int, groups: int, ti: np.ndarray, si: np.ndarray):
    """Per block of whole groups: group means (G, T, S), within-group variances (ddof 1) and the
    draws of each group (G, P). Cells left over at a block's end wait for the next block."""
    rest_x = rest_p = None
    done = 0
    for _, block, drawn in cond.iter_cells(_stream.CHUNK_BYTES, parameters=True):
        full = ti.size == block.shape[1] and si.size == block.shape[2] and (ti == np.arange(ti.size)).all() \
            and (si == np.arange(si.size)).all()
        x = (block if full else block[:, ti][:, :, si]).astype(np.float64)
        if rest_x is not None and rest_x.shape[0]:
            x, drawn = np.concatenate([rest_x, x]), np.concatenate([rest_p, drawn])
        g = min(x.shape[0] // n_sis, groups - done)
        rest_x, rest_p = x[g * n_sis:], drawn[g * n_sis:]
        if g:
            xg = x[:g * n_sis].reshape((g, n_sis) + x.shape[1:])
            m = xg.mean(axis=1)
            s2 = np.zeros_like(m)
            for k in range(n_sis):  # one sister at a time: no temporary the size of the block
                s2 += (xg[:, k] - m) ** 2
            yield m, s2 / (n_sis - 1), drawn[:g * n_sis:n_sis]
            done += g


def _parameter_bins(cond, n_sis: int, groups: int, bins: int):
    """Per drawn parameter: its fine histogram over the groups and the coarse bin of each fine bin."""
    def leaders():  # the parameters dataset alone: a few bytes per cell
        return cond.iter_parameters(_stream.CHUNK_BYTES // (8 * max(1, len(cond.parameter_names))), n_sis,
                                    groups * n_sis)

    readouts = _stream.Readouts([leaders], [cond.name], list(cond.parameter_names), False)
    hist = _stream.fine_histograms(readouts)
    out = []
    for p in range(hist.counts.shape[1]):
        starts = _stream.equal_frequency_starts(hist.counts[:, p, :], bins)
        lookup = np.searchsorted(starts, np.arange(hist.counts.shape[2]), side="right") - 1
        one = _stream.FineHistograms(hist.lo[[p]], hist.width[[p]], hist.counts[:, [p]], hist.names, [hist.labels[p]])
        out.append((one, lookup))
    return out
