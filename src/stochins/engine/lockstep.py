"""Exact SSA with cells in lockstep: W cells advance together, one event each per iteration, no branch on the
data (issue 11, item 3).

Gillespie's direct method for W cells at once in SIMD lanes. Lane w's values live in one float64 array at
``F[slot * W + w]`` (the model's slots: ``compile._lockstep_code``; the engine's follow). An iteration gives
every lane one event: all propensities recomputed with their running sums (``lane_sums``, straight-line code
vectorised across lanes), an exponential (the ziggurat's fast path vectorised, the ~1 % slow draws redone per
lane by ``rng.exponential`` from the state before the draw) and a uniform from the lane's cell's own stream,
the channel j = #{k : sum_k < u·a0} (compare-and-count: no data-dependent branch, and no round-off case since
a0 is the last running sum), and the channel's state change, each species' change selected by the channel
number (``lane_fire``). A lane whose next event falls after its next recording time or at/after an input
breakpoint is handled alone: it records, and at a breakpoint the pending waiting time is discarded and redrawn
with the new inputs in the next iteration (exact by memorylessness, as in ``ssa``), making no event this
iteration (target +inf selects no channel). A lane whose cell finished or failed takes the next cell. A cell
draws only from its own stream, an exponential and a uniform per iteration it spends in a lane, and its
arithmetic does not depend on the lane, so its bits do not depend on W, the threads or the blocks.

Why it can beat ``direct``: direct's event is one serial chain with about one mispredicted branch per event,
latency-bound; lockstep does all M propensities per event, but W events per vector instruction. Its cost grows
with M, direct's hardly (see benchmarks/results/lockstep.md for where it wins).

Vectorisation needs no numba internals or settings: LLVM's loop vectoriser (on by default) does it, given
one loop over lanes with a compile-time trip count (W is the length of a tuple), all lane data in one array at
constant offsets (LLVM tells its slots apart; W separate arrays would need numba's private ``noalias`` flag, as
the prototype did), loads into locals before a conditional expression uses them, and the channel number
compared as a float (see ``compile._lockstep_code``). The SLP vectoriser (``NUMBA_SLP_VECTORIZE``) made no
measurable difference. Counts are float64 in the lanes, exact below 2^53; recording a larger count is an
overflow.
"""

from __future__ import annotations

import numpy as np

from .common import BAD_PROPENSITY, COUNT_OVERFLOW, NEGATIVE_COUNT, OK, input_interval, total_propensity
from .interface import Method, Option
from .kernels import kernel
from .model_abi import PROPENSITIES
from .model_code import (LANE_A0, LANE_INPUTS, LANE_LOWEST, LANE_PARAMETERS, LANE_SLOTS, LANE_TARGET, N_REACTIONS,
                         lane_fire, lane_sums)
from .rng import exponential, unit, xoshiro, ziggurat
from .threads import run_cells

METHOD = Method(
    name="lockstep",
    summary="exact stochastic simulation: the direct method for W cells at once in SIMD lanes, branch-free "
            "channel selection (small networks)",
    reference="Gillespie 1977, J Phys Chem 81:2340",
    exact=True, stochastic=True, module=__name__, entry="lockstep_block",
    options=(Option("lanes", 8, "cells advanced together (the SIMD width; results do not depend on it)",
                    low=1, high=64, integer=True),),
    time_events=False, state_events=False, model_functions=(PROPENSITIES,))

#: cells a thread takes at a time, per lane: enough that lanes idle only briefly at the end of a chunk
GROUP_PER_LANE = 4

# the engine's slots, after the model's (one value per lane each)
_T = LANE_SLOTS          # time of the lane's cell
_TN = LANE_SLOTS + 1     # the time of its next event
_TR = LANE_SLOTS + 2     # its next recording time
_TB = LANE_SLOTS + 3     # its next input breakpoint (inf: none up to the end)
_E = LANE_SLOTS + 4      # the exponential drawn this iteration
_UNI = LANE_SLOTS + 5    # the uniform drawn this iteration
_GO = LANE_SLOTS + 6     # 1: the lane fires its event this iteration
_LIVE = LANE_SLOTS + 7   # 1: the lane holds a cell
_NEV = LANE_SLOTS + 8    # events of the lane's cell
_SLOW = LANE_SLOTS + 9   # 1: the exponential's fast path failed
_ATTEND = LANE_SLOTS + 10  # 1: the lane is handled alone this iteration (see lane_attend)
_RNG = LANE_SLOTS + 11   # 4 slots: the cell's xoshiro256** state (uint64 view)
_OLD = LANE_SLOTS + 15   # 4 slots: that state before this iteration's exponential
SLOTS = LANE_SLOTS + 19


@kernel()
def lane_inputs(F, W, w, sched_t, sched_u, t, t_end):
    """The inputs in force at t in lane w, and its next breakpoint (inf if none up to t_end)."""
    b, t_break = input_interval(sched_t, t)
    for k in range(sched_u.shape[1]):
        F[(LANE_INPUTS + k) * W + w] = sched_u[b, k]
    F[_TB * W + w] = t_break if t_break <= t_end else np.inf


@kernel()
def lane_start(F, U, W, w, c, cell, row, x0, p, sched_t, sched_u, t_grid, rng):
    """Put cell c into lane w at ``t_grid[0]``; it makes no event in the current iteration."""
    cell[w] = c
    row[w] = 0
    for s in range(x0.shape[1]):
        F[s * W + w] = x0[c, s]
    for k in range(p.shape[1]):
        F[(LANE_PARAMETERS + k) * W + w] = p[c, k]
    for k in range(4):
        U[(_RNG + k) * W + w] = rng[c, k]
    F[_T * W + w] = t_grid[0]
    F[_TR * W + w] = t_grid[0]
    lane_inputs(F, W, w, sched_t, sched_u, t_grid[0], t_grid[t_grid.shape[0] - 1])
    F[_NEV * W + w] = 0.0
    F[_LIVE * W + w] = 1.0
    F[_GO * W + w] = 0.0


@kernel()
def lane_finish(F, W, w, c, code, det, status, detail, work):
    """Cell c in lane w is done: its status, detail and events; the lane is empty."""
    status[c], detail[c], work[c, 0] = code, det, np.int64(F[_NEV * W + w])
    F[_LIVE * W + w] = 0.0
    F[_GO * W + w] = 0.0


@kernel()
def lane_record(F, W, w, rec, out_row):
    """Copy lane w's recorded species into ``out_row``; False (the species marked -1) if a count does not
    fit in its dtype or exceeds 2^53 (above which float64 counts are not exact)."""
    top = 2147483647.0 if out_row.itemsize == 4 else 9007199254740992.0
    for r in range(rec.shape[0]):
        v = F[rec[r] * W + w]
        if not v <= top:
            out_row[r] = -1
            return False
        out_row[r] = v
    return True


@kernel()
def lane_diagnose(m, F, W, w, x, q, u, a):
    """Which propensity of lane w is negative or NaN (-1 if none is: a0 overflowed to inf)."""
    for s in range(x.shape[0]):
        x[s] = F[s * W + w]
    for k in range(q.shape[0]):
        q[k] = F[(LANE_PARAMETERS + k) * W + w]
    for k in range(u.shape[0]):
        u[k] = F[(LANE_INPUTS + k) * W + w]
    return total_propensity(m, x, q, u, a)[1]


@kernel()
def lane_attend(m, F, W, w, row, sched_t, sched_u, t_grid, rec, out, x, q, u, a):
    """Lane w's event is due after its next recording time or at/after its next breakpoint, or its
    propensities are bad: record, switch inputs. Returns (status, detail, cell finished)."""
    a0 = F[LANE_A0 * W + w]
    if not (a0 >= 0.0 and a0 < np.inf and F[LANE_LOWEST * W + w] >= 0.0):
        return BAD_PROPENSITY, lane_diagnose(m, F, W, w, x, q, u, a), True
    n_t = t_grid.shape[0]
    t_stop = F[_TB * W + w]
    breakpoint = t_stop < np.inf and F[_TN * W + w] >= t_stop
    if not breakpoint:
        t_stop = F[_TN * W + w]
    i = row[w]
    while i < n_t and t_grid[i] < t_stop:
        if not lane_record(F, W, w, rec, out[i]):
            return COUNT_OVERFLOW, i, True
        i += 1
    row[w] = i
    if breakpoint:  # no event now; the next iteration redraws with the new inputs
        F[_T * W + w] = t_stop
        lane_inputs(F, W, w, sched_t, sched_u, t_stop, t_grid[n_t - 1])
        F[_GO * W + w] = 0.0
        return OK, -1, False
    if i >= n_t:
        return OK, -1, True
    F[_TR * W + w] = t_grid[i]
    return OK, -1, False


@kernel()
def lockstep_cells(first, last, x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, lanes, m):
    """Cells ``first .. last-1`` through W = ``len(lanes)`` lanes (see the module docstring)."""
    W = len(lanes)
    F = np.zeros(SLOTS * W)
    U = F.view(np.uint64)  # the same memory: LLVM sees one base pointer
    cell = np.full(W, -1, dtype=np.int64)
    row = np.zeros(W, dtype=np.int64)
    state = np.empty(4, dtype=np.uint64)
    x = np.empty(x0.shape[1], dtype=np.int64)
    q = np.empty(p.shape[1])
    u = np.empty(sched_u.shape[1])
    a = np.empty(N_REACTIONS)
    nxt = first
    active = 0
    for w in range(W):
        if nxt < last:
            lane_start(F, U, W, w, nxt, cell, row, x0, p, sched_t, sched_u, t_grid, rng)
            nxt += 1
            active += 1
    while active > 0:
        lane_sums(F, lanes)
        slow = 0
        for w in range(W):  # exponentials: the ziggurat's fast path in every lane
            s0, s1, s2, s3 = (U[_RNG * W + w], U[(_RNG + 1) * W + w], U[(_RNG + 2) * W + w],
                              U[(_RNG + 3) * W + w])
            U[_OLD * W + w], U[(_OLD + 1) * W + w], U[(_OLD + 2) * W + w], U[(_OLD + 3) * W + w] = s0, s1, s2, s3
            z, s0, s1, s2, s3 = xoshiro(s0, s1, s2, s3)
            e, fast = ziggurat(z)
            U[_RNG * W + w], U[(_RNG + 1) * W + w], U[(_RNG + 2) * W + w], U[(_RNG + 3) * W + w] = s0, s1, s2, s3
            F[_E * W + w] = e
            F[_SLOW * W + w] = not fast
            slow += not fast
        if slow:  # the rest of the ziggurat, from the state before the draw: the same bits as rng.exponential
            for w in range(W):
                if F[_SLOW * W + w] > 0.0:
                    for k in range(4):
                        state[k] = U[(_OLD + k) * W + w]
                    F[_E * W + w] = exponential(state)
                    for k in range(4):
                        U[(_RNG + k) * W + w] = state[k]
        attend = 0
        for w in range(W):
            z, s0, s1, s2, s3 = xoshiro(U[_RNG * W + w], U[(_RNG + 1) * W + w], U[(_RNG + 2) * W + w],
                                        U[(_RNG + 3) * W + w])
            U[_RNG * W + w], U[(_RNG + 1) * W + w], U[(_RNG + 2) * W + w], U[(_RNG + 3) * W + w] = s0, s1, s2, s3
            F[_UNI * W + w] = unit(z)
            a0 = F[LANE_A0 * W + w]
            tn = F[_T * W + w] + F[_E * W + w] / a0 if a0 > 0.0 else np.inf  # a0 may be -0.0: 0 * (0 - 1)
            F[_TN * W + w] = tn
            live = F[_LIVE * W + w]
            F[_GO * W + w] = live
            ok = (a0 >= 0.0) & (a0 < np.inf) & (F[LANE_LOWEST * W + w] >= 0.0)
            due = (live > 0.0) & ((tn > F[_TR * W + w]) | (tn >= F[_TB * W + w]) | (not ok))
            F[_ATTEND * W + w] = due
            attend += due
        finished = 0
        if attend:
            for w in range(W):
                if F[_ATTEND * W + w] > 0.0:
                    code, det, done = lane_attend(m, F, W, w, row, sched_t, sched_u, t_grid, rec, out[cell[w]], x, q,
                                                  u, a)
                    if done:
                        lane_finish(F, W, w, cell[w], code, det, status, detail, work)
                        finished += 1
        for w in range(W):
            go = F[_GO * W + w] > 0.0
            F[LANE_TARGET * W + w] = F[_UNI * W + w] * F[LANE_A0 * W + w] if go else np.inf
            F[_T * W + w] = F[_TN * W + w] if go else F[_T * W + w]
        if lane_fire(F, lanes):  # a count went below zero: that lane's cell fails (the event not counted)
            for w in range(W):
                if F[_GO * W + w] > 0.0:
                    for s in range(x0.shape[1]):
                        if F[s * W + w] < 0.0:
                            lane_finish(F, W, w, cell[w], NEGATIVE_COUNT, s, status, detail, work)
                            finished += 1
                            break
        for w in range(W):
            F[_NEV * W + w] += F[_GO * W + w]
        if finished:  # empty lanes take the next cells (they make their first event in the next iteration)
            for w in range(W):
                if F[_LIVE * W + w] == 0.0 and cell[w] >= 0:
                    cell[w] = -1
                    if nxt < last:
                        lane_start(F, U, W, w, nxt, cell, row, x0, p, sched_t, sched_u, t_grid, rng)
                        nxt += 1
                    else:
                        active -= 1


@kernel()
def lockstep_groups(first, last, group, x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work,
                    lanes, m):
    """Groups ``first .. last-1`` of ``group`` cells each (the unit a thread takes: see ``lockstep_block``)."""
    n = x0.shape[0]
    lockstep_cells(min(n, first * group), min(n, last * group), x0, p, sched_t, sched_u, t_grid, rec, rng, out,
                   status, detail, work, lanes, m)


def lockstep_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, m):
    """Simulate a block of cells on the threads numba is set to use: each thread takes groups of
    GROUP_PER_LANE·W cells (``threads.run_cells``) and runs them through its own W lanes."""
    lanes = (0,) * int(opts[0])
    group = GROUP_PER_LANE * len(lanes)
    run_cells(lockstep_groups, -(-x0.shape[0] // group), group, x0, p, sched_t, sched_u, t_grid, rec, rng, out,
              status, detail, work, lanes, m)
