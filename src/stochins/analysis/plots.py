"""Figures of a results file (matplotlib, Agg backend: works on headless machines and in CI).

A single-cell simulator's figure should show cells, not only averages: each species panel has,
per condition, the population mean, a ±1 SD band, the 5-95 % band of single cells, and a few
individual trajectories as faint lines when the file kept them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # never a display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io.hdf5 import Results  # noqa: E402
from ._common import AnalysisError, as_results, check_species, quantile_row  # noqa: E402
from .dose_response import dose_keys, dose_response, ec50  # noqa: E402

UNITS = "molecules per cell"


def plot_results(results: Results | str | Path, path: str | Path, species: Sequence[str] | None = None,
                 conditions: Sequence[str] | None = None, cells: int | None = None, dpi: int = 120) -> Path:
    """Time courses, one panel per species, every condition overlaid; writes ``path`` (PNG, PDF, SVG).

    ``cells``: single-cell trajectories drawn per condition (default: 5, fewer when many conditions
    share a panel, about 30 lines in all, so the cells stay visible without hiding the bands)."""
    r = as_results(results)
    names = list(r.conditions if conditions is None else conditions)
    for n in names:
        if n not in r.conditions:
            raise AnalysisError(f"unknown condition {n!r} (conditions: {', '.join(r.conditions)})")
    first = r[names[0]]
    sp = list(first.quantities if species is None else species)
    check_species(sp, first.quantities)
    deterministic = r.attrs.get("method") == "ode"
    if cells is None:
        cells = max(1, min(5, 30 // len(names)))
    fig, axes = _grid(len(sp))
    colors = _colors(len(names))
    k_cells = 0  # most single cells drawn for a condition (for the legend)
    for name, color in zip(names, colors):
        cond = r[name]
        check_species(sp, cond.quantities)
        s = cond.summaries()
        q5, q95 = quantile_row(s["quantile"], 0.05), quantile_row(s["quantile"], 0.95)
        few = None if deterministic else cond.first_cells(cells)  # only these cells are read
        k = 0 if few is None else few.shape[0]
        few = few if k else None
        k_cells = max(k_cells, k)
        t = cond.time
        for ax, name_s in zip(axes, sp):
            j = cond.quantities.index(name_s)
            m, sd = s["mean"][:, j], s["std"][:, j]
            if few is not None:
                ax.plot(t, few[:, :, j].T, color=color, lw=0.6, alpha=0.35)
            if q5 is not None and q95 is not None and not deterministic:
                ax.fill_between(t, s["quantiles"][q5, :, j], s["quantiles"][q95, :, j], color=color, alpha=0.12,
                                lw=0)
            if not deterministic and np.isfinite(sd).any():
                ax.fill_between(t, m - sd, m + sd, color=color, alpha=0.25, lw=0)
            ax.plot(t, m, color=color, lw=2, label=_label(cond))
    for ax, name_s in zip(axes, sp):
        ax.set_title(name_s)
        ax.set_xlabel("time (min)")
        ax.set_ylabel(UNITS)
        ax.grid(alpha=0.3)
    _legend(fig, axes[0], deterministic, k_cells)
    model = r.attrs.get("model_name", "")
    fig.suptitle(f"{model} · {r.attrs.get('method', '')} · {first.cells_done} cells per condition"
                 if not deterministic else f"{model} · ODE (deterministic limit)")
    return _save(fig, path, dpi)


def plot_dose_response(results: Results | str | Path, path: str | Path, species: Sequence[str] | None = None,
                       times: Sequence[float] | None = None, dose_key: str | None = None,
                       conditions: Sequence[str] | None = None, dpi: int = 120) -> Path:
    """Dose-response per species: mean ± SD, the 5-95 % band of single cells, the Hill fit and the
    EC50, at each of ``times`` (default: the last recorded time); log dose axis."""
    r = as_results(results)
    if dose_key is None:
        keys = dose_keys(r)
        if not keys:
            raise AnalysisError(f"{r.path}: no dose sweep (no inputs.<name>.dose varies across conditions)")
        dose_key = keys[0]
    first = r[r.conditions[0] if conditions is None else conditions[0]]
    sp = list(first.quantities if species is None else species)
    check_species(sp, first.quantities)
    times = [float(first.time[-1])] if times is None else list(times)
    unit = "nM" if dose_key == "inputs.insulin.dose" else "dose units"
    fig, axes = _grid(len(sp))
    colors = _colors(len(times))
    for ax, name_s in zip(axes, sp):
        for t, color in zip(times, colors):
            dr = dose_response(r, name_s, t, dose_key=dose_key, conditions=conditions)
            pos = dr.doses > 0
            d = dr.doses[pos]
            ax.fill_between(d, dr.q05[pos], dr.q95[pos], color=color, alpha=0.15, lw=0)
            ax.errorbar(d, dr.response[pos], yerr=np.nan_to_num(dr.sd[pos]), fmt="o", ms=4, color=color, capsize=2)
            try:
                fit = ec50(dr.doses, dr.response)
            except AnalysisError:
                ax.plot(d, dr.response[pos], color=color, label=f"{dr.time:g} min (no EC50)")
                continue
            fine = np.logspace(np.log10(d[0]), np.log10(d[-1]), 200)
            curve = fit.curve(fine)
            hill_txt = f", n = {fit.hill:.2g}" if fit.method == "hill" else ""
            label = f"{dr.time:g} min: EC50 = {fit.ec50:.3g} {unit}{hill_txt}"
            if np.isfinite(curve).all():
                ax.plot(fine, curve, color=color, lw=1.5, label=label)
            else:
                ax.plot(d, dr.response[pos], color=color, lw=1, label=label)
            ax.axvline(fit.ec50, color=color, ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_title(name_s)
        ax.set_xlabel(f"{dose_key.split('.')[1]} ({unit})")
        ax.set_ylabel(UNITS)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{r.attrs.get('model_name', '')} · dose-response (mean ± SD, 5–95 % of cells shaded)")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _save(fig, path, dpi)


# ---------------------------------------------------------------------- helpers
def _grid(n: int):
    ncols = 1 if n == 1 else 2 if n <= 4 else 3
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows + 0.6), squeeze=False)
    axes = list(axes.ravel())
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def _colors(n: int):
    return plt.get_cmap("viridis")(np.linspace(0.0, 0.85, n)) if n > 1 else ["C0"]


def _label(cond) -> str:
    swept = {k: v for k, v in cond.settings.items() if "." in k}
    if len(swept) == 1:
        k, v = next(iter(swept.items()))
        return f"{v:g} nM" if k == "inputs.insulin.dose" and isinstance(v, (int, float)) else f"{cond.name}"
    return cond.name


def _legend(fig, ax, deterministic: bool, cells: int) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    if not deterministic:
        handles += [Line2D([], [], color="grey", lw=2), Patch(color="grey", alpha=0.45),
                    Patch(color="grey", alpha=0.15)]
        labels += ["mean", "± 1 SD", "5–95 % of cells"]
        if cells:
            handles.append(Line2D([], [], color="grey", lw=0.6, alpha=0.6))
            labels.append(f"single cells (first {cells})")
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.03 * ((len(labels) - 1) // 6), 1, 0.96))


def _save(fig, path: str | Path, dpi: int) -> Path:
    path = Path(path)
    try:
        formats = fig.canvas.get_supported_filetypes()
        if path.suffix and path.suffix[1:].lower() not in formats:  # else matplotlib's ValueError after drawing
            raise AnalysisError(f"{path}: cannot write a figure as {path.suffix!r} "
                                f"(formats: {', '.join(sorted(formats))})")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return path
