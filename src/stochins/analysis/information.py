"""How much a single cell's response tells about the dose: channel capacity and mutual information.

The input is the swept dose (one condition per dose), the output one cell's response: a species
at a time, or a vector of several species and/or times. Responses are binned into equal-frequency
bins of the pooled cells (joint bins for a vector), the channel p(response bin | dose) is the
histogram of each dose, and the capacity is found by Blahut-Arimoto (Blahut 1972; Arimoto 1972).

Plug-in estimates from finite data are biased upward (a histogram of n cells looks more
informative than the distribution it samples). As in Cheong et al. 2011 (Science 334:354), the
estimate is computed on random subsamples of 50-100 % of the cells of every dose (without
replacement) and extrapolated linearly in 1/n to infinite n. The confidence interval is the
percentile interval of that whole procedure repeated on bootstrap resamples of the cells of each
dose. Binning itself can only lose information (data processing), so with too few bins the
estimate is low; the default number of bins grows with the cells per dose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ..io.hdf5 import Results
from ._common import AnalysisError, as_results
from ._stream import Readouts, array_readouts, coarse_counts, equal_frequency_starts, file_readouts, \
    fine_histograms, joint_counts, FineHistograms
from .dose_response import dose_keys

LN2 = math.log(2.0)
#: subsample sizes (fractions of every dose's cells) for the extrapolation in 1/n
FRACTIONS = (0.5, 0.625, 0.75, 0.875, 1.0)
#: fewest cells per dose and response bin on average (at the smallest subsample half of it)
MIN_CELLS_PER_BIN = 4


@dataclass(frozen=True)
class InformationEstimate:
    """An information estimate in bits with its confidence interval; unpacks as ``bits, (lo, hi) = ...``."""
    bits: float                       # bias-corrected (extrapolated to infinitely many cells)
    ci: tuple[float, float]           # bootstrap percentile interval of the corrected estimate
    naive: float                      # plug-in estimate from all cells (biased upward)
    input_distribution: np.ndarray    # the optimal one (capacity) or the one given (mutual information)
    inputs: np.ndarray                # dose of each input (or its index)
    conditions: list[str]
    cells: np.ndarray                 # cells per input
    bins: int                         # response bins (joint bins for a vector response)
    edges: list[np.ndarray]           # per response component: the coarse bin edges in response units
    extrapolation: np.ndarray         # (k, 2): 1/(total cells) and mean estimate at each subsample size
    kind: Literal["capacity", "mutual information"]
    readout: list[str] = field(default_factory=list)   # e.g. ["Akt_active @ 60 min"]
    confidence: float = 0.95

    def __iter__(self):
        return iter((self.bits, self.ci))


# ---------------------------------------------------------------------- channels
def blahut_arimoto(channel, tol: float = 1e-6, max_iter: int = 100_000):
    """Capacity in bits and the optimal input distribution of a channel p(y|x) given as (X, Y) rows
    (or a stack (R, X, Y), solved together). Stops when the upper bound max_x D(x) and the lower bound
    log sum_x p(x) exp D(x) are within ``tol`` bits (D: the divergence of row x from the output law)."""
    P = np.asarray(channel, dtype=np.float64)
    single = P.ndim == 2
    P = P[None] if single else P
    P = P / P.sum(axis=2, keepdims=True)
    n_r, n_x, _ = P.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(P > 0, P * np.log(P), 0.0).sum(axis=2)
    p = np.full((n_r, n_x), 1.0 / n_x)
    cap = np.zeros(n_r)
    active = np.arange(n_r)
    Pa, la, pa = P, plogp, p.copy()
    for _ in range(max_iter):
        d = _divergence(Pa, la, pa)
        top = d.max(axis=1, keepdims=True)
        w = pa * np.exp(d - top)
        s = w.sum(axis=1)
        lower = top[:, 0] + np.log(s)
        pa = w / s[:, None]
        done = (top[:, 0] - lower) < tol * LN2
        if done.any():  # store the finished channels and drop them from the working set
            p[active[done]], cap[active[done]] = pa[done], lower[done]
            keep = ~done
            active, Pa, la, pa = active[keep], Pa[keep], la[keep], pa[keep]
            if active.size == 0:
                break
    else:
        p[active], cap[active] = pa, lower
    bits = cap / LN2
    return (float(bits[0]), p[0]) if single else (bits, p)


def channel_information(channel, input_distribution) -> float | np.ndarray:
    """Mutual information in bits of channel rows p(y|x) (X, Y) or (R, X, Y) under inputs p(x)."""
    P = np.asarray(channel, dtype=np.float64)
    single = P.ndim == 2
    P = P[None] if single else P
    P = P / P.sum(axis=2, keepdims=True)
    p = np.broadcast_to(np.asarray(input_distribution, dtype=np.float64), P.shape[:2])
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(P > 0, P * np.log(P), 0.0).sum(axis=2)
    bits = (p * _divergence(P, plogp, p)).sum(axis=1) / LN2
    return float(bits[0]) if single else bits


def _divergence(P: np.ndarray, plogp: np.ndarray, p: np.ndarray) -> np.ndarray:
    """D(P(.|x) || q) per row, q = sum_x p(x) P(.|x); in nats."""
    q = np.einsum("rx,rxy->ry", p, P)
    with np.errstate(divide="ignore"):
        logq = np.where(q > 0, np.log(q), 0.0)
    return plogp - np.einsum("rxy,ry->rx", P, logq)


# ---------------------------------------------------------------------- estimation from counts
def information_from_counts(counts, input_distribution=None, *, fractions: Sequence[float] = FRACTIONS,
                            repeats: int = 3, boot: int = 200, confidence: float = 0.95, seed: int = 0,
                            tol: float = 1e-3):
    """Bias-corrected estimate, CI, plug-in estimate, input distribution and the extrapolation table
    from counts (X inputs, Y response bins): cells of each input in each bin.

    ``input_distribution`` None: capacity (the optimal distribution is returned); else the mutual
    information under it. Each estimate (the point and every bootstrap replicate) is the intercept of
    a least-squares line through the plug-in values of ``repeats`` random subsamples at each fraction
    of every input's cells, against 1/(cells in the subsample). Capacities are Blahut-Arimoto lower
    bounds within ``tol`` bits of the optimum (far below the sampling error)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[0] < 2:
        raise AnalysisError("information needs at least 2 inputs (doses)")
    n_x = counts.sum(axis=1)
    if (n_x == 0).any():
        raise AnalysisError("an input has no cells")
    given = None if input_distribution is None else _check_distribution(input_distribution, counts.shape[0])
    rng = np.random.default_rng(seed)
    fr = np.asarray(sorted(fractions), dtype=float)
    if fr.size < 2 or not (0 < fr[0] and fr[-1] <= 1):
        raise AnalysisError("fractions: need at least two subsample fractions in (0, 1]")
    sizes = np.maximum(1, np.round(np.outer(fr, n_x))).astype(np.int64)   # (F, X)
    reps = np.where(fr < 1, repeats, 1)

    def subsamples(c: np.ndarray) -> np.ndarray:  # (sum reps, X, Y) for one data set
        out = []
        for f, r in enumerate(reps):
            block = np.empty((r,) + c.shape)
            for x in range(c.shape[0]):
                block[:, x] = c[x] if sizes[f, x] == c[x].sum() else \
                    rng.multivariate_hypergeometric(c[x], sizes[f, x], size=r, method="marginals")
            out.append(block)
        return np.concatenate(out)

    data = [counts] + [np.array([rng.multinomial(n_x[x], counts[x] / n_x[x]) for x in range(counts.shape[0])])
                       for _ in range(boot)]
    stack = np.concatenate([subsamples(c) for c in data])
    values = blahut_arimoto(stack, tol=tol)[0] if given is None else channel_information(stack, given)
    per_set = int(reps.sum())
    inv_n = np.repeat(1.0 / sizes.sum(axis=1), reps)
    design = np.column_stack([np.ones_like(inv_n), inv_n])
    coef = np.linalg.lstsq(design, values.reshape(len(data), per_set).T, rcond=None)[0]   # (2, sets)
    intercepts = coef[0]
    first = values[:per_set]
    table = np.array([[1.0 / sizes[f].sum(), first[np.repeat(np.arange(fr.size), reps) == f].mean()]
                      for f in range(fr.size)])
    alpha = (1 - confidence) / 2
    ci = (float(np.quantile(intercepts[1:], alpha)), float(np.quantile(intercepts[1:], 1 - alpha))) if boot \
        else (math.nan, math.nan)
    if given is None:
        naive, p_opt = blahut_arimoto(counts, tol=tol)
    else:
        naive, p_opt = channel_information(counts, given), given
    return float(intercepts[0]), ci, float(naive), p_opt, table


def _check_distribution(p, n: int) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (n,) or (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
        raise AnalysisError(f"input_distribution: expected {n} non-negative weights, one per dose")
    return p / p.sum()


# ---------------------------------------------------------------------- from files and arrays
def channel_capacity(results: Results | str | Path, species: str | Sequence[str], time: float | Sequence[float], *,
                     bins: int | None = None, dose_key: str | None = None, conditions: Sequence[str] | None = None,
                     boot: int = 200, confidence: float = 0.95, seed: int = 0) -> InformationEstimate:
    """Channel capacity (bits) between the swept dose and a single cell's response.

    ``species`` and ``time``: one of each for a scalar response, or lists for a vector response
    (every species at every time, binned jointly). ``bins``: per response component (default from
    the cells per dose). The estimate is bias-corrected by subsampling and extrapolation in 1/n,
    with a bootstrap ``confidence`` interval; ``input_distribution`` of the result is the optimal one.
    """
    return _from_file(results, species, time, None, bins, dose_key, conditions, boot, confidence, seed)


def mutual_information(results: Results | str | Path, species: str | Sequence[str], time: float | Sequence[float],
                       input_distribution=None, *, bins: int | None = None, dose_key: str | None = None,
                       conditions: Sequence[str] | None = None, boot: int = 200, confidence: float = 0.95,
                       seed: int = 0) -> InformationEstimate:
    """Mutual information (bits) between the dose, drawn from ``input_distribution`` (weights per dose
    in ascending dose order; default uniform), and a single cell's response; the rest as
    :func:`channel_capacity`."""
    r = as_results(results)
    names, _, key = sweep_conditions(r, dose_key, conditions)
    p = np.full(len(names), 1.0 / len(names)) if input_distribution is None else input_distribution
    return _from_file(r, species, time, p, bins, key, names, boot, confidence, seed)


def capacity_over_time(results: Results | str | Path, species: str, times: Sequence[float] | None = None, *,
                       bins: int | None = None, dose_key: str | None = None, conditions: Sequence[str] | None = None,
                       boot: int = 200, confidence: float = 0.95, seed: int = 0) -> list[InformationEstimate]:
    """Capacity of ``species`` at each of ``times`` (default every recorded time after the first),
    all from one pair of passes over the file."""
    r = as_results(results)
    names, doses, _ = sweep_conditions(r, dose_key, conditions)
    if times is None:
        times = [float(t) for t in r[names[0]].time[1:]] or [float(r[names[0]].time[0])]
    readouts = file_readouts(r, names, [species], list(times))
    hist = fine_histograms(readouts)
    return [_estimate(readouts, doses, None, bins, boot, confidence, seed, str(r.path), hist, [v])
            for v in range(len(times))]


def capacity_from_samples(samples: Sequence[np.ndarray], *, inputs=None, bins: int | None = None,
                          input_distribution=None, boot: int = 200, confidence: float = 0.95,
                          seed: int = 0) -> InformationEstimate:
    """The same estimate from arrays: ``samples[i]`` holds the responses (cells,) or (cells, d) of
    input i. With ``input_distribution``, the mutual information under it instead of the capacity."""
    readouts = array_readouts(samples)
    inputs = np.arange(len(samples), dtype=float) if inputs is None else np.asarray(inputs, dtype=float)
    return _estimate(readouts, inputs, input_distribution, bins, boot, confidence, seed, "samples")


def sweep_conditions(r: Results, dose_key: str | None, conditions: Sequence[str] | None):
    """The conditions of a dose sweep in ascending dose order, their doses and the dose key."""
    keys = dose_keys(r)
    if dose_key is None:
        if not keys:
            raise AnalysisError(f"{r.path}: not a dose sweep (no inputs.<name>.dose varies across conditions); "
                                f"information about the dose needs one condition per dose")
        dose_key = keys[0]
    names = list(r.conditions if conditions is None else conditions)
    for n in names:
        if n not in r.conditions:
            raise AnalysisError(f"{r.path}: unknown condition {n!r} (conditions: {', '.join(r.conditions)})")
    rows = [(float(r[n].settings[dose_key]), n) for n in names if dose_key in r[n].settings]
    if len(rows) < 2:
        raise AnalysisError(f"{r.path}: fewer than 2 conditions set {dose_key}; information needs a dose sweep")
    rows.sort()
    doses = np.array([d for d, _ in rows])
    if np.unique(doses).size != doses.size:
        raise AnalysisError(f"{r.path}: several conditions share a value of {dose_key} (another setting is swept "
                            f"too); choose one series with conditions=[...]")
    return [n for _, n in rows], doses, dose_key


def _from_file(results, species, time, input_distribution, bins, dose_key, conditions, boot, confidence,
               seed) -> InformationEstimate:
    r = as_results(results)
    names, doses, _ = sweep_conditions(r, dose_key, conditions)
    species = [species] if isinstance(species, str) else list(species)
    times = [float(time)] if np.ndim(time) == 0 else [float(t) for t in time]
    readouts = file_readouts(r, names, species, times)
    return _estimate(readouts, doses, input_distribution, bins, boot, confidence, seed, str(r.path))


def default_bins(cells_per_input: int, dims: int) -> int:
    """Bins per response component: more with more cells (the plug-in bias grows with bins/cells,
    the binning loss shrinks with bins), fewer per component for a vector."""
    return int(np.clip(round(cells_per_input ** (1.0 / (2 + dims))), 2, 32 if dims == 1 else 12))


def _estimate(readouts: Readouts, inputs: np.ndarray, input_distribution, bins, boot, confidence, seed, where,
              hist: FineHistograms | None = None, dims: Sequence[int] | None = None) -> InformationEstimate:
    hist = fine_histograms(readouts) if hist is None else hist
    dims = list(range(hist.counts.shape[1])) if dims is None else list(dims)
    n = hist.cells
    if bins is None:
        bins = default_bins(int(n.min()), len(dims))
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise AnalysisError(f"bins: expected an integer >= 2, got {bins!r}")
    need = MIN_CELLS_PER_BIN * bins ** len(dims)
    if n.min() < need:
        c = int(np.argmin(n))
        raise AnalysisError(f"{where}: {int(n[c])} cells in condition {hist.names[c]} are too few for "
                            f"{bins ** len(dims)} response bins: need at least {need} per dose "
                            f"({MIN_CELLS_PER_BIN} per bin); use fewer bins or more cells")
    starts = [equal_frequency_starts(hist.counts[:, d, :], bins) for d in dims]
    if len(dims) == 1:
        counts = coarse_counts(hist.counts[:, dims[0], :], starts[0])
    else:
        counts = joint_counts(readouts, hist, dims, starts)
    counts = counts[:, counts.sum(axis=0) > 0]
    edges = [np.append(hist.edges(d)[s], hist.edges(d)[-1]) for d, s in zip(dims, starts)]
    bits, ci, naive, p, table = information_from_counts(counts, input_distribution, boot=boot,
                                                        confidence=confidence, seed=seed)
    return InformationEstimate(bits, ci, naive, np.asarray(p), np.asarray(inputs), hist.names, n,
                               int(counts.shape[1]), edges, table,
                               "capacity" if input_distribution is None else "mutual information",
                               [hist.labels[d] for d in dims], confidence)
