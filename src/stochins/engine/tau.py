"""Partitioned adaptive tau-leaping: leap the large populations, simulate the small ones exactly.

Explicit tau-leaping after Cao, Gillespie & Petzold (2006, J Chem Phys 124:044109), with the
reactions partitioned at every step in the spirit of Puchałka & Kierzek's maximal time step
method (2004, Biophys J 86:1357) and Harris & Clancy's partitioned leaping (2006, J Chem Phys
125:144107):

* a reaction is **exact** if its firing changes a species with fewer than ``exact_below``
  molecules, if it is critical (fewer than ``n_critical`` firings would exhaust a reactant), or if
  it would fire fewer than ``exact_firings`` times in the step;
* inside the step the exact reactions run as an SSA from the step's start to its end; a leaped
  reaction fires Poisson(integral of a_j) times, its propensity integrated along the exact path
  (recomputed at every exact event), so it carries the fluctuations of every species the exact
  reactions change, small ones included; its firings are applied at the end of the step;
* the step ``tau`` is Cao's relative-change bound (``epsilon``) applied per propensity: its relative
  SD and drift over the step, from the elasticities |d ln a_j / d ln x_i| of the species it reads
  (exact for mass action, finite differences for expressions) and the drift and variance of the
  leaped reactions and, on large species that leaped propensities read, of the exact ones too; and
  at most ``max_relaxation`` times the shortest relaxation time of a species summed over the
  leaped channels that move it (see ``step_size``);
* a step that would make a count negative is rejected, the state restored and tau halved; when the
  leap would hold fewer than ``ssa_factor`` leaped firings, ``ssa_steps`` exact SSA steps are taken;
* a step never crosses an input breakpoint or a recording time: it lands on it.

The ``degrade_*`` options switch parts of this off for the power checks of the accuracy tests.
Events: trigger times are breakpoints the steps land on; after a leap that turned a trigger true the
leap is rejected and the cell goes on by exact SSA steps, testing triggers after every firing, so no
leap jumps over a trigger. The kernels are compiled once for every model and call the same generated
``propensities``/``fire`` code as the SSA (``model_abi.py``); every draw comes from the cell's own stream.
"""

from __future__ import annotations

import numpy as np

from .common import (BAD_PROPENSITY, COUNT_OVERFLOW, OK, RESUM_EVERY, copy_into, diagnose, event_scratch,
                     events_begin, events_pending, fire_events, input_interval, next_trigger_time, record_state,
                     total_propensity)
from .interface import Method, Option
from .kernels import kernel
from .model_abi import EVENTS, FIRE, PROPENSITIES, REACTIONS, WATCH, fire, propensities
from .rng import exponential, poisson, uniform
from .threads import run_cells

METHOD = Method(
    name="tau",
    summary="partitioned adaptive tau-leaping: large populations leaped, small ones simulated exactly",
    reference="Cao, Gillespie & Petzold 2006, J Chem Phys 124:044109",
    exact=False, stochastic=True, module=__name__, entry="tau_block",
    work=("exact_events", "leaped_firings", "ssa_events", "leaps", "rejected_leaps"),
    firings=("exact_events", "leaped_firings", "ssa_events"),
    needs=("leap_arrays", "event_arrays"), model_functions=(PROPENSITIES, FIRE),
    options=(
        Option("epsilon", 0.03, "error control: largest expected relative change of a propensity in one leap",
               low=0.0, high=1.0, open_low=True, open_high=True),
        Option("n_critical", 10, "a reaction fewer than this many firings from exhausting a reactant is "
               "simulated exactly", integer=True),
        Option("ssa_steps", 100, "exact SSA steps taken when a leap would not pay", low=1, integer=True),
        Option("ssa_factor", 10.0, "leap only if the leap holds at least this many leaped firings"),
        Option("exact_below", 100, "reactions changing a species with fewer molecules are exact"),
        Option("exact_firings", 1.0, "reactions expected to fire fewer times in a leap are exact"),
        Option("max_relaxation", 0.1, "a leap is at most this many relaxation times of the fastest-relaxing "
               "leaped species", open_low=True),
        Option("drift_share", 0.3, "share of epsilon the mean (drift) part of the step bound may use",
               high=1.0, open_low=True),
        Option("degrade_step", 1.0, "for power checks only: multiplies the step", open_low=True),
        Option("degrade_splitting", 0, "for power checks only: 1 restores the old splitting", high=1,
               integer=True),
        Option("degrade_elasticity", 0, "for power checks only: 1 sets every elasticity to 1", high=1,
               integer=True),
    ))

# indices of the per-cell work statistics (METHOD.work) and of the option vector (METHOD.options)
EXACT_EVENTS, LEAPED, SSA_EVENTS, LEAPS, REJECTED = range(5)
EPSILON, N_CRITICAL, SSA_STEPS, SSA_FACTOR, EXACT_BELOW, EXACT_FIRINGS, MAX_RELAXATION = range(7)
DRIFT_SHARE, DEGRADE_STEP, DEGRADE_SPLITTING, DEGRADE_ELASTICITY = range(7, 11)
MAX_EVENTS = 2**62


@kernel()
def classify(x, a, leap, ch_ptr, ch_idx, re_ptr, re_idx, re_val, rd_ptr, rd_idx, opts):
    """Mark the reactions to leap (True) or simulate exactly (False) in the current state."""
    frozen = opts[DEGRADE_SPLITTING] != 0.0
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
        while ok and frozen and k < rd_ptr[j + 1]:  # integrated leaps carry small read species exactly
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
def fd_layout(rd_ptr, rd_idx, rd_fd, col_ptr, col_idx, n_s):
    """Per read its reaction (rd_j), and the finite-difference reads grouped by the colour of their species
    (fd_ptr, fd_k), so that ``elasticities`` visits only the reads each perturbation informs."""
    n_k = rd_idx.shape[0]
    rd_j = np.empty(n_k, dtype=np.int64)
    for j in range(rd_ptr.shape[0] - 1):
        for k in range(rd_ptr[j], rd_ptr[j + 1]):
            rd_j[k] = j
    n_c = col_ptr.shape[0] - 1
    colour = np.full(n_s, -1, dtype=np.int64)
    for c in range(n_c):
        for q in range(col_ptr[c], col_ptr[c + 1]):
            colour[col_idx[q]] = c
    fd_ptr = np.zeros(n_c + 1, dtype=np.int64)
    for k in range(n_k):
        if rd_fd[k]:
            fd_ptr[colour[rd_idx[k]] + 1] += 1
    for c in range(n_c):
        fd_ptr[c + 1] += fd_ptr[c]
    fd_k = np.empty(fd_ptr[n_c], dtype=np.int64)
    fill = fd_ptr[:n_c].copy()
    for k in range(n_k):
        if rd_fd[k]:
            c = colour[rd_idx[k]]
            fd_k[fill[c]] = k
            fill[c] += 1
    return rd_j, fd_ptr, fd_k


@kernel()
def elasticities(m, x, p, u, a, rd_idx, rd_n, rd_fd, rd_j, fd_ptr, fd_k, col_ptr, col_idx, eps, el, a_fd, dx):
    """el[k] = |d ln a_j / d ln x_i| for every read k (reaction j reads species i), in place of Cao's
    g_i: exact for mass-action factors (the sum of x / (x - m) over the factors x - m), a one-sided
    finite difference over a relative change of about epsilon for a species read through an expression
    (one propensity evaluation per group of species that no reaction reads together)."""
    for k in range(rd_idx.shape[0]):
        e = 0.0
        n = rd_n[k]
        if n > 0 and not rd_fd[k] and a[rd_j[k]] > 0.0:
            if n == 1:
                e = 1.0
            else:
                xi = float(x[rd_idx[k]])
                for r in range(n):
                    e += xi / (xi - r)
        el[k] = e
    for c in range(col_ptr.shape[0] - 1):
        for q in range(col_ptr[c], col_ptr[c + 1]):
            i = col_idx[q]
            dx[i] = max(1, int(eps * x[i]))
            x[i] += dx[i]
        propensities(m, x, p, u, a_fd)
        for q in range(col_ptr[c], col_ptr[c + 1]):
            x[col_idx[q]] -= dx[col_idx[q]]
        for q in range(fd_ptr[c], fd_ptr[c + 1]):
            k = fd_k[q]
            j = rd_j[k]
            if a[j] > 0.0:
                i = rd_idx[k]
                e = abs(a_fd[j] / a[j] - 1.0) * max(float(x[i]), 1.0) / dx[i]
                el[k] = e if e == e else 0.0


@kernel()
def step_size(x, a, leap, ch_ptr, ch_idx, ch_val, rd_ptr, rd_idx, rd_ch, el, opts, mu, sig, g, lread, rate, inv, frz,
              sd_rel, mu_rel):
    """The leap: Cao 2006's leap condition per propensity, with elasticities, and at most ``max_relaxation``
    relaxation times.

    Every propensity with a_j > 0 may change over the step by at most epsilon in relative SD and
    drift_share epsilon in relative mean (each leap's drift adds a first-order bias of about half the
    relative change it allows, and these biases add up along a transient, while the variance errors do
    not): sum_i e_ji sqrt(sig_i tau) / x_i <= epsilon and tau sum_i e_ji |mu_i| / x_i <= drift_share epsilon,
    the SDs added linearly because one firing may move several species a propensity reads. x_i is floored
    at g_i / epsilon (g_i the largest total elasticity of i's readers; g_i / (drift_share epsilon) for the
    drift) so that a change of one molecule always fits, as in Cao's b_i = max(epsilon x_i / g_i, 1), whose
    per-species form this contains (it splits each propensity's budget evenly over the species it reads,
    however unequally they move). The drift and variance count every leaped reaction and, for the species a leaped
    propensity reads, the exact ones too (the operator-splitting error: what the exact reactions do to a
    leaped propensity inside the step). A propensity a_j reading species i that leaped reactions change
    sees i frozen over the step and loses variance e_ji^2 a_j^2 sig_i tau^3 / (3 x_i^2) against its own
    Poisson variance a_j tau: the step keeps that share below epsilon. Relaxation: species s relaxes at most at
    sum_j |v_sj| sum_i |d a_j / d x_i| over the leaped reactions j changing s and the species i each
    both reads and changes (a row sum of the Jacobian's self-coupled part, exact for a reversible pair,
    A -> B and A + B -> C); explicit leaping inflates a variance by about 1 / (1 - lambda tau / 2)."""
    n_s = x.shape[0]
    eps = opts[EPSILON]
    split = opts[DEGRADE_SPLITTING] == 0.0
    flat = opts[DEGRADE_ELASTICITY] != 0.0
    for i in range(n_s):
        mu[i] = 0.0
        sig[i] = 0.0
        rate[i] = 0.0
        g[i] = 0.0
        lread[i] = False
        inv[i] = 1.0 / max(float(x[i]), 1.0)
    if flat:  # the degraded method: every read counts as a linear one and g_i = 1
        for k in range(el.shape[0]):
            el[k] = 1.0
    for j in range(a.shape[0]):
        aj = a[j]
        if aj > 0.0:
            total = 0.0
            r = 0.0
            for k in range(rd_ptr[j], rd_ptr[j + 1]):
                total += el[k]
                if rd_ch[k] != 0:
                    r += el[k] * inv[rd_idx[k]]
            if flat:
                total = 1.0
            lj = leap[j]
            for k in range(rd_ptr[j], rd_ptr[j + 1]):
                i = rd_idx[k]
                g[i] = max(g[i], total)
                if lj:
                    lread[i] = True
            if lj:
                for k in range(ch_ptr[j], ch_ptr[j + 1]):
                    v = ch_val[k]
                    i = ch_idx[k]
                    mu[i] += v * aj
                    sig[i] += v * v * aj
                    rate[i] += abs(v) * aj * r  # relaxation rate of the species, over its channels
    fastest = 0.0
    for i in range(n_s):
        fastest = max(fastest, rate[i])
        frz[i] = sig[i] * inv[i] * inv[i]  # leaped variance per unit time, relative
    if split:
        small = opts[EXACT_BELOW]
        for j in range(a.shape[0]):
            aj = a[j]
            if not leap[j] and aj > 0.0:
                for k in range(ch_ptr[j], ch_ptr[j + 1]):
                    i = ch_idx[k]
                    if lread[i] and x[i] >= small:
                        v = ch_val[k]
                        mu[i] += v * aj
                        sig[i] += v * v * aj
    # relative SD and drift of each species per unit time, over a count floored so that a change of one
    # molecule always fits (Cao's max(epsilon x_i / g_i, 1))
    ds = opts[DRIFT_SHARE]
    for i in range(n_s):
        sd_rel[i] = 0.0
        mu_rel[i] = 0.0
        if sig[i] > 0.0:
            xi = float(x[i])
            sd_rel[i] = np.sqrt(sig[i]) * (inv[i] if eps * xi >= g[i] else eps / g[i])
            mu_rel[i] = abs(mu[i]) * (inv[i] if ds * eps * xi >= g[i] else ds * eps / g[i])
    # per propensity: its lost variance while frozen, and the leap condition on its SD and drift
    worst_frz = 0.0
    worst_sd = 0.0
    worst_mu = 0.0
    for j in range(a.shape[0]):
        aj = a[j]
        if aj > 0.0:
            sd = 0.0
            m = 0.0
            for k in range(rd_ptr[j], rd_ptr[j + 1]):
                i = rd_idx[k]
                e = el[k]
                worst_frz = max(worst_frz, e * e * aj * frz[i])
                sd += e * sd_rel[i]  # SDs added, not in quadrature: one firing may move several reads
                m += e * mu_rel[i]
            worst_sd = max(worst_sd, sd)
            worst_mu = max(worst_mu, m)
    tau = np.inf
    if worst_frz > 0.0:
        tau = np.sqrt(3.0 * eps / worst_frz)
    if fastest > 0.0:
        tau = min(tau, opts[MAX_RELAXATION] / fastest)
    if worst_sd > 0.0:
        tau = min(tau, eps * eps / (worst_sd * worst_sd))
    if worst_mu > 0.0:
        tau = min(tau, ds * eps / worst_mu)
    return tau * opts[DEGRADE_STEP]


@kernel()
def exact_until(m, x, p, u, a, leap, t, t_end, max_events, rng, ex_idx, n_ex, dep_ptr, dep_idx, held, t_last, lam):
    """SSA from t over the reactions ex_idx[:n_ex] (the exact ones, or all) until ``t_end`` or
    ``max_events`` events. Every leaped reaction's propensity is integrated along the exact path (``lam``,
    from ``held``/``t_last``), so the leaped firings carry the fluctuations of the species the exact
    reactions change; ``held`` is also its value before an event, which turns the change of the sum that
    ``fire`` returns into the change of the exact reactions' sum. Returns (time reached, events, failed)."""
    events = 0
    a_s = 0.0
    for q in range(n_ex):
        a_s += a[ex_idx[q]]
    some_leaped = n_ex < a.shape[0]
    while events < max_events:
        if a_s <= 0.0:
            return t_end, events, False
        t_next = t + exponential(rng) / a_s
        if t_next >= t_end:
            return t_end, events, False  # the pending waiting time is discarded (memoryless)
        target = uniform(rng) * a_s
        acc = 0.0
        chosen = -1
        for q in range(n_ex):
            chosen = ex_idx[q]
            acc += a[chosen]
            if acc >= target:
                break
        t = t_next
        delta = fire(m, chosen, x, p, u, a)
        if delta != delta:
            return t, events, True
        events += 1
        a_s += delta
        if some_leaped:
            for k in range(dep_ptr[chosen], dep_ptr[chosen + 1]):
                j = dep_idx[k]
                if leap[j]:
                    a_s -= a[j] - held[j]
                    lam[j] += held[j] * (t - t_last[j])
                    held[j] = a[j]
                    t_last[j] = t
        if events % RESUM_EVERY == 0:  # stop round-off drift of the running sum
            a_s = 0.0
            for q in range(n_ex):
                a_s += a[ex_idx[q]]
    return t, events, False


@kernel()
def tau_cell(m, x, p, sched_t, sched_u, t_grid, rec, rng, out, a, opts, ch_ptr, ch_idx, ch_val, re_ptr, re_idx,
             re_val, rd_ptr, rd_idx, rd_n, rd_fd, rd_ch, rd_j, fd_ptr, fd_k, dep_ptr, dep_idx, col_ptr, col_idx, leap,
             x_save, firings, mu, sig, g, lread, rate, inv, frz, sd_rel, mu_rel, el, a_fd, dx, held, a_start, t_last,
             lam, ex_idx, stats, u, ev, es):
    """Simulate one cell by partitioned leaping; fills ``out`` and ``stats``. Returns (status, detail)."""
    n_t = t_grid.shape[0]
    t = t_grid[0]
    b, t_input = input_interval(sched_t, t)
    copy_into(u, sched_u[b])
    status, detail, t_trigger = events_begin(m, x, p, u, t, ev, es)
    if status != OK:
        return status, detail
    i = 0
    track = opts[DEGRADE_SPLITTING] == 0.0
    # run-time values, not literals: numba compiles exact_until once more for every literal argument
    many = np.int64(MAX_EVENTS)
    exact_next = False  # after a leap rejected for turning a trigger true: exact steps first
    # a trigger can turn only when a firing changes a species it reads (WATCH, as in ssa): without such
    # triggers the trigger times, which bound every step, are all the events need
    watching = False
    for j in range(m[REACTIONS]):
        watching = watching or m[WATCH + j] != 0
    while True:
        if t >= t_input:
            b, t_input = input_interval(sched_t, t)
            copy_into(u, sched_u[b])
        if m[EVENTS] > 0 and t >= t_trigger:  # before recording: the state at an event time is the post-event one
            status, detail, _ = fire_events(m, x, p, u, np.nextafter(t, np.inf), ev, es)
            if status != OK:
                return status, detail
            t_trigger = next_trigger_time(es[0], t)
        while i < n_t and t_grid[i] <= t:
            if not record_state(x, rec, out[i]):
                return COUNT_OVERFLOW, i
            i += 1
        if i >= n_t:
            return OK, -1
        t_target = min(t_grid[i], t_input, t_trigger)
        a0, bad = total_propensity(m, x, p, u, a)
        if bad >= 0:
            return BAD_PROPENSITY, bad
        if a0 <= 0.0:
            t = t_target
            continue
        n_leap = classify(x, a, leap, ch_ptr, ch_idx, re_ptr, re_idx, re_val, rd_ptr, rd_idx, opts)
        tau = np.inf
        a_leap = 0.0
        if n_leap > 0:
            elasticities(m, x, p, u, a, rd_idx, rd_n, rd_fd, rd_j, fd_ptr, fd_k, col_ptr, col_idx, opts[EPSILON], el,
                         a_fd, dx)
            tau = step_size(x, a, leap, ch_ptr, ch_idx, ch_val, rd_ptr, rd_idx, rd_ch, el, opts, mu, sig, g, lread,
                             rate, inv, frz, sd_rel, mu_rel)
            for j in range(a.shape[0]):
                if leap[j]:
                    if a[j] * tau < opts[EXACT_FIRINGS]:
                        leap[j] = False
                    else:
                        a_leap += a[j]
        if n_leap == 0 or a_leap * tau < opts[SSA_FACTOR] or exact_next:
            # leaping would not pay (or a trigger is near): plain exact SSA steps
            exact_next = False
            for j in range(a.shape[0]):
                leap[j] = False
                ex_idx[j] = j
            steps = int(opts[SSA_STEPS])
            for _ in range(steps if watching else 1):  # state triggers: one firing at a time, triggers after each
                t, n, failed = exact_until(m, x, p, u, a, leap, t, t_target, 1 if watching else steps, rng,
                                           ex_idx, a.shape[0], dep_ptr, dep_idx, held, t_last, lam)
                stats[SSA_EVENTS] += n
                if failed:
                    status, detail = diagnose(m, x, p, u, a)
                    return status, detail
                if watching:
                    if n == 0:
                        break
                    status, detail, fired = fire_events(m, x, p, u, t, ev, es)
                    if status != OK:
                        return status, detail
                    if fired > 0:
                        total_propensity(m, x, p, u, a)
            continue
        landing = tau >= t_target - t
        if landing:
            tau = t_target - t
        copy_into(x_save, x)
        n_ex = np.int64(0)
        for j in range(a.shape[0]):
            if not leap[j]:
                ex_idx[n_ex] = j
                n_ex += 1
        while True:
            t_end = t_target if landing else t + tau
            for j in range(a.shape[0]):
                if leap[j]:
                    held[j] = a[j]
                    a_start[j] = a[j]
                    t_last[j] = t
                    lam[j] = 0.0
            t_reached, n, failed = exact_until(m, x, p, u, a, leap, t, t_end, many, rng, ex_idx, n_ex, dep_ptr,
                                               dep_idx, held, t_last, lam)
            if failed:
                status, detail = diagnose(m, x, p, u, a)
                return status, detail
            negative = False
            for j in range(a.shape[0]):
                firings[j] = 0
                if leap[j]:
                    # the degraded method (no splitting term) leaps on the propensity frozen at the step's start
                    firings[j] = poisson(rng, lam[j] + held[j] * (t_end - t_last[j]) if track
                                         else a_start[j] * (t_end - t))
                    for k in range(ch_ptr[j], ch_ptr[j + 1]):
                        x[ch_idx[k]] += ch_val[k] * firings[j]
            for s in range(x.shape[0]):
                if x[s] < 0:
                    negative = True
            if not negative and watching and events_pending(m, x, p, u, t_end, es):
                # the leap turned a trigger true: redo it by exact steps, which find the firing's instant
                copy_into(x, x_save)
                total_propensity(m, x, p, u, a)
                stats[REJECTED] += 1
                exact_next = True
                break
            if not negative:
                stats[EXACT_EVENTS] += n
                for j in range(a.shape[0]):
                    stats[LEAPED] += firings[j]
                stats[LEAPS] += 1
                t = t_end
                break
            # reject: restore the step's start, halve tau and try again
            stats[REJECTED] += 1
            copy_into(x, x_save)
            total_propensity(m, x, p, u, a)
            tau *= 0.5
            landing = False


@kernel()
def tau_cells(first, last, x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, m, ch_ptr,
              ch_idx, ch_val, re_ptr, re_idx, re_val, rd_ptr, rd_idx, rd_n, rd_fd, rd_ch, dep_ptr, dep_idx, col_ptr,
              col_idx, ev):
    """Cells ``first .. last-1`` one after another; every cell reads and writes only its own rows."""
    n_r = m[REACTIONS]
    n_s = x0.shape[1]
    rd_j, fd_ptr, fd_k = fd_layout(rd_ptr, rd_idx, rd_fd, col_ptr, col_idx, n_s)
    for c in range(first, last):
        x = x0[c].copy()
        a = np.empty(n_r)
        leap = np.zeros(n_r, dtype=np.bool_)
        x_save = np.empty(n_s, dtype=np.int64)
        firings = np.zeros(n_r, dtype=np.int64)
        mu = np.empty(n_s)
        sig = np.empty(n_s)
        rate = np.empty(n_s)
        inv = np.empty(n_s)
        frz = np.empty(n_s)
        sd_rel = np.empty(n_s)
        mu_rel = np.empty(n_s)
        g = np.empty(n_s)
        lread = np.zeros(n_s, dtype=np.bool_)
        el = np.zeros(rd_idx.shape[0])
        a_fd = np.empty(n_r)
        dx = np.zeros(n_s, dtype=np.int64)
        held = np.zeros(n_r)
        a_start = np.zeros(n_r)
        t_last = np.zeros(n_r)
        lam = np.zeros(n_r)
        ex_idx = np.zeros(n_r, dtype=np.int64)
        status[c], detail[c] = tau_cell(m, x, p[c], sched_t, sched_u, t_grid, rec, rng[c], out[c], a, opts, ch_ptr,
                                        ch_idx, ch_val, re_ptr, re_idx, re_val, rd_ptr, rd_idx, rd_n, rd_fd, rd_ch,
                                        rd_j, fd_ptr, fd_k, dep_ptr, dep_idx, col_ptr, col_idx, leap, x_save, firings,
                                        mu, sig, g, lread, rate, inv, frz, sd_rel, mu_rel, el, a_fd, dx, held,
                                        a_start, t_last, lam, ex_idx, work[c],
                                        np.empty(sched_u.shape[1]), ev, event_scratch(m, ev[0]))


def tau_block(x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, m, ch_ptr, ch_idx, ch_val,
              re_ptr, re_idx, re_val, rd_ptr, rd_idx, rd_n, rd_fd, rd_ch, dep_ptr, dep_idx, col_ptr, col_idx, ev_ptr,
              ev_kind, ev_index, ev_flags):
    """Simulate a block of cells on the threads numba is set to use (a serial kernel per thread, as the SSA:
    numba's parallel compile of a ``prange`` block kernel cost about as much as the rest of tau's compile)."""
    run_cells(tau_cells, x0.shape[0], x0, p, sched_t, sched_u, t_grid, rec, rng, out, status, detail, work, opts, m,
              ch_ptr, ch_idx, ch_val, re_ptr, re_idx, re_val, rd_ptr, rd_idx, rd_n, rd_fd, rd_ch, dep_ptr, dep_idx,
              col_ptr, col_idx, (ev_ptr, ev_kind, ev_index, ev_flags))


#: ``auto`` leaps only when a pilot predicts at least this many events per cell (below it the exact SSA
#: takes well under a second per cell and needs no accuracy contract) ...
AUTO_MIN_EVENTS = 100_000
#: ... at least this share of them leaped (otherwise leaping saves little) ...
AUTO_MIN_LEAPED = 0.5
#: ... at least this many leaped firings per leap (each leap costs about as much as this many exact
#: events, and every leap adds its share of the first-order bias that epsilon bounds) ...
AUTO_MIN_PER_LEAP = 20.0
#: ... and at most this share of leaps rejected for a negative count (rejections mean leaps near
#: exhausted species, where halving the step is the only protection and the law is least certain).
AUTO_MAX_REJECTED = 0.01


def auto_choice(work: np.ndarray, cells: int) -> tuple[str, str]:
    """``method: auto``: "tau" or "ssa" from a tau-leaping pilot's work statistics, with the reason.

    ``work`` is the pilot's per-cell work (cells, len(METHOD.work)) or its sum over cells. Leaping is chosen
    only where its step bounds are expected to hold the accuracy contract at a real gain in speed:
    many events per cell, most of them leaped, many firings per leap and almost no rejected leaps."""
    w = np.asarray(work, dtype=np.float64)
    if w.ndim == 2:
        w = w.sum(axis=0)
    events = w[EXACT_EVENTS] + w[LEAPED] + w[SSA_EVENTS]
    per_cell = events / cells
    leaped = w[LEAPED] / events if events else 0.0
    per_leap = w[LEAPED] / w[LEAPS] if w[LEAPS] else 0.0
    rejected = w[REJECTED] / (w[LEAPS] + w[REJECTED]) if w[LEAPS] + w[REJECTED] else 0.0
    facts = (f"pilot of {cells} cells: {per_cell:.3g} events per cell, {100 * leaped:.1f} % leaped, "
             f"{per_leap:.3g} leaped firings per leap, {100 * rejected:.2f} % of leaps rejected")
    if per_cell < AUTO_MIN_EVENTS:
        return "ssa", f"ssa: few events per cell, the exact SSA is cheap ({facts})"
    if leaped < AUTO_MIN_LEAPED:
        return "ssa", f"ssa: most events would be simulated exactly inside the leaps anyway ({facts})"
    if per_leap < AUTO_MIN_PER_LEAP:
        return "ssa", f"ssa: the step bounds allow too few firings per leap for leaping to pay ({facts})"
    if rejected > AUTO_MAX_REJECTED:
        return "ssa", f"ssa: too many leaps would overdraw a species ({facts})"
    return "tau", f"tau: large populations leaped within the step bounds ({facts})"
