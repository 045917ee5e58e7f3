"""Sister cells and the intrinsic/extrinsic noise decomposition, against a closed form.

One small simulation is shared by the module (and by a capacity check on a model): the
immigration-death process 0 -> X (rate k), X -> 0 (rate g) from X(0) = 0, with k drawn per cell from
a lognormal law (mean mu, CV c), cells in pairs of sisters. Given k, X(t) ~ Poisson(lambda(t)) with
lambda(t) = k/g (1 - exp(-g t)) exactly, so at every time t

    intrinsic = E[Var(X | k)] = E[lambda(t)]   = mu/g (1 - exp(-g t))
    extrinsic = Var(E[X | k]) = Var(lambda(t)) = (c mu/g (1 - exp(-g t)))^2

and all of the extrinsic variance is explained by k.
"""

from __future__ import annotations


import numpy as np
import pytest

import stochins
from stochins.analysis import AnalysisError, channel_capacity, noise_decomposition
from stochins.cli import main
from stochins.simulation import Plan
from test_exact import IMMIGRATION_DEATH

G, CV = 0.5, 0.3
K = [0.5, 1.0, 2.0, 4.0, 5.0, 10.0, 20.0, 40.0]   # two dose series, the first with 10x fewer molecules
CELLS = 6000
RUN = f"""\
model: model.yaml
cells: {CELLS}
sisters: 2
seed: 7
time: {{start: 0, end: 10, samples: 6}}
variability:
  k: {{distribution: lognormal, cv: {CV}}}
sweep:
  model_parameters.k: {K}
"""


@pytest.fixture(scope="module")
def sisters_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("sisters")
    (d / "model.yaml").write_text(IMMIGRATION_DEATH)
    (d / "run.yaml").write_text(RUN)
    return stochins.run(d / "run.yaml", output=d / "run.h5", progress=False)


def closed_form(mu, t):
    lam = mu / G * (1 - np.exp(-G * t))
    return lam, lam + (CV * lam) ** 2, (CV * lam) ** 2


def test_sisters_share_every_draw_but_not_their_reactions(sisters_file):
    r = stochins.open_results(sisters_file)
    assert r.attrs["sisters"] == 2
    cond = r[r.conditions[6]]                      # k = 20
    p = cond.parameters[:, 0]
    np.testing.assert_array_equal(p[0::2], p[1::2])
    assert np.unique(p).size == CELLS // 2
    x = cond["X"][:, -1]
    assert np.mean(x[0::2] == x[1::2]) < 0.2       # sisters' reactions are independent


def test_group_draws_are_the_draws_of_the_group_index(model_from_text):
    model = model_from_text(IMMIGRATION_DEATH)
    plan = Plan.create(model, t_end=1.0, samples=2, seed=3,
                       variability={"k": {"distribution": "lognormal", "cv": 0.3},
                                    "g": {"distribution": "list", "values": [0.1, 0.2, 0.3, 0.4]}})
    single = plan.cells(0, 10)[2]
    plan.sisters = 3
    for first, n in ((0, 30), (5, 10), (13, 1)):   # any block split gives the same cells
        drawn = plan.cells(first, n)[2]
        np.testing.assert_array_equal(drawn, single[np.arange(first, first + n) // 3])


def test_decomposition_matches_the_closed_form(sisters_file):
    r = stochins.open_results(sisters_file)
    zs = []
    for name, mu in zip(r.conditions, K):
        if mu < 5:
            continue
        nd = noise_decomposition(r, "X", condition=name)
        assert nd.groups == CELLS // 2 and nd.sisters == 2
        for i, t in enumerate(nd.time):
            if t == 0:
                assert nd.total[i, 0] == 0
                continue
            intr, total, extr = closed_form(mu, t)
            for est, se, exact in ((nd.intrinsic, nd.intrinsic_se, intr), (nd.extrinsic, nd.extrinsic_se, extr),
                                   (nd.total, nd.total_se, total)):
                z = (est[i, 0] - exact) / se[i, 0]
                zs.append(z)
                assert abs(z) < 4.5, (name, t, est[i, 0], exact, se[i, 0])
            # every extrinsic fluctuation comes from k; the binned first-order index misses < 0.03
            share = nd.parameter_share[nd.parameter_names.index("k"), i, 0]
            assert share == pytest.approx(extr / total, abs=0.03 + 4 * nd.extrinsic_se[i, 0] / total)
    # the jackknife standard errors are calibrated: z-scores spread like N(0, 1) (60 of them, correlated
    # within a condition, so the bound on their RMS is loose)
    rms = float(np.sqrt(np.mean(np.square(zs))))
    assert 0.4 < rms < 1.8, (rms, zs)


def test_an_incomplete_last_group_is_left_out(sisters_file):
    # 6,000 cells read as groups of 7: 857 whole groups; the last cell would be a group of one
    r = stochins.open_results(sisters_file)
    nd = noise_decomposition(r, "X", 10.0, condition=r.conditions[6], sisters=7)
    assert nd.groups == CELLS // 7


def test_decomposition_power_check(sisters_file):
    # grouping the cells in fours mixes two pairs with different draws: the within-group variance then
    # contains extrinsic noise, and the closed form must be rejected
    r = stochins.open_results(sisters_file)
    nd = noise_decomposition(r, "X", 10.0, condition=r.conditions[6], sisters=4)
    intr, _, _ = closed_form(20.0, 10.0)
    assert (nd.intrinsic[0, 0] - intr) / nd.intrinsic_se[0, 0] > 6


def test_capacity_falls_as_molecule_numbers_fall_and_rises_with_time_points(sisters_file):
    r = stochins.open_results(sisters_file)
    small = channel_capacity(r, "X", 10.0, dose_key="model_parameters.k", conditions=r.conditions[:4], boot=50)
    large = channel_capacity(r, "X", 10.0, dose_key="model_parameters.k", conditions=r.conditions[4:], boot=50)
    assert small.ci[1] < large.ci[0], (small.bits, small.ci, large.bits, large.ci)
    # a second look at the cell (at 4 min) adds information about k: the Poisson noise is renewed
    both = channel_capacity(r, "X", [4.0, 10.0], dose_key="model_parameters.k", conditions=r.conditions[:4],
                            bins=6, boot=50)
    one = channel_capacity(r, "X", 10.0, dose_key="model_parameters.k", conditions=r.conditions[:4], bins=6,
                           boot=50)
    assert both.bits > one.bits


def test_noise_errors(sisters_file, tmp_path, capsys):
    r = stochins.open_results(sisters_file)
    with pytest.raises(AnalysisError, match="8 conditions; choose one"):
        noise_decomposition(r, "X")
    with pytest.raises(AnalysisError, match="unknown species 'Y'"):
        noise_decomposition(r, "Y", condition=r.conditions[0])
    with pytest.raises(AnalysisError, match="no sister cells"):
        noise_decomposition(r, "X", condition=r.conditions[0], sisters=1)
    for bad, text in (("sisters: 0", "sisters"), ("sisters: 1.5", "sisters"), ("sisters: two", "sisters"),
                      ("sisters: 2\nsweep: {sisters: [1, 2]}", "cannot be swept")):
        path = tmp_path / "bad.yaml"
        path.write_text(f"model: birth_death.yaml\ncells: 100\ntime: {{end: 1}}\n{bad}\n")
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err, err


def test_streamed_decomposition_equals_numpy_on_the_whole_array(sisters_file, monkeypatch):
    # the block-by-block accumulation (blocks of ~ a few hundred cells, not aligned to the pairs)
    # against the textbook formulas on all cells at once
    from stochins.analysis import _stream

    r = stochins.open_results(sisters_file)
    name = r.conditions[5]
    monkeypatch.setattr(_stream, "CHUNK_BYTES", 3001)
    nd = noise_decomposition(r, "X", condition=name)
    x = r[name]["X"].astype(float).reshape(CELLS // 2, 2, -1)
    intr = x.var(axis=1, ddof=1).mean(axis=0)
    extr = x.mean(axis=1).var(axis=0, ddof=1) - intr / 2
    np.testing.assert_allclose(nd.intrinsic[:, 0], intr, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(nd.extrinsic[:, 0], extr, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(nd.mean[:, 0], x.mean(axis=(0, 1)), rtol=1e-12)
