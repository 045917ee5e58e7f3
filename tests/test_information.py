"""Channel capacity and mutual information against channels whose information is known exactly.

Each statistical check uses a fixed seed and is paired with a power check: the same interval
excludes a value a small, stated distance from the truth (or the uncorrected estimator fails).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from scipy import stats

from stochins.analysis import AnalysisError, channel_capacity, mutual_information, noise_decomposition
from stochins.analysis import _stream
from stochins.analysis.information import blahut_arimoto, capacity_from_samples, channel_information
from stochins.cli import main
from stochins.io import hdf5
from synthetic import write_file


def h2(p):
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def bsc_samples(p, n, seed):
    rng = np.random.default_rng(seed)
    return [(rng.random(n) < p).astype(np.int64), (rng.random(n) >= p).astype(np.int64)]


# ---------------------------------------------------------------------- Blahut-Arimoto on exact channels
def test_blahut_arimoto_on_exact_channels():
    for p in (0.0, 0.05, 0.11, 0.3, 0.5):
        c, q = blahut_arimoto([[1 - p, p], [p, 1 - p]])
        assert c == pytest.approx(1 - (h2(p) if 0 < p < 1 else 0.0), abs=1e-6)
        np.testing.assert_allclose(q, [0.5, 0.5], atol=1e-6)
    c, q = blahut_arimoto(np.eye(5))
    assert c == pytest.approx(math.log2(5), abs=1e-9)
    # Z channel (0 -> 0; 1 -> 0 with prob. 1/2): C = log2(5/4), optimal P(x=1) = 2/5
    c, q = blahut_arimoto([[1.0, 0.0], [0.5, 0.5]])
    assert c == pytest.approx(math.log2(1.25), abs=1e-6)
    assert q[1] == pytest.approx(0.4, abs=1e-4)
    # an input whose row is a mixture of the others is never used by the optimum
    c, q = blahut_arimoto([[1, 0], [0.5, 0.5], [0, 1]])
    assert c == pytest.approx(1.0, abs=1e-6) and q[1] < 1e-3
    # the mutual information of a given input law, and the capacity as its maximum
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(6), size=4)
    cap, best = blahut_arimoto(P, tol=1e-9)
    assert channel_information(P, best) == pytest.approx(cap, abs=1e-8)
    for w in rng.dirichlet(np.ones(4), size=50):
        assert channel_information(P, w) <= cap + 1e-9


# ---------------------------------------------------------------------- estimates from samples
def test_binary_symmetric_channel_capacity_inside_bootstrap_interval():
    p = 0.1
    est = capacity_from_samples(bsc_samples(p, 2000, seed=1), seed=1)
    truth = 1 - h2(p)
    lo, hi = est.ci
    assert lo <= truth <= hi, (est.bits, est.ci, truth)
    np.testing.assert_allclose(est.input_distribution, [0.5, 0.5], atol=0.02)
    # power: a channel 0.09 bits away (p = 0.13) is excluded
    assert not lo <= 1 - h2(0.13) <= hi


def test_deterministic_channel_has_capacity_log2_inputs():
    samples = [np.full(300, 7 * k, dtype=np.int64) + (np.arange(300) % 3) for k in range(6)]
    est = capacity_from_samples(samples, bins=6)
    assert est.bits == pytest.approx(math.log2(6), abs=1e-5)
    assert est.ci[0] == pytest.approx(math.log2(6), abs=1e-5) and est.ci[1] == pytest.approx(math.log2(6), abs=1e-5)
    np.testing.assert_allclose(est.input_distribution, np.full(6, 1 / 6), atol=1e-4)


def gaussian_channel(snr, n, seed, grid=17):
    """Inputs on a grid over +-4 sd of N(0, snr), weighted by that normal law (the capacity-achieving
    input of the Gaussian channel under power constraint snr), output y = x + N(0, 1)."""
    xs = np.linspace(-4, 4, grid) * math.sqrt(snr)
    w = stats.norm.pdf(xs, scale=math.sqrt(snr))
    w /= w.sum()
    rng = np.random.default_rng(seed)
    return xs, w, [x + rng.normal(0.0, 1.0, n) for x in xs]


def binned_information(xs, w, edges):
    """Exact I(X; bin(Y)) in bits for y = x + N(0, 1) and the given bin edges (outer bins open)."""
    e = np.concatenate([[-np.inf], edges[1:-1], [np.inf]])
    P = np.diff(stats.norm.cdf(e[None, :] - xs[:, None]), axis=1)
    return channel_information(P, w)


def continuous_information(xs, w):
    """Exact I(X; Y) in bits for the discrete input and Gaussian noise (quadrature of h(Y) - h(N))."""
    y = np.linspace(xs.min() - 9, xs.max() + 9, 40001)
    f = (w[:, None] * stats.norm.pdf(y[None, :] - xs[:, None])).sum(axis=0)
    h_y = -np.trapezoid(np.where(f > 0, f * np.log2(np.where(f > 0, f, 1)), 0.0), y)
    return h_y - 0.5 * math.log2(2 * math.pi * math.e)


def test_gaussian_channel_information_against_shannon():
    # What is compared: the mutual information of the Gaussian channel y = x + N(0, 1) under the input
    # N(0, SNR) discretised on 17 points, estimated from 3,000 cells per input with equal-frequency bins.
    # The estimator's target is I(X; bin(Y)) for its own bin edges, computed exactly by normal CDFs;
    # it must lie in the bootstrap interval. The exact chain to Shannon's 1/2 log2(1 + SNR) is then
    # checked without sampling: discretising the input and binning the output each lose a little.
    snr = 3.0
    xs, w, samples = gaussian_channel(snr, 3000, seed=3)
    est = capacity_from_samples(samples, inputs=xs, input_distribution=w, seed=3)
    target = binned_information(xs, w, est.edges[0])
    lo, hi = est.ci
    assert lo <= target <= hi, (est.bits, est.ci, target)
    assert not lo <= target + 0.04 <= hi  # power: 0.04 bits off is excluded
    shannon = 0.5 * math.log2(1 + snr)
    discrete = continuous_information(xs, w)
    assert 0 < shannon - discrete < 0.01          # 17 input points lose < 0.01 bit
    assert 0 < discrete - target < 0.06           # 14 output bins lose < 0.06 bit
    # the capacity of the same (amplitude-limited) channel is at least the information of any input law
    cap = capacity_from_samples(samples, inputs=xs, seed=3)
    assert cap.bits > est.bits - 0.02


def test_bias_correction_moves_small_sample_estimates_toward_the_truth():
    # 150 cells per input, 17 inputs, 10 bins: the plug-in information is biased upward by about
    # (X - 1)(B - 1) / (2 N ln 2) = 0.05 bit; the extrapolation in 1/n must remove most of it.
    xs = np.linspace(-2, 2, 9)
    w = np.full(xs.size, 1 / xs.size)
    naive_err, corrected_err, covered = [], [], 0
    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        samples = [x + rng.normal(0.0, 1.0, 150) for x in xs]
        est = capacity_from_samples(samples, inputs=xs, input_distribution=w, bins=10, boot=100, seed=seed)
        target = binned_information(xs, w, est.edges[0])
        naive_err.append(est.naive - target)
        corrected_err.append(est.bits - target)
        covered += est.ci[0] <= target <= est.ci[1]
        # the plug-in values fall with the subsample size, as the correction assumes
        assert est.extrapolation[0, 1] > est.extrapolation[-1, 1]
    naive_err, corrected_err = np.array(naive_err), np.array(corrected_err)
    assert naive_err.mean() > 0.02                                    # the bias is real ...
    assert abs(corrected_err.mean()) < 0.4 * naive_err.mean()          # ... and mostly removed
    assert covered >= 6


# ---------------------------------------------------------------------- from results files
DOSES = [0.0, 0.1, 1.0, 10.0]
TIME = np.array([0.0, 10.0, 20.0])


def poisson_block(means_by_dose, n_species=2):
    """Cell i at dose c: species 0 ~ Poisson(m_c) independently at each time, species 1 ~ Poisson(5)."""
    def block(c, first, n):
        rng = np.random.default_rng([c, first])
        traj = np.empty((n, TIME.size, n_species), dtype=np.int32)
        traj[:, :, 0] = rng.poisson(means_by_dose[c], size=(n, TIME.size))
        traj[:, :, 1:] = rng.poisson(5.0, size=(n, TIME.size, n_species - 1))
        return traj, None
    return block


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("info") / "sweep.h5"
    return write_file(path, TIME, ["Y", "Z"], [{"inputs.insulin.dose": d} for d in DOSES],
                      poisson_block([2.0, 4.0, 8.0, 16.0]), cells=1200, block_cells=500)


def test_file_estimate_equals_the_array_estimate(sweep_file):
    from stochins import open_results

    r = open_results(sweep_file)
    est = channel_capacity(sweep_file, "Y", 20.0, seed=5, boot=50)
    arrays = [r[n]["Y"][:, 2] for n in r.conditions]
    ref = capacity_from_samples(arrays, inputs=DOSES, seed=5, boot=50)
    assert est.bits == ref.bits and est.ci == ref.ci and est.naive == ref.naive
    assert list(est.inputs) == DOSES and est.readout == ["Y @ 20 min"]
    mi = mutual_information(sweep_file, "Y", 20.0, seed=5, boot=50)
    assert mi.kind == "mutual information" and mi.bits <= est.bits + 0.02
    np.testing.assert_allclose(mi.input_distribution, 0.25)
    # a readout that does not depend on the dose carries no information
    z = channel_capacity(sweep_file, "Z", 20.0, seed=5, boot=50)
    assert z.ci[0] <= 0.0 + 0.01 and z.bits < 0.03


def test_vector_response_carries_more_information_than_one_time(sweep_file):
    one = channel_capacity(sweep_file, "Y", 20.0, bins=5, boot=60)
    two = channel_capacity(sweep_file, "Y", [10.0, 20.0], bins=5, boot=60)
    assert two.readout == ["Y @ 10 min", "Y @ 20 min"] and two.bins > 5
    assert two.ci[0] > one.ci[1], (one.bits, one.ci, two.bits, two.ci)


def test_bad_requests_are_one_line_errors(sweep_file, tmp_path, capsys):
    single = write_file(tmp_path / "single.h5", TIME, ["Y"], [{}], poisson_block([3.0], 1), cells=100)
    with pytest.raises(AnalysisError, match="not a dose sweep"):
        channel_capacity(single, "Y", 20.0)
    with pytest.raises(AnalysisError, match="unknown species 'Akt'"):
        channel_capacity(sweep_file, "Akt", 20.0)
    with pytest.raises(AnalysisError, match="too few for 400 response bins"):
        channel_capacity(sweep_file, "Y", 20.0, bins=400)
    with pytest.raises(AnalysisError, match="not recorded"):
        channel_capacity(sweep_file, "Y", 100.0)
    for argv, text in (([str(single), "--capacity"], "not a dose sweep"),
                       ([str(sweep_file), "--capacity", "--species", "Akt"], "unknown species"),
                       ([str(sweep_file), "--capacity", "--bins", "400"], "too few")):
        assert main(["summarize", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err and "Traceback" not in err


def test_summarize_capacity_prints_a_table(sweep_file, capsys):
    assert main(["summarize", str(sweep_file), "--capacity", "--times", "10,20"]) == 0
    out = capsys.readouterr().out
    assert "capacity (bits)" in out and "Y" in out and "Z" in out


def test_capacity_streams_in_bounded_memory(tmp_path, monkeypatch):
    # 10^5 cells x 26 times x 4 species of int32: 41.6 MB uncompressed. Read in 256 KiB blocks, the
    # analyses must stay far below the file's size (numpy allocations are traced by tracemalloc).
    time = np.linspace(0, 50, 26)

    def block(c, first, n):
        rng = np.random.default_rng([c, first])
        return rng.poisson(3.0 * (c + 1), size=(n, time.size, 4)).astype(np.int32), None

    monkeypatch.setattr(hdf5, "CHUNK_BYTES", 1 << 18)   # HDF5 chunks of 256 KiB: the file is 160 of them
    path = write_file(tmp_path / "big.h5", time, ["A", "B", "C", "D"], [{"inputs.insulin.dose": d} for d in
                                                                         (1.0, 2.0, 3.0, 4.0)],
                      block, cells=25_000, block_cells=25_000)
    raw = 100_000 * time.size * 4 * 4
    monkeypatch.setattr(_stream, "CHUNK_BYTES", 1 << 18)
    tracemalloc.start()
    try:
        est = channel_capacity(path, ["A"], [40.0, 50.0], boot=20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert est.cells.sum() == 100_000 and est.bits > 0.5
    # ~5 MiB, mostly the 21 x 13 bootstrap-subsample histograms Blahut-Arimoto solves (independent of cells)
    assert peak < raw / 5, (peak, raw)
    # the noise decomposition of one condition (25,000 cells read as pairs) streams the same way
    tracemalloc.start()
    try:
        nd = noise_decomposition(path, condition="dose=4", sisters=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert nd.groups == 12_500 and abs(nd.extrinsic).max() < 6 * nd.extrinsic_se.max()  # unshared cells
    assert peak < raw / 10, (peak, raw)


def test_fine_histograms_equal_numpy():
    # counts: one unit bin per value, so quantiles are exact; reals: np.histogram on the same edges
    rng = np.random.default_rng(9)
    ints = [rng.poisson(m, 3001) for m in (3.0, 40.0, 900.0)]
    hist = _stream.fine_histograms(_stream.array_readouts(ints))
    for c, a in enumerate(ints):
        for q in (0.05, 0.5, 0.95):
            assert hist.quantile(c, 0, q) == np.quantile(a, q, method="inverted_cdf")
    reals = [rng.normal(m, 1.0, (500, 2)) for m in (0.0, 1.0)]
    hist = _stream.fine_histograms(_stream.array_readouts(reals))
    for c, a in enumerate(reals):
        for v in range(2):
            np.testing.assert_array_equal(hist.counts[c, v], np.histogram(a[:, v], hist.edges(v))[0])
