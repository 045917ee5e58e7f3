"""Deterministic limit: the model's reaction rates integrated with a stiff solver.

Uses the same generated rate code as the SSA (mass action in its large-number form x**n/n!,
full propensities as written) and restarts the integrator at every input breakpoint and trigger
time of an event, so discontinuities are resolved exactly rather than smoothed over by step-size
control. Events run through the same kernel as in the stochastic methods (a species an event sets is
a whole count there too); a trigger that reads the state is located by the integrator's root finding.
"""

from __future__ import annotations

import numpy as np

from .common import OK, event_scratch, events_begin, events_pending, fire_events
from .interface import Method, Option
from .model_code import rates

METHOD = Method(
    name="ode",
    summary="deterministic limit: the reaction rates integrated with LSODA (no noise)",
    reference="the reaction-rate equations of the same network",
    exact=False, stochastic=False, module=__name__, entry="ode_block", work=(), firings=(),
    needs=("change", "event_arrays"),
    options=(Option("rtol", 1e-8, "relative tolerance of the integrator", open_low=True),
             Option("atol", 1e-9, "absolute tolerance per species, relative to its count (at least 1) where a piece starts", open_low=True)))


def ode_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, m, change, *events):
    """Integrate each distinct cell (identical cells, e.g. without variability, once) into ``out``."""
    status[:] = OK
    detail[:] = -1
    done: dict[bytes, int] = {}
    for c in range(x0.shape[0]):
        key = x0[c].tobytes() + p[c].tobytes()
        if key in done:
            out[c] = out[done[key]]
            continue
        status[c], detail[c], x = integrate(m, change, x0[c], p[c].copy(), sched_t, sched_u, t_grid, opts[0], opts[1],
                                            events)
        out[c] = x[:, rec]
        done[key] = c


def integrate(m: np.ndarray, change: np.ndarray, x0: np.ndarray, p: np.ndarray, sched_t: np.ndarray, sched_u: np.ndarray,
              t_grid: np.ndarray, rtol: float, atol: float, events: tuple) -> tuple[int, int, np.ndarray]:
    """(status, detail, state at each time of ``t_grid`` (T, S)), starting from ``x0`` at ``t_grid[0]``.

    Triggers that read the state are tested after every integrator step; when one turned true inside a
    step, the crossing is bisected on the step's interpolant and the integration restarts there."""
    from scipy.integrate import LSODA  # here, not at the top: scipy costs every other command ~0.5 s to import

    stoich_t = np.ascontiguousarray(change.T, dtype=np.float64)  # (S, M)
    r = np.empty(change.shape[0])
    out = np.empty((t_grid.size, x0.size))
    x = x0.astype(np.float64)
    t0, t_end = float(t_grid[0]), float(t_grid[-1])
    u = sched_u[int(np.searchsorted(sched_t, t0, side="right")) - 1].copy()
    es = event_scratch(m, events[0])
    status, detail, _ = events_begin(m, x, p, u, t0, events, es)
    inputs = {float(t) for t in sched_t[1:] if t0 < t < t_end}
    edges = sorted({t0, t_end} | inputs | {float(t) for t in es[0] if t0 < t < t_end})
    watch = len(events[3]) > 0

    def rhs(_t, y):
        rates(y, p, u, r)
        return stoich_t @ r

    def record(lo: float, hi: float, dense) -> None:
        at = (t_grid >= lo) & ((t_grid < hi) | ((hi == t_end) & (t_grid <= hi)))
        if at.any():
            out[at] = dense(t_grid[at]).T

    for a, b in zip(edges, edges[1:]):
        if status != OK:
            break
        if a > t0:
            if a in inputs:
                u[:] = sched_u[int(np.searchsorted(sched_t, a, side="right")) - 1]
            status, detail, _ = fire_events(m, x, p, u, np.nextafter(a, np.inf), events, es)
        solver = LSODA(rhs, a, x, b, rtol=rtol, atol=atol * np.maximum(1.0, np.abs(x)))
        start = a
        while status == OK and solver.status == "running":
            t_old = solver.t
            if solver.step() is not None:
                raise RuntimeError(f"ODE integration failed between t={start} and t={b}: {solver.status}")
            dense = solver.dense_output()
            if watch and events_pending(m, solver.y, p, u, solver.t, es):
                lo, hi = t_old, solver.t
                while hi - lo > 4 * np.finfo(float).eps * max(1.0, abs(hi)):
                    mid = 0.5 * (lo + hi)
                    lo, hi = (lo, mid) if events_pending(m, dense(mid), p, u, mid, es) else (mid, hi)
                record(start, hi, dense)
                x = dense(hi)
                status, detail, _ = fire_events(m, x, p, u, hi, events, es)
                solver = LSODA(rhs, hi, x, b, rtol=rtol, atol=atol * np.maximum(1.0, np.abs(x)))
                start = hi
                continue
            record(start if start > t_old else t_old, solver.t, dense)
            start = solver.t
        x = solver.y.copy()
    if t0 == t_end:
        out[:] = x
    return status, detail, out
