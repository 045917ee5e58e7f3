"""Kernels every simulation method shares: status codes, input breakpoints, recording, propensity sums.

Compiled per model (they call the model's ``propensities``); methods import them by name.
"""

from __future__ import annotations

import numpy as np

from .kernels import kernel
from .model_code import propensities

# Per-cell status codes returned by every method's kernel; messages in ``stochins.simulation``.
OK = 0
BAD_PROPENSITY = 1
NEGATIVE_COUNT = 2
COUNT_OVERFLOW = 3
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
def total_propensity(x, p, u, a):
    """Recompute every propensity; their sum, or -1 (with the culprit) if one is negative/NaN."""
    propensities(x, p, u, a)
    a0 = 0.0
    for j in range(a.shape[0]):
        if not a[j] >= 0.0:
            return -1.0, j
        a0 += a[j]
    return a0, -1


@kernel()
def diagnose(x, p, u, a):
    """After ``fire`` returned NaN: which failure, and which reaction or species caused it."""
    for s in range(x.shape[0]):
        if x[s] < 0:
            return NEGATIVE_COUNT, s
    propensities(x, p, u, a)
    for j in range(a.shape[0]):
        if not a[j] >= 0.0:
            return BAD_PROPENSITY, j
    return BAD_PROPENSITY, -1
