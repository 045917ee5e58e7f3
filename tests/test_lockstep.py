"""The lockstep method (engine/lockstep.py): its generated lane code against a naive reference, its law
against exact answers and against ``direct``, its failure codes, and its bits across lanes, threads and
blocks; a model with events is refused before any output exists.

One model serves every test (each model structure costs a compile): gene expression with a Hill term of
an input, dimerisation and negative feedback, an independent pure death to
extinction, a clamped and a piecewise propensity, and three reactions that are silent at their
default parameters and make a cell fail when switched on (a count below zero, a negative propensity,
a count above int32).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from scipy import stats

import stochins
from stats_helpers import P_MIN
from stochins.compile import python_model
from stochins.engine import common
from stochins.engine.methods import METHODS
from stochins.engine.rng import seed_streams
from stochins.errors import SimulationError
from stochins.simulation import Plan

MODEL = """
name: lockstep_test
species: {gene: 1, gene_off: 0, mrna: 0, prot: 0, dimer: 0, Z: 12, A: 3, B: 0, C: c0}
parameters: {k_tx: 10.0, d_m: 1.0, k_tl: 4.0, d_p: 0.2, k_on: 0.004, k_off: 0.5, k_rep: 0.02, k_act: 0.3,
             g_z: 0.3, k_cl: 0.05, k_pw: 0.4, k_neg: 0.0, k_bad: 0.0, k_c: 0.0, c0: 0}
inputs: {signal: 1.0}
reactions:
  transcription: {equation: "gene -> gene + mrna", propensity: "k_tx * gene * signal^2 / (1 + signal^2)"}
  translation: {equation: "mrna -> mrna + prot", rate: k_tl}
  mrna_loss: {equation: "mrna -> 0", rate: d_m}
  prot_loss: {equation: "prot -> 0", rate: d_p}
  pairing: {equation: "2 prot <-> dimer", rate: [k_on, k_off]}
  silencing: {equation: "gene + dimer <-> gene_off", rate: [k_rep, k_act]}
  clear: {equation: "dimer -> 0", propensity: "max(k_cl * (dimer - 3), 0)"}
  boost: {equation: "gene -> gene + prot", propensity: "k_pw * gene if mrna > 4 else 0.0"}
  extinct: {equation: "Z -> 0", rate: g_z}
  leak: {equation: "A -> 0", propensity: "k_neg"}
  fill: {equation: "0 -> B", propensity: "k_bad * (2.5 - B)"}
  grow: {equation: "0 -> C", rate: k_c}
"""
CELLS = 3000
TIMES = (1.5, 4.0, 10.0)  # transient, during the input's switch, late
SPECIES = ("mrna", "prot", "dimer", "gene_off")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "lockstep_test.yaml"
    path.write_text(MODEL, encoding="utf-8")
    return stochins.load_model(path)


def run(model, method="lockstep", cells=CELLS, seed=2, lanes=None, **kw):
    kw.setdefault("inputs", {"signal": [[0.0, 1.0], [3.7, 4.0]]})
    options = {"lockstep": {"lanes": lanes}} if lanes else None
    return stochins.simulate(model, cells=cells, t_end=10.0, samples=21, seed=seed, method=method, options=options,
                             **kw)


# ---------------------------------------------------------------------- the generated lane code
def lanes_of(model, rng, W):
    """Random lanes: counts 0..30 (some zero), the parameters (some scaled), inputs; F as the engine lays it out."""
    py = python_model(model)
    S, NP = len(model.species), len(model.parameters) + 2 + model.n_derived
    x = rng.integers(0, 31, size=(W, S)) * (rng.random((W, S)) > 0.2)
    p = np.repeat(model.parameter_vector({"k_bad": 0.0})[None, :], W, axis=0)
    p[:, : len(model.parameters)] *= rng.uniform(0.5, 2.0, size=(W, len(model.parameters)))
    py["derive"](p)
    u = rng.uniform(0.1, 5.0, size=(W, len(model.inputs)))
    F = np.zeros((py["LANE_SLOTS"] + 3) * W)
    for w in range(W):
        F[np.arange(S) * W + w] = x[w]
        F[(py["LANE_PARAMETERS"] + np.arange(NP)) * W + w] = p[w]
        F[(py["LANE_INPUTS"] + np.arange(u.shape[1])) * W + w] = u[w]
    return py, F, x, p, u


@pytest.mark.parametrize("W", [3, 8])  # the lane counts the other tests compile anyway
def test_lane_code_matches_a_naive_reference(model, W):
    """lane_sums and lane_fire, plain Python and compiled, against the scalar propensities, a sequential
    running sum and a linear search, on random states, parameters, inputs and targets."""
    rng = np.random.default_rng(W)
    M = len(model.reactions)
    for trial in range(20):
        py, F, x, p, u = lanes_of(model, rng, W)
        a = np.empty((W, M))
        for w in range(W):
            py["propensities"](x[w].tolist(), p[w].tolist(), u[w].tolist(), a[w])
        sums = np.cumsum(a, axis=1)
        F2 = F.copy()
        py["lane_sums"](F, (0,) * W)
        model.module.lane_sums(F2, (0,) * W)
        assert np.array_equal(F, F2)  # the vectorised code has the plain code's bits
        got = F[(py["LANE_A0"] - M + np.arange(M))[None, :] * W + np.arange(W)[:, None]]
        np.testing.assert_allclose(got, sums, rtol=1e-13, atol=0)
        assert (np.diff(got, axis=1) >= 0).all()  # non-decreasing: compare-and-count is exact
        assert np.array_equal(F[py["LANE_A0"] * W + np.arange(W)], got[:, -1])
        assert np.array_equal(F[py["LANE_LOWEST"] * W + np.arange(W)], a.min(axis=1))
        # targets inside a channel's interval (none on a boundary), and +inf for a lane that does not fire
        target = rng.random(W) * got[:, -1]
        target[rng.random(W) < 0.2] = np.inf
        F[py["LANE_TARGET"] * W + np.arange(W)] = target
        F2 = F.copy()
        negative = py["lane_fire"](F, (0,) * W)
        assert model.module.lane_fire(F2, (0,) * W) == negative
        assert np.array_equal(F, F2)
        expect = x.astype(float)
        for w in range(W):
            if np.isfinite(target[w]):
                expect[w] += model.change[int(np.searchsorted(got[w], target[w], side="left"))]
        assert np.array_equal(F[np.arange(x.shape[1])[None, :] * W + np.arange(W)[:, None]], expect)
        assert negative == (expect < 0).sum()


# ---------------------------------------------------------------------- law
def test_pure_death_to_extinction_is_binomial(model):
    """Z -> 0 from 12 is Binomial(12, exp(-g t)) at every time: the a0 = 0 path, cells of unequal length."""
    res = run(model, record=["Z"], inputs={"signal": 1.0})
    z = res["Z"]
    for i, t in enumerate(res.time[1:], start=1):
        q = np.exp(-0.3 * t)
        pmf = stats.binom.pmf(np.arange(13), 12, q)
        obs = np.bincount(z[:, i], minlength=13)
        keep = pmf * z.shape[0] >= 5
        o = np.append(obs[keep], obs[~keep].sum())
        e = np.append(pmf[keep], pmf[~keep].sum()) * z.shape[0]
        e, o = (e[:-1], o[:-1]) if e[-1] == 0 else (e, o)
        assert stats.chisquare(o, e).pvalue > P_MIN, t


@pytest.fixture(scope="module")
def reference(model):
    return run(model, method="direct", seed=1, record=list(SPECIES))


def smallest_p(a, b) -> float:
    """The smallest two-sample KS p-value over the species and times (a Bonferroni bar: P_MIN for each)."""
    idx = [int(np.argmin(np.abs(a.time - t))) for t in TIMES]
    return min(stats.ks_2samp(a[s][:, i], b[s][:, i]).pvalue for s in SPECIES for i in idx)


def test_lockstep_agrees_with_direct_in_law(model, reference):
    res = run(model, record=list(SPECIES))
    assert res.events.mean() > 200
    assert smallest_p(reference, res) > P_MIN


def test_agreement_test_rejects_a_channel_ten_percent_too_fast(model, reference):
    """Power: the same comparison with translation 10 % too fast in lockstep fails."""
    assert smallest_p(reference, run(model, record=list(SPECIES), model_parameters={"k_tl": 4.4})) < P_MIN


# ---------------------------------------------------------------------- bits
def test_bits_do_not_depend_on_lanes_threads_or_blocks(model):
    """A cell draws only from its own stream: 3 lanes or 8, 1 thread or 2, blocks of 7 or all cells."""
    base = run(model, cells=61, lanes=8, threads=1)
    for kw in ({"lanes": 3, "threads": 1}, {"lanes": 8, "threads": 2, "block_size": 7}):
        other = run(model, cells=61, **kw)
        assert np.array_equal(base.trajectories, other.trajectories), kw
        assert np.array_equal(base.events, other.events), kw
    assert np.array_equal(run(model, cells=20, lanes=8, threads=1).trajectories, base.trajectories[:20])


# ---------------------------------------------------------------------- failures
@pytest.mark.parametrize("parameters, code, what", [
    ({"k_neg": 2.0}, common.NEGATIVE_COUNT, "species 'A' went below zero"),
    ({"k_bad": 1.0}, common.BAD_PROPENSITY, "propensity of reaction 'fill'"),
])
def test_a_failing_cell_is_reported(model, parameters, code, what):
    with pytest.raises(SimulationError, match=what):
        run(model, cells=20, model_parameters=parameters)
    plan = Plan.create(model, t_end=10.0, samples=21, method="lockstep", seed=3, model_parameters=parameters)
    p, x0, _ = plan.cells(0, 20)
    status = np.zeros(20, dtype=np.int64)
    detail = np.zeros(20, dtype=np.int64)
    work = np.zeros((20, 1), dtype=np.int64)
    out = np.zeros((20, 21, len(model.species)), dtype=np.int32)
    rng = seed_streams(np.uint64(plan.seed), np.uint64(plan.condition), 0, 20)
    model.kernels("stochins.engine.lockstep").lockstep_block(
        x0, p, plan.schedule.times, plan.schedule.values, plan.time, model.species_index(model.species), rng, out,
        status, detail, work, np.array([8.0]), model.function_table(METHODS["lockstep"].model_functions))
    assert (status == code).all()
    culprit = model.species.index("A") if code == common.NEGATIVE_COUNT else model.reactions.index("fill")
    assert (detail == culprit).all()
    assert (work[:, 0] > 0).all()


def test_int32_overflow_is_reported_and_int64_records_it(model):
    big = {"c0": 2147483000, "k_c": 100.0}
    with pytest.raises(SimulationError, match="species 'C' exceeded the int32 range"):
        run(model, cells=10, model_parameters=big, record=["C"])
    plan = Plan.create(model, t_end=10.0, samples=21, method="lockstep", seed=3, model_parameters=big, record=["C"])
    plan.counts = "int64"
    c = plan.block(0, 200).trajectories[:, :, 0] - 2147483000
    assert c.dtype == np.int64
    mean = 100.0 * plan.time
    z = (c.mean(axis=0)[1:] - mean[1:]) / np.sqrt(mean[1:] / c.shape[0])  # Poisson(k_c t) exactly
    assert np.abs(z).max() < 4


def test_a_method_that_cannot_run_the_events_is_refused_before_any_output(tmp_path):
    """A method that declares it runs no events (``lockstep``) is refused by the run (and validate) with one
    line and exit 2 before the output file exists, so the corrected run file needs no --overwrite."""
    from stochins.cli import main

    (tmp_path / "model.yaml").write_text(textwrap.dedent("""
        name: decay_with_refill
        species: {A: 50}
        parameters: {k: 0.1}
        reactions:
          decay: {equation: "A -> 0", rate: k}
        events:
          refill: {trigger: "t >= 1", assign: {A: "A + 10"}}
        """), encoding="utf-8")
    run = tmp_path / "run.yaml"
    out = tmp_path / "out.h5"
    run.write_text(f"model: model.yaml\ncells: 2\nmethod: lockstep\ntime: {{end: 2, samples: 3}}\n"
                   f"output: {{path: {out}}}\n", encoding="utf-8")
    for verb in ("validate", "run"):
        assert main([verb, str(run)]) == 2
        assert not out.exists()
    with pytest.raises(stochins.ArgumentError, match="does not execute events"):
        stochins.simulate(str(tmp_path / "model.yaml"), cells=1, t_end=1, method="lockstep")
