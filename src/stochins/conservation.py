"""Upper bounds of species counts from the stoichiometry alone (issue 14), so that a run whose counts
can exceed int32 records int64 from the start instead of failing part way.

A count reachable from the initial state ``x0`` is ``x0 + Nᵀr`` with ``r >= 0`` the firings of each
reaction and every count non-negative on the way; dropping the order of firings gives the linear
programme ``max x_s`` over ``x0 + Nᵀr >= 0, r >= 0``, whose value bounds species s (its dual is the
best conservation law with non-negative weights, ``w·x <= w·x0``). The value is non-decreasing in
``x0``, so the bound at the largest initial state of a run holds for every cell. A species fed by a
source, or by a reaction that makes more molecules than it takes, may have no bound: then nothing is
predicted and an overflow is reported when it happens (cell, species, time).

The programmes need scipy.optimize (about half a second to import), so their certificate is kept in
the cache directory: which species are unbounded, and the dual of the programme bounding the sum of
the others. The dual is feasible whatever ``x0``, so ``Σ x0_bounded − y·x0`` bounds that sum at any
initial state (weak duality); a later run whose bound fits in int32 needs no programme at all.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import numpy as np

INT32_MAX = 2**31 - 1
#: networks with more (checked species x reactions) than this are not analysed (dense programmes)
MAX_WORK = 2_000_000


def count_bounds(change: np.ndarray, x0: np.ndarray, species: np.ndarray) -> np.ndarray:
    """Upper bound of each species in ``species`` (indices) from initial counts ``x0``; ``change`` is the
    (reactions, species) net stoichiometry. ``inf`` where no conservation law bounds the species."""
    from scipy.optimize import linprog

    grows = change > 0
    a_ub, b_ub = -change.T.astype(np.float64), np.asarray(x0, dtype=np.float64)
    out = np.asarray(x0, dtype=np.float64)[species].copy()
    for k, s in enumerate(species):
        if not grows[:, s].any():  # no reaction makes it: it never exceeds its initial count
            continue
        res = linprog(-change[:, s].astype(np.float64), A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        # counts are integers; the solver's round-off is allowed for (a bound may only err upwards)
        out[k] = np.floor((out[k] - res.fun) * (1 + 1e-12) + 1e-6) if res.status == 0 else np.inf
    return out


def wide_species(change: np.ndarray, x0: np.ndarray, species: np.ndarray, names: list[str]) -> list[tuple[str, float]]:
    """``(name, bound)`` of the species whose conservation bound exceeds int32 (empty when none does, or
    when the network is too large to analyse). Usually two linear programmes: which species can grow
    without bound, and the largest sum of the others; one per species only when that sum is too large."""
    if len(species) * change.shape[0] > MAX_WORK:
        return []
    x0 = np.asarray(x0, dtype=np.float64)
    path = _certificate_path(change, species)
    certificate = _load(path)
    if certificate is None:
        from scipy.optimize import linprog

        bounded = species[~_unbounded(change, species)]
        dual = np.zeros_like(x0)
        if bounded.size:
            total = linprog(-change[:, bounded].sum(axis=1).astype(np.float64), A_ub=-change.T.astype(np.float64),
                            b_ub=x0, bounds=(0, None), method="highs")
            if total.status == 0:
                dual = np.asarray(total.ineqlin.marginals, dtype=np.float64)
            else:
                dual = np.full_like(x0, np.nan)  # no certificate: the programmes run every time
        certificate = (bounded, dual)
        _save(path, certificate)
    bounded, dual = certificate
    if not bounded.size:
        return []
    # bound of the sum of the bounded species (the dual's round-off allowed for, upwards)
    if np.all(np.isfinite(dual)) and (x0[bounded].sum() - dual @ x0) * (1 + 1e-9) + 1.0 <= INT32_MAX:
        return []
    bounds = count_bounds(change, x0, bounded)
    return [(names[s], float(b)) for s, b in zip(bounded, bounds) if np.isfinite(b) and b > INT32_MAX]


def _certificate_path(change: np.ndarray, species: np.ndarray):
    from .compile import cache_dir

    key = hashlib.sha256(np.ascontiguousarray(change, dtype=np.int64).tobytes() + str(change.shape).encode()
                         + np.asarray(species, dtype=np.int64).tobytes()).hexdigest()[:24]
    return cache_dir() / "conservation" / f"{key}.npz"


def _load(path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as f:
            return f["bounded"].astype(np.int64), f["dual"].astype(np.float64)
    except (OSError, KeyError, ValueError):
        return None


def _save(path, certificate: tuple[np.ndarray, np.ndarray]) -> None:
    """Atomically (rename), and silently where the cache directory cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, bounded=certificate[0], dual=certificate[1])
        os.replace(tmp, path)
    except OSError:
        pass


def _unbounded(change: np.ndarray, species: np.ndarray) -> np.ndarray:
    """Which of ``species`` no conservation law bounds: those some combination of firings ``r >= 0``
    increases while decreasing no species (``Nᵀr >= 0``). The sum of two such combinations is one, so a
    single programme, ``max Σ t_k`` with ``t_k <= (Nᵀr)_k`` and ``0 <= t_k <= 1``, finds them all."""
    from scipy.optimize import linprog

    m, k = change.shape[0], len(species)
    if k == 0 or m == 0:
        return np.zeros(k, dtype=bool)
    n_t = change.T.astype(np.float64)
    a_ub = np.vstack([np.hstack([-n_t, np.zeros((n_t.shape[0], k))]),               # Nᵀr >= 0
                      np.hstack([-n_t[species], np.eye(k)])])                        # t <= (Nᵀr)_species
    res = linprog(np.concatenate([np.zeros(m), -np.ones(k)]), A_ub=a_ub, b_ub=np.zeros(a_ub.shape[0]),
                  bounds=[(0, None)] * m + [(0, 1)] * k, method="highs")
    if res.status != 0:
        return np.ones(k, dtype=bool)  # undecided: treat as unbounded (nothing is predicted for them)
    return res.x[m:] > 0.5
