"""The built-in Sedaghat 2002 models: published ODE time courses, basal state, SSA vs ODE, noise scaling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import stochins

REF = Path(__file__).parent / "data" / "sedaghat2002"
PULSE = {"insulin": [[0.0, 100.0], [15.0, 0.0]]}
# (species, Sedaghat variable, molecules per reference unit at scale 1); see tests/data/README.md
COLUMNS = [("IR_surface", "x2", 100), ("IR_ins1", "x3", 100), ("IR_ins2_p", "x4", 100), ("IR_ins1_p", "x5", 100),
           ("IR_internal", "x6", 100), ("IR_ins2_p_internal", "x7", 100), ("IR_ins1_p_internal", "x8", 100),
           ("IRS1", "x9", 100), ("IRS1_pY", "x10", 100), ("PI3K", "x11", 100), ("IRS1_PI3K", "x12", 100),
           ("PIP3", "x13", 1000), ("PIP2", "x14", 1000), ("PI34P2", "x15", 1000), ("Akt", "x16", 1000),
           ("Akt_active", "x17", 1000), ("PKCz", "x18", 1000), ("PKCz_active", "x19", 1000),
           ("GLUT4_internal", "x20", 1000), ("GLUT4_surface", "x21", 1000)]
READOUTS = ["IRS1_pY", "PIP3", "Akt_active", "GLUT4_surface"]


def reference(name: str) -> dict[str, np.ndarray]:
    lines = (REF / name).read_text().strip().splitlines()
    header = lines[0].split(",")
    data = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    return {h: data[:, i] for i, h in enumerate(header)}


def test_builtin_models_are_listed_with_descriptions():
    models = stochins.builtin_models()
    assert {"sedaghat2002", "sedaghat2002_feedback"} <= set(models)
    assert all(models[m] for m in ("sedaghat2002", "sedaghat2002_feedback"))
    species = stochins.load_model("sedaghat2002").declared_species
    assert species == [name for name, _, _ in COLUMNS]
    assert "IRS1_pS" in stochins.load_model("sedaghat2002_feedback").declared_species


@pytest.mark.parametrize("csv,params", [
    ("sedaghat2002_BIOMD137_asis_100nM_15min_pulse_timecourse.csv", {}),
    ("sedaghat2002_BIOMD137_k9minus_100nM_15min_pulse_timecourse.csv", {"k9_variant_sign": -1.0}),
])
def test_ode_reproduces_published_time_course(csv, params):
    ref = reference(csv)
    res = stochins.simulate("sedaghat2002", cells=1, t_end=60.0, samples=121, method="ode", inputs=PULSE,
                            model_parameters=params)
    np.testing.assert_allclose(res.time, ref["time"])
    for name, var, unit in COLUMNS:
        expected = ref[var] * unit
        pool = 100_000 if unit == 1000 else np.abs(expected).max()
        size = max(np.abs(expected).max(), pool if name.startswith(("GLUT4", "PI", "Akt", "PKC")) else 0)
        err = np.abs(res[name][0] - expected).max() / size
        assert err < 1e-3, (name, err)


@pytest.mark.parametrize("model", ["sedaghat2002", "sedaghat2002_feedback"])
def test_basal_state_without_insulin(model):
    ode = stochins.simulate(model, cells=1, t_end=60.0, samples=7, method="ode", inputs={"insulin": 0.0})
    end = {s: ode[s][0, -1] for s in ode.species}
    assert abs(end["IR_surface"] - 90_000) < 0.001 * 90_000
    assert abs(end["PIP3"] - 310) < 1
    assert end["Akt_active"] < 1
    assert abs(end["GLUT4_surface"] - 4000) < 5
    # Stochastic cells at scale 1 stay near the basal state. Not exactly: PIP3 fluctuates around its
    # basal 310 molecules and the Akt/PKC activation rates are clamped at zero below basal, so noise
    # activates a few Akt molecules (about 25 of 100,000) and surface GLUT4 creeps up by a few %.
    ssa = stochins.simulate(model, cells=40, t_end=30.0, samples=4, seed=4, inputs={"insulin": 0.0})
    for name, basal, tol in [("IR_surface", 90_000, 100), ("PIP3", 310, 10), ("GLUT4_surface", 4000, 300)]:
        assert abs(ssa[name][:, -1].mean() - basal) < tol, name
    assert ssa["Akt_active"][:, -1].mean() < 100


@pytest.fixture(scope="module")
def pulse_scale_01():
    ode = stochins.simulate("sedaghat2002", cells=1, t_end=30.0, samples=31, method="ode", inputs=PULSE,
                            model_parameters={"scale": 0.1})
    ssa = stochins.simulate("sedaghat2002", cells=120, t_end=30.0, samples=31, seed=2002, inputs=PULSE,
                            model_parameters={"scale": 0.1})
    return ode, ssa


def test_ssa_mean_follows_the_ode_at_scale_01(pulse_scale_01):
    # the SSA mean differs from the ODE by sampling error plus an O(1/N) discreteness bias; we allow
    # 5 standard errors plus 1 % of the species' peak for the latter
    ode, ssa = pulse_scale_01
    for name in READOUTS:
        x = ssa[name].astype(float)
        se = x.std(0, ddof=1) / np.sqrt(x.shape[0])
        allowance = 5 * se + 0.01 * ode[name][0].max()
        excess = np.abs(x.mean(0) - ode[name][0]) - allowance
        assert (excess <= 0).all(), (name, ode.time[excess > 0])


def test_insulin_pulse_activates_then_washes_out(pulse_scale_01):
    _, ssa = pulse_scale_01
    t = ssa.time
    akt = ssa["Akt_active"].mean(0)
    glut4 = ssa["GLUT4_surface"].mean(0)
    # published time course: Akt peaks near 2.6 min and falls to ~23 % of its peak 15 min after washout
    assert akt[t == 3].item() > 50 * max(akt[0], 1) and akt[-1] < 0.3 * akt.max()
    assert glut4[t == 15].item() > 5 * glut4[0] and glut4[-1] < 0.7 * glut4.max()


def test_fluctuations_shrink_like_inverse_sqrt_scale():
    cvs = {}
    for scale in (0.005, 0.05):
        res = stochins.simulate("sedaghat2002", cells=400, t_end=10.0, samples=2, seed=7,
                                inputs={"insulin": 100.0}, model_parameters={"scale": scale})
        x = res["Akt_active"][:, -1].astype(float)
        cvs[scale] = x.std(ddof=1) / x.mean()
    ratio = cvs[0.005] / cvs[0.05]
    # expected sqrt(10) = 3.16; the sampling error of a CV ratio at n = 400 is ~5 %
    assert 3.16 * 0.8 < ratio < 3.16 * 1.2, ratio


def test_feedback_damps_the_response():
    kw = dict(cells=1, t_end=30.0, samples=61, method="ode", inputs={"insulin": 100.0})
    # the same k9 rule as the feedback model's default (the published CellML one), so only the feedback differs
    plain = stochins.simulate("sedaghat2002", model_parameters={"k9_variant_sign": -1.0, "PI3K_norm": 254.57}, **kw)
    fb = stochins.simulate("sedaghat2002_feedback", **kw)
    assert fb["Akt_active"].max() < 0.98 * plain["Akt_active"].max()
    assert fb["IRS1_pY"].max() < 0.98 * plain["IRS1_pY"].max()
    assert fb["IRS1_pS"].max() > 0
    ssa = stochins.simulate("sedaghat2002_feedback", cells=100, t_end=30.0, samples=61, seed=3,
                            inputs={"insulin": 100.0}, model_parameters={"scale": 0.02})
    assert ssa["Akt_active"].mean(0)[-1] < plain["Akt_active"][0, -1] * 0.02


def test_phosphatases_damp_signalling():
    kw = dict(cells=1, t_end=15.0, samples=31, method="ode", inputs={"insulin": 1.0})
    base = stochins.simulate("sedaghat2002", **kw)["Akt_active"].max()
    # SHIP only shifts PIP3 into PI(3,4)P2, which k10 turns back into PIP3: its effect is weak
    for param, level, most in (("PTP", 2.0, 0.6), ("PTEN", 2.0, 0.6), ("PP2A", 2.0, 0.6), ("SHIP", 5.0, 0.95)):
        raised = stochins.simulate("sedaghat2002", model_parameters={param: level}, **kw)["Akt_active"].max()
        assert raised < most * base, param


def test_same_cells_for_one_and_two_threads():
    kw = dict(cells=16, t_end=5.0, samples=11, seed=99, inputs=PULSE, model_parameters={"scale": 0.01})
    one = stochins.simulate("sedaghat2002", threads=1, **kw).trajectories
    two = stochins.simulate("sedaghat2002", threads=2, block_size=5, **kw).trajectories
    assert np.array_equal(one, two)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gillespy2's expression printer uses ast.visit_Num
def test_ssa_agrees_with_gillespy2_on_the_exported_model():
    """Our SSA vs gillespy2's SSACSolver on the exported model, constant insulin (1 nM, scale 0.01).

    Per cell we average each readout over t = 2..10 min (81 samples): Akt and PIP3 decorrelate in
    seconds, so the time average is far less noisy than one time point and 1,000 cells per simulator
    resolve a 2 % difference in any of the four means (|z| > 4; the smallest detectable difference is
    printed in the assertion). Variances of single time points are compared with an F bound.
    """
    gillespy2 = pytest.importorskip("gillespy2")
    from scipy import stats

    from stochins.models.gillespy2_interop import solver_environment, to_gillespy2

    n, kw = 1000, dict(t_end=10.0, samples=81)
    params, inputs = {"scale": 0.01}, {"insulin": 1.0}
    ours = stochins.simulate("sedaghat2002", cells=n, seed=12, inputs=inputs, model_parameters=params, **kw)
    gmodel = to_gillespy2("sedaghat2002", inputs=inputs, model_parameters=params, integer_comparisons=True, **kw)
    with solver_environment():
        solver = gillespy2.SSACSolver(model=gmodel)
    theirs = solver.run(number_of_trajectories=n, seed=12)
    window = ours.time >= 2.0
    for name in READOUTS:
        a = ours[name][:, window].astype(float)
        b = np.array([np.asarray(traj[name])[window] for traj in theirs], dtype=float)
        ma, mb = a.mean(1), b.mean(1)  # per-cell time averages
        se = np.sqrt(ma.var(ddof=1) / n + mb.var(ddof=1) / n)
        z = (ma.mean() - mb.mean()) / se
        assert abs(z) < 4 and 4 * se < 0.02 * mb.mean(), (name, z, 4 * se / mb.mean())
        # variances at the last time point: two-sided F test at alpha = 1e-3
        ratio = a[:, -1].var(ddof=1) / b[:, -1].var(ddof=1)
        lo, hi = stats.f.ppf([5e-4, 1 - 5e-4], n - 1, n - 1)
        assert lo < ratio < hi, (name, ratio)
