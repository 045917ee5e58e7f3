"""method="ode": the deterministic limit against analytic solutions."""

from __future__ import annotations

import numpy as np

import stochins


def test_birth_death_exponential(model_from_text):
    model = model_from_text("""
        name: bd
        species: {X: 100}
        parameters: {Lambda: 0.1, Mu: 0.11}
        reactions:
          birth: {equation: "X -> 2 X", rate: Lambda}
          death: {equation: "X -> 0", rate: Mu}
    """)
    res = stochins.simulate(model, cells=1, t_end=50.0, samples=51, method="ode")
    np.testing.assert_allclose(res["X"][0], 100 * np.exp(-0.01 * res.time), rtol=1e-6)


def test_dimerisation_uses_the_large_number_rate(model_from_text):
    # deterministic limit of k*A*(A-1)/2 is k*A^2/2 per reaction; dA/dt = -k A^2 -> A0 / (1 + k A0 t)
    model = model_from_text("""
        name: dim
        species: {A: 1000, B: 0}
        parameters: {k: 0.0005}
        reactions:
          dimerise: {equation: "2 A -> B", rate: k}
    """)
    res = stochins.simulate(model, cells=1, t_end=10.0, samples=21, method="ode")
    np.testing.assert_allclose(res["A"][0], 1000 / (1 + 0.0005 * 1000 * res.time), rtol=1e-6)
    np.testing.assert_allclose(res["B"][0], (1000 - res["A"][0]) / 2, rtol=1e-6)


def test_isomerisation_and_input_switch(model_from_text):
    model = model_from_text("""
        name: iso
        species: {A: 100, B: 0}
        parameters: {k1: 0.7, k2: 0.3}
        inputs: {drive: 1.0}
        reactions:
          fwd: {equation: "A -> B", propensity: "k1 * drive * A"}
          rev: {equation: "B -> A", rate: k2}
    """)
    res = stochins.simulate(model, cells=1, t_end=6.0, samples=13, method="ode",
                            inputs={"drive": [[0.0, 1.0], [2.25, 0.0]]})
    t = res.time
    a_switch = 30 + 70 * np.exp(-2.25)
    expected = np.where(t < 2.25, 30 + 70 * np.exp(-t), 100 - (100 - a_switch) * np.exp(-0.3 * (t - 2.25)))
    np.testing.assert_allclose(res["A"][0], expected, rtol=1e-6)


def test_ssa_mean_approaches_ode_for_large_counts(model_from_text):
    model = model_from_text("""
        name: dim
        species: {A: 2000, B: 0}
        parameters: {k: 0.0005}
        reactions:
          dimerise: {equation: "2 A -> B", rate: k}
    """)
    ode = stochins.simulate(model, cells=1, t_end=2.0, samples=5, method="ode")["A"][0]
    ssa = stochins.simulate(model, cells=400, t_end=2.0, samples=5, seed=1)["A"]
    # means agree to O(1/N) corrections; well inside 4 standard errors plus 0.5 % discreteness
    se = ssa.std(0) / np.sqrt(ssa.shape[0])
    assert (np.abs(ssa.mean(0) - ode) <= 4 * se + 0.005 * ode).all()
