"""Partitioned tau-leaping against exact answers and against the exact SSA."""

from __future__ import annotations

import numpy as np
import pytest

import stochins
from test_dsmts import DSMTS, read_reference

FORCED = {"exact_below": 0, "exact_firings": 0, "ssa_factor": 0}  # leap everything that is not critical
LEAPED, REJECTED = 1, 4


@pytest.mark.parametrize("case,options", [("00001", {}), ("00020", {}), ("00030", {}), ("00037", {}),
                                          ("00001", FORCED), ("00030", FORCED)],
                         ids=["00001", "00020", "00030", "00037", "00001-forced", "00030-forced"])
def test_dsmts_means_and_sds_within_two_percent(case, options):
    # the DSMTS guidance for approximate simulators: mean and SD ratios in [0.98, 1.02], judged
    # where copy numbers make leaping meaningful (reference mean >= 5; below that the ratio is
    # dominated by its own sampling error). 40,000 runs put the SD ratio's sampling error at 0.35 %,
    # so the 2 % band tests the method, not the luck of the draw.
    _, names, mean = read_reference(DSMTS / f"{case}-mean.csv")
    _, _, sd = read_reference(DSMTS / f"{case}-sd.csv")
    res = stochins.simulate(DSMTS / f"{case}.yaml", cells=40_000, t_end=50.0, samples=51, seed=3,
                            method="tau", tau=options, record=names)
    for k, name in enumerate(names):
        x = res[name].astype(float)
        ok = (sd[:, k] > 0) & (mean[:, k] >= 5)
        mean_ratio = x.mean(0)[ok] / mean[ok, k]
        sd_ratio = x.std(0)[ok] / sd[ok, k]
        assert 0.98 <= mean_ratio.min() and mean_ratio.max() <= 1.02, (name, mean_ratio.min(), mean_ratio.max())
        assert 0.98 <= sd_ratio.min() and sd_ratio.max() <= 1.02, (name, sd_ratio.min(), sd_ratio.max())
    if options is FORCED:
        assert res.work[:, LEAPED].sum() > 0.9 * res.events.sum()


def test_large_birth_death_is_leaped_and_exact_in_law(model_from_text):
    model = model_from_text("""
        name: bd_big
        species: {X: 10000}
        parameters: {Lambda: 0.1, Mu: 0.11}
        reactions:
          birth: {equation: "X -> 2 X", rate: Lambda}
          death: {equation: "X -> 0", rate: Mu}
    """)
    res = stochins.simulate(model, cells=10_000, t_end=50.0, samples=26, seed=3, method="tau")
    assert res.work[:, LEAPED].sum() > 0.99 * res.events.sum()
    g, t = -0.01, res.time[1:]
    mean = 1e4 * np.exp(g * t)
    sd = np.sqrt(1e4 * 0.21 / g * np.exp(g * t) * (np.exp(g * t) - 1))
    x = res["X"][:, 1:].astype(float)
    # explicit leaping has a first-order bias (here ~0.5 % after 25 leaps of 2 % relative change each)
    assert np.abs(x.mean(0) / mean - 1).max() < 0.01
    assert np.abs(x.std(0) / sd - 1).max() < 0.03


def test_never_negative_when_leaps_are_pushed_to_exhaust_a_species(model_from_text):
    # A few molecules of A consumed fast by a large B pool, with leaping forced and a huge epsilon:
    # leaps that would overdraw A must be rejected, never applied
    model = model_from_text("""
        name: drain
        species: {A: 30, B: 20000, C: 0}
        parameters: {k: 0.002, r: 5.0, d: 0.05}
        reactions:
          consume: {equation: "A + B -> C", rate: k}
          refill: {equation: "0 -> A", rate: r}
          decay: {equation: "B -> 0", rate: d}
    """)
    options = {**FORCED, "n_critical": 0, "epsilon": 0.5}
    res = stochins.simulate(model, cells=2000, t_end=5.0, samples=51, seed=17, method="tau", tau=options)
    assert res.trajectories.min() >= 0
    assert res.work[:, REJECTED].sum() > 0, "the test did not provoke a single negative leap"
    default = stochins.simulate(model, cells=2000, t_end=5.0, samples=51, seed=17, method="tau")
    assert default.trajectories.min() >= 0


def test_breakpoint_between_samples_is_exact(model_from_text):
    # immigration-death (leaped at these counts) whose rate switches 1 -> 3 at t = 12.3
    model = model_from_text("""
        name: switched
        species: {X: 0}
        parameters: {k: 1000.0, g: 0.5}
        inputs: {signal: 1.0}
        reactions:
          birth: {equation: "0 -> X", propensity: "k * signal"}
          death: {equation: "X -> 0", rate: g}
    """)
    res = stochins.simulate(model, cells=4000, t_end=20.0, samples=21, seed=7, method="tau",
                            inputs={"signal": [[0.0, 1.0], [12.3, 3.0]]})
    t = res.time
    m_switch = 2000 * (1 - np.exp(-0.5 * 12.3))
    mean = np.where(t < 12.3, 2000 * (1 - np.exp(-0.5 * t)),
                    m_switch * np.exp(-0.5 * (t - 12.3)) + 6000 * (1 - np.exp(-0.5 * (t - 12.3))))
    x = res["X"].astype(float)
    assert res.work[:, LEAPED].sum() > 0.5 * res.events.sum()
    # within the leaping accuracy (2 %) of the analytic mean at every time ...
    assert np.abs(x.mean(0)[1:] / mean[1:] - 1).max() < 0.02
    # ... while a switch applied at the next recording time (13) would be 40 % off at t = 13
    late = 2000 * (1 - np.exp(-0.5 * 13.0))
    assert abs(x[:, 13].mean() / late - 1) > 0.3


def test_same_bits_for_threads_and_blocks():
    kw = dict(cells=12, t_end=5.0, samples=11, seed=8, method="tau", inputs={"insulin": 100.0},
              model_parameters={"scale": 0.2})
    one = stochins.simulate("sedaghat2002", threads=1, **kw)
    two = stochins.simulate("sedaghat2002", threads=2, block_size=5, **kw)
    assert np.array_equal(one.trajectories, two.trajectories)
    assert np.array_equal(one.work, two.work)


def test_auto_chooses_by_expected_work(model_from_text):
    small = model_from_text("""
        name: small
        species: {X: 10}
        parameters: {k: 1.0, g: 0.1}
        reactions:
          birth: {equation: "0 -> X", rate: k}
          death: {equation: "X -> 0", rate: g}
    """)
    assert stochins.simulate(small, cells=5, t_end=10.0, samples=3, seed=1, method="auto").method == "ssa"
    big = stochins.simulate("sedaghat2002", cells=2, t_end=2.0, samples=3, seed=1, method="auto",
                            inputs={"insulin": 100.0})
    assert big.method == "tau"


@pytest.mark.parametrize("options,match", [({"epsilon": 0}, "epsilon"), ({"epsilon": 1.5}, "epsilon"),
                                           ({"n_critical": -1}, "n_critical"), ({"ssa_steps": 0}, "ssa_steps"),
                                           ({"bogus": 1}, "unknown option")])
def test_bad_options_are_rejected(options, match):
    with pytest.raises(stochins.ArgumentError, match=match):
        stochins.simulate("sedaghat2002", cells=1, t_end=1.0, samples=2, method="tau", tau=options)


def test_insulin_model_matches_the_exact_ssa_at_scale_01():
    # Reference: the exact SSA's mean and SD from 3,000 cells (tests/data/make_ssa_reference.py).
    # 2,000 leaped cells: the sampling error of the mean difference is < 0.5 % and of the SD ratio
    # ~2 %, well inside the bounds (means within 2 %, SDs within 10 % at every recorded time).
    path = DSMTS.parent / "sedaghat2002" / "ssa_scale0.1_pulse.csv"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    header = lines[0].split(",")
    ref = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    col = {h: ref[:, i] for i, h in enumerate(header)}
    species = ["IRS1_pY", "PIP3", "Akt_active", "GLUT4_surface"]
    res = stochins.simulate("sedaghat2002", cells=2000, t_end=25.0, samples=26, seed=61, method="tau",
                            inputs={"insulin": [[0.0, 100.0], [15.0, 0.0]]}, model_parameters={"scale": 0.1},
                            record=species)
    np.testing.assert_allclose(res.time, col["time"])
    for name in species:
        x = res[name][:, 1:].astype(float)
        mean, sd = col[f"{name}_mean"][1:], col[f"{name}_sd"][1:]
        assert np.abs(x.mean(0) / mean - 1).max() < 0.02, name
        assert np.abs(x.std(0, ddof=1) / sd - 1).max() < 0.10, name
    assert res.work[:, LEAPED].sum() > 0.5 * res.events.sum()
