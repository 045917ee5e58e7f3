"""Cell-to-cell variability: per-cell draws, their reproducibility, initial counts and cell size.

Draws are compared with their distributions by Kolmogorov-Smirnov tests at 5,000 cells (with a power
check: the same test rejects a distribution whose mean is 5 % off); the cell-size scaling is tested
exactly (ODE invariance of concentrations; the SSA against the master equation of the rescaled
network, for a network with zeroth-, first- and second-order reactions).
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from scipy import linalg, stats

import stochins
from stats_helpers import chi2_pvalue
from test_exact import IMMIGRATION_DEATH

P_MIN = 1e-4  # fixed seeds: a correct sampler passes deterministically; the power checks fall below it
N = 5000

DRAWS = """
name: draws
species: {X: 100, Y: 37, R: "100 * level"}
parameters: {a: 2.0, b: 3.0, c: 1.0, d: 2.0, e: 0.5, f: 1.0, g: 0.1, level: 1.0}
reactions:
  death: {equation: "X -> 0", rate: g}
  r_death: {equation: "R -> 0", rate: g}
"""

SPEC = {
    "a": {"distribution": "lognormal", "mean": 2.0, "cv": 0.3},
    "b": {"distribution": "gamma", "cv": 0.3},                     # mean: the model's 3.0
    "c": {"distribution": "uniform", "low": 0.5, "high": 1.5},
    "d": {"distribution": "normal", "mean": 2.0, "cv": 0.15},      # sd = 0.3, truncation negligible
    "e": {"distribution": "normal", "sd": 1.0},                    # mean: the model's 0.5; heavily truncated
    "f": {"distribution": "list", "values": [0.1, 0.7, 0.3]},
}


def lognormal(mean, cv):
    return stats.lognorm(s=math.sqrt(math.log(1 + cv**2)), scale=mean / math.sqrt(1 + cv**2))


def gamma(mean, cv):
    return stats.gamma(a=1 / cv**2, scale=mean * cv**2)


def truncnorm(mean, sd):
    return stats.truncnorm(a=(0 - mean) / sd, b=np.inf, loc=mean, scale=sd)


@pytest.fixture(scope="module")
def draws(tmp_path_factory):
    path = tmp_path_factory.mktemp("var") / "draws.yaml"
    path.write_text(DRAWS)
    model = stochins.load_model(path)
    res = stochins.simulate(model, cells=N, t_end=0.0, samples=1, seed=2024, variability=SPEC)
    return model, res


def column(res, name):
    return res.parameters[:, res.parameter_names.index(name)]


# distribution -> (right law, law with a 5 % different mean)
LAWS = {
    "a": (lognormal(2.0, 0.3), lognormal(2.1, 0.3)),
    "b": (gamma(3.0, 0.3), gamma(3.15, 0.3)),
    "c": (stats.uniform(0.5, 1.0), stats.uniform(0.55, 1.0)),
    "d": (truncnorm(2.0, 0.3), truncnorm(2.1, 0.3)),
    # the power check of the truncation: the untruncated normal (31 % of its mass below 0)
    "e": (truncnorm(0.5, 1.0), stats.norm(0.5, 1.0)),
}


@pytest.mark.parametrize("name", sorted(LAWS))
def test_drawn_values_follow_the_requested_distribution(draws, name):
    _, res = draws
    x = column(res, name)
    assert x.shape == (N,) and np.isfinite(x).all() and (x >= 0).all()
    right, wrong = LAWS[name]
    assert stats.kstest(x, right.cdf).pvalue > P_MIN
    assert stats.kstest(x, wrong.cdf).pvalue < P_MIN


def test_moments_match_mean_and_cv(draws):
    _, res = draws
    for name, mean, cv in (("a", 2.0, 0.3), ("b", 3.0, 0.3)):
        x = column(res, name)
        # the sampling error of the mean is cv*mean/sqrt(N) (~0.4-0.7 %)
        assert abs(x.mean() - mean) < 4 * cv * mean / math.sqrt(N), name
        assert abs(x.std() / x.mean() - cv) < 0.05 * cv, name


def test_list_assigns_values_by_cell_index(draws):
    _, res = draws
    f = column(res, "f")
    np.testing.assert_array_equal(f, np.array([0.1, 0.7, 0.3])[np.arange(N) % 3])


def test_draws_of_different_names_are_independent(draws):
    _, res = draws
    names = ["a", "b", "c", "d", "e"]
    r = np.corrcoef(np.array([column(res, n) for n in names]))
    off = r[~np.eye(len(names), dtype=bool)]
    assert np.abs(off).max() < 4 / math.sqrt(N), r


def test_undrawn_quantities_keep_the_model_value(draws):
    _, res = draws
    assert res.parameter_names == sorted(SPEC)
    assert (res["X"][:, 0] == 100).all() and (res["Y"][:, 0] == 37).all() and (res["R"][:, 0] == 100).all()


# --------------------------------------------------------------------------- reproducibility

REPRO = {"g": {"distribution": "lognormal", "cv": 0.5}, "X": {"distribution": "gamma", "cv": 0.3},
         "cell_size": {"distribution": "uniform", "low": 0.5, "high": 2.0}}


def test_draws_do_not_depend_on_threads_blocks_or_cell_count(model_from_text):
    model = model_from_text(DRAWS)
    kw = dict(t_end=5.0, samples=6, seed=77, variability=REPRO)
    ref = stochins.simulate(model, cells=60, threads=1, **kw)
    assert ref.parameters.shape == (60, 3) and np.unique(ref.parameters[:, 0]).size == 60
    for threads, block in ((2, None), (2, 7), (1, 1), (2, 60)):
        other = stochins.simulate(model, cells=60, threads=threads, block_size=block, **kw)
        assert np.array_equal(other.parameters, ref.parameters), (threads, block)
        assert np.array_equal(other.trajectories, ref.trajectories), (threads, block)
    # a cell is the same whatever block it is in, and however many cells the run has
    fewer = stochins.simulate(model, cells=25, block_size=4, **kw)
    assert np.array_equal(fewer.parameters, ref.parameters[:25])
    assert np.array_equal(fewer.trajectories, ref.trajectories[:25])


def test_different_seeds_give_different_draws(model_from_text):
    model = model_from_text(DRAWS)
    kw = dict(cells=200, t_end=0.0, samples=1, variability=REPRO)
    one = stochins.simulate(model, seed=1, **kw).parameters
    two = stochins.simulate(model, seed=2, **kw).parameters
    again = stochins.simulate(model, seed=1, **kw).parameters
    assert np.array_equal(one, again)
    assert not np.isclose(one, two).any()
    # ... and the two seeds' draws are samples of the same law (two-sample KS)
    for v in range(one.shape[1]):
        assert stats.ks_2samp(one[:, v], two[:, v]).pvalue > P_MIN


# --------------------------------------------------------------------------- initial counts


def test_drawn_initial_counts_are_rounded_and_are_the_t0_state(model_from_text):
    model = model_from_text(DRAWS)
    spec = {"X": {"distribution": "lognormal", "mean": 20.0, "cv": 0.8},
            "Y": {"distribution": "normal", "mean": 2.0, "sd": 5.0},   # truncated at 0: many counts round to 0-2
            "level": {"distribution": "gamma", "cv": 0.4}}             # R's initial count is 100 * level
    res = stochins.simulate(model, cells=3000, t_end=1.0, samples=2, seed=5, variability=spec)
    assert res.trajectories.dtype == np.int32 and res.trajectories.min() >= 0
    for sp in ("X", "Y"):
        drawn = column(res, sp)
        assert not np.array_equal(drawn, np.round(drawn))  # what was drawn is recorded unrounded ...
        np.testing.assert_array_equal(res[sp][:, 0], np.floor(drawn + 0.5))  # ... and starts the cell rounded
    assert (res["Y"][:, 0] == 0).sum() > 100
    np.testing.assert_array_equal(res["R"][:, 0], np.floor(100 * column(res, "level") + 0.5))
    # the drawn counts follow the law they were drawn from (rounding moves a count by at most 1/2)
    x0 = res["X"][:, 0].astype(float)
    assert abs(x0.mean() - 20.0) < 4 * 0.8 * 20.0 / math.sqrt(3000)


# --------------------------------------------------------------------------- cell size


def test_initial_counts_scale_with_the_cell_size(model_from_text):
    model = model_from_text(DRAWS)
    res = stochins.simulate(model, cells=2000, t_end=0.0, samples=1, seed=9,
                            variability={"cell_size": {"distribution": "lognormal", "cv": 0.4}})
    size = column(res, "cell_size")
    assert stats.kstest(size, lognormal(1.0, 0.4).cdf).pvalue > P_MIN
    for sp, default in (("X", 100), ("Y", 37), ("R", 100)):
        np.testing.assert_array_equal(res[sp][:, 0], np.floor(default * size + 0.5))


SIZE_INVARIANT = """
name: size_invariant
species: {A: 1000, B: 0, C: 200, D: 0, E: 500}
parameters: {k0: 30.0, k2: 0.002, kr: 0.3, k1: 0.4, km: 0.2, vmax: 40.0, K: 300.0, kb: 0.001}
reactions:
  make: {equation: "0 -> C", rate: k0}                          # order 0: scales with the size
  dimerise: {equation: "2 A <-> B", rate: [k2, kr]}              # order 2 forward, 1 back
  iso: {equation: "C <-> D", rate: [k1, km]}                     # order 1
  bind: {equation: "A + C -> D", rate: kb}                      # order 2, heterodimer
  enzyme: {equation: "E -> A", propensity: "vmax * E / (K + E)"} # full propensity: Omega * a(x / Omega)
"""
SPECIES = ["A", "B", "C", "D", "E"]


def test_concentrations_of_the_ode_do_not_depend_on_cell_size(model_from_text):
    model = model_from_text(SIZE_INVARIANT)
    kw = dict(t_end=20.0, samples=41, method="ode")
    ref = stochins.simulate(model, cells=1, **kw).trajectories[0]
    assert ref[-1, 1] > 50 and ref[-1, 3] > 50  # every reaction did something
    sizes = [0.5, 1.0, 2.0, 3.7, 10.0]  # every initial count times these sizes is a whole number
    res = stochins.simulate(model, cells=len(sizes), variability={"cell_size": {"distribution": "list",
                                                                             "values": sizes}}, **kw)
    for c, size in enumerate(sizes):
        np.testing.assert_allclose(res.trajectories[c] / size, ref, rtol=1e-5, atol=1e-6 * ref.max())
    # a size whose counts must be rounded: equal up to that rounding (at most 0.5 molecule in ~200)
    odd = stochins.simulate(model, cells=1, variability={"cell_size": {"distribution": "list",
                                                                      "values": [1.2345]}}, **kw)
    np.testing.assert_allclose(odd.trajectories[0] / 1.2345, ref, rtol=5e-3, atol=5e-3 * ref.max())
    # power: scaling the counts without the cell size (rates not rescaled) changes the concentrations
    counts = {sp: {"distribution": "list", "values": [3.7 * v]} for sp, v in (("A", 1000), ("C", 200), ("E", 500))}
    plain = stochins.simulate(model, cells=1, variability=counts, **kw).trajectories[0] / 3.7
    assert np.abs(plain - ref).max() > 0.2 * ref.max()


MIXED_ORDER = """
name: mixed_order
species: {A: 10, B: 0}
parameters: {k0: 4.0, g: 0.1, k2: 0.1}
reactions:
  make: {equation: "0 -> A", rate: k0}
  decay: {equation: "A -> 0", rate: g}
  dimerise: {equation: "2 A -> B", rate: k2}
"""


def mixed_order_law(a0: int, k0: float, g: float, k2: float, times, n_max: int = 120) -> np.ndarray:
    """Exact P(A = a, t), a = 0..n_max, of 0 -> A (k0), A -> 0 (g A), 2A -> B (k2 A (A-1) / 2)."""
    a = np.arange(n_max + 1)
    q = np.zeros((n_max + 1, n_max + 1))
    up, down1, down2 = np.full(n_max + 1, k0), g * a, k2 * a * (a - 1) / 2
    up[-1] = 0.0  # truncation far in the tail (checked below: no mass reaches it)
    for i in a:
        q[i, i] = -(up[i] + down1[i] + down2[i])
        if i < n_max:
            q[i + 1, i] = up[i]
        if i >= 1:
            q[i - 1, i] = down1[i]
        if i >= 2:
            q[i - 2, i] = down2[i]
    p0 = np.zeros(n_max + 1)
    p0[a0] = 1.0
    law = np.array([linalg.expm(q * t) @ p0 for t in times])
    assert law[:, -10:].sum(axis=1).max() < 1e-12
    return law


def test_ssa_with_cell_sizes_follows_the_master_equation_of_the_rescaled_network(model_from_text):
    # in a cell of size s: A(0) = 10 s, birth k0 s, decay g, dimerisation k2 / s (Omega^(1-n))
    model = model_from_text(MIXED_ORDER)
    sizes = [0.5, 1.0, 2.0]
    res = stochins.simulate(model, cells=15000, t_end=10.0, samples=6, seed=13,
                            variability={"cell_size": {"distribution": "list", "values": sizes}})
    a = res["A"]
    check = [1, 2, 5]  # t = 2, 4, 10
    for i, s in enumerate(sizes):
        cells = np.arange(res.trajectories.shape[0]) % 3 == i
        assert (column(res, "cell_size")[cells] == s).all()
        law = mixed_order_law(round(10 * s), 4.0 * s, 0.1, 0.1 / s, res.time[check])
        for j, ti in enumerate(check):
            assert chi2_pvalue(a[cells, ti], law[j]) > P_MIN, (s, res.time[ti])
        if s == 2.0:
            # power: without the Omega^-1 of the second-order reaction, the law is far off
            wrong = mixed_order_law(20, 8.0, 0.1, 0.1, res.time[check])
            assert chi2_pvalue(a[cells, check[-1]], wrong[-1]) < P_MIN
            # ... and so is a zeroth-order reaction without its factor Omega
            wrong = mixed_order_law(20, 4.0, 0.1, 0.05, res.time[check])
            assert chi2_pvalue(a[cells, check[-1]], wrong[-1]) < P_MIN


def test_mean_concentration_with_continuous_cell_sizes(model_from_text):
    # X | size ~ Poisson(size * m(t)), m(t) = k/g (1 - exp(-g t)): the mean of X / size over cells of
    # lognormal sizes is m(t), the size-1 mean, within its sampling error; and sum X ~ Poisson(m sum size)
    model = model_from_text(IMMIGRATION_DEATH)
    res = stochins.simulate(model, cells=8000, t_end=8.0, samples=5, seed=17,
                            variability={"cell_size": {"distribution": "lognormal", "cv": 0.5}})
    size = column(res, "cell_size")
    m = 40.0 * (1 - np.exp(-0.5 * res.time[1:]))
    x = res["X"][:, 1:].astype(float)
    conc = x / size[:, None]
    z = (conc.mean(0) - m) / (conc.std(0, ddof=1) / math.sqrt(x.shape[0]))
    assert np.abs(z).max() < 4, z
    expected = m * size.sum()
    z_sum = (x.sum(0) - expected) / np.sqrt(expected)
    assert np.abs(z_sum).max() < 4, z_sum
    # power: had the immigration not been scaled by the size, X / size would average m * E[1/size]
    assert np.abs((conc.mean(0) - m * np.mean(1 / size)) / (conc.std(0, ddof=1) / math.sqrt(x.shape[0]))).min() > 10


def test_a_cell_size_of_zero_is_an_error(model_from_text):
    model = model_from_text(IMMIGRATION_DEATH)
    with pytest.raises(stochins.ArgumentError, match=r"variability.cell_size") as err:
        stochins.simulate(model, cells=4, t_end=1.0, samples=2, seed=1,
                          variability={"cell_size": {"distribution": "list", "values": [1.0, 0.0]}})
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- recorded parameters


def test_result_records_the_drawn_values(model_from_text):
    model = model_from_text(DRAWS)
    none = stochins.simulate(model, cells=3, t_end=1.0, samples=2, seed=1)
    assert none.parameter_names == [] and none.parameters.shape == (3, 0)
    res = stochins.simulate(model, cells=30, t_end=1.0, samples=2, seed=1, variability=REPRO)
    assert res.parameter_names == ["X", "cell_size", "g"]  # canonical (sorted) order
    assert res.parameters.shape == (30, 3) and res.parameters.dtype == np.float64
    size = column(res, "cell_size")
    assert ((size >= 0.5) & (size <= 2.0)).all()
    # a drawn count is scaled by the cell size too (rounded: today once before and once after the scaling)
    assert (np.abs(res["X"][:, 0] - column(res, "X") * size) <= 0.5 + 0.5 * size + 1e-9).all()


RUN = """
model: model.yaml
cells: 120
seed: 31
time: {start: 0, end: 2, samples: 3}
block_size: 50
variability:
  g: {distribution: lognormal, cv: 0.5}
  X: {distribution: gamma, cv: 0.3}
  cell_size: {distribution: uniform, low: 0.5, high: 2.0}
"""


def test_run_file_stores_the_drawn_values_per_cell(tmp_path):
    (tmp_path / "model.yaml").write_text(DRAWS)
    (tmp_path / "run.yaml").write_text(RUN)
    out = stochins.run(tmp_path / "run.yaml", output=tmp_path / "out.h5", progress=False)
    res = stochins.simulate(tmp_path / "model.yaml", cells=120, t_end=2.0, samples=3, seed=31, variability=REPRO)
    cond = stochins.open_results(out)["default"]
    assert cond.parameter_names == res.parameter_names == ["X", "cell_size", "g"]
    assert np.array_equal(cond.parameters, res.parameters)
    assert np.array_equal(cond.trajectories, res.trajectories)
    with h5py.File(out, "r") as f:
        p = f["conditions/default/parameters"]
        assert p.shape == (120, 3) and p.dtype == np.float64
        assert [s.decode() if isinstance(s, bytes) else s for s in f["conditions/default/parameter"][...]] \
            == ["X", "cell_size", "g"]


# --------------------------------------------------------------------------- bad specifications

BAD = [
    ({"nope": {"distribution": "lognormal", "cv": 0.2}}, "variability.nope: not a parameter or species"),
    ({"a": {"distribution": "lognormal"}}, "variability.a: lognormal needs 'cv'"),
    ({"a": {"distribution": "gamma"}}, "variability.a: gamma needs 'cv'"),
    ({"a": {"distribution": "lognormal", "cv": -0.1}}, "variability.a.cv"),
    ({"a": {"distribution": "gamma", "cv": -1}}, "variability.a.cv"),
    ({"a": {"distribution": "lognormal", "cv": 0.2, "mean": -1}}, "variability.a.mean"),
    ({"a": {"distribution": "uniform", "low": 2, "high": 1}}, "variability.a: uniform needs 0 <= low <= high"),
    ({"a": {"distribution": "uniform", "low": -1, "high": 1}}, "variability.a: uniform needs 0 <= low <= high"),
    ({"a": {"distribution": "uniform", "low": 1}}, "variability.a: uniform needs 'high'"),
    ({"a": {"distribution": "weibull", "cv": 0.2}}, "variability.a: expected {distribution:"),
    ({"a": {"cv": 0.2}}, "variability.a: expected {distribution:"),
    ({"a": 0.2}, "variability.a: expected {distribution:"),
    ({"a": {"distribution": "lognormal", "cv": 0.2, "sd": 1}}, "variability.a.sd: unknown key for lognormal"),
    ({"a": {"distribution": "uniform", "low": 0, "high": 1, "mean": 1}}, "variability.a.mean: unknown key"),
    ({"a": {"distribution": "normal", "sd": 1, "cv": 0.2}}, "variability.a: normal needs exactly one"),
    ({"a": {"distribution": "normal"}}, "variability.a: normal needs exactly one"),
    ({"a": {"distribution": "normal", "sd": -1}}, "variability.a"),
    ({"a": {"distribution": "lognormal", "cv": "big"}}, "variability.a.cv: expected a finite number"),
    ({"a": {"distribution": "lognormal", "cv": float("nan")}}, "variability.a.cv: expected a finite number"),
    ({"a": {"distribution": "list", "values": []}}, "variability.a.values"),
    ({"a": {"distribution": "list", "values": [1, -2]}}, "variability.a.values"),
    ({"X": {"distribution": "list", "values": "12"}}, "variability.X.values"),
]


@pytest.mark.parametrize("spec,match", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_specs_are_one_line_argument_errors(model_from_text, spec, match):
    model = model_from_text(DRAWS)
    with pytest.raises(stochins.ArgumentError) as err:
        stochins.simulate(model, cells=2, t_end=1.0, samples=2, seed=1, variability=spec)
    msg = str(err.value)
    assert match in msg, msg
    assert "\n" not in msg
