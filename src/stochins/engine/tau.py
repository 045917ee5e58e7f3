"""Partitioned adaptive tau-leaping: leap the large populations, simulate the small ones exactly.

Explicit tau-leaping after Cao, Gillespie & Petzold (2006, J Chem Phys 124:044109), with the
reactions partitioned at every step in the spirit of Puchałka & Kierzek's maximal time step
method (2004, Biophys J 86:1357) and Harris & Clancy's partitioned leaping (2006, J Chem Phys
125:144107):

* a reaction is **exact** if its propensity reads, or its firing changes, a species with fewer
  than ``exact_below`` molecules, if it is critical (fewer than ``n_critical`` firings would
  exhaust a reactant), or if it would fire fewer than ``exact_firings`` times in the step;
* the step ``tau`` is Cao's relative-change bound (``epsilon``, with the g_i factors of the
  highest-order reactions) over the **leaped** reactions only, so it is set by the large
  populations and not by the fastest small one, and at most ``max_relaxation`` times the fastest
  leaped reaction's relaxation time (which keeps explicit leaping's variance inflation small);
* inside the step the exact reactions run as an SSA from the step's start to its end, while the
  leaped reactions fire Poisson(a_j tau) times, applied at the end (operator splitting whose error
  is bounded by the same epsilon);
* a step that would make a count negative is rejected, the state restored and tau halved; when the
  leap would hold fewer than ``ssa_factor`` leaped firings, ``ssa_steps`` exact SSA steps are taken;
* a step never crosses an input breakpoint or a recording time: it lands on it.

The kernels are compiled per model (see ``kernels.py``) and use the same generated ``fire``
code as the SSA; every draw comes from the cell's own stream.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .common import BAD_PROPENSITY, COUNT_OVERFLOW, OK, diagnose, input_interval, record_state, total_propensity
from .interface import Method, Option
from .kernels import kernel
from .model_code import N_REACTIONS, fire
from .rng import exponential, poisson, uniform

METHOD = Method(
    name="tau",
    summary="partitioned adaptive tau-leaping: large populations leaped, small ones simulated exactly",
    reference="Cao, Gillespie & Petzold 2006, J Chem Phys 124:044109",
    exact=False, stochastic=True, module=__name__, entry="tau_block",
    work=("exact_events", "leaped_firings", "ssa_events", "leaps", "rejected_leaps"),
    firings=("exact_events", "leaped_firings", "ssa_events"),
    needs=("leap_arrays",),
    options=(
        Option("epsilon", 0.03, "error control: largest expected relative change of a propensity in one leap",
               low=0.0, high=1.0, open_low=True, open_high=True),
        Option("n_critical", 10, "a reaction fewer than this many firings from exhausting a reactant is "
               "simulated exactly", integer=True),
        Option("ssa_steps", 100, "exact SSA steps taken when a leap would not pay", low=1, integer=True),
        Option("ssa_factor", 10.0, "leap only if the leap holds at least this many leaped firings"),
        Option("exact_below", 100, "reactions reading or changing a species with fewer molecules are exact"),
        Option("exact_firings", 3.0, "reactions expected to fire fewer times in a leap are exact"),
        Option("max_relaxation", 0.1, "a leap is at most this many relaxation times of the fastest leaped "
               "reaction", open_low=True),
    ))

# indices of the per-cell work statistics (METHOD.work) and of the option vector (METHOD.options)
EXACT_EVENTS, LEAPED, SSA_EVENTS, LEAPS, REJECTED = range(5)
EPSILON, N_CRITICAL, SSA_STEPS, SSA_FACTOR, EXACT_BELOW, EXACT_FIRINGS, MAX_RELAXATION = range(7)
MAX_EVENTS = 2**62


@kernel()
def g_factor(order, stoich, xi):
    """Cao 2006 eq. 27: how much a relative change of x_i changes the highest-order propensity."""
    if order <= 1:
        return 1.0
    if order == 2:
        return 2.0 + 1.0 / (xi - 1.0) if stoich == 2 and xi > 1.0 else 2.0
    if stoich == 1:
        return 3.0
    if stoich == 2:
        return 1.5 * (2.0 + 1.0 / (xi - 1.0)) if xi > 1.0 else 3.0
    return 3.0 + 1.0 / (xi - 1.0) + 2.0 / (xi - 2.0) if xi > 2.0 else 3.0


@kernel()
def classify(x, a, leap, ch_ptr, ch_idx, re_ptr, re_idx, re_val, rd_ptr, rd_idx, opts):
    """Mark the reactions to leap (True) or simulate exactly (False) in the current state."""
    n_c = opts[N_CRITICAL]
    small = opts[EXACT_BELOW]
    n_leap = 0
    for j in range(a.shape[0]):
        ok = a[j] > 0.0
        k = re_ptr[j]
        while ok and k < re_ptr[j + 1]:  # critical: fewer than n_c firings exhaust a reactant
            if x[re_idx[k]] < n_c * re_val[k]:
                ok = False
            k += 1
        k = rd_ptr[j]
        while ok and k < rd_ptr[j + 1]:
            if x[rd_idx[k]] < small:
                ok = False
            k += 1
        k = ch_ptr[j]
        while ok and k < ch_ptr[j + 1]:
            if x[ch_idx[k]] < small:
                ok = False
            k += 1
        leap[j] = ok
        if ok:
            n_leap += 1
    return n_leap


@kernel()
def step_size(x, a, leap, ch_ptr, ch_idx, ch_val, re_ptr, re_idx, re_val, bound, order, stoich, eps, relax, mu, sig):
    """Cao 2006 eq. 33 over the leaped reactions and the species their firings change, and at most
    ``relax`` times the fastest relaxation time of a leaped reaction (1 / (n a_j / x_i) over its
    reactants): Cao's bound alone lets a balanced fast pair (zero drift) leap over many of its
    relaxation times, where explicit leaping inflates the variance by about 1 / (1 - λτ/2)."""
    mu[:] = 0.0
    sig[:] = 0.0
    for j in range(a.shape[0]):
        if leap[j]:
            for k in range(ch_ptr[j], ch_ptr[j + 1]):
                v = ch_val[k]
                mu[ch_idx[k]] += v * a[j]
                sig[ch_idx[k]] += v * v * a[j]
    tau = np.inf
    fastest = 0.0
    for j in range(a.shape[0]):
        if leap[j]:
            for k in range(re_ptr[j], re_ptr[j + 1]):
                fastest = max(fastest, re_val[k] * a[j] / x[re_idx[k]])
    if fastest > 0.0:
        tau = relax / fastest
    for i in range(x.shape[0]):
        if bound[i] and sig[i] > 0.0:
            b = max(eps * x[i] / g_factor(order[i], stoich[i], float(x[i])), 1.0)
            if mu[i] != 0.0:
                tau = min(tau, b / abs(mu[i]))
            tau = min(tau, b * b / sig[i])
    return tau


@kernel()
def exact_until(x, p, u, a, leap, t, t_end, max_events, rng, any_reaction):
    """SSA from t over the exact reactions (all of them if ``any_reaction``) until ``t_end`` or
    ``max_events`` events. Returns (time reached, events, failed)."""
    n_r = a.shape[0]
    events = 0
    while events < max_events:
        a_s = 0.0
        for j in range(n_r):
            if any_reaction or not leap[j]:
                a_s += a[j]
        if a_s <= 0.0:
            return t_end, events, False
        t_next = t + exponential(rng) / a_s
        if t_next >= t_end:
            return t_end, events, False  # the pending waiting time is discarded (memoryless)
        target = uniform(rng) * a_s
        acc = 0.0
        chosen = -1
        for j in range(n_r):
            if any_reaction or not leap[j]:
                acc += a[j]
                chosen = j
                if acc >= target:
                    break
        t = t_next
        delta = fire(chosen, x, p, u, a)
        if delta != delta:
            return t, events, True
        events += 1
    return t, events, False


@kernel()
def tau_cell(x, p, sched_t, sched_u, t_grid, rec, rng, out, a, opts, ch_ptr, ch_idx, ch_val, re_ptr, re_idx,
             re_val, rd_ptr, rd_idx, bound, order, stoich, leap, x_save, firings, mu, sig, stats):
    """Simulate one cell by partitioned leaping; fills ``out`` and ``stats``. Returns (status, detail)."""
    n_t = t_grid.shape[0]
    t = t_grid[0]
    b, t_break = input_interval(sched_t, t)
    u = sched_u[b]
    i = 0
    while True:
        while i < n_t and t_grid[i] <= t:
            if not record_state(x, rec, out[i]):
                return COUNT_OVERFLOW, i
            i += 1
        if i >= n_t:
            return OK, -1
        if t >= t_break:
            b, t_break = input_interval(sched_t, t)
            u = sched_u[b]
        t_target = min(t_grid[i], t_break)
        a0, bad = total_propensity(x, p, u, a)
        if bad >= 0:
            return BAD_PROPENSITY, bad
        if a0 <= 0.0:
            t = t_target
            continue
        n_leap = classify(x, a, leap, ch_ptr, ch_idx, re_ptr, re_idx, re_val, rd_ptr, rd_idx, opts)
        tau = np.inf
        a_leap = 0.0
        if n_leap > 0:
            tau = step_size(x, a, leap, ch_ptr, ch_idx, ch_val, re_ptr, re_idx, re_val, bound, order, stoich,
                            opts[EPSILON], opts[MAX_RELAXATION], mu, sig)
            for j in range(a.shape[0]):
                if leap[j]:
                    if a[j] * tau < opts[EXACT_FIRINGS]:
                        leap[j] = False
                    else:
                        a_leap += a[j]
        if n_leap == 0 or a_leap * tau < opts[SSA_FACTOR]:
            # leaping would not pay: plain exact SSA steps
            t, n, failed = exact_until(x, p, u, a, leap, t, t_target, int(opts[SSA_STEPS]), rng, True)
            stats[SSA_EVENTS] += n
            if failed:
                status, detail = diagnose(x, p, u, a)
                return status, detail
            continue
        landing = tau >= t_target - t
        if landing:
            tau = t_target - t
        x_save[:] = x
        while True:
            for j in range(a.shape[0]):
                firings[j] = poisson(rng, a[j] * tau) if leap[j] else 0
            t_end = t_target if landing else t + tau
            t_reached, n, failed = exact_until(x, p, u, a, leap, t, t_end, MAX_EVENTS, rng, False)
            if failed:
                status, detail = diagnose(x, p, u, a)
                return status, detail
            negative = False
            for j in range(a.shape[0]):
                if firings[j] > 0:
                    for k in range(ch_ptr[j], ch_ptr[j + 1]):
                        x[ch_idx[k]] += ch_val[k] * firings[j]
            for s in range(x.shape[0]):
                if x[s] < 0:
                    negative = True
            if not negative:
                stats[EXACT_EVENTS] += n
                for j in range(a.shape[0]):
                    stats[LEAPED] += firings[j]
                stats[LEAPS] += 1
                t = t_end
                break
            # reject: restore the step's start, halve tau and try again
            stats[REJECTED] += 1
            x[:] = x_save
            total_propensity(x, p, u, a)
            tau *= 0.5
            landing = False


@kernel(parallel=True)
def tau_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, ch_ptr, ch_idx, ch_val,
              re_ptr, re_idx, re_val, rd_ptr, rd_idx, bound, order, stoich):
    n_cells = x0.shape[0]
    n_r = N_REACTIONS
    n_s = x0.shape[1]
    for c in prange(n_cells):
        x = x0[c].copy()
        a = np.empty(n_r)
        leap = np.zeros(n_r, dtype=np.bool_)
        x_save = np.empty(n_s, dtype=np.int64)
        firings = np.zeros(n_r, dtype=np.int64)
        mu = np.empty(n_s)
        sig = np.empty(n_s)
        status[c], detail[c] = tau_cell(x, p[c], sched_t, sched_u, t_grid, rec, rng[c], out[c], a, opts, ch_ptr,
                                        ch_idx, ch_val, re_ptr, re_idx, re_val, rd_ptr, rd_idx, bound, order,
                                        stoich, leap, x_save, firings, mu, sig, work[c])
