"""Response classes of single cells: who responds, graded or all-or-none, and when.

* ``fraction_responding``: the share of cells above a threshold, by default the 95th percentile of
  the unstimulated distribution (the lowest dose of a sweep, or a named reference condition), with a
  Clopper-Pearson interval. Computed on fine histograms: exact for counts whose range fits the
  fine grid (one bin per count), else at the grid's resolution (1/1024 of the range).
* ``bimodality``: a two-component Gaussian mixture against one (of log(1 + x) by default), fitted
  by EM to the fine histogram; all-or-none when BIC prefers two components by more than 10 *and*
  the components are separated (Ashman's D > 2) with the smaller holding at least 5 % of cells:
  with 10^5 cells BIC alone prefers two components for any skewed unimodal law.
* ``response_times``: per cell, the time of its peak and the time it first reaches half of its
  rise from its first recorded value to its peak (linear between samples); distributions per
  condition, accumulated block by block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import stats

from ..io.hdf5 import Results
from ._common import AnalysisError, as_results, check_species
from . import _stream
from ._stream import FineHistograms, file_readouts, fine_histograms
from .dose_response import dose_keys

#: all-or-none needs BIC(1) - BIC(2) above this, Ashman's D above ASHMAN_D and a minor weight above MIN_WEIGHT
DELTA_BIC = 10.0
ASHMAN_D = 2.0
MIN_WEIGHT = 0.05


@dataclass(frozen=True)
class ResponseFraction:
    condition: str
    fraction: float
    ci: tuple[float, float]    # 95 % Clopper-Pearson
    responding: int
    cells: int
    threshold: float           # responding: strictly above it


@dataclass(frozen=True)
class Bimodality:
    condition: str
    delta_bic: float           # BIC(1 component) - BIC(2): > 0 favours two
    weights: tuple[float, float]
    means: tuple[float, float]  # in the fitted scale (log(1 + x) when log=True)
    sds: tuple[float, float]
    ashman_d: float            # |m1 - m2| sqrt(2) / sqrt(s1^2 + s2^2)
    all_or_none: bool


@dataclass(frozen=True)
class ResponseTimes:
    condition: str
    species: str
    responding: int            # cells whose peak is above their first value
    cells: int
    half_max: tuple[float, float, float]   # 5, 50, 95 % quantiles of the time to half-maximal response (min)
    peak: tuple[float, float, float]       # of the peak time (min)
    half_max_hist: np.ndarray  # counts on `bins`
    peak_hist: np.ndarray
    bins: np.ndarray           # time bin edges (min)


def _conditions(r: Results, conditions: Sequence[str] | None) -> list[str]:
    names = list(r.conditions if conditions is None else conditions)
    for n in names:
        if n not in r.conditions:
            raise AnalysisError(f"{r.path}: unknown condition {n!r} (conditions: {', '.join(r.conditions)})")
    return names


def _unstimulated(r: Results) -> str:
    keys = dose_keys(r)
    if not keys:
        raise AnalysisError(f"{r.path}: no dose sweep, so no unstimulated condition: give threshold= or reference=")
    return min((float(r[n].settings[keys[0]]), n) for n in r.conditions if keys[0] in r[n].settings)[1]


def fraction_responding(results: Results | str | Path, species: str, time: float, *, threshold: float | None = None,
                        reference: str | None = None, quantile: float = 0.95,
                        conditions: Sequence[str] | None = None) -> list[ResponseFraction]:
    """Share of cells of each condition whose ``species`` at ``time`` is above ``threshold``, by
    default the ``quantile`` of the ``reference`` condition (default: the lowest dose)."""
    r = as_results(results)
    names = _conditions(r, conditions)
    ref = None
    if threshold is None:
        ref = reference or _unstimulated(r)
        if ref not in r.conditions:
            raise AnalysisError(f"{r.path}: unknown reference condition {ref!r}")
        if ref not in names:
            names = [ref] + names
    hist = fine_histograms(file_readouts(r, names, [species], [time]))
    return fractions_from_histograms(hist, threshold, names.index(ref) if ref is not None else None, quantile)


def fractions_from_histograms(hist: FineHistograms, threshold: float | None, reference: int | None,
                              quantile: float = 0.95, readout: int = 0) -> list[ResponseFraction]:
    if threshold is None:
        threshold = hist.quantile(reference, readout, quantile)
    above = hist.centres(readout) > threshold
    out = []
    for c, name in enumerate(hist.names):
        n = int(hist.counts[c, readout].sum())
        k = int(hist.counts[c, readout, above].sum())
        ci = stats.binomtest(k, n).proportion_ci(0.95) if n else None
        out.append(ResponseFraction(name, k / n if n else math.nan, (ci.low, ci.high) if ci else (math.nan,) * 2,
                                    k, n, float(threshold)))
    return out


def bimodality(results: Results | str | Path, species: str, time: float, *, log: bool = True,
               conditions: Sequence[str] | None = None) -> list[Bimodality]:
    """Graded or all-or-none: one against two Gaussian components per condition (see the module)."""
    r = as_results(results)
    hist = fine_histograms(file_readouts(r, _conditions(r, conditions), [species], [time]))
    return [mixture_test(hist.centres(0), hist.counts[c, 0], name, log, hist.width[0])
            for c, name in enumerate(hist.names)]


def mixture_test(values: np.ndarray, counts: np.ndarray, name: str = "", log: bool = True,
                 width: float = 0.0) -> Bimodality:
    """One- against two-component Gaussian mixture on weighted values (bin centres and counts)."""
    keep = counts > 0
    x = np.log1p(np.maximum(values[keep], 0)) if log else values[keep]
    w = counts[keep].astype(float)
    n = w.sum()
    if n < 10:
        raise AnalysisError(f"condition {name}: {int(n)} cells; a mixture test needs at least 10")
    floor = max((width / (1 + max(values.min(), 0)) if log else width) ** 2 / 12, 1e-12)  # a bin's own spread
    m1 = np.average(x, weights=w)
    v1 = max(np.average((x - m1) ** 2, weights=w), floor)
    ll1 = (w * stats.norm.logpdf(x, m1, math.sqrt(v1))).sum()
    cum = np.cumsum(w) / n
    mu = np.array([x[np.searchsorted(cum, 0.25)], x[np.searchsorted(cum, 0.75)]])
    var = np.full(2, v1 / 4)
    pi = np.array([0.5, 0.5])
    ll2 = -np.inf
    for _ in range(500):
        dens = pi[:, None] * stats.norm.pdf(x[None, :], mu[:, None], np.sqrt(var)[:, None]) + 1e-300
        total = dens.sum(axis=0)
        new = (w * np.log(total)).sum()
        resp = dens / total * w
        nk = resp.sum(axis=1) + 1e-300
        pi = nk / n
        mu = (resp * x).sum(axis=1) / nk
        var = np.maximum((resp * (x[None, :] - mu[:, None]) ** 2).sum(axis=1) / nk, floor)
        if new - ll2 < 1e-9 * abs(new):
            break
        ll2 = new
    delta = (-2 * ll1 + 2 * math.log(n)) - (-2 * ll2 + 5 * math.log(n))
    d = abs(mu[0] - mu[1]) * math.sqrt(2 / (var[0] + var[1]))
    order = np.argsort(mu)
    return Bimodality(name, float(delta), tuple(float(v) for v in pi[order]), tuple(float(v) for v in mu[order]),
                      tuple(float(math.sqrt(v)) for v in var[order]), float(d),
                      bool(delta > DELTA_BIC and d > ASHMAN_D and pi.min() > MIN_WEIGHT))


def cell_response_times(x: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of x (cells, T): time to half-maximal rise from the first value, linear between
    samples, and time of the (first) peak; NaN for a cell that never rises above its first value."""
    x = np.asarray(x, dtype=np.float64)
    time = np.asarray(time, dtype=np.float64)
    k = np.argmax(x, axis=1)
    rows = np.arange(x.shape[0])
    base, top = x[:, 0], x[rows, k]
    half = base + 0.5 * (top - base)
    j = np.argmax(x >= half[:, None], axis=1)      # first sample at or above half; >= 1 for a rising cell
    jm = np.maximum(j - 1, 0)
    x0, x1 = x[rows, jm], x[rows, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(x1 > x0, (half - x0) / (x1 - x0), 0.0)
    t_half = np.where(j > 0, time[jm] + frac * (time[j] - time[jm]), time[0])
    rising = top > base
    return np.where(rising, t_half, np.nan), np.where(rising, time[k], np.nan)


def response_times(results: Results | str | Path, species: str, *, conditions: Sequence[str] | None = None,
                   resolution: int = 4) -> list[ResponseTimes]:
    """Per condition, the distributions of each cell's time to half-maximal response and peak time,
    on time bins ``resolution`` times finer than the samples."""
    r = as_results(results)
    out = []
    for name in _conditions(r, conditions):
        cond = r[name]
        check_species([species], cond.species)
        s = cond.species.index(species)
        t = cond.time
        bins = np.linspace(t[0], t[-1], resolution * (t.size - 1) + 1) if t.size > 1 else np.array([t[0], t[0] + 1])
        bins[-1] = np.nextafter(bins[-1], np.inf)
        h_half, h_peak = np.zeros(bins.size - 1, dtype=np.int64), np.zeros(bins.size - 1, dtype=np.int64)
        cells = 0
        for _, block in cond.iter_cells(_stream.CHUNK_BYTES):
            half, peak = cell_response_times(block[:, :, s], t)
            cells += block.shape[0]
            h_half += np.histogram(half[np.isfinite(half)], bins)[0]
            h_peak += np.histogram(peak[np.isfinite(peak)], bins)[0]
        if cells == 0:
            raise AnalysisError(f"{r.path}: condition {name} kept no single-cell trajectories")
        out.append(ResponseTimes(name, species, int(h_peak.sum()), cells, _hist_quantiles(h_half, bins),
                                 _hist_quantiles(h_peak, bins), h_half, h_peak, bins))
    return out


def _hist_quantiles(h: np.ndarray, bins: np.ndarray, qs=(0.05, 0.5, 0.95)) -> tuple[float, ...]:
    """Quantiles of binned times: the lower edge of the bin where the cumulative count reaches q
    (exact for peak times, which are sample times; within a bin for interpolated half-max times)."""
    if h.sum() == 0:
        return (math.nan,) * len(qs)
    cum = np.cumsum(h) / h.sum()
    return tuple(float(bins[np.searchsorted(cum, q - 1e-12)]) for q in qs)
