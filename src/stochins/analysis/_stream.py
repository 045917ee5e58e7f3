"""Single-cell values read block by block into histograms (bounded memory on any number of cells).

A *source* is a callable returning an iterator over blocks of shape (cells, V): V readouts (a
species at a time) of each cell. Every analysis of single cells (capacity, response classes,
distributions) reduces the cells of a condition to histograms: a first pass finds each readout's
range, a second fills fine histograms (``FINE`` bins, one per integer count when the range allows,
so quantiles of counts are exact), and coarse or joint histograms are sums of fine bins or one more
pass. Memory is the block (``Condition.iter_cells``) plus the histograms, never the cell count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..io.hdf5 import Results
from ._common import AnalysisError, check_species, time_index

FINE = 1024
#: bytes of trajectories read per block
CHUNK_BYTES = 4 << 20

Source = Callable[[], Iterator[np.ndarray]]


@dataclass
class Readouts:
    """The conditions of a file (or arrays) as sources of (cells, V) readouts."""
    sources: list[Source]
    names: list[str]         # condition names
    labels: list[str]        # one per readout, e.g. "Akt_active @ 60 min"
    integer: bool            # counts (exact unit bins) rather than real values


def file_readouts(results: Results, names: Sequence[str], species: Sequence[str], times: Sequence[float]) -> Readouts:
    """Readouts species x times (species-major) of the kept cells of each condition."""
    if not names:
        raise AnalysisError(f"{results.path}: no conditions to analyse")
    sources, integer = [], True
    for name in names:
        cond = results[name]
        check_species(species, cond.species)
        ti = np.array([time_index(cond.time, t) for t in times])
        si = np.array([cond.species.index(s) for s in species])
        if cond.kept == 0:
            raise AnalysisError(f"{results.path}: condition {name} kept no single-cell trajectories "
                                f"(output.trajectories: none); single-cell analyses need them")
        integer = integer and not results.attrs.get("method") == "ode"

        def source(cond=cond, ti=ti, si=si):
            for _, block in cond.iter_cells(CHUNK_BYTES):
                # (n, T', S') -> (n, S' * T'): species-major, as the labels
                yield block[:, ti][:, :, si].transpose(0, 2, 1).reshape(block.shape[0], -1).astype(np.float64)

        sources.append(source)
    grid = results[names[0]].time
    labels = [f"{s} @ {grid[time_index(grid, t)]:g} min" for s in species for t in times]
    return Readouts(sources, list(names), labels, integer)


def array_readouts(samples: Sequence[np.ndarray], names: Sequence[str] | None = None) -> Readouts:
    """Per-input arrays (cells,) or (cells, V) as readouts (for data from elsewhere, and tests)."""
    arrays = [np.asarray(s) for s in samples]
    arrays = [a.reshape(a.shape[0], -1) for a in arrays]
    if not arrays or any(a.shape[1] != arrays[0].shape[1] for a in arrays):
        raise AnalysisError("samples: expected one array per input, all with the same number of readouts")
    integer = all(np.issubdtype(a.dtype, np.integer) for a in arrays)
    sources = [(lambda a=a: iter([a.astype(np.float64)])) for a in arrays]
    names = list(names) if names is not None else [f"input {i}" for i in range(len(arrays))]
    return Readouts(sources, names, [f"readout {v}" for v in range(arrays[0].shape[1])], integer)


@dataclass
class FineHistograms:
    """Counts (C, V, K) on a fine grid per readout: bin k of readout v is [lo + k w, lo + (k+1) w)."""
    lo: np.ndarray       # (V,)
    width: np.ndarray    # (V,)
    counts: np.ndarray   # (C, V, K) int64
    names: list[str]
    labels: list[str]

    @property
    def cells(self) -> np.ndarray:
        return self.counts[:, 0, :].sum(axis=1)

    def edges(self, v: int) -> np.ndarray:
        return self.lo[v] + self.width[v] * np.arange(self.counts.shape[2] + 1)

    def centres(self, v: int) -> np.ndarray:
        e = self.edges(v)
        return 0.5 * (e[:-1] + e[1:])

    def index(self, x: np.ndarray) -> np.ndarray:
        """Fine bin of each value of a (n, V) block."""
        k = np.floor((x - self.lo) / self.width).astype(np.int64)
        return np.clip(k, 0, self.counts.shape[2] - 1)

    def quantile(self, c: int, v: int, q: float) -> float:
        """Quantile of condition c's readout v (exact for counts on unit bins: the bin's value)."""
        cum = np.cumsum(self.counts[c, v])
        k = int(np.searchsorted(cum, q * cum[-1], side="left"))
        return float(self.centres(v)[min(k, cum.size - 1)])


def fine_histograms(readouts: Readouts, fine: int = FINE) -> FineHistograms:
    """Two passes: the range of each readout over every condition, then the fine counts."""
    lo = hi = None
    for source in readouts.sources:
        for x in source():
            if x.shape[0]:
                lo = x.min(axis=0) if lo is None else np.minimum(lo, x.min(axis=0))
                hi = x.max(axis=0) if hi is None else np.maximum(hi, x.max(axis=0))
    if lo is None:
        raise AnalysisError("no cells to analyse")
    if readouts.integer:  # unit bins centred on the counts while the range fits in `fine` bins
        width = np.maximum(1.0, np.ceil((hi - lo + 1) / fine))
        lo = lo - 0.5
    else:
        width = np.where(hi > lo, (hi - lo) / fine * (1 + 1e-9), 1.0)
    n_v = lo.size
    hist = FineHistograms(lo, width, np.zeros((len(readouts.sources), n_v, fine), dtype=np.int64),
                          readouts.names, readouts.labels)
    offset = np.arange(n_v) * fine
    for c, source in enumerate(readouts.sources):
        for x in source():
            hist.counts[c] += np.bincount((hist.index(x) + offset).ravel(), minlength=n_v * fine).reshape(n_v, fine)
    return hist


def equal_frequency_starts(counts: np.ndarray, bins: int) -> np.ndarray:
    """First fine bin of each of about ``bins`` coarse bins holding equal shares of the pooled cells
    (each input weighted equally), from fine counts (C, K); ties of counts can merge bins."""
    pooled = (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).sum(axis=0)
    cum = np.cumsum(pooled) / pooled.sum()
    cuts = np.searchsorted(cum, np.arange(1, bins) / bins - 1e-9, side="left") + 1  # 1e-9: rounding of cum
    return np.unique(np.concatenate([[0], cuts[cuts < counts.shape[1]]]))


def coarse_counts(counts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Fine counts (C, K) summed into the coarse bins that begin at ``starts``."""
    return np.add.reduceat(counts, starts, axis=1)


def joint_counts(readouts: Readouts, hist: FineHistograms, dims: Sequence[int],
                 starts: Sequence[np.ndarray]) -> np.ndarray:
    """One more pass: counts (C, prod bins) of the joint coarse bins of readouts ``dims``."""
    k = hist.counts.shape[2]
    lookup = [np.searchsorted(s, np.arange(k), side="right") - 1 for s in starts]
    shape = tuple(s.size for s in starts)
    out = np.zeros((len(readouts.sources), int(np.prod(shape))), dtype=np.int64)
    dims = list(dims)
    for c, source in enumerate(readouts.sources):
        for x in source():
            fine_idx = hist.index(x)[:, dims]
            coarse = tuple(lookup[d][fine_idx[:, d]] for d in range(len(dims)))
            out[c] += np.bincount(np.ravel_multi_index(coarse, shape), minlength=out.shape[1])
    return out
