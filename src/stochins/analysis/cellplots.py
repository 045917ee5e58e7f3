"""Single-cell figures (matplotlib, Agg): distributions, dose-response bands, capacity, noise, cells.

Every figure is drawn from histograms, stored summaries or a few kept cells, so it costs the
same on 10^3 or 10^6 cells. Each function takes a results file (or computed estimates) and writes
``path`` (PNG, PDF or SVG by suffix), returning it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io.hdf5 import Results  # noqa: E402
from ._common import AnalysisError, as_results, check_species, quantile_row  # noqa: E402
from ._stream import FineHistograms, file_readouts, fine_histograms  # noqa: E402
from .dose_response import dose_keys, dose_response, ec50, ec50_interval  # noqa: E402
from .plots import UNITS, _colors, _save  # noqa: E402


def plot_distributions(results: Results | str | Path, path: str | Path, species: str,
                       times: Sequence[float] | None = None, conditions: Sequence[str] | None = None,
                       hist: FineHistograms | None = None, dpi: int = 110) -> Path:
    """Ridgeline of the single-cell distribution of ``species`` per condition (rows), one panel per
    time (default: up to 4 spread over the recording)."""
    r = as_results(results)
    names = _ordered(r, conditions)
    grid = r[names[0]].time
    if times is None:
        times = [float(t) for t in grid[np.unique(np.linspace(min(1, grid.size - 1), grid.size - 1, 4).astype(int))]]
    hist = hist or fine_histograms(file_readouts(r, names, [species], times))
    fig, axes = plt.subplots(1, len(times), figsize=(3.4 * len(times) + 0.8, 0.55 * len(names) + 1.8), squeeze=False,
                             sharey=True)
    colors = _colors(len(names))
    for v, ax in enumerate(axes[0]):
        counts, starts, step = _rebin(hist.counts[:, v, :], 60)
        centres = hist.edges(v)[starts] + 0.5 * step * hist.width[v]
        dens = counts / np.maximum(counts.max(axis=1, keepdims=True), 1)
        for c in range(len(names)):
            ax.fill_between(centres, c, c + 0.9 * dens[c], color=colors[c], alpha=0.75, lw=0.6, ec="k")
        ax.set_title(hist.labels[v].split(" @ ")[-1])
        ax.set_xlabel(f"{species} ({UNITS})")
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].set_yticks(np.arange(len(names)) + 0.3)
    axes[0][0].set_yticklabels([_short(r, n) for n in names], fontsize=8)
    fig.suptitle(f"{species}: single-cell distributions per condition")
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_dose_response_cells(results: Results | str | Path, path: str | Path, species: str, time: float | None = None,
                             dose_key: str | None = None, boot: int = 200, dpi: int = 110) -> Path:
    """Mean and median per dose with the 25-75 % and 5-95 % bands of single cells, the Hill fit and
    the EC50 with its bootstrap 95 % interval (shaded)."""
    r = as_results(results)
    key = dose_key or (dose_keys(r) or [None])[0]
    if key is None:
        raise AnalysisError(f"{r.path}: not a dose sweep")
    t = float(r[r.conditions[0]].time[-1]) if time is None else time
    dr = dose_response(r, species, t, dose_key=key)
    q = [r[n].summaries() for n in dr.conditions]
    j = r[dr.conditions[0]].species.index(species)
    ti = int(np.argmin(np.abs(r[dr.conditions[0]].time - dr.time)))
    band = {lv: np.array([s["quantiles"][quantile_row(s["quantile"], lv), ti, j] for s in q]) for lv in
            (0.05, 0.25, 0.5, 0.75, 0.95)}
    cells = np.array([s["cells"] for s in q])
    pos = dr.doses > 0
    d = dr.doses[pos]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.fill_between(d, band[0.05][pos], band[0.95][pos], color="C0", alpha=0.15, lw=0, label="5–95 % of cells")
    ax.fill_between(d, band[0.25][pos], band[0.75][pos], color="C0", alpha=0.3, lw=0, label="25–75 % of cells")
    ax.plot(d, band[0.5][pos], "s", color="C0", ms=4, mfc="white", label="median cell")
    ax.plot(d, dr.response[pos], "o", color="C0", ms=5, label="mean")
    title = f"{species} at {dr.time:g} min"
    try:
        fit = ec50(dr.doses, dr.response)
        lo, hi = ec50_interval(dr.doses, dr.response, dr.sd, cells, boot=boot)
        fine = np.logspace(np.log10(d[0]), np.log10(d[-1]), 200)
        if fit.method == "hill":
            ax.plot(fine, fit.curve(fine), color="C1", lw=1.5, label="Hill fit (mean)")
        ax.axvline(fit.ec50, color="C1", ls=":", lw=1.2)
        if math.isfinite(lo):
            ax.axvspan(lo, hi, color="C1", alpha=0.15, lw=0, label="EC50 95 % CI")
        title += f": EC50 = {fit.ec50:.3g} ({lo:.3g}–{hi:.3g})"
    except AnalysisError as exc:
        title += f" (no EC50: {exc})"
    ax.set_xscale("log")
    ax.set_xlabel(key.split(".")[1] + (" (nM)" if key == "inputs.insulin.dose" else ""))
    ax.set_ylabel(UNITS)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_capacity(estimates: Sequence, path: str | Path, title: str = "", dpi: int = 110) -> Path:
    """Capacity (bits) with its bootstrap interval against time, from :func:`capacity_over_time`
    estimates (their readout labels carry the time); the plug-in values dashed for comparison."""
    t = np.array([float(e.readout[0].split(" @ ")[1].split()[0]) for e in estimates])
    bits = np.array([e.bits for e in estimates])
    lo, hi = np.array([e.ci[0] for e in estimates]), np.array([e.ci[1] for e in estimates])
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.fill_between(t, lo, hi, color="C2", alpha=0.25, lw=0, label="95 % bootstrap interval")
    ax.plot(t, bits, "o-", color="C2", label="capacity (bias-corrected)")
    ax.plot(t, [e.naive for e in estimates], "--", color="grey", lw=1, label="plug-in (all cells)")
    ax.axhline(math.log2(len(estimates[0].inputs)), color="k", lw=0.8, ls=":", label="log2(doses)")
    ax.set_xlabel("time (min)")
    ax.set_ylabel("bits")
    ax.set_ylim(bottom=0)
    ax.set_title(title or f"{estimates[0].readout[0].split(' @ ')[0]}: information about the dose", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_noise(decompositions: Sequence, path: str | Path, dpi: int = 110) -> Path:
    """Intrinsic and extrinsic noise strength (variance / mean^2) stacked over time, one panel per
    species, one column per decomposition (condition)."""
    species = decompositions[0].species
    fig, axes = plt.subplots(len(species), len(decompositions), figsize=(3.6 * len(decompositions) + 0.6,
                                                                          2.6 * len(species) + 0.6), squeeze=False)
    for c, nd in enumerate(decompositions):
        with np.errstate(divide="ignore", invalid="ignore"):
            m2 = np.where(nd.mean > 0, nd.mean**2, np.nan)
            eta_i, eta_e = nd.intrinsic / m2, np.maximum(nd.extrinsic, 0) / m2
        for j, s in enumerate(species):
            ax = axes[j][c]
            ax.stackplot(nd.time, np.nan_to_num(eta_i[:, j]), np.nan_to_num(eta_e[:, j]), colors=["C0", "C3"],
                         alpha=0.7, labels=["intrinsic", "extrinsic"])
            ax.set_title(f"{s} · {nd.condition}", fontsize=8)
            ax.set_xlabel("time (min)")
            ax.set_ylabel("noise (variance / mean²)", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_cells(results: Results | str | Path, path: str | Path, species: str, conditions: Sequence[str] | None = None,
               cells: int = 8, dpi: int = 110) -> Path:
    """A few single-cell trajectories over the population's 5-95 % and 25-75 % bands and median."""
    r = as_results(results)
    names = _ordered(r, conditions)[:4]
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 0.6, 3.4), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names):
        cond = r[name]
        check_species([species], cond.species)
        j = cond.species.index(species)
        s = cond.summaries()
        rows = {lv: quantile_row(s["quantile"], lv) for lv in (0.05, 0.25, 0.5, 0.75, 0.95)}
        t = cond.time
        qs = s["quantiles"][:, :, j]
        ax.fill_between(t, qs[rows[0.05]], qs[rows[0.95]], color="grey", alpha=0.2, lw=0, label="5–95 %")
        ax.fill_between(t, qs[rows[0.25]], qs[rows[0.75]], color="grey", alpha=0.35, lw=0, label="25–75 %")
        ax.plot(t, qs[rows[0.5]], color="k", lw=1.5, label="median")
        few = cond.first_cells(cells)[:, :, j]  # only these cells are read
        for i, y in enumerate(few):
            ax.plot(t, y, lw=0.9, color=plt.get_cmap("tab10")(i % 10), alpha=0.9)
        ax.set_title(_short(r, name), fontsize=8)
        ax.set_xlabel("time (min)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{species} ({UNITS})")
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{species}: {cells} single cells over the population", fontsize=10)
    fig.tight_layout()
    return _save(fig, path, dpi)


def _ordered(r: Results, conditions: Sequence[str] | None) -> list[str]:
    """Conditions in ascending dose when the file is a dose sweep, else in file order."""
    names = list(r.conditions if conditions is None else conditions)
    for n in names:
        if n not in r.conditions:
            raise AnalysisError(f"{r.path}: unknown condition {n!r} (conditions: {', '.join(r.conditions)})")
    keys = dose_keys(r)
    if keys and all(keys[0] in r[n].settings for n in names):
        names.sort(key=lambda n: float(r[n].settings[keys[0]]))
    return names


def _short(r: Results, name: str) -> str:
    keys = dose_keys(r)
    if keys == ["inputs.insulin.dose"] and keys[0] in r[name].settings:
        return f"{r[name].settings[keys[0]]:g} nM"
    return name


def _rebin(counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Fine counts (C, K) summed into about n equal-width bins over the occupied range, the first
    fine bin of each and their width in fine bins."""
    occupied = np.flatnonzero(counts.sum(axis=0))
    first, last = (occupied[0], occupied[-1]) if occupied.size else (0, 0)
    step = max(1, -(-(last - first + 1) // n))
    starts = np.arange(first, last + 1, step)
    return np.add.reduceat(counts[:, :last + 1], starts, axis=1), starts, step
