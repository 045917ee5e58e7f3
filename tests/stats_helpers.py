"""Statistics shared by the tests: goodness of fit of integer samples to an exact law."""

from __future__ import annotations

import numpy as np
from scipy import stats

#: fixed seeds: a correct engine passes deterministically; this is the bar it clears
P_MIN = 1e-4


def chi2_pvalue(samples: np.ndarray, pmf: np.ndarray) -> float:
    """Chi-square goodness of fit of integer samples to a pmf on 0..len(pmf)-1 (tail lumped)."""
    n = samples.size
    observed = np.bincount(samples, minlength=pmf.size).astype(float)
    tail_obs = observed[pmf.size:].sum()
    observed = observed[: pmf.size]
    expected = pmf * n
    observed[-1] += tail_obs
    expected[-1] += max(0.0, n - expected.sum())
    # merge bins with expected < 5 into their neighbours (from both ends)
    keep_o, keep_e, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected):
        acc_o += o
        acc_e += e
        if acc_e >= 5:
            keep_o.append(acc_o)
            keep_e.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0:
        keep_o[-1] += acc_o
        keep_e[-1] += acc_e
    o, e = np.array(keep_o), np.array(keep_e)
    return float(stats.chi2.sf(((o - e) ** 2 / e).sum(), o.size - 1))
