"""Exact SSA, tuned direct method: a fixed search order fused with the firing code.

Gillespie's direct method (1977) as in ``ssa.py``, but the channel search and the firing are one
piece of generated code (``search_fire``, see ``compile._search_order``): the channels are tested in
an order fixed when the model's code is generated, by decreasing firing frequency in a short pilot
of the model (any fixed order samples the same law), and the branch that finds the channel applies
it in place, with no index array, no counts and no dispatch on the channel. The event loop itself is
generated too (``direct_events``, the search inline), so an event makes no call; this module, compiled
once for every model, calls it through the model's table (``model_abi.py``) between recording times and
breakpoints (inputs, trigger times of events). One uniform and one
ziggurat exponential per event. Events run as in ``ssa``; in a model without events the generated loop
is the same code as without them (it has no event branches).
"""

from __future__ import annotations

import numpy as np

from .common import (BAD_PROPENSITY, COUNT_OVERFLOW, OK, RESUM_EVERY, copy_into, diagnose, event_scratch,
                     events_begin, fire_events, input_interval, pass_breakpoint, record_state, total_propensity)
from .interface import Method
from .kernels import kernel
from .model_abi import DIRECT_EVENTS, EVENTS, PROPENSITIES, REACTIONS, direct_events
from .rng import exponential
from .threads import run_cells

METHOD = Method(
    name="direct",
    summary="exact stochastic simulation: direct method, search in a fixed frequency order fused with firing",
    reference="Gillespie 1977, J Phys Chem 81:2340; McCollum et al. 2006, Comput Biol Chem 30:39",
    exact=True, stochastic=True, module=__name__, entry="direct_block", needs=("event_arrays",),
    model_functions=(PROPENSITIES, DIRECT_EVENTS))


@kernel()
def next_time(t, a0, rng):
    """The time of the next event after t at total propensity a0 (inf when nothing can fire)."""
    return t + exponential(rng) / a0 if a0 > 0.0 else np.inf


@kernel()
def direct_cell(m, x, p, sched_t, sched_u, t_grid, rec, rng, out, a, u, ev, es, loop):
    """Simulate one cell from ``t_grid[0]``; fills ``out`` (T, R). Returns (status, detail, events).

    Input breakpoints and trigger times of events are handled as in ``ssa.ssa_cell``: the pending
    waiting time is discarded and redrawn with the new propensities (exact: the waiting time is
    memoryless). ``direct_events`` fires events until one falls after the next recording time or
    at/after the next breakpoint, until the total propensity is due to be summed again, or, in a model
    whose triggers read the state, after a firing that changed a species they read (code -1: the
    triggers are tested here, as ``ssa`` tests them after every firing).
    """
    n_t = t_grid.shape[0]
    t_end = t_grid[n_t - 1]
    t = t_grid[0]
    b, t_input = input_interval(sched_t, t)
    copy_into(u, sched_u[b])  # a copy: events may assign inputs
    status, detail, t_trigger = events_begin(m, x, p, u, t, ev, es)
    if status != OK:
        return status, detail, 0
    t_break = min(t_input, t_trigger)
    a0, bad = total_propensity(m, x, p, u, a)
    if bad >= 0:
        return BAD_PROPENSITY, bad, 0
    i = 0
    events = 0
    t_next = next_time(t, a0, rng)
    while True:
        if t_next >= t_break and t_break <= t_end:
            while i < n_t and t_grid[i] < t_break:
                if not record_state(x, rec, out[i]):
                    return COUNT_OVERFLOW, i, events
                i += 1
            t = t_break
            status, detail, t_input, t_trigger = pass_breakpoint(m, x, p, u, t, t_input, t_trigger, sched_t,
                                                                 sched_u, ev, es)
            if status != OK:
                return status, detail, events
            t_break = min(t_input, t_trigger)
            a0, bad = total_propensity(m, x, p, u, a)
            if bad >= 0:
                return BAD_PROPENSITY, bad, events
            t_next = next_time(t, a0, rng)
            continue
        while i < n_t and t_grid[i] < t_next:
            if not record_state(x, rec, out[i]):
                return COUNT_OVERFLOW, i, events
            i += 1
        if i >= n_t:
            return OK, -1, events
        events = direct_events(m, t_next, t_grid[i], t_break if t_break <= t_end else np.inf, a0, events, x, p, u,
                               a, rng, loop)
        t, t_next, a0, code = loop[0], loop[1], loop[2], loop[3]
        if code != code:
            status, detail = diagnose(m, x, p, u, a)
            return status, detail, events
        if code == np.inf:  # a periodic exact re-summation (round-off drift), or round-off left the
            a0, bad = total_propensity(m, x, p, u, a)  # running total above the true sum: resum, redraw
            t_next = next_time(t, a0, rng)
        elif m[EVENTS] > 0 and code < 0.0:  # the firing at t changed a species a trigger reads
            status, detail, n_fired = fire_events(m, x, p, u, t, ev, es)
            if status != OK:
                return status, detail, events
            if n_fired > 0 or events % RESUM_EVERY == 0:
                a0, bad = total_propensity(m, x, p, u, a)
                if bad >= 0:
                    return BAD_PROPENSITY, bad, events
            t_next = next_time(t, a0, rng)


@kernel()
def direct_cells(first, last, x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, m, ev):
    """Cells ``first .. last-1`` one after another (threads share a block in ``direct_block``)."""
    a = np.empty(m[REACTIONS])
    u = np.empty(sched_u.shape[1])
    loop = np.empty(4)  # what direct_events leaves: time, next time, running total, code
    es = event_scratch(m, ev[0])
    for c in range(first, last):
        x = x0[c].copy()
        status[c], detail[c], work[c, 0] = direct_cell(m, x, p[c], sched_t, sched_u, t_grid, rec, rng[c], out[c], a,
                                                       u, ev, es, loop)


def direct_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, m, ev_ptr, ev_kind,
                 ev_index, ev_flags):
    """Simulate a block of cells on the threads numba is set to use (see ``threads.py``)."""
    run_cells(direct_cells, x0.shape[0], x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, m,
              (ev_ptr, ev_kind, ev_index, ev_flags))
