"""stochins <-> gillespy2: conversion both ways, and stochins' SSA against gillespy2's SSACSolver.

The C++ solver builds (SCons + g++) take ~3 s per model; the whole module runs in well under a minute.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

gillespy2 = pytest.importorskip("gillespy2")
stats = pytest.importorskip("scipy.stats")
# gillespy2 1.8.3's expression printer still implements ast's visit_Num
pytestmark = pytest.mark.filterwarnings("ignore:visit_Num is deprecated:DeprecationWarning")

import stochins  # noqa: E402
from stochins import ArgumentError, ModelError, Network  # noqa: E402
from stochins.models.gillespy2_interop import (  # noqa: E402
    from_gillespy2, is_gillespy2_model, solver_environment, to_gillespy2)

FEATURES = """
name: features
species:
  A: 30
  B: {count: n0, constant: false}
  C: 4
  D: 0
  S: {count: 5, constant: true}
parameters:
  n0: 20
  kf: 0.02
  kr: 0.1
  kd: 0.05
  kin: 2
  K: 25
inputs:
  u: 1.5
expressions:
  act: max(u, 1, A/10) - min(C, D, 3)
reactions:
  bind: {equation: "A + B <-> C", rate: [kf, kr]}
  dim: {equation: "2 C -> D", rate: kd}
  tri: {equation: "3 A -> A + C", rate: kd / 100}
  influx: {equation: "S -> S + A", rate: kin / 5}
  hillr: {equation: "0 -> B", propensity: "kin * hill(A, K, 2) * exp(-u) + +abs(act) + sqrt(D) + 1/2 + A**2/(1 + B)"}
  logr: {equation: "D -> 0", propensity: "log(1 + D) * log10(10 + C) + pow(D, 0.5) * floor(u) * ceil(u)"}
"""


def _propensity(net: Network, r, env) -> float:
    """stochins' stochastic propensity of reaction r: rate * prod C(x, n), or the propensity as written."""
    if r.propensity is not None:
        return net.propensity_expr(r).evaluate(env)
    value = net.rate_expr(r).evaluate(env)
    for s, n in r.reactants:
        value *= math.comb(int(env[s]), n)
    return value


def _net_change(net: Network, r) -> dict[str, int]:
    return {s: n for s, n in r.net_change().items() if not net.species[s].constant}


def _states(net: Network, seed: int = 0, n: int = 6):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield {s: float(rng.integers(0, 60)) if not sp.constant else float(net.initial_counts()[s])
               for s, sp in net.species.items()}


# ---------------------------------------------------------------------------- conversion
def test_round_trip_keeps_propensities_and_stoichiometry():
    net = Network.from_yaml_text(FEATURES)
    gmodel = to_gillespy2(net, t_end=10, samples=11)
    assert is_gillespy2_model(gmodel) and not is_gillespy2_model(net)
    assert list(gmodel.tspan) == list(np.linspace(0, 10, 11))
    assert gmodel.listOfSpecies["S"].boundary_condition and gmodel.listOfSpecies["B"].initial_value == 20
    dim = gmodel.listOfReactions["dim"]
    assert dim.propensity_function == "(((kd*C)*(C-1.0))/2.0)"      # ours: k*C*(C-1)/2, not gillespy2's k*C*(C-1)
    assert dim.ode_propensity_function == "((kd*pow(C,2.0))/2.0)"

    back = from_gillespy2(gmodel)
    assert set(back.species) == set(net.species) and set(back.reactions) == set(net.reactions)
    assert back.species["S"].constant and not back.species["A"].constant
    assert back.initial_counts() == net.initial_counts()
    params = {**net.parameters, **net.inputs}
    assert back.parameters == params
    for state in _states(net):
        env = {**params, **state}
        for name, r in net.reactions.items():
            ours, theirs = _propensity(net, r, env), _propensity(back, back.reactions[name], env)
            assert theirs == pytest.approx(ours, rel=1e-12, abs=1e-12), (name, state)
            assert _net_change(back, back.reactions[name]) == _net_change(net, r)
    # and stochins loads a gillespy2 model directly
    assert stochins.load_model(gmodel).network.reactions.keys() == net.reactions.keys()


def test_overrides_inputs_and_errors():
    net = Network.from_yaml_text(FEATURES)
    g = to_gillespy2(net, inputs={"u": 3.0}, model_parameters={"n0": 7, "kf": 0.5})
    assert g.listOfSpecies["B"].initial_value == 7
    assert g.listOfParameters["kf"].value == 0.5 and g.listOfParameters["u"].value == 3.0
    with pytest.raises(ArgumentError, match="unknown parameter"):
        to_gillespy2(net, model_parameters={"nope": 1})
    with pytest.raises(ArgumentError, match="unknown input"):
        to_gillespy2(net, inputs={"nope": 1})
    with pytest.raises(ArgumentError, match="constant non-negative number"):
        to_gillespy2(net, inputs={"u": [[0, 1], [5, 2]]})

    def one(propensity: str, name: str = "X") -> Network:
        return Network.from_dict({"species": {name: 3}, "parameters": {"k": 1.0},
                                  "reactions": {"r1": {"equation": f"{name} -> 0", "propensity": propensity}}})

    with pytest.raises(ModelError, match=r"reaction 'r1': gillespy2 cannot express a conditional"):
        to_gillespy2(one("piecewise(k, X > 2, 0)"))
    with pytest.raises(ModelError, match="reaction 'r1': gillespy2 cannot express a comparison"):
        to_gillespy2(one("k * (X > 2)"))
    with pytest.raises(ModelError, match="name 'e'"):
        to_gillespy2(one("k * e", name="e"))


def test_from_native_gillespy2_mass_action_uses_gillespy2_convention():
    """gillespy2's mass action: 0 -> k*vol, X+Y -> k*X*Y/vol, 2X -> k*X*(X-1)/vol (no 1/2)."""
    m = gillespy2.Model(name="native", volume=2.5)
    m.add_species([gillespy2.Species("X", initial_value=40), gillespy2.Species("Y", initial_value=9),
                   gillespy2.Species("Z", initial_value=0, boundary_condition=True)])
    m.add_parameter([gillespy2.Parameter("k1", expression=0.3), gillespy2.Parameter("k2", expression="2*k1"),
                     gillespy2.Parameter("k3", expression=0.7)])
    m.add_reaction([
        gillespy2.Reaction("make", reactants={}, products={"X": 1}, rate="k1"),
        gillespy2.Reaction("pair", reactants={"X": 1, "Y": 1}, products={"Z": 1}, rate="k2"),
        gillespy2.Reaction("dimer", reactants={"X": 2}, products={"Y": 1}, rate="k1"),
        gillespy2.Reaction("decay", reactants={"Y": 1}, products={}, rate="k3"),
        gillespy2.Reaction("custom", reactants={"Z": 1}, products={"X": 1},
                           propensity_function="k1*Z*X^2/(vol + Y)"),
    ])
    net = from_gillespy2(m)
    assert net.parameters == {"k1": 0.3, "k2": 0.6, "k3": 0.7, "vol": 2.5}
    assert net.species["Z"].constant and _net_change(net, net.reactions["pair"]) == {"X": -1, "Y": -1}
    for state in ({"X": 40.0, "Y": 9.0, "Z": 3.0}, {"X": 1.0, "Y": 0.0, "Z": 1.0}, {"X": 17.0, "Y": 5.0, "Z": 0.0}):
        env = {**net.parameters, **state}
        for name, r in m.listOfReactions.items():
            theirs = eval(r.propensity_function, {"pow": pow, "vol": m.volume, **net.parameters, **state})
            assert _propensity(net, net.reactions[name], env) == pytest.approx(theirs, rel=1e-12), name


def test_solver_environment_restores_path():
    before = os.environ.get("PATH")
    with solver_environment():
        import shutil
        assert shutil.which("scons") is not None
    assert os.environ.get("PATH") == before


# ---------------------------------------------------------------------------- gillespy2's C++ SSA
def _ssac(gmodel, **kwargs):
    with solver_environment():
        return gillespy2.SSACSolver(model=gmodel, **kwargs)


def _array(results, species) -> np.ndarray:
    """gillespy2 results -> (trajectories, times, species)."""
    return np.stack([np.stack([np.asarray(tr[s]) for s in species], axis=-1) for tr in results])


def test_gillespy2_evaluates_our_expressions_like_we_do():
    """Integer division, species minus species (unsigned in gillespy2's C++), max/min/abs/exp and
    constant species: X is produced at a constant propensity 7.5, so X(10) ~ Poisson(75)."""
    net = Network.from_dict({
        "name": "expressions",
        "species": {"X": 0, "W": 100, "P": {"count": 3, "constant": True}, "Q": {"count": 7, "constant": True},
                    "Sink": {"count": 0, "constant": True}},
        "parameters": {"k": 0.1},
        "reactions": {
            # max(-4, 0.5) + min(3, 7)/2 + |3 - 7| + exp(0) + 1/2 = 0.5 + 1.5 + 4 + 1 + 0.5 = 7.5
            "make": {"equation": "P -> P + X",
                     "propensity": "max(P - Q, 1/2) + min(P, Q)/2 + abs(P - Q) + exp(0) + 1/2"},
            "drain": {"equation": "W -> Sink", "rate": "k"},
        }})
    n = 1000
    out = _array(_ssac(to_gillespy2(net, t_end=10, samples=3)).run(number_of_trajectories=n, seed=3),
                 ["X", "W", "P", "Q", "Sink"])
    assert (out[:, :, 2] == 3).all() and (out[:, :, 3] == 7).all() and (out[:, :, 4] == 0).all()
    assert abs(out[:, -1, 0].mean() - 75.0) < 4 * math.sqrt(75.0 / n)
    p = math.exp(-1.0)
    assert abs(out[:, -1, 1].mean() - 100 * p) < 4 * math.sqrt(100 * p * (1 - p) / n)


CASCADE = {
    "name": "binding_cascade",
    "species": {"A": 300, "B": 200, "C": 0, "D": 0},
    "parameters": {"kf": 0.002, "kr": 0.1, "kd": 0.005, "kdeg": 0.2, "kin": 20.0},
    "reactions": {
        "bind": {"equation": "A + B <-> C", "rate": ["kf", "kr"]},   # second order, reversible
        "dimerise": {"equation": "2 C -> D", "rate": "kd"},          # combinatorial factor 1/2
        "degrade": {"equation": "D -> 0", "rate": "kdeg"},
        "influx": {"equation": "0 -> A", "rate": "kin"},
    },
}
N = 3000
T_END, SAMPLES = 5.0, 21
CHECK = (10, 20)  # t = 2.5 and t = 5
# With N = 3000 per side the standard error of a difference of means is sqrt(2/N)*sd, i.e. 0.1-0.4 %
# of the mean for these species (sd/mean between 4 % and 15 %); |z| < 4 therefore detects a change of
# a mean by about 0.4 % (A) to 1.7 % (D); a 5 % change of kd moves C by about 3 % and D by about 2.8 %.
KS_P, Z_MAX, F_ALPHA = 1e-3, 4.0, 1e-3


def _compare(ours: np.ndarray, theirs: np.ndarray, species) -> list[str]:
    """Failed checks (KS, z-test on means, F-bound on variances) at the CHECK time points."""
    failures = []
    for ti in CHECK:
        for i, s in enumerate(species):
            a, b = ours[:, ti, i].astype(float), theirs[:, ti, i].astype(float)
            p = stats.ks_2samp(a, b).pvalue
            z = (a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
            ratio = a.var(ddof=1) / b.var(ddof=1)
            lo, hi = stats.f.ppf([F_ALPHA / 2, 1 - F_ALPHA / 2], a.size - 1, b.size - 1)
            where = f"{s} at t[{ti}]"
            if not p > KS_P:
                failures.append(f"{where}: KS p = {p:.2g}")
            if not abs(z) < Z_MAX:
                failures.append(f"{where}: means {a.mean():.3f} vs {b.mean():.3f}, z = {z:.2f}")
            if not lo < ratio < hi:
                failures.append(f"{where}: variance ratio {ratio:.3f} outside [{lo:.3f}, {hi:.3f}]")
    return failures


@pytest.fixture(scope="module")
def cascade():
    net = Network.from_dict(CASCADE)
    ours = stochins.simulate(net, cells=N, t_end=T_END, samples=SAMPLES, seed=1)
    solver = _ssac(to_gillespy2(net, t_end=T_END, samples=SAMPLES), variable=True)
    return net, ours, solver


def test_ssa_matches_gillespy2_ssacsolver(cascade):
    net, ours, solver = cascade
    theirs = _array(solver.run(number_of_trajectories=N, seed=7), ours.species)
    assert theirs.shape == ours.trajectories.shape
    assert np.allclose(solver.run(number_of_trajectories=1, seed=7)[0]["time"], ours.time)
    assert _compare(ours.trajectories, theirs, ours.species) == []


def test_comparison_has_power_against_a_5_percent_rate_change(cascade):
    net, ours, solver = cascade
    changed = {"kd": net.parameters["kd"] * 1.05}  # variable=True: no rebuild
    theirs = _array(solver.run(number_of_trajectories=N, seed=7, variables=changed), ours.species)
    failures = _compare(ours.trajectories, theirs, ours.species)
    assert any("C at t[20]: means" in f for f in failures), failures


def test_ode_propensities_match_gillespy2_ode_solver(cascade):
    """The ode_propensity_function strings (rate * x**n / n!) against stochins' ODE engine."""
    net, ours, _ = cascade
    gm = to_gillespy2(net, t_end=T_END, samples=SAMPLES)
    theirs = gillespy2.ODESolver(model=gm).run()
    ode = stochins.simulate(net, cells=1, t_end=T_END, samples=SAMPLES, method="ode")
    for i, s in enumerate(ode.species):
        np.testing.assert_allclose(ode.trajectories[0, :, i], np.asarray(theirs[0][s]), rtol=2e-4, atol=1e-3)
