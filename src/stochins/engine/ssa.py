"""Exact SSA: Gillespie's direct method (1977) with a reaction dependency graph.

Compiled once for every model (see ``model_abi.py``): ``fire(m, j, x, p, u, a)`` calls the model's
generated code, which applies reaction ``j`` to the state, recomputes exactly the propensities that
read a species it changed (the dependency graph, resolved at code generation) and returns the change
of their sum, or NaN when a propensity turned negative/NaN or a count went below zero.
"""

from __future__ import annotations

import numpy as np

from .common import (BAD_PROPENSITY, COUNT_OVERFLOW, OK, RESUM_EVERY, copy_into, diagnose, event_scratch,
                     events_begin, fire_events, input_interval, pass_breakpoint, record_state, total_propensity)
from .interface import Method
from .kernels import kernel
from .model_abi import EVENTS, FIRE, PROPENSITIES, REACTIONS, WATCH, fire
from .rng import exponential, uniform
from .threads import run_cells

METHOD = Method(
    name="ssa",
    summary="exact stochastic simulation: Gillespie's direct method with a dependency graph",
    reference="Gillespie 1977, J Phys Chem 81:2340",
    exact=True, stochastic=True, module=__name__, entry="ssa_block", needs=("event_arrays",),
    model_functions=(PROPENSITIES, FIRE))


@kernel()
def reorder(search, fired):
    """Sort the search order by how often each channel fired (insertion sort: the order is nearly
    sorted already), then halve the counts so the order follows the cell's current regime."""
    for k in range(1, search.shape[0]):
        j = search[k]
        m = k
        while m > 0 and fired[search[m - 1]] < fired[j]:
            search[m] = search[m - 1]
            m -= 1
        search[m] = j
    for j in range(fired.shape[0]):
        fired[j] >>= 1


@kernel()
def ssa_cell(m, x, p, sched_t, sched_u, t_grid, rec, rng, out, a, search, fired, u, ev, es):
    """Simulate one cell from ``t_grid[0]``; fills ``out`` (T, R). Returns (status, detail, events).

    Input breakpoints and trigger times of events are handled exactly: at each one the pending waiting
    time is discarded and redrawn with the new propensities, which is exact because the waiting time is
    memoryless; triggers that read the state are tested after every firing that changed a species they
    read (no other firing can turn one).
    The channel search scans channels in the order of their recent firing frequency in this cell
    (McCollum et al. 2006's sorting idea, re-sorted periodically rather than swapped per event):
    any fixed scan order samples the same law, and the order depends only on the cell's own
    history, so results stay reproducible.
    """
    n_t = t_grid.shape[0]
    n_r = a.shape[0]
    t = t_grid[0]
    b, t_input = input_interval(sched_t, t)
    copy_into(u, sched_u[b])
    status, detail, t_trigger = events_begin(m, x, p, u, t, ev, es)
    if status != OK:
        return status, detail, 0
    a0, bad = total_propensity(m, x, p, u, a)
    if bad >= 0:
        return BAD_PROPENSITY, bad, 0
    i = 0
    events = 0
    while True:
        t_next = t + exponential(rng) / a0 if a0 > 0.0 else np.inf
        t_break = min(t_input, t_trigger)
        if t_next >= t_break and t_break <= t_grid[n_t - 1]:
            # an input or an event acts first: record up to the breakpoint, switch, redraw
            while i < n_t and t_grid[i] < t_break:
                if not record_state(x, rec, out[i]):
                    return COUNT_OVERFLOW, i, events
                i += 1
            t = t_break
            status, detail, t_input, t_trigger = pass_breakpoint(m, x, p, u, t, t_input, t_trigger, sched_t,
                                                                 sched_u, ev, es)
            if status != OK:
                return status, detail, events
            a0, bad = total_propensity(m, x, p, u, a)
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
            acc += a[search[k]]
            if acc >= target:
                break
            k += 1
        if k == n_r:  # round-off left the running total above the true sum: resum and redraw
            a0, bad = total_propensity(m, x, p, u, a)
            continue
        j = search[k]
        fired[j] += 1
        delta = fire(m, j, x, p, u, a)
        if delta != delta:
            status, detail = diagnose(m, x, p, u, a)
            return status, detail, events
        a0 += delta
        events += 1
        if m[WATCH + j]:
            status, detail, n_fired = fire_events(m, x, p, u, t, ev, es)
            if status != OK:
                return status, detail, events
            if n_fired > 0:
                a0, bad = total_propensity(m, x, p, u, a)
                if bad >= 0:
                    return BAD_PROPENSITY, bad, events
        if events % RESUM_EVERY == 0:
            a0, bad = total_propensity(m, x, p, u, a)
            reorder(search, fired)


@kernel()
def ssa_cells(first, last, x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, m, ev):
    """Cells ``first .. last-1`` one after another; every cell reads and writes only its own rows."""
    a = np.empty(m[REACTIONS])
    search = np.empty(m[REACTIONS], dtype=np.int64)
    fired = np.empty(m[REACTIONS], dtype=np.int64)
    u = np.empty(sched_u.shape[1])
    es = event_scratch(m, ev[0])
    for c in range(first, last):
        x = x0[c].copy()
        for j in range(m[REACTIONS]):
            search[j] = j
            fired[j] = 0
        status[c], detail[c], work[c, 0] = ssa_cell(m, x, p[c], sched_t, sched_u, t_grid, rec, rng[c], out[c], a,
                                                    search, fired, u, ev, es)


def ssa_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, m, ev_ptr, ev_kind,
              ev_index, ev_flags):
    """Simulate a block of cells on the threads numba is set to use (a serial kernel per thread:
    see ``threads.py``, which also says why not ``prange``)."""
    run_cells(ssa_cells, x0.shape[0], x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, m,
              (ev_ptr, ev_kind, ev_index, ev_flags))
