"""Tau-leaping's accuracy contract on a family of hard networks, against the exact SSA.

At every recorded time of every recorded species, the leaped population's mean must be within 2 % and
its SD within 5 % of the exact SSA's, plus a sampling allowance of Z standard errors of the difference
(means: from both SDs and cell counts; SD ratio: the standard error of log SD, sqrt((kurtosis - 1) / 4n),
of both estimates). The exact references are cached summaries of many SSA cells
(tests/data/tau_family/make_reference.py); the networks are in tests/data/tau_family/. Each case runs on a
coarse (3 samples) and a fine (40 samples) recording grid: tau-leaping lands on every recording time, so a
method whose error hides behind a fine grid fails on the coarse one.

Power checks: the same check must fail for deliberately degraded methods (the degrade_* tau options):
the step x3 and the splitting term off (exact reactions left out of the step bound, leaped propensities
frozen over the step) and g = 1 (every elasticity replaced by 1, as if every propensity were linear in
what it reads), each on the networks where it matters (see POWER).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import yaml

import stochins

HERE = Path(__file__).parent / "data" / "tau_family"
CASES = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
REF = dict(np.load(HERE / "reference.npz"))
SEED = 4242
Z = 4.0            # standard errors of sampling allowance (many correlated comparisons per case)
MEAN_TOL, SD_TOL = 0.02, 0.05
#: indices into the reference's 79-point grid
GRIDS = {"coarse": np.arange(0, 79, 39), "fine": np.arange(0, 79, 2)}
DEGRADED = {"step_x3": {"degrade_step": 3.0}, "no_splitting": {"degrade_splitting": 1},
            "g_one": {"degrade_elasticity": 1}}


@functools.lru_cache(maxsize=None)
def run(case: str, grid: str, degradation: str | None = None):
    c = CASES[case]
    model = HERE / c["model"] if c["model"].endswith(".yaml") else c["model"]
    return stochins.simulate(model, cells=c["tau_cells"], t_end=c["t_end"], samples=GRIDS[grid].size, seed=SEED,
                             method="tau", inputs=c.get("inputs"), model_parameters=c.get("model_parameters"),
                             record=c["record"], tau=DEGRADED.get(degradation))


def discrepancies(case: str, grid: str, degradation: str | None = None) -> list[str]:
    """Every (species, time) where the leaped cells miss the exact SSA by more than the contract allows."""
    res = run(case, grid, degradation)
    idx = GRIDS[grid]
    n_ssa = float(REF[f"{case}.cells"])
    m_ssa, s_ssa, k_ssa = (REF[f"{case}.{q}"][idx] for q in ("mean", "sd", "kurtosis"))
    x = res.trajectories.astype(np.float64)
    n = x.shape[0]
    m = x.mean(0)
    s = x.std(0, ddof=1)
    c2 = ((x - m) ** 2).mean(0)
    kurt = np.where(c2 > 0, ((x - m) ** 4).mean(0) / np.where(c2 > 0, c2, 1.0) ** 2, 3.0)
    out = []
    for k, name in enumerate(res.species):
        for t in range(idx.size):
            se = np.sqrt(s[t, k] ** 2 / n + s_ssa[t, k] ** 2 / n_ssa)
            if abs(m[t, k] - m_ssa[t, k]) > MEAN_TOL * abs(m_ssa[t, k]) + Z * se:
                out.append(f"{name} t={res.time[t]:g}: mean {m[t, k]:.6g} vs exact {m_ssa[t, k]:.6g} "
                           f"({100 * (m[t, k] / m_ssa[t, k] - 1):+.2f} %, allowance {100 * Z * se / m_ssa[t, k]:.2f} %)")
            if s_ssa[t, k] == 0:
                if s[t, k] != 0:
                    out.append(f"{name} t={res.time[t]:g}: SD {s[t, k]:.4g} where the exact SD is 0")
                continue
            se_log = np.sqrt((kurt[t, k] - 1) / (4 * n) + (k_ssa[t, k] - 1) / (4 * n_ssa))
            ratio = s[t, k] / s_ssa[t, k]
            if abs(ratio - 1) > SD_TOL + Z * se_log:
                out.append(f"{name} t={res.time[t]:g}: SD {s[t, k]:.4g} vs exact {s_ssa[t, k]:.4g} "
                           f"({100 * (ratio - 1):+.1f} %, allowance {100 * Z * se_log:.1f} %)")
    return out


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("case", list(CASES))
def test_tau_meets_the_accuracy_contract(case, grid):
    bad = discrepancies(case, grid)
    assert not bad, f"{case}, {grid} grid: " + "; ".join(bad[:6])
    res = run(case, grid)
    assert res.work[:, 1].sum() > 0, "nothing was leaped: the case does not test leaping"


#: (degradation, case, grid) where the degraded method must fail the same check. g = 1 for every
#: elasticity ("g_one") matters where a leaped species is read steeply: the pool removed through a Hill
#: function (n = 8) of itself relaxes ~7 times faster than a linear reading says, so its SD comes out
#: ~20 % high on either grid.
POWER = [("step_x3", "pair", "fine"), ("step_x3", "michaelis_menten", "coarse"),
         ("no_splitting", "catalyst", "coarse"), ("g_one", "steep_removal", "fine")]


@pytest.mark.parametrize("degradation,case,grid", POWER, ids=["-".join(p) for p in POWER])
def test_degraded_methods_fail_the_same_check(degradation, case, grid):
    assert discrepancies(case, grid, degradation), f"the check cannot see {degradation} on {case}"
