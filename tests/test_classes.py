"""Response classes on synthetic files with known laws: fractions, bimodality, response times."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stochins.analysis import (AnalysisError, bimodality, cell_response_times, fraction_responding,
                               response_times)
from synthetic import write_file

TIME = np.linspace(0.0, 60.0, 13)
DOSES = [0.0, 1.0, 10.0]
FRACTIONS = [0.0, 0.3, 0.8]       # cells switched on at each dose (all-or-none)


def block(c, first, n):
    """Species A: off cells ~ Poisson(20), on cells ~ Poisson(400) (at every time after 0);
    species B: graded, Poisson(50 (1 + c)). Species C rises as 100 (1 - exp(-t / tau)) with a per-cell tau."""
    rng = np.random.default_rng([c, first])
    on = rng.random(n) < FRACTIONS[c]
    traj = np.empty((n, TIME.size, 3), dtype=np.int32)
    traj[:, :, 0] = rng.poisson(np.where(on, 400.0, 20.0)[:, None], size=(n, TIME.size))
    traj[:, :, 1] = rng.poisson(50.0 * (1 + c), size=(n, TIME.size))
    tau = rng.uniform(5, 20, n)[:, None]
    traj[:, :, 2] = np.round(1000 * (1 - np.exp(-TIME[None, :] / tau)) * np.exp(-TIME[None, :] / 100))
    return traj, None


@pytest.fixture(scope="module")
def classes_file(tmp_path_factory):
    return write_file(tmp_path_factory.mktemp("classes") / "c.h5", TIME, ["A", "B", "C"],
                      [{"inputs.insulin.dose": d} for d in DOSES], block, cells=4000)


def test_fraction_responding_against_the_unstimulated_distribution(classes_file):
    rows = fraction_responding(classes_file, "A", 60.0)
    # threshold: the 95th percentile of Poisson(20) (= 28); off cells exceed it with probability P(X > 28)
    assert rows[0].threshold == stats.poisson(20).ppf(0.95)
    tail = stats.poisson(20).sf(rows[0].threshold)
    for row, f in zip(rows, FRACTIONS):
        expected = f + (1 - f) * tail
        assert row.cells == 4000 and row.ci[0] <= expected <= row.ci[1], (row, expected)
    # power: a 3-point error in the switched-on share is outside the interval
    assert not rows[1].ci[0] <= 0.33 + 0.67 * tail <= rows[1].ci[1]
    fixed = fraction_responding(classes_file, "A", 60.0, threshold=100.0)
    assert fixed[0].responding == 0 and fixed[2].ci[0] <= 0.8 <= fixed[2].ci[1]


def test_bimodality_separates_all_or_none_from_graded(classes_file):
    a = bimodality(classes_file, "A", 60.0)
    assert [b.all_or_none for b in a] == [False, True, True]
    assert a[1].weights[1] == pytest.approx(0.3, abs=0.03) and a[2].weights[1] == pytest.approx(0.8, abs=0.03)
    assert math.exp(a[1].means[1]) - 1 == pytest.approx(400, rel=0.05)
    b = bimodality(classes_file, "B", 60.0)
    assert not any(x.all_or_none for x in b)     # unimodal Poisson, skewed in log scale: D stays < 2


def test_cell_response_times_equal_a_naive_loop():
    rng = np.random.default_rng(4)
    t = np.linspace(0, 10, 11)
    x = rng.integers(0, 20, size=(300, t.size)).astype(float)
    x[:5] = 3.0                                    # flat cells: no response
    half, peak = cell_response_times(x, t)
    for i in range(x.shape[0]):
        row = x[i]
        top = row.max()
        if top == row[0]:
            assert math.isnan(half[i]) and math.isnan(peak[i])
            continue
        assert peak[i] == t[np.argmax(row)]
        h = row[0] + (top - row[0]) / 2
        j = next(j for j in range(t.size) if row[j] >= h)
        expect = t[j - 1] + (h - row[j - 1]) / (row[j] - row[j - 1]) * (t[j] - t[j - 1])
        assert half[i] == pytest.approx(expect)


def test_response_times_of_a_known_rise(classes_file):
    rows = response_times(classes_file, "C")
    r = rows[0]
    assert r.cells == 4000 and r.responding == 4000
    # x = 1000 (1 - e^{-t/tau}) e^{-t/100} peaks at t* = tau ln(1 + 100/tau) (on the 5-min grid: the sample
    # nearest); the true time to half of the peak, solved on a fine grid, against the sampled estimate
    # (linear interpolation on a concave rise: within a minute; time bins of 1.25 min)
    tau = np.random.default_rng(0).uniform(5, 20, 1000)
    fine = np.linspace(0, 60, 6001)
    x = (1 - np.exp(-fine[None, :] / tau[:, None])) * np.exp(-fine[None, :] / 100)
    true_half = fine[np.argmax(x >= 0.5 * x.max(axis=1, keepdims=True), axis=1)]
    assert r.half_max[1] == pytest.approx(np.median(true_half), abs=2.0)
    assert r.half_max[0] == pytest.approx(np.quantile(true_half, 0.05), abs=2.0)
    assert r.half_max[2] == pytest.approx(np.quantile(true_half, 0.95), abs=2.0)
    # the recorded peak is the sample of the (flat-topped) rise with the largest rounded count
    sampled = np.round(1000 * (1 - np.exp(-TIME[None, :] / tau[:, None])) * np.exp(-TIME[None, :] / 100))
    assert abs(r.peak[1] - np.median(TIME[np.argmax(sampled, axis=1)])) <= 5.0   # one sample step


def test_class_errors(classes_file, tmp_path):
    single = write_file(tmp_path / "s.h5", TIME, ["A"], [{}], lambda c, f, n: (np.zeros((n, TIME.size, 1)), None),
                        cells=20)
    with pytest.raises(AnalysisError, match="no dose sweep"):
        fraction_responding(single, "A", 60.0)
    with pytest.raises(AnalysisError, match="unknown species"):
        bimodality(classes_file, "Q", 60.0)
    with pytest.raises(AnalysisError, match="unknown condition"):
        response_times(classes_file, "C", conditions=["nope"])
