"""Kernels every simulation method shares: status codes, input breakpoints, events, recording, sums.

Compiled once for every model: they reach the model's generated code through its table ``m``
(``model_abi.py``); methods import them by name.
"""

from __future__ import annotations

import numpy as np

from .kernels import kernel
from .model_abi import (EVENTS, PARAMETERS, TRIGGER_TIMES, derive_cell, event_priority, event_times, event_values,
                        propensities, triggers)

# Per-cell status codes returned by every method's kernel; messages in ``stochins.simulation``.
OK = 0
BAD_PROPENSITY = 1
NEGATIVE_COUNT = 2
COUNT_OVERFLOW = 3
BAD_EVENT_VALUE = 4   # an event assigned a negative or non-finite count
EVENT_CASCADE = 5     # events kept setting off one another at one instant
#: exact re-summation of a running propensity sum every this many events, to stop round-off drift
RESUM_EVERY = 2048
#: rounds of events set off by other events' assignments at one instant before giving up
MAX_EVENT_ROUNDS = 1000


@kernel()
def input_interval(sched_t, t):
    """Index of the input-schedule interval holding time t, and the time of its next breakpoint."""
    b = 0
    while b + 1 < sched_t.shape[0] and sched_t[b + 1] <= t:
        b += 1
    return b, sched_t[b + 1] if b + 1 < sched_t.shape[0] else np.inf


@kernel()
def copy_into(dst, src):
    """``dst[:len(src)] = src`` for 1-d arrays, as a loop: numba's slice assignment compiles its
    shape-mismatch message (string formatting) into every kernel that uses it, seconds per model."""
    for k in range(src.shape[0]):
        dst[k] = src[k]


@kernel()
def record_state(x, rec, out_row):
    """Copy the recorded species into ``out_row``; False if a count does not fit in its dtype (int32, or
    int64 for a run whose conservation bounds exceed int32), with -1 marking the species that overflowed."""
    for r in range(rec.shape[0]):
        v = x[rec[r]]
        out_row[r] = v
        if out_row[r] != v:
            out_row[r] = -1
            return False
    return True


@kernel()
def total_propensity(m, x, p, u, a):
    """Recompute every propensity; their sum, or -1 (with the culprit) if one is negative/NaN."""
    propensities(m, x, p, u, a)
    a0 = 0.0
    for j in range(a.shape[0]):
        if not a[j] >= 0.0:
            return -1.0, j
        a0 += a[j]
    return a0, -1


@kernel()
def diagnose(m, x, p, u, a):
    """After ``fire`` returned NaN: which failure, and which reaction or species caused it."""
    for s in range(x.shape[0]):
        if x[s] < 0:
            return NEGATIVE_COUNT, s
    propensities(m, x, p, u, a)
    for j in range(a.shape[0]):
        if not a[j] >= 0.0:
            return BAD_PROPENSITY, j
    return BAD_PROPENSITY, -1


@kernel()
def event_scratch(m, ptr):
    """A cell's working arrays for events: (trigger times, trigger values before and now, the order of
    simultaneous events, their priorities, assignment values)."""
    n = m[EVENTS]
    width = 1
    for e in range(n):
        width = max(width, ptr[e + 1] - ptr[e])
    return (np.empty(m[TRIGGER_TIMES]), np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_),
            np.empty(n, dtype=np.int64), np.empty(n), np.empty((n, width)))


@kernel()
def events_begin(m, x, p, u, t, ev, es):
    """A cell's events at its start: its trigger times (sorted), each trigger's value just before the
    start (SBML's initialValue: a trigger already true at the start fires only if that is False), and
    the events that fire at the start. Returns (status, detail, the next trigger time)."""
    times, prev = es[0], es[1]
    flags = ev[3]
    if m[EVENTS] == 0:
        return OK, -1, np.inf
    event_times(m, p, times)
    times.sort()
    for e in range(m[EVENTS]):
        prev[e] = flags[e, 1] != 0
    status, detail, fired = fire_events(m, x, p, u, np.nextafter(t, np.inf), ev, es)
    return status, detail, next_trigger_time(times, t)


@kernel()
def next_trigger_time(times, t):
    """The first of the cell's trigger times after t (inf if none)."""
    for k in range(times.shape[0]):
        if times[k] > t:
            return times[k]
    return np.inf


@kernel()
def pass_breakpoint(m, x, p, u, t, t_input, t_trigger, sched_t, sched_u, ev, es):
    """At a breakpoint t (an input's or a trigger time): switch the inputs if it is an input's, then
    execute the events due. Returns (status, detail, the next input breakpoint, the next trigger time)."""
    if t >= t_input:
        b, t_input = input_interval(sched_t, t)
        copy_into(u, sched_u[b])
    if m[EVENTS] > 0:
        status, detail, _ = fire_events(m, x, p, u, np.nextafter(t, np.inf), ev, es)
        if status != OK:
            return status, detail, t_input, t_trigger
        t_trigger = next_trigger_time(es[0], t)
    return OK, -1, t_input, t_trigger


@kernel()
def events_pending(m, x, p, u, t, es):
    """True if some trigger turned from false to true since the last look (nothing is executed)."""
    if m[EVENTS] == 0:
        return False
    prev, on = es[1], es[2]
    triggers(m, x, p, u, t, on)
    for e in range(on.shape[0]):
        if on[e] and not prev[e]:
            return True
    return False


@kernel()
def fire_events(m, x, p, u, t, ev, es):
    """Execute, at time t, every event whose trigger turned from false to true since the last look.

    Simultaneous events run by priority (higher first), then in name order; all assignments of events
    that use values from trigger time are evaluated before any of them executes; a non-persistent event
    is dropped if an earlier one at the same instant made its trigger false. Assignments may set off
    further events at the same instant (at most MAX_EVENT_ROUNDS rounds). A time t just after a trigger
    time (``np.nextafter``) makes ``t > t1`` true at t1 itself. Returns (status, detail, events fired).
    ``composition_rejection.fire_program_events`` is the same with the model's expressions as programs;
    both share ``due_events`` and ``assign_event``.
    """
    if m[EVENTS] == 0:  # the model has no event functions to call
        return OK, -1, 0
    flags = ev[3]
    prev, on, order, priority, values = es[1], es[2], es[3], es[4], es[5]
    fired = 0
    for _ in range(MAX_EVENT_ROUNDS):
        triggers(m, x, p, u, t, on)
        n = due_events(on, prev, order)
        if n == 0:
            return OK, -1, fired
        for k in range(n):
            priority[k] = event_priority(m, order[k], x, p, u, t)
        sort_by_priority(order, priority, n)
        for k in range(n):
            if flags[order[k], 2]:
                event_values(m, order[k], x, p, u, t, values[order[k]])
        for k in range(n):
            e = order[k]
            if k > 0 and not flags[e, 0]:
                triggers(m, x, p, u, t, on)
                if not on[e]:
                    continue
            if not flags[e, 2]:
                event_values(m, e, x, p, u, t, values[e])
            status = assign_event(e, x, p, u, ev, values[e], p[m[PARAMETERS]])
            if status < 0:
                return BAD_EVENT_VALUE, e, fired
            if status > 0:
                derive_cell(m, p)
            fired += 1
    return EVENT_CASCADE, -1, fired


@kernel()
def due_events(on, prev, order):
    """Put the events whose trigger turned from false to true in ``order`` (name order), remember every
    trigger's value, and return how many there are."""
    n = 0
    for e in range(on.shape[0]):
        if on[e] and not prev[e]:
            order[n] = e
            n += 1
        prev[e] = on[e]
    return n


@kernel()
def sort_by_priority(order, priority, n):
    """Insertion sort of the first n events: priority descending, then index (name order)."""
    for k in range(1, n):
        e, q = order[k], priority[k]
        m = k
        while m > 0 and (priority[m - 1] < q or (priority[m - 1] == q and order[m - 1] > e)):
            order[m], priority[m] = order[m - 1], priority[m - 1]
            m -= 1
        order[m], priority[m] = e, q


@kernel()
def assign_event(e, x, p, u, ev, values, size):
    """Execute event e's assignments of ``values`` (a species' value is a count per unit cell size).
    Returns -1 for a negative or non-finite count, 1 if a parameter changed, else 0."""
    ptr, kind, index = ev[0], ev[1], ev[2]
    changed = 0
    for a in range(ptr[e], ptr[e + 1]):
        v = values[a - ptr[e]]
        if kind[a] == 0:
            count = np.floor(v * size + 0.5)
            if not 0.0 <= count < 9.2e18:
                return -1
            x[index[a]] = count
        elif kind[a] == 1:
            p[index[a]] = v
            changed = 1
        else:
            u[index[a]] = v
    return changed
