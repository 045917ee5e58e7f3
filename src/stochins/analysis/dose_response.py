"""Dose-response curves and EC50s from a sweep over an input's dose.

The EC50 follows the convention of the Sedaghat reference numbers (shared/models/SEDAGHAT2002.md):
the response is normalised between the lowest-dose response (the baseline) and the maximal
response in the sweep, and the EC50 is the dose where the normalised response crosses 1/2. A
response that has not saturated at the top dose (doubly bound receptor) therefore gets an EC50
relative to the top dose, not an extrapolated plateau. The crossing is read off a 4-parameter
Hill curve fitted in log-dose (smooth, and it gives the Hill coefficient); if the fit fails or
does not describe the data, log-linear interpolation between the bracketing doses is used.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np
from scipy.optimize import curve_fit

from ..io.hdf5 import Results
from ._common import (AnalysisError, as_results, check_species, parse_species, quantile_row,
                      time_index)

_DOSE_KEY = re.compile(r"^inputs\.[^.]+\.dose$")


@dataclass(frozen=True)
class DoseResponse:
    """Population response at one time per dose; unpacks as ``doses, response = ...``."""
    doses: np.ndarray        # sorted ascending (nM for insulin)
    response: np.ndarray     # mean molecules per cell
    sd: np.ndarray           # across cells (NaN for a sum of species: covariances are not stored)
    q05: np.ndarray          # single-cell spread (NaN for a sum of species)
    q95: np.ndarray
    conditions: list[str]
    time: float              # the recorded time used (min)
    species: str             # e.g. "Akt_active" or "IR_ins1_p+IR_ins2_p"
    dose_key: str

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.doses, self.response))


@dataclass(frozen=True)
class EC50Fit:
    """EC50 (same unit as the doses) and Hill coefficient; unpacks as ``ec50, n = ...``."""
    ec50: float
    hill: float                          # NaN when interpolated
    method: Literal["hill", "interpolation"]
    baseline: float                      # response normalised to 0
    top: float                           # response normalised to 1
    params: tuple[float, ...] = field(default=())   # fitted (bottom, top, log10 EC50_hill, n), normalised

    def __iter__(self) -> Iterator[float]:
        return iter((self.ec50, self.hill))

    @property
    def hill_ec50(self) -> float:
        """Midpoint of the fitted curve's own plateaus (the classical EC50; it extrapolates when the
        response has not saturated at the top dose). NaN when interpolated."""
        return float(10.0 ** self.params[2]) if self.params else math.nan

    def curve(self, doses) -> np.ndarray:
        """The fitted curve in response units (for plots); NaN if the EC50 was interpolated."""
        if not self.params:
            return np.full(np.shape(doses), np.nan)
        return self.baseline + (self.top - self.baseline) * hill(np.log10(doses), *self.params)


def hill(log_dose, bottom, top, log_ec50, n):
    """4-parameter Hill (logistic in log10 dose)."""
    return bottom + (top - bottom) / (1.0 + 10.0 ** (n * (log_ec50 - np.asarray(log_dose, dtype=float))))


def dose_keys(results: Results | str | Path) -> list[str]:
    """The swept ``inputs.<name>.dose`` settings of a file (those that vary across conditions)."""
    r = as_results(results)
    values: dict[str, set] = {}
    for cond in r:
        for k, v in cond.settings.items():
            if _DOSE_KEY.match(k):
                values.setdefault(k, set()).add(v)
    return [k for k, v in values.items() if len(v) > 1]


def dose_response(results: Results | str | Path, species: str | Sequence[str], time: float,
                  dose_key: str = "inputs.insulin.dose", conditions: Sequence[str] | None = None) -> DoseResponse:
    """Mean response of ``species`` (a name, ``"A+B"`` or a list, summed) at ``time`` per dose.

    The time is the recorded one nearest ``time`` (an error beyond half a sample step). If another
    setting is swept too, several conditions share a dose: pick them with ``conditions``.
    """
    r = as_results(results)
    parts = parse_species(species)
    names = [c for c in (r.conditions if conditions is None else conditions)]
    rows = []
    for name in names:
        cond = r[name]
        if dose_key not in cond.settings:
            continue
        check_species(parts, cond.quantities)
        ti = time_index(cond.time, time)
        s = cond.summaries()
        cols = [cond.quantities.index(p) for p in parts]
        mean = float(s["mean"][ti, cols].sum())
        if len(cols) == 1:
            q5, q95 = (quantile_row(s["quantile"], q) for q in (0.05, 0.95))
            sd = float(s["std"][ti, cols[0]])
            lo = float(s["quantiles"][q5, ti, cols[0]]) if q5 is not None else math.nan
            hi = float(s["quantiles"][q95, ti, cols[0]]) if q95 is not None else math.nan
        else:
            sd = lo = hi = math.nan
        rows.append((float(cond.settings[dose_key]), mean, sd, lo, hi, name, float(cond.time[ti])))
    if not rows:
        found = ", ".join(dose_keys(r)) or "none"
        raise AnalysisError(f"{r.path}: no condition sets {dose_key} (dose sweeps in this file: {found})")
    rows.sort(key=lambda x: x[0])
    doses = np.array([x[0] for x in rows])
    if np.unique(doses).size != doses.size:
        raise AnalysisError(f"{r.path}: several conditions share a value of {dose_key} (another setting is swept "
                            f"too); choose one series with conditions=[...]")
    if doses.size < 3:
        raise AnalysisError(f"{r.path}: {doses.size} dose(s) of {dose_key}; a dose-response needs at least 3")
    col = lambda j: np.array([x[j] for x in rows])  # noqa: E731
    return DoseResponse(doses, col(1), col(2), col(3), col(4), [x[5] for x in rows], rows[0][6], "+".join(parts),
                        dose_key)


def ec50(doses, response, baseline: Literal["min", "zero"] | float = "min") -> EC50Fit:
    """EC50 and Hill coefficient of a dose-response.

    The response is normalised to 0 at ``baseline`` ("min": the lowest dose's response; "zero";
    or a number, e.g. a known basal level) and to 1 at the response furthest from it (the maximum,
    or the minimum of a falling response such as surface receptor). The EC50 is the dose where
    the normalised curve crosses 1/2: from a Hill fit in log-dose (doses > 0) when it succeeds and
    fits (RMS residual < 0.1), otherwise by log-linear interpolation (``hill`` is then NaN).
    """
    d = np.asarray(doses, dtype=float)
    y = np.asarray(response, dtype=float)
    if d.shape != y.shape or d.ndim != 1:
        raise AnalysisError("doses and response must be 1-D arrays of the same length")
    order = np.argsort(d)
    d, y = d[order], y[order]
    if not np.all(np.isfinite(y)):
        raise AnalysisError("the response has non-finite values")
    base = float(y[0]) if baseline == "min" else 0.0 if baseline == "zero" else float(baseline)
    top = float(y[np.argmax(np.abs(y - base))])
    if top == base:
        raise AnalysisError("the response does not change with dose; no EC50")
    z = (y - base) / (top - base)
    pos = d > 0
    x, z = np.log10(d[pos]), z[pos]
    if x.size < 2:
        raise AnalysisError("an EC50 needs at least two positive doses")
    guess = _interpolate(x, z)
    if x.size >= 4:
        fit = _hill_fit(x, z, guess)
        if fit is not None:
            params, crossing = fit
            return EC50Fit(float(10.0**crossing), float(params[3]), "hill", base, top, tuple(float(p) for p in params))
    if guess is None:
        raise AnalysisError("the normalised response never crosses 1/2; no EC50")
    return EC50Fit(float(10.0**guess), math.nan, "interpolation", base, top)


def _interpolate(x: np.ndarray, z: np.ndarray) -> float | None:
    """log10 dose of the first crossing of 1/2, linear in log-dose between bracketing doses."""
    for i in range(x.size - 1):
        a, b = z[i] - 0.5, z[i + 1] - 0.5
        if a == 0:
            return float(x[i])
        if a * b < 0 or b == 0:
            return float(x[i] + (x[i + 1] - x[i]) * a / (a - b))
    return None


def _hill_fit(x: np.ndarray, z: np.ndarray, guess: float | None):
    """Fitted (bottom, top, log EC50, n) and the log dose where the fit crosses 1/2, or None."""
    c0 = guess if guess is not None else float(np.median(x))
    span = float(x[-1] - x[0])
    lower = [-1.0, 0.5, x[0] - 2 * span - 1, 0.05]
    upper = [0.5, 1e3, x[-1] + 2 * span + 1, 20.0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p, _ = curve_fit(hill, x, z, p0=[0.0, 1.0, min(max(c0, lower[2]), upper[2]), 1.0],
                             bounds=(lower, upper), maxfev=20000)
    except (RuntimeError, ValueError, np.linalg.LinAlgError):
        return None
    bottom, top, c, n = p
    if not np.all(np.isfinite(p)) or not bottom < 0.5 < top:
        return None
    if np.sqrt(np.mean((hill(x, *p) - z) ** 2)) > 0.1:
        return None  # the Hill shape does not describe these data (e.g. non-monotone)
    crossing = c - math.log10((top - bottom) / (0.5 - bottom) - 1.0) / n
    if not x[0] <= crossing <= x[-1]:
        return None  # never extrapolate an EC50 outside the doses tried
    return p, crossing


def ec50_interval(doses, mean, sd, cells, confidence: float = 0.95, boot: int = 200, seed: int = 0,
                  baseline: Literal["min", "zero"] | float = "min") -> tuple[float, float]:
    """Bootstrap interval of the EC50: each replicate draws every dose's mean response from its
    sampling law N(mean, sd^2 / cells) (the central limit theorem over the cells of that dose) and
    refits :func:`ec50`; replicates without an EC50 count as failures (NaN interval if most fail)."""
    rng = np.random.default_rng(seed)
    mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    se = np.nan_to_num(sd) / np.sqrt(np.maximum(np.asarray(cells, dtype=float), 1))
    values = []
    for _ in range(boot):
        try:
            values.append(ec50(doses, mean + se * rng.standard_normal(mean.size), baseline=baseline).ec50)
        except AnalysisError:
            pass
    if len(values) < boot / 2:
        return (math.nan, math.nan)
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))
