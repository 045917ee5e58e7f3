"""Exact SSA: Gillespie's direct method (1977) with a reaction dependency graph.

The functions marked ``@kernel`` are compiled *per model*: ``compile.py`` pastes their source into
a generated module next to the model's straight-line ``propensities`` and ``fire`` functions, so
numba inlines the model code into the loop and caches the result on disk under the model's hash.
Here ``kernel`` only registers them; the names ``propensities`` and ``fire`` resolve in that module.

``fire(j, x, p, u, a)`` applies reaction ``j`` to the state, recomputes exactly the propensities
that read a species it changed (the dependency graph, resolved at code generation) and returns the
change of their sum, or NaN when a propensity turned negative/NaN or a count went below zero.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .kernels import kernel
from .rng import exponential, uniform

# Per-cell status codes (also used by tau-leaping); see ``stochins.simulation.STATUS_MESSAGES``.
OK = 0
BAD_PROPENSITY = 1
NEGATIVE_COUNT = 2
COUNT_OVERFLOW = 3
# exact re-summation of the total propensity every this many events, to stop round-off drift
RESUM_EVERY = 2048
INT32_MAX = 2147483647


@kernel()
def input_interval(sched_t, t):
    """Index of the input-schedule interval holding time t, and the time of its next breakpoint."""
    b = 0
    while b + 1 < sched_t.shape[0] and sched_t[b + 1] <= t:
        b += 1
    return b, sched_t[b + 1] if b + 1 < sched_t.shape[0] else np.inf


@kernel()
def record_state(x, rec, out_row):
    """Copy the recorded species into ``out_row``; False if a count does not fit in int32."""
    for r in range(rec.shape[0]):
        v = x[rec[r]]
        if v > INT32_MAX:
            return False
        out_row[r] = v
    return True


@kernel()
def diagnose(x, p, u, a):
    """After ``fire`` returned NaN: which failure, and which reaction or species caused it."""
    for s in range(x.shape[0]):
        if x[s] < 0:
            return NEGATIVE_COUNT, s
    propensities(x, p, u, a)  # noqa: F821 (defined in the generated model module)
    for j in range(a.shape[0]):
        if not a[j] >= 0.0:
            return BAD_PROPENSITY, j
    return BAD_PROPENSITY, -1


@kernel()
def total_propensity(x, p, u, a):
    """Recompute every propensity; their sum, or -1 (with the culprit) if one is negative/NaN."""
    propensities(x, p, u, a)  # noqa: F821
    a0 = 0.0
    for j in range(a.shape[0]):
        if not a[j] >= 0.0:
            return -1.0, j
        a0 += a[j]
    return a0, -1


@kernel()
def reorder(order, fired):
    """Sort the search order by how often each channel fired (insertion sort: the order is nearly
    sorted already), then halve the counts so the order follows the cell's current regime."""
    for k in range(1, order.shape[0]):
        j = order[k]
        m = k
        while m > 0 and fired[order[m - 1]] < fired[j]:
            order[m] = order[m - 1]
            m -= 1
        order[m] = j
    for j in range(fired.shape[0]):
        fired[j] >>= 1


@kernel()
def ssa_cell(x, p, sched_t, sched_u, t_grid, rec, rng, out, a, order, fired):
    """Simulate one cell from ``t_grid[0]``; fills ``out`` (T, R). Returns (status, detail, events).

    Input breakpoints are handled exactly: at each one the pending waiting time is discarded and
    redrawn with the new propensities, which is exact because the waiting time is memoryless.
    The channel search scans channels in the order of their recent firing frequency in this cell
    (McCollum et al. 2006's sorting idea, re-sorted periodically rather than swapped per event):
    any fixed scan order samples the same law, and the order depends only on the cell's own
    history, so results stay reproducible.
    """
    n_t = t_grid.shape[0]
    n_r = a.shape[0]
    t = t_grid[0]
    b, t_break = input_interval(sched_t, t)
    u = sched_u[b]
    a0, bad = total_propensity(x, p, u, a)
    if bad >= 0:
        return BAD_PROPENSITY, bad, 0
    i = 0
    events = 0
    while True:
        t_next = t + exponential(rng) / a0 if a0 > 0.0 else np.inf
        if t_next >= t_break and t_break <= t_grid[n_t - 1]:
            # the input changes first: record up to the breakpoint, switch, redraw
            while i < n_t and t_grid[i] < t_break:
                if not record_state(x, rec, out[i]):
                    return COUNT_OVERFLOW, i, events
                i += 1
            t = t_break
            b, t_break = input_interval(sched_t, t)
            u = sched_u[b]
            a0, bad = total_propensity(x, p, u, a)
            if bad >= 0:
                return BAD_PROPENSITY, bad, events
            continue
        while i < n_t and t_grid[i] < t_next:
            if not record_state(x, rec, out[i]):
                return COUNT_OVERFLOW, i, events
            i += 1
        if i >= n_t:
            return OK, -1, events
        t = t_next
        # choose the channel: linear search of the cumulative sum
        target = uniform(rng) * a0
        acc = 0.0
        k = 0
        while k < n_r:
            acc += a[order[k]]
            if acc >= target:
                break
            k += 1
        if k == n_r:  # round-off left the running total above the true sum: resum and redraw
            a0, bad = total_propensity(x, p, u, a)
            continue
        j = order[k]
        fired[j] += 1
        delta = fire(j, x, p, u, a)  # noqa: F821
        if delta != delta:
            status, detail = diagnose(x, p, u, a)
            return status, detail, events
        a0 += delta
        events += 1
        if events % RESUM_EVERY == 0:
            a0, bad = total_propensity(x, p, u, a)
            reorder(order, fired)


@kernel(parallel=True)
def ssa_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, events):
    """Simulate a block of cells in parallel; every cell reads and writes only its own rows."""
    n_cells = x0.shape[0]
    n_reactions = n_reactions_of_model  # noqa: F821 (a constant of the generated module)
    for c in prange(n_cells):
        x = x0[c].copy()
        a = np.empty(n_reactions)
        order = np.arange(n_reactions)
        fired = np.zeros(n_reactions, dtype=np.int64)
        status[c], detail[c], events[c] = ssa_cell(x, p[c], sched_t, sched_u, t_grid, rec, rng[c], out[c], a,
                                                   order, fired)
