"""Exact SSA for large networks: composition–rejection (Slepoy, Thompson & Plimpton 2008).

Model-independent: the kernels read the network from arrays (``CompiledModel.cr_arrays``), so they
are compiled once for every model (numba's disk cache) instead of once per model, and nothing of
the model is generated as code. Propensities of mass-action reactions whose rate constant reads no
species are a per-cell constant (recomputed at input breakpoints) times the falling factorials of
their reactants from a table; every other propensity is a small postfix program run by a stack
machine (``run_program``), made from the same hoisted expression tree the generated code is printed
from (its parameter-only parts are per-cell constants, computed by their own programs at a cell's start).

Channel selection: reactions are grouped by their propensity's binary exponent (group e holds
propensities in [2^(e-1), 2^e)); a group is chosen with probability proportional to its sum by a
linear scan of the non-empty groups (a few dozen), then a member uniformly, accepted with probability
a_j / 2^e (at least 1/2) — exactly Gillespie's choice of channel, at a cost that does not grow with the
number of reactions. A firing recomputes the propensities of its dependants (a CSR dependency graph)
and moves each between groups in O(1). Input breakpoints are exact as in ``ssa``: the pending waiting
time is redrawn (memoryless). Events run as in ``ssa``, their triggers, trigger times, priorities and
assigned values as programs too: trigger times are breakpoints, and triggers are tested after a
firing that changed a species they read.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Absolute, not relative: a relative import of common would make this module run from a written copy
# (engine/kernels.instanced); the few of common's functions it uses are compiled here from the package's text.
from stochins.engine import common
from stochins.engine.common import (BAD_EVENT_VALUE, BAD_PROPENSITY, COUNT_OVERFLOW, EVENT_CASCADE,
                                    MAX_EVENT_ROUNDS, NEGATIVE_COUNT, OK, RESUM_EVERY)

from .interface import Method
from .rng import exponential, uniform
from .threads import run_cells

METHOD = Method(
    name="cr",
    summary="exact stochastic simulation for large networks: composition-rejection, compiled once for every model",
    reference="Slepoy, Thompson & Plimpton 2008, J Chem Phys 128:205101",
    exact=True, stochastic=True, module=__name__, entry="cr_block", needs=("cr_arrays",),
    model_functions=None)

# Opcodes of the programs (compile._Program emits them; the argument is an index into the constants, the
# parameter vector, the inputs or the state, or a jump target relative to the program). Event programs
# read the time as one more input, after the model's (a TIME opcode cost the propensities 9 %).
CONST, PARAM, INPUT, SPECIES = 0, 1, 2, 3
ADD, SUB, MUL, DIV, POW, NEG, NOT = 4, 5, 6, 7, 8, 9, 10
LT, LE, GT, GE, EQ, NE = 11, 12, 13, 14, 15, 16
AND, OR, MIN, MAX = 17, 18, 19, 20
EXP, LOG, LOG10, SQRT, FLOOR, CEIL, ABS = 21, 22, 23, 24, 25, 26, 27
JUMP_IF_FALSE, JUMP = 28, 29

#: ``method: auto`` takes this method for models with more reactions than this (README, "Large networks":
#: above it the generated SSA's first compile costs more than ten typical runs lose with cr's slower events)
AUTO_ABOVE_REACTIONS = 100


def auto_reason(reactions: int) -> str:
    return (f"cr: {reactions} reactions (> {AUTO_ABOVE_REACTIONS}): composition-rejection, compiled once for every "
            f"model, instead of compiling the model's own SSA code")


#: group of a propensity: its binary exponent e (v < 2^e; subnormals share e = -1022) plus this
GROUP_OFFSET = 1074
N_GROUPS = 2100
#: groups a cell starts with room for; a cell needing more is rerun with twice as many (same bits)
FIRST_SLOTS = 32
GROW = -1  # internal status: rerun the cell with more group slots

_input_interval = njit(cache=True)(common.input_interval)
_record_state = njit(cache=True)(common.record_state)
_next_trigger_time = njit(cache=True)(common.next_trigger_time)
_due_events = njit(cache=True)(common.due_events)
_sort_by_priority = njit(cache=True)(common.sort_by_priority)
_assign_event = njit(cache=True)(common.assign_event)
_copy_into = njit(cache=True)(common.copy_into)


@njit(cache=True, error_model="numpy")
def run_program(start, end, op, arg, consts, x, p, u, stack):
    """Evaluate one program (postfix, with jumps for conditionals) and return its value."""
    sp = 0
    pc = start
    while pc < end:
        o = op[pc]
        a = arg[pc]
        pc += 1
        if o <= SPECIES:
            if o == PARAM:
                stack[sp] = p[a]
            elif o == SPECIES:
                stack[sp] = float(x[a])
            elif o == CONST:
                stack[sp] = consts[a]
            else:
                stack[sp] = u[a]
            sp += 1
        elif o <= NOT:
            if o == NEG:
                stack[sp - 1] = -stack[sp - 1]
            elif o == NOT:
                stack[sp - 1] = 1.0 if stack[sp - 1] == 0.0 else 0.0
            else:
                sp -= 1
                l, r = stack[sp - 1], stack[sp]
                if o == MUL:
                    stack[sp - 1] = l * r
                elif o == ADD:
                    stack[sp - 1] = l + r
                elif o == SUB:
                    stack[sp - 1] = l - r
                elif o == DIV:
                    stack[sp - 1] = l / r
                else:
                    stack[sp - 1] = l ** r
        elif o <= MAX:
            sp -= 1
            l, r = stack[sp - 1], stack[sp]
            if o == LT:
                v = 1.0 if l < r else 0.0
            elif o == LE:
                v = 1.0 if l <= r else 0.0
            elif o == GT:
                v = 1.0 if l > r else 0.0
            elif o == GE:
                v = 1.0 if l >= r else 0.0
            elif o == EQ:
                v = 1.0 if l == r else 0.0
            elif o == NE:
                v = 1.0 if l != r else 0.0
            elif o == AND:  # Python's value of `l and r` (both evaluated: no side effects)
                v = r if l != 0.0 else l
            elif o == OR:
                v = l if l != 0.0 else r
            elif o == MIN:  # Python's min/max: the first of equal (or unordered) values
                v = r if r < l else l
            else:
                v = r if r > l else l
            stack[sp - 1] = v
        elif o <= ABS:
            v = stack[sp - 1]
            if o == EXP:
                v = math.exp(v)
            elif o == LOG:
                v = math.log(v) if v > 0.0 else (-np.inf if v == 0.0 else np.nan)
            elif o == LOG10:
                v = math.log10(v) if v > 0.0 else (-np.inf if v == 0.0 else np.nan)
            elif o == SQRT:
                v = math.sqrt(v) if v >= 0.0 else np.nan
            elif o == FLOOR:
                v = np.floor(v)
            elif o == CEIL:
                v = np.ceil(v)
            else:
                v = abs(v)
            stack[sp - 1] = v
        elif o == JUMP_IF_FALSE:
            sp -= 1
            if stack[sp] == 0.0:
                pc = start + a
        else:
            pc = start + a
    return stack[0]


@njit(cache=True, error_model="numpy")
def table_constants(x, p, u, c, net, stack):
    """Per-cell constants of the table reactions (their programs read only parameters and inputs)."""
    kind, prog_ptr, op, arg, consts = net[0], net[1], net[2], net[3], net[4]
    for j in range(kind.shape[0]):
        if kind[j] == 0:
            c[j] = run_program(prog_ptr[j], prog_ptr[j + 1], op, arg, consts, x, p, u, stack)


@njit(cache=True, error_model="numpy")
def derive_constants(x, p, u, net, stack):
    """The derived per-cell constants (their programs follow the reactions'), after the parameters."""
    m, prog_ptr, op, arg, consts, n_derived = net[0].shape[0], net[1], net[2], net[3], net[4], net[13][0]
    first = p.shape[0] - n_derived
    for k in range(n_derived):
        p[first + k] = run_program(prog_ptr[m + k], prog_ptr[m + k + 1], op, arg, consts, x, p, u, stack)


@njit(cache=True, error_model="numpy")
def event_program(net, section, k, x, p, u, stack):
    """The value of the k-th program of an event section: 0 triggers, 1 trigger times, 2 priorities,
    3 assigned values (see compile._cr_arrays); the time is u's last element."""
    m, prog_ptr, layout = net[0].shape[0], net[1], net[13]
    n_derived, n_events, n_times = layout[0], layout[1], layout[2]
    q = m + n_derived + k + (n_events if section >= 1 else 0) + (n_times if section >= 2 else 0) \
        + (n_events if section >= 3 else 0)
    return run_program(prog_ptr[q], prog_ptr[q + 1], net[2], net[3], net[4], x, p, u, stack)


@njit(cache=True)
def event_scratch(net):
    """A cell's working arrays for events, as ``common.event_scratch``'s."""
    ptr, n_events, n_times = net[14], net[13][1], net[13][2]
    width = 1
    for e in range(n_events):
        width = max(width, ptr[e + 1] - ptr[e])
    return (np.empty(n_times), np.zeros(n_events, dtype=np.bool_), np.zeros(n_events, dtype=np.bool_),
            np.empty(n_events, dtype=np.int64), np.empty(n_events), np.empty((n_events, width)))


@njit(cache=True, error_model="numpy")
def program_triggers(x, p, u, on, net, stack):
    for e in range(on.shape[0]):
        on[e] = event_program(net, 0, e, x, p, u, stack) != 0.0  # as bool(): NaN is true


@njit(cache=True, error_model="numpy")
def program_values(e, x, p, u, values, net, stack):
    ptr = net[14]
    for a in range(ptr[e], ptr[e + 1]):
        values[a - ptr[e]] = event_program(net, 3, a, x, p, u, stack)


@njit(cache=True, error_model="numpy")
def fire_program_events(x, p, u, t, net, es, stack):
    """``common.fire_events`` with the events' expressions as programs (the same rules, the same shared
    steps): execute at time t every event whose trigger turned true. Returns (status, detail, fired).
    ``u`` holds the inputs and then a slot for the time."""
    u[u.shape[0] - 1] = t
    ev = (net[14], net[15], net[16], net[17])
    flags, size = net[17], p[net[13][3]]
    prev, on, order, priority, values = es[1], es[2], es[3], es[4], es[5]
    fired = 0
    for _ in range(MAX_EVENT_ROUNDS):
        program_triggers(x, p, u, on, net, stack)
        n = _due_events(on, prev, order)
        if n == 0:
            return OK, -1, fired
        for k in range(n):
            priority[k] = event_program(net, 2, order[k], x, p, u, stack)
        _sort_by_priority(order, priority, n)
        for k in range(n):
            if flags[order[k], 2]:
                program_values(order[k], x, p, u, values[order[k]], net, stack)
        for k in range(n):
            e = order[k]
            if k > 0 and not flags[e, 0]:
                program_triggers(x, p, u, on, net, stack)
                if not on[e]:
                    continue
            if not flags[e, 2]:
                program_values(e, x, p, u, values[e], net, stack)
            status = _assign_event(e, x, p, u, ev, values[e], size)
            if status < 0:
                return BAD_EVENT_VALUE, e, fired
            if status > 0:
                derive_constants(x, p, u, net, stack)
            fired += 1
    return EVENT_CASCADE, -1, fired


@njit(cache=True, error_model="numpy")
def program_events_begin(x, p, u, t, net, es, stack):
    """``common.events_begin`` with programs: the cell's sorted trigger times, the triggers' values before
    the start, the events that fire at the start. Returns (status, detail, the next trigger time)."""
    times, prev, flags = es[0], es[1], net[17]
    if prev.shape[0] == 0:
        return OK, -1, np.inf
    for k in range(times.shape[0]):
        times[k] = event_program(net, 1, k, x, p, u, stack)
    times.sort()
    for e in range(prev.shape[0]):
        prev[e] = flags[e, 1] != 0
    status, detail, _ = fire_program_events(x, p, u, np.nextafter(t, np.inf), net, es, stack)
    return status, detail, _next_trigger_time(times, t)


@njit(cache=True)
def group_state(m, slots):
    """A cell's working arrays over m reactions with room for ``slots`` groups: (a, grp, pos, slot_of,
    members, count, gsum, gexp, active, apos, free). a[j] is reaction j's propensity, grp[j] its group's
    slot (-1: propensity 0) and pos[j] its place among the slot's members; slot_of maps a binary exponent
    (+ GROUP_OFFSET) to its slot; per slot its members, their count, sum and exponent; the slots in use
    (``active``, each one's place in it ``apos``) and the free ones."""
    return (np.zeros(m), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64),
            np.empty(N_GROUPS, dtype=np.int64), np.empty((slots, m), dtype=np.int64),
            np.empty(slots, dtype=np.int64), np.empty(slots), np.empty(slots, dtype=np.int64),
            np.empty(slots, dtype=np.int64), np.empty(slots, dtype=np.int64), np.empty(slots, dtype=np.int64))


@njit(cache=True)
def resum(g, n_active):
    """Exact group sums and total (stops round-off drift); the groups ordered by decreasing sum, so
    the scan that picks a group stops early. Depends on the cell's state alone (reproducible)."""
    a, grp, pos, slot_of, members, count, gsum, gexp, active, apos, free = g
    a0 = 0.0
    for k in range(n_active):
        s = active[k]
        total = 0.0
        for i in range(count[s]):
            total += a[members[s, i]]
        gsum[s] = total
        a0 += total
    for k in range(1, n_active):  # insertion sort: nearly sorted already
        s = active[k]
        m = k
        while m > 0 and gsum[active[m - 1]] < gsum[s]:
            active[m] = active[m - 1]
            apos[active[m]] = m
            m -= 1
        active[m] = s
        apos[s] = m
    return a0


@njit(cache=True, error_model="numpy")
def cr_cell(x, p, sched_t, sched_u, t_grid, rec, rng, out, c, net, stack, g, every, u, es):
    """Simulate one cell from ``t_grid[0]``; fills ``out`` (T, R). Returns (status, detail, events);
    afterwards ``g[0]`` holds the propensities at the final state ``x``.

    One function (numba calls that pass arrays cost tens of ns each in reference counting): the loop
    recomputes the pending propensities (all of them at the start, at breakpoints and after events,
    else the fired reaction's dependants) and moves each between groups in O(1), then draws the waiting
    time and the channel, and applies the channel's state change. ``u`` receives the inputs in force
    (events may assign them) and has one slot more, the time for event programs; ``es`` is
    ``event_scratch(net)``.
    """
    kind, prog_ptr, op, arg, consts, ma_ptr, ma_sp, ma_n, ch_ptr, ch_sp, ch_d, dep_ptr, dep_idx = net[:13]
    watch = net[18]
    a, grp, pos, slot_of, members, count, gsum, gexp, active, apos, free = g
    n_t = t_grid.shape[0]
    m = c.shape[0]
    t = t_grid[0]
    b, t_input = _input_interval(sched_t, t)
    _copy_into(u, sched_u[b])
    a[:] = 0.0
    grp[:] = -1
    slot_of[:] = -1
    n_free = free.shape[0]
    for k in range(n_free):  # slot 0 is taken first
        free[k] = n_free - 1 - k
    n_active = 0
    word = np.empty(1)
    bits = word.view(np.int64)
    derive_constants(x, p, u, net, stack)
    status, detail, t_trigger = program_events_begin(x, p, u, t, net, es, stack)
    if status != OK:
        return status, detail, 0
    t_break = min(t_input, t_trigger)
    table_constants(x, p, u, c, net, stack)
    lo, hi, idx, full = 0, m, every, True
    i = 0
    events = 0
    a0 = 0.0
    while True:
        delta = 0.0
        for k in range(lo, hi):  # recompute the pending propensities, move each to its group
            r = idx[k]
            if kind[r] == 0:
                v = c[r]
                for q in range(ma_ptr[r], ma_ptr[r + 1]):
                    xs = float(x[ma_sp[q]])
                    for n in range(ma_n[q]):
                        v *= xs - n  # C(x, n) n! (1/n! is in the constant): 0 when x < n
            else:
                v = run_program(prog_ptr[r], prog_ptr[r + 1], op, arg, consts, x, p, u, stack)
            if not (v >= 0.0 and v < np.inf):
                return BAD_PROPENSITY, r, events
            old = a[r]
            s = grp[r]
            word[0] = v  # its binary exponent: math.frexp(v)[1] for normal numbers, from the bits
            e = ((bits[0] >> 52) & 0x7FF) - 1022
            if s >= 0 and v > 0.0 and gexp[s] == e:
                gsum[s] += v - old
            else:
                if s >= 0:  # leave the old group (swap-remove); an emptied group frees its slot
                    w, n = pos[r], count[s] - 1
                    last = members[s, n]
                    members[s, w] = last
                    pos[last] = w
                    count[s] = n
                    gsum[s] -= old
                    if n == 0:
                        gsum[s] = 0.0
                        slot_of[gexp[s] + GROUP_OFFSET] = -1
                        other = active[n_active - 1]
                        active[apos[s]] = other
                        apos[other] = apos[s]
                        n_active -= 1
                        free[n_free] = s
                        n_free += 1
                    grp[r] = -1
                if v > 0.0:
                    s = slot_of[e + GROUP_OFFSET]
                    if s < 0:
                        if n_free == 0:
                            return GROW, -1, events
                        n_free -= 1
                        s = free[n_free]
                        slot_of[e + GROUP_OFFSET] = s
                        gexp[s] = e
                        count[s] = 0
                        gsum[s] = 0.0
                        active[n_active] = s
                        apos[s] = n_active
                        n_active += 1
                    members[s, count[s]] = r
                    pos[r] = count[s]
                    count[s] += 1
                    gsum[s] += v
                    grp[r] = s
            a[r] = v
            delta += v - old
        if full:
            a0 = resum(g, n_active)
        elif hi >= 0:
            a0 += delta
            events += 1
            if events % RESUM_EVERY == 0:
                a0 = resum(g, n_active)
        lo, hi, full = 0, -1, False  # nothing pending

        t_next = t + exponential(rng) / a0 if a0 > 0.0 else np.inf
        if t_next >= t_break and t_break <= t_grid[n_t - 1]:
            # an input or an event acts first: record up to it, switch, recompute everything, redraw the wait
            while i < n_t and t_grid[i] < t_break:
                if not _record_state(x, rec, out[i]):
                    return COUNT_OVERFLOW, i, events
                i += 1
            t = t_break
            if t >= t_input:
                b, t_input = _input_interval(sched_t, t)
                _copy_into(u, sched_u[b])
            if es[1].shape[0] > 0:
                status, detail, _ = fire_program_events(x, p, u, np.nextafter(t, np.inf), net, es, stack)
                if status != OK:
                    return status, detail, events
                t_trigger = _next_trigger_time(es[0], t)
            t_break = min(t_input, t_trigger)
            table_constants(x, p, u, c, net, stack)
            lo, hi, idx, full = 0, m, every, True
            continue
        while i < n_t and t_grid[i] < t_next:
            if not _record_state(x, rec, out[i]):
                return COUNT_OVERFLOW, i, events
            i += 1
        if i >= n_t:
            return OK, -1, events
        t = t_next

        # composition: a group by a linear scan of the group sums; rejection: a member uniformly,
        # accepted with probability a_j / 2^e (>= 1/2)
        j = -1
        while j < 0 and a0 > 0.0:
            target = uniform(rng) * a0
            acc = 0.0
            k = 0
            while k < n_active:
                acc += gsum[active[k]]
                if acc >= target:
                    break
                k += 1
            if k == n_active:  # round-off left the running total above the groups' sum: resum, redraw
                a0 = resum(g, n_active)
                continue
            s = active[k]
            n = count[s]
            bound = math.ldexp(1.0, gexp[s])
            while True:
                w = min(int((1.0 - uniform(rng)) * n), n - 1)  # uniform on 0..n-1: 1 - u is in [0, 1)
                if uniform(rng) * bound <= a[members[s, w]]:
                    j = members[s, w]
                    break
        if j < 0:  # every propensity is 0 after all: nothing fires again
            a0 = 0.0
            continue
        for k in range(ch_ptr[j], ch_ptr[j + 1]):
            x[ch_sp[k]] += ch_d[k]
            if x[ch_sp[k]] < 0:
                return NEGATIVE_COUNT, ch_sp[k], events
        lo, hi, idx = dep_ptr[j], dep_ptr[j + 1], dep_idx
        if watch[j]:  # the firing changed a species that a trigger reads
            status, detail, fired = fire_program_events(x, p, u, t, net, es, stack)
            if status != OK:
                return status, detail, events + 1
            if fired > 0:  # count this firing here: the full recomputation below does not
                events += 1
                table_constants(x, p, u, c, net, stack)
                lo, hi, idx, full = 0, m, every, True


@njit(cache=True, nogil=True)
def cr_cells(first, last, x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, net):
    """Cells ``first .. last-1`` one after another; a cell whose propensities span more binary
    exponents than there are group slots is rerun from its start with twice the slots (its random
    stream and its parameters, which events may have assigned, restored), which gives the same bits: no
    choice depends on which slot a group occupies."""
    m = net[0].shape[0]
    c = np.zeros(m)
    longest = 1
    for j in range(net[1].shape[0] - 1):
        longest = max(longest, net[1][j + 1] - net[1][j])
    stack = np.empty(longest)
    every = np.arange(m)
    slots = min(FIRST_SLOTS, N_GROUPS, max(m, 1))
    g = group_state(m, slots)
    u = np.empty(sched_u.shape[1] + 1)  # the inputs in force, then the time for event programs
    es = event_scratch(net)
    start = np.empty(4, dtype=np.uint64)
    params = np.empty(p.shape[1])
    for cell in range(first, last):
        start[:] = rng[cell]
        params[:] = p[cell]
        while True:
            x = x0[cell].copy()
            status[cell], detail[cell], work[cell, 0] = cr_cell(x, p[cell], sched_t, sched_u, t_grid, rec, rng[cell],
                                                                out[cell], c, net, stack, g, every, u, es)
            if status[cell] != GROW:
                break
            slots = min(2 * slots, N_GROUPS, m)
            g = group_state(m, slots)
            rng[cell, :] = start
            p[cell, :] = params


def cr_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, m, *net):
    """Simulate a block of cells on the threads numba is set to use (see ``threads.py``)."""
    run_cells(cr_cells, x0.shape[0], x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, net)
