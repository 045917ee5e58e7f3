"""Exact SSA against exact answers: Poisson, binomial and master-equation laws.

Every test compares whole distributions (chi-square) or means with their exact sampling error,
with fixed seeds and enough cells that a wrong engine (rate off by a few %, wrong combinatorial
factor, breakpoint applied at the wrong time) fails by a wide margin.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg, stats

import stochins
from stats_helpers import P_MIN, chi2_pvalue
from stochins.engine.methods import METHODS

#: every exact method passes every exact-law test (the power checks run on the default one)
EXACT = [name for name, m in METHODS.items() if m.exact]



IMMIGRATION_DEATH = """
name: immigration_death
species: {X: 0}
parameters: {k: 20.0, g: 0.5}
reactions:
  birth: {equation: "0 -> X", rate: k}
  death: {equation: "X -> 0", rate: g}
"""


@pytest.mark.parametrize("method", EXACT)
def test_immigration_death_is_poisson_at_every_time(model_from_text, method):
    # From X(0) = 0, X(t) ~ Poisson(k/g (1 - exp(-g t))) exactly, so the transient and the
    # stationary law (t = 20 = 10/g) are both tested against the exact distribution.
    model = model_from_text(IMMIGRATION_DEATH)
    res = stochins.simulate(model, cells=20000, t_end=20.0, samples=11, method=method, seed=11)
    x = res["X"]
    for i, t in enumerate(res.time):
        lam = 20.0 / 0.5 * (1 - np.exp(-0.5 * t))
        if t == 0:
            assert (x[:, i] == 0).all()
            continue
        z = (x[:, i].mean() - lam) / np.sqrt(lam / x.shape[0])
        assert abs(z) < 4, (t, z)
        pmf = stats.poisson.pmf(np.arange(int(lam + 8 * np.sqrt(lam) + 10)), lam)
        assert chi2_pvalue(x[:, i], pmf) > P_MIN, t


def test_chi_square_rejects_a_slightly_wrong_rate(model_from_text):
    # power check of the test above: a 3 % error in the birth rate is caught
    model = model_from_text(IMMIGRATION_DEATH)
    res = stochins.simulate(model, cells=20000, t_end=20.0, samples=2, seed=11,
                            model_parameters={"k": 20.6})
    lam = 40.0 * (1 - np.exp(-10.0))
    pmf = stats.poisson.pmf(np.arange(120), lam)
    assert chi2_pvalue(res["X"][:, -1], pmf) < P_MIN


@pytest.mark.parametrize("method", EXACT)
def test_isomerisation_marginals_are_binomial(model_from_text, method):
    model = model_from_text("""
        name: isomerisation
        species: {A: 60, B: 0}
        parameters: {k1: 0.7, k2: 0.3}
        reactions:
          iso: {equation: "A <-> B", rate: [k1, k2]}
    """)
    res = stochins.simulate(model, cells=20000, t_end=5.0, samples=6, method=method, seed=5)
    a = res["A"]
    assert (a + res["B"] == 60).all()
    for i, t in enumerate(res.time[1:], start=1):
        p_a = 0.3 / 1.0 + 0.7 / 1.0 * np.exp(-1.0 * t)
        pmf = stats.binom.pmf(np.arange(61), 60, p_a)
        assert chi2_pvalue(a[:, i], pmf) > P_MIN, t


def _dimerisation_law(a0: int, k: float, times: np.ndarray) -> np.ndarray:
    """Exact P(A = a, t) for 2A -> B from the master equation (states a0, a0-2, ..., 0 or 1)."""
    states = np.arange(a0, -1, -2)
    rates = k * states * (states - 1) / 2.0
    q = np.diag(-rates)
    for i in range(states.size - 1):
        q[i + 1, i] = rates[i]
    p0 = np.zeros(states.size)
    p0[0] = 1.0
    law = np.zeros((times.size, a0 + 1))
    for ti, t in enumerate(times):
        law[ti, states] = linalg.expm(q * t) @ p0
    return law


@pytest.mark.parametrize("method", EXACT)
def test_dimerisation_matches_master_equation(model_from_text, method):
    k = 0.05
    # the combinatorial factor k*A*(A-1)/2 is what this tests: k*A*A or k*A*(A-1) fail by far
    model = model_from_text(f"""
        name: dimerisation
        species: {{A: 12, B: 0}}
        parameters: {{k: {k}}}
        reactions:
          dimerise: {{equation: "2 A -> B", rate: k}}
    """)
    res = stochins.simulate(model, cells=20000, t_end=4.0, samples=5, method=method, seed=3)
    law = _dimerisation_law(12, k, res.time)
    for i in range(1, res.time.size):
        assert chi2_pvalue(res["A"][:, i], law[i]) > P_MIN, res.time[i]
    wrong = _dimerisation_law(12, 2 * k, res.time)  # the law of propensity k*A*(A-1)
    assert chi2_pvalue(res["A"][:, 2], wrong[2]) < P_MIN


BREAKPOINT = """
name: switched_immigration
species: {X: 0}
parameters: {k: 10.0, g: 0.5}
inputs: {signal: 1.0}
reactions:
  birth: {equation: "0 -> X", propensity: "k * signal"}
  death: {equation: "X -> 0", rate: g}
"""


def _switched_mean(t, t_switch, levels, k=10.0, g=0.5):
    """Mean of immigration-death from 0 whose immigration rate k*levels[i] switches at t_switch."""
    m_switch = k * levels[0] / g * (1 - np.exp(-g * t_switch))
    before = k * levels[0] / g * (1 - np.exp(-g * t))
    after = m_switch * np.exp(-g * (t - t_switch)) + k * levels[1] / g * (1 - np.exp(-g * (t - t_switch)))
    return np.where(t < t_switch, before, after)


@pytest.mark.parametrize("method", EXACT)
def test_input_breakpoint_between_samples_is_exact(model_from_text, method):
    # the signal switches 1 -> 3 at t = 12.3, between recording times 12 and 13; X(t) stays Poisson
    model = model_from_text(BREAKPOINT)
    res = stochins.simulate(model, cells=8000, t_end=20.0, samples=21, method=method, seed=7,
                            inputs={"signal": [[0.0, 1.0], [12.3, 3.0]]})
    mean = _switched_mean(res.time, 12.3, (1.0, 3.0))
    x = res["X"]
    z = (x.mean(0) - mean)[1:] / np.sqrt(mean[1:] / x.shape[0])
    assert np.abs(z).max() < 4, z
    i13 = 13
    assert chi2_pvalue(x[:, i13], stats.poisson.pmf(np.arange(150), mean[i13])) > P_MIN
    # had the switch been applied at the next recording time instead, t = 13 would be far off
    wrong = _switched_mean(res.time, 13.0, (1.0, 3.0))
    assert abs(x[:, i13].mean() - wrong[i13]) / np.sqrt(wrong[i13] / x.shape[0]) > 10


def test_schedule_with_several_breakpoints_and_washout(model_from_text):
    model = model_from_text(BREAKPOINT)
    sched = [[0.0, 2.0], [3.3, 0.0], [7.7, 1.5]]
    res = stochins.simulate(model, cells=8000, t_end=12.0, samples=25, seed=9, inputs={"signal": sched})
    # exact mean by integrating dm/dt = k*s(t) - g*m piecewise
    times, mean = res.time, []
    for t in times:
        m = 0.0
        for (ts, s), nxt in zip(sched, [p[0] for p in sched[1:]] + [np.inf]):
            end = min(t, nxt)
            if end <= ts:
                break
            m = m * np.exp(-0.5 * (end - ts)) + 10.0 * s / 0.5 * (1 - np.exp(-0.5 * (end - ts)))
        mean.append(m)
    mean = np.array(mean)
    x = res["X"]
    ok = mean > 0
    z = (x.mean(0)[ok] - mean[ok]) / np.sqrt(mean[ok] / x.shape[0])
    assert np.abs(z).max() < 4, z
