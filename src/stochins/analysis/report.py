"""``stochins report``: one self-contained HTML page about a results file, for a biologist.

The page has the run's provenance, population summaries, and the single-cell analyses that apply
to the file: for a dose sweep the dose-response with single-cell bands and EC50 intervals, channel
capacity per species and time, the fraction of responding cells and bimodality per dose; for
sister cells the intrinsic/extrinsic noise; always the distributions, response times and a few
cells over the population. Figures are PNGs embedded as base64, so the file can be mailed or
archived alone. All analyses stream over blocks of cells (bounded memory on any file size).
"""

from __future__ import annotations

import base64
import html
import math
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..io.hdf5 import Results
from ._common import AnalysisError, as_results, check_species, time_index
from ._stream import FineHistograms, file_readouts, fine_histograms
from .classes import fractions_from_histograms, mixture_test, response_times
from .dose_response import dose_keys, dose_response, ec50, ec50_interval
from .information import _estimate, sweep_conditions
from .noise import noise_decomposition
from .summary import summary_table

PROVENANCE = ("model_name", "model_hash", "method", "seed", "cells", "sisters", "stochins_version", "format_version",
              "created", "finished", "complete", "run_fingerprint")
CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em}.note{color:#666;font-size:.85em}"""


def write_report(results: Results | str | Path, path: str | Path, *, species: Sequence[str] | None = None,
                 main: str | None = None, times: Sequence[float] | None = None, boot: int = 200,
                 seed: int = 0) -> Path:
    """Write the HTML report of ``results`` to ``path``. ``species``: those in the tables (default
    all recorded); ``main``: the one in the figures (default Akt_active if recorded, else the first);
    ``times``: capacity times (default up to five spread over the recording)."""
    r = as_results(results)
    first = r[r.conditions[0]]
    sp = list(first.species if species is None else species)
    check_species(sp, first.species)
    if not sp:
        raise AnalysisError(f"{r.path}: the report reads species, and this file records only observables "
                            f"({', '.join(first.observables)}); use stochins summarize or plot")
    main = main or ("Akt_active" if "Akt_active" in sp else sp[0])
    check_species([main], first.species)
    grid = first.time
    if times is None:
        idx = np.unique(np.linspace(min(1, grid.size - 1), grid.size - 1, min(5, grid.size)).astype(int))
        times = [float(t) for t in grid[idx]]
    times = [float(grid[time_index(grid, t)]) for t in times]  # an unrecorded time is the caller's error
    last = float(grid[-1])
    page = _Page(f"stochins report: {r.path.name}")
    with tempfile.TemporaryDirectory() as tmp:
        page.figure_dir = Path(tmp)
        _provenance(page, r)
        page.h2("Population summary")
        ends = sorted({float(c.time[-1]) for c in r})
        page.note(f"Across cells at {'/'.join(f'{t:g}' for t in ends)} min (each condition's last recorded time; "
                  f"molecules per cell); CV = SD/mean, Fano = variance/mean.")
        page.table(("condition", "species", "mean", "SD", "CV", "Fano", "5 %", "median", "95 %", "cells"),
                   [(x.condition, x.species, x.mean, x.sd, x.cv, x.fano, x.q05, x.q50, x.q95, x.cells)
                    for x in summary_table(r, times="last", species=sp)])
        if r.attrs.get("method") == "ode":
            page.note("A deterministic (ODE) run: every cell is the same, so there are no single-cell analyses.")
        else:
            first_section = (_sweep, (r, sp, main, times, last, boot, seed)) if dose_keys(r) else \
                (_single, (r, main, last))
            sections = [first_section, (_timing, (r, main)), (_cells, (r, main))]
            if int(r.attrs.get("sisters", 1)) >= 2:
                sections.append((_noise, (r, sp, main)))
            for section, args in sections:
                try:
                    section(page, *args)
                except AnalysisError as exc:  # e.g. too few cells for this analysis: say so, keep the rest
                    page.note(f"(not analysed: {exc})")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page.html(), encoding="utf-8")
    return out


def _plots():
    from . import cellplots

    return cellplots


def _provenance(page: "_Page", r: Results) -> None:
    page.h2("Provenance")
    a = r.attrs
    page.table(("attribute", "value"), [(k, str(a[k])) for k in PROVENANCE if k in a] + [("file", str(r.path))])
    page.table(("condition", "settings", "cells", "trajectories kept"),
               [(c.name, ", ".join(f"{k}={v}" for k, v in c.settings.items() if "." in k) or "-", c.cells_done,
                 c.settings.get("trajectories_kept", "")) for c in r])
    if a.get("run_config"):
        page.details("Run file (as run)", f"<pre>{html.escape(str(a['run_config']))}</pre>")


def _sweep(page: "_Page", r: Results, sp: list[str], main: str, times: list[float], last: float, boot: int,
           seed: int) -> None:
    names, doses, key = sweep_conditions(r, None, None)
    unit = " nM" if key == "inputs.insulin.dose" else ""
    page.h2("Dose-response")
    page.figure(lambda p: _plots().plot_dose_response_cells(r, p, main, last, dose_key=key, boot=boot),
                f"{main} at {last:g} min: mean, median and single-cell bands per dose; EC50 with its 95 % interval")
    rows = []
    for s in sp:
        dr = dose_response(r, s, last, dose_key=key, conditions=names)
        try:
            fit = ec50(dr.doses, dr.response)
            cells = [r[n].cells_done for n in dr.conditions]
            lo, hi = ec50_interval(dr.doses, dr.response, dr.sd, cells, boot=boot, seed=seed)
            rows.append((s, fit.ec50, f"{lo:.3g}–{hi:.3g}", fit.hill, fit.method))
        except AnalysisError as exc:
            rows.append((s, "-", "-", "-", str(exc)))
    page.table(("species", f"EC50{unit}", "95 % CI", "Hill n", "method"), rows)

    page.h2("Information about the dose (channel capacity)")
    page.note("Bits one cell's response carries about the dose, at the best input distribution (Blahut-Arimoto), "
              "bias-corrected by subsampling 50-100 % of the cells and extrapolating in 1/n (Cheong et al. 2011), "
              f"with a 95 % bootstrap interval ({boot} resamples). log2({len(names)} doses) = "
              f"{math.log2(len(names)):.2f} bits is the most there is to know.")
    readouts = file_readouts(r, names, sp, times)
    hist = fine_histograms(readouts)
    rows, curve = [], []
    for j, s in enumerate(sp):
        for i, t in enumerate(times):
            v = j * len(times) + i
            try:
                e = _estimate(readouts, doses, None, None, boot, 0.95, seed, str(r.path), hist, [v])
            except AnalysisError as exc:
                rows.append((s, t, "-", "-", "-", "-", str(exc)))
                continue
            if s == main:
                curve.append(e)
            weights = " ".join(f"{d:g}:{w:.2f}" for d, w in zip(doses, e.input_distribution) if w >= 0.01)
            rows.append((s, hist.labels[v].split(" @ ")[1], e.bits, f"{e.ci[0]:.3f}–{e.ci[1]:.3f}", e.naive, e.bins,
                         weights))
    page.table(("species", "time", "capacity (bits)", "95 % CI", "plug-in", "bins", "optimal dose weights"), rows)
    if len(curve) > 1:
        page.figure(lambda p: _plots().plot_capacity(curve, p), f"{main}: capacity against time")

    page.h2("Responding cells and bimodality")
    v = sp.index(main) * len(times) + len(times) - 1
    fr = fractions_from_histograms(hist, None, 0, 0.95, readout=v)
    page.note(f"{main} at {last:g} min. Responding: above the 95th percentile of the lowest dose "
              f"({fr[0].threshold:g} molecules), with a 95 % Clopper-Pearson interval. All-or-none: a two-component "
              "mixture of log(1 + x) beats one by BIC > 10 with components separated by Ashman's D > 2.")
    rows = []
    for c, (d, f) in enumerate(zip(doses, fr)):
        b = mixture_test(hist.centres(v), hist.counts[c, v], names[c], True, hist.width[v])
        rows.append((f"{d:g}{unit}", f.fraction, f"{f.ci[0]:.3f}–{f.ci[1]:.3f}", f.cells, b.delta_bic, b.ashman_d,
                     "all-or-none" if b.all_or_none else "graded / unimodal"))
    page.table(("dose", "responding", "95 % CI", "cells", "ΔBIC (1 vs 2)", "Ashman's D", "class"), rows)
    sub = _subset(hist, [sp.index(main) * len(times) + i for i in range(len(times))])
    page.figure(lambda p: _plots().plot_distributions(r, p, main, times, names, hist=sub),
                f"{main}: single-cell distributions per dose")


def _single(page: "_Page", r: Results, main: str, last: float) -> None:
    page.h2("Distributions and bimodality")
    hist = fine_histograms(file_readouts(r, r.conditions, [main], [last]))
    rows = []
    for c, name in enumerate(r.conditions):
        b = mixture_test(hist.centres(0), hist.counts[c, 0], name, True, hist.width[0])
        rows.append((name, b.delta_bic, b.ashman_d, "all-or-none" if b.all_or_none else "graded / unimodal"))
    page.table(("condition", "ΔBIC (1 vs 2)", "Ashman's D", "class"), rows)
    page.figure(lambda p: _plots().plot_distributions(r, p, main, [last], hist=hist),
                f"{main} at {last:g} min: single-cell distributions")


def _timing(page: "_Page", r: Results, main: str) -> None:
    page.h2("Response timing")
    page.note(f"{main}: each cell's time to half of its rise from its first value to its peak, and its peak time "
              "(5 / 50 / 95 % of cells).")
    rows = [(x.condition, x.responding, x.cells, *x.half_max, *x.peak) for x in response_times(r, main)]
    page.table(("condition", "rising cells", "cells", "half-max 5 %", "50 %", "95 %", "peak 5 %", "50 %", "95 %"),
               rows)


def _cells(page: "_Page", r: Results, main: str) -> None:
    page.h2("Single cells over the population")
    page.figure(lambda p: _plots().plot_cells(r, p, main), f"{main}: a few kept cells over the population bands")


def _noise(page: "_Page", r: Results, sp: list[str], main: str) -> None:
    page.h2("Noise: intrinsic and extrinsic")
    n_s = int(r.attrs["sisters"])
    page.note(f"Sister cells (groups of {n_s} sharing every per-cell draw): intrinsic = mean within-group variance, "
              "extrinsic = variance of group means - intrinsic / N; ± jackknife standard errors. The share of the "
              "variance explained by each drawn parameter is its first-order index Var(E[X|p]) / Var X.")
    picks = list(dict.fromkeys(r.conditions[i] for i in np.linspace(0, len(r.conditions) - 1, min(3, len(r.conditions))
                                                                       ).astype(int)))
    decs, rows = [], []
    for name in picks:
        try:
            nd = noise_decomposition(r, sp, condition=name)
        except AnalysisError as exc:
            page.note(str(exc))
            return
        decs.append(nd)
        for j, s in enumerate(sp):
            shares = ", ".join(f"{p}: {nd.parameter_share[k, -1, j]:.2f}" for k, p in enumerate(nd.parameter_names))
            rows.append((name, s, nd.mean[-1, j], nd.total[-1, j],
                         f"{nd.intrinsic[-1, j]:.4g} ± {nd.intrinsic_se[-1, j]:.2g}",
                         f"{nd.extrinsic[-1, j]:.4g} ± {nd.extrinsic_se[-1, j]:.2g}", nd.intrinsic_fraction[-1, j],
                         shares or "-"))
    page.table(("condition", "species", "mean", "variance", "intrinsic", "extrinsic", "intrinsic share",
                "explained by drawn parameters"), rows)
    page.figure(lambda p: _plots().plot_noise([_only(nd, main) for nd in decs], p), f"{main}: noise over time")


def _only(nd, species: str):
    """A decomposition restricted to one species (for a compact figure)."""
    from dataclasses import replace

    j = nd.species.index(species)
    cut = {f: getattr(nd, f)[:, [j]] for f in ("mean", "total", "intrinsic", "extrinsic", "total_se", "intrinsic_se",
                                               "extrinsic_se")}
    return replace(nd, species=[species], parameter_share=nd.parameter_share[:, :, [j]], **cut)


def _subset(hist: FineHistograms, readouts: list[int]) -> FineHistograms:
    return FineHistograms(hist.lo[readouts], hist.width[readouts], hist.counts[:, readouts], hist.names,
                          [hist.labels[v] for v in readouts])


class _Page:
    """Minimal HTML builder: headings, notes, tables, embedded figures."""

    def __init__(self, title: str):
        self.title, self.parts, self.figure_dir, self._n = title, [], None, 0

    def h2(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def details(self, summary: str, body: str) -> None:
        self.parts.append(f"<details><summary>{html.escape(summary)}</summary>{body}</details>")

    def table(self, head: Sequence[str], rows) -> None:
        cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(x))}</td>" for x in row) + "</tr>" for row in rows)
        self.parts.append(f"<table><tr>{cells}</tr>{body}</table>")

    def figure(self, draw: Callable[[Path], Path], caption: str) -> None:
        self._n += 1
        path = self.figure_dir / f"figure{self._n}.png"
        try:
            draw(path)
        except AnalysisError as exc:
            self.note(f"(figure not drawn: {exc})")
            return
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.parts.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                          f"<figcaption class=\"note\">{html.escape(caption)}</figcaption></figure>")

    def html(self) -> str:
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}"
                f"</title><style>{CSS}</style></head><body><h1>{html.escape(self.title)}</h1>\n"
                + "\n".join(self.parts) + "\n</body></html>\n")


def _fmt(x) -> str:
    if isinstance(x, (float, np.floating)):
        return "-" if not math.isfinite(x) else f"{x:.4g}"
    return str(x)
