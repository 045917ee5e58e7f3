"""Deterministic limit: the model's reaction rates integrated with a stiff solver.

Uses the same generated rate code as the SSA (mass action in its large-number form x**n/n!,
full propensities as written) and restarts the integrator at every input breakpoint, so a
schedule's discontinuities are resolved exactly rather than smoothed over by step-size control.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from .common import OK
from .interface import Method, Option
from .model_code import rates

METHOD = Method(
    name="ode",
    summary="deterministic limit: the reaction rates integrated with LSODA (no noise)",
    reference="the reaction-rate equations of the same network",
    exact=False, stochastic=False, module=__name__, entry="ode_block", work=(), firings=(), needs=("change",),
    options=(Option("rtol", 1e-8, "relative tolerance of the integrator", open_low=True),
             Option("atol", 1e-9, "absolute tolerance, relative to the largest initial count", open_low=True)))


def ode_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, change):
    """Integrate each distinct cell (identical cells, e.g. without variability, once) into ``out``."""
    status[:] = OK
    detail[:] = -1
    done: dict[bytes, int] = {}
    for c in range(x0.shape[0]):
        key = x0[c].tobytes() + p[c].tobytes()
        if key in done:
            out[c] = out[done[key]]
            continue
        out[c] = integrate(rates, change, x0[c], p[c], sched_t, sched_u, t_grid, opts[0], opts[1])[:, rec]
        done[key] = c


def integrate(rates, change: np.ndarray, x0: np.ndarray, p: np.ndarray, sched_t: np.ndarray,
              sched_u: np.ndarray, t_grid: np.ndarray, rtol: float = 1e-8, atol: float = 1e-9) -> np.ndarray:
    """State at each time of ``t_grid`` (T, S), starting from ``x0`` at ``t_grid[0]``."""
    stoich_t = np.ascontiguousarray(change.T, dtype=np.float64)  # (S, M)
    r = np.empty(change.shape[0])
    out = np.empty((t_grid.size, x0.size))
    x = x0.astype(np.float64)
    t0, t_end = float(t_grid[0]), float(t_grid[-1])
    pieces = [t for t in sched_t[1:] if t0 < t < t_end]
    edges = [t0, *pieces, t_end]
    for a, b in zip(edges, edges[1:]):
        k = int(np.searchsorted(sched_t, a, side="right")) - 1
        u = sched_u[k]

        def rhs(_t, y, u=u):
            rates(y, p, u, r)
            return stoich_t @ r

        if a == b:
            continue
        inside = (t_grid >= a) & ((t_grid < b) | ((b == t_end) & (t_grid <= b)))
        t_eval = np.unique(np.append(t_grid[inside], b))  # every grid time in [a, b), and b itself
        sol = solve_ivp(rhs, (a, b), x, method="LSODA", t_eval=t_eval, rtol=rtol,
                        atol=atol * max(1.0, float(np.abs(x).max())))
        if not sol.success:
            raise RuntimeError(f"ODE integration failed between t={a} and t={b}: {sol.message}")
        out[inside] = sol.y[:, : int(inside.sum())].T
        x = sol.y[:, -1].copy()
    return out
