"""Per-cell random streams: exact xoshiro256**/SplitMix64 output and correct sampler laws.

Bit-exact checks against pure-Python reference implementations, then goodness-of-fit tests
(KS, chi-square, mean and variance z-tests) with fixed seeds. Every statistical check must
clear P_MIN; a few cheap "power" checks show the same check rejects a slightly wrong sampler.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stochins.engine import rng

P_MIN = 1e-4  # fixed seeds: a correct sampler passes deterministically; this is the bar it clears
N = 200_000  # draws per distribution
MASK = (1 << 64) - 1


def stream(seed: int, condition: int = 0, cell: int = 0) -> np.ndarray:
    return rng.seed_streams(np.uint64(seed), np.uint64(condition), cell, 1)[0]


# --------------------------------------------------------------------------------------------
# pure-Python references
# --------------------------------------------------------------------------------------------

def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK


def xoshiro_next(s: list[int]) -> int:
    """xoshiro256** next() (Blackman & Vigna), state list of 4 Python ints, updated in place."""
    result = (_rotl((s[1] * 5) & MASK, 7) * 9) & MASK
    t = (s[1] << 17) & MASK
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


def splitmix64_mix(x: int) -> int:
    """One SplitMix64 output for state x (state += golden, then the finaliser)."""
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def reference_seed(seed: int, condition: int, cell: int) -> list[int]:
    key = splitmix64_mix(splitmix64_mix(seed) ^ condition)
    z = splitmix64_mix(key ^ splitmix64_mix(cell))
    out = []
    for _ in range(4):
        z = splitmix64_mix(z)
        out.append(z)
    return out


def to_uniform(x: int) -> float:
    return ((x >> 11) + 1) * 2.0**-53


# --------------------------------------------------------------------------------------------
# statistical helpers
# --------------------------------------------------------------------------------------------

def chi2_pvalue(samples: np.ndarray, dist) -> float:
    """Chi-square GOF of integer samples to a frozen scipy discrete law; tails lumped into the
    edge bins and adjacent bins merged until every expected count is >= 5."""
    x = samples.astype(np.int64)
    n = x.size
    lo = int(min(x.min(), dist.ppf(1e-12)))
    hi = int(max(x.max(), dist.isf(1e-12)))
    ks = np.arange(lo, hi + 1)
    expected = dist.pmf(ks) * n
    expected[0] += dist.cdf(lo - 1) * n
    expected[-1] += dist.sf(hi) * n
    observed = np.bincount(x - lo, minlength=ks.size).astype(float)
    obs_b, exp_b, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected):
        acc_o += o
        acc_e += e
        if acc_e >= 5.0:
            obs_b.append(acc_o)
            exp_b.append(acc_e)
            acc_o = acc_e = 0.0
    if obs_b:
        obs_b[-1] += acc_o
        exp_b[-1] += acc_e
    if len(obs_b) < 2:
        return 1.0
    obs_b, exp_b = np.array(obs_b), np.array(exp_b)
    stat = ((obs_b - exp_b) ** 2 / exp_b).sum()
    return float(stats.chi2.sf(stat, len(obs_b) - 1))


def moment_pvalues(samples: np.ndarray, dist) -> tuple[float, float]:
    """Two-sided z-test p-values for the sample mean and for the sample variance (variance ratio),
    using the exact mean, variance and kurtosis of the law."""
    n = samples.size
    mean, var, kurt = (float(v) for v in dist.stats(moments="mvk"))
    z_mean = (samples.mean() - mean) / math.sqrt(var / n)
    # Var(s^2) ~= (mu4 - var^2)/n = (excess kurtosis + 2) var^2 / n
    z_var = (samples.var(ddof=1) - var) / math.sqrt((kurt + 2.0) * var * var / n)
    return float(2 * stats.norm.sf(abs(z_mean))), float(2 * stats.norm.sf(abs(z_var)))


def discrete_pvalues(samples: np.ndarray, dist) -> dict[str, float]:
    p_mean, p_var = moment_pvalues(samples, dist)
    return {"chi2": chi2_pvalue(samples, dist), "mean": p_mean, "var": p_var}


# --------------------------------------------------------------------------------------------
# bit-exact generator and seeding
# --------------------------------------------------------------------------------------------

def test_reference_xoshiro_known_vector():
    """The Python reference reproduces the published xoshiro256** outputs from state (1, 2, 3, 4)."""
    s = [1, 2, 3, 4]
    got = [xoshiro_next(s) for _ in range(10)]
    assert got == [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360,
                   607988272756665600, 16172922978634559625, 8476171486693032832,
                   10595114339597558777, 2904607092377533576]


@pytest.mark.parametrize("state", [
    [1, 2, 3, 4],
    [MASK, 1 << 63, 0xDEADBEEFCAFEBABE, 0x0123456789ABCDEF],
    None,  # a seeded state
])
def test_xoshiro_matches_reference(state):
    arr = stream(12345, 7, 3) if state is None else np.array(state, dtype=np.uint64)
    ref = [int(w) for w in arr]
    expected = [to_uniform(xoshiro_next(ref)) for _ in range(25)]
    got = rng.draw(arr, "uniform", 25)
    np.testing.assert_array_equal(got, np.array(expected))
    # the state array was advanced in place exactly as the reference
    assert [int(w) for w in arr] == ref


def test_splitmix_known_vector_and_seeding_matches_reference():
    # published SplitMix64 output for seed 1234567
    assert splitmix64_mix(1234567) == 6457827717110365317
    for seed, cond, first in [(0, 0, 0), (1, 0, 0), (2**64 - 1, 5, 100), (987654321, 3, 12345)]:
        got = rng.seed_streams(np.uint64(seed), np.uint64(cond), first, 4)
        for i in range(4):
            assert [int(w) for w in got[i]] == reference_seed(seed, cond, first + i)


def test_draw_is_deterministic_and_advances_state():
    a, b = stream(99), stream(99)
    first = rng.draw(a, "uniform", 7)
    second = rng.draw(a, "uniform", 13)
    whole = rng.draw(b, "uniform", 20)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    np.testing.assert_array_equal(a, b)
    for kind, pa, pb in [("normal", 0, 0), ("poisson", 37.5, 0), ("binomial", 1000, 0.3)]:
        x, y = stream(5), stream(5)
        np.testing.assert_array_equal(rng.draw(x, kind, 50, pa, pb), rng.draw(y, kind, 50, pa, pb))


# --------------------------------------------------------------------------------------------
# continuous samplers
# --------------------------------------------------------------------------------------------

def test_uniform():
    u = rng.draw(stream(2024), "uniform", N)
    assert u.min() > 0.0 and u.max() <= 1.0
    # on the 2**-53 lattice, offset by one step: (k + 1) * 2**-53
    k = u * 2.0**53
    np.testing.assert_array_equal(k, np.round(k))
    assert stats.kstest(u, "uniform").pvalue > P_MIN
    # power: a uniform shifted by 1% fails the same test
    assert stats.kstest(np.minimum(u + 0.01, 1.0), "uniform").pvalue < P_MIN
    # consecutive draws of one stream are uncorrelated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / math.sqrt(N)


def test_exponential():
    x = rng.draw(stream(2025), "exponential", N)
    assert np.all(np.isfinite(x)) and x.min() >= 0.0
    assert stats.kstest(x, "expon").pvalue > P_MIN
    p_mean, p_var = moment_pvalues(x, stats.expon())
    assert p_mean > P_MIN and p_var > P_MIN


def test_normal():
    x = rng.draw(stream(2026), "normal", N)
    assert np.all(np.isfinite(x))
    assert stats.kstest(x, "norm").pvalue > P_MIN
    p_mean, p_var = moment_pvalues(x, stats.norm())
    assert p_mean > P_MIN and p_var > P_MIN
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 4 / math.sqrt(N)


# --------------------------------------------------------------------------------------------
# Poisson (inversion below 10, PTRS from 10)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lam", [0.5, 3.0, 9.99, 10.0, 37.5, 1000.0, 1e6])
def test_poisson(lam):
    x = rng.draw(stream(31, 0, int(lam * 100) % 997), "poisson", N, lam)
    assert np.all(x == np.round(x)) and x.min() >= 0
    p = discrete_pvalues(x, stats.poisson(lam))
    assert min(p.values()) > P_MIN, p


def test_poisson_zero_and_negative_mean():
    assert np.all(rng.draw(stream(1), "poisson", 100, 0.0) == 0)
    assert np.all(rng.draw(stream(1), "poisson", 100, -3.0) == 0)


@pytest.mark.parametrize("lam", [3.0, 37.5])
def test_poisson_power(lam):
    """The same checks reject a sampler whose mean is 2% too large (both algorithms)."""
    x = rng.draw(stream(32), "poisson", N, lam * 1.02)
    p = discrete_pvalues(x, stats.poisson(lam))
    assert p["chi2"] < P_MIN and p["mean"] < P_MIN, p


def test_poisson_variance_check_has_power():
    """Over-dispersed counts with the right mean (variance 5% too big) fail the variance check."""
    lam, r = 37.5, 37.5 / 0.05
    x = np.random.default_rng(0).negative_binomial(r, r / (r + lam), N).astype(float)
    p_mean, p_var = moment_pvalues(x, stats.poisson(lam))
    assert p_mean > P_MIN and p_var < P_MIN


# --------------------------------------------------------------------------------------------
# binomial (inversion for small n*min(p, 1-p), BTRS otherwise)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,p", [
    (10, 0.3), (100, 0.05), (19, 0.5),           # inversion
    (1000, 0.995),                                # inversion after the p > 1/2 flip
    (20, 0.5), (40, 0.5), (1000, 0.3), (10**6, 0.2),  # BTRS
    (1000, 0.9),                                  # BTRS after the flip
])
def test_binomial(n, p):
    x = rng.draw(stream(41, 0, n % 1009), "binomial", N, n, p)
    assert np.all(x == np.round(x)) and x.min() >= 0 and x.max() <= n
    pv = discrete_pvalues(x, stats.binom(n, p))
    assert min(pv.values()) > P_MIN, pv


@pytest.mark.parametrize("n,p,value", [(5, 1.0, 5), (7, 0.0, 0), (0, 0.4, 0), (9, 1.5, 9), (9, -0.1, 0)])
def test_binomial_degenerate(n, p, value):
    assert np.all(rng.draw(stream(42), "binomial", 1000, n, p) == value)


def test_binomial_power():
    """Drawing with p 2% too large fails the chi-square and mean checks."""
    x = rng.draw(stream(43), "binomial", N, 1000, 0.3 * 1.02)
    pv = discrete_pvalues(x, stats.binom(1000, 0.3))
    assert pv["chi2"] < P_MIN and pv["mean"] < P_MIN, pv


# --------------------------------------------------------------------------------------------
# streams across cells, conditions and seeds
# --------------------------------------------------------------------------------------------

def first_uniforms(states: np.ndarray) -> np.ndarray:
    return np.array([rng.draw(states[i].copy(), "uniform", 1)[0] for i in range(states.shape[0])])


def _corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def test_streams_blocks_do_not_matter():
    big = rng.seed_streams(np.uint64(77), np.uint64(2), 0, 3000)
    for first, n in [(0, 1), (0, 10), (37, 50), (1000, 2000), (2999, 1)]:
        np.testing.assert_array_equal(rng.seed_streams(np.uint64(77), np.uint64(2), first, n),
                                      big[first:first + n])


def test_streams_are_distinct():
    seeds = [0, 1, 2, 3, 2**63, 2**64 - 1]
    rows = [rng.seed_streams(np.uint64(s), np.uint64(c), 0, 1000) for s in seeds for c in (0, 1, 2)]
    allstates = np.concatenate(rows)
    assert len({tuple(r) for r in allstates.tolist()}) == allstates.shape[0]


def test_streams_uncorrelated():
    n = 20_000
    bound = 4 / math.sqrt(n)
    s0 = rng.seed_streams(np.uint64(1234), np.uint64(0), 0, n)
    u = first_uniforms(s0)
    # the first draws across cells are themselves U(0,1)
    assert stats.kstest(u, "uniform").pvalue > P_MIN
    # neighbouring cells
    assert abs(_corr(u[:-1], u[1:])) < bound
    assert abs(_corr(u[:999], u[1:1000])) < 4 / math.sqrt(999)
    # no trend with the cell index
    assert abs(_corr(u, np.arange(n))) < bound
    # condition 0 vs 1, seed s vs s+1 (same cells)
    u_cond = first_uniforms(rng.seed_streams(np.uint64(1234), np.uint64(1), 0, n))
    u_seed = first_uniforms(rng.seed_streams(np.uint64(1235), np.uint64(0), 0, n))
    assert abs(_corr(u, u_cond)) < bound
    assert abs(_corr(u, u_seed)) < bound
    assert not np.array_equal(u, u_cond) and not np.array_equal(u, u_seed)
    # power: naive seeding (state = cell index, no SplitMix64 mixing) fails the neighbour check
    naive = np.repeat(np.arange(1, 1001, dtype=np.uint64)[:, None], 4, axis=1)
    un = first_uniforms(naive)
    assert abs(_corr(un[:-1], un[1:])) > 4 / math.sqrt(999)


# --------------------------------------------------------------------------------------------
# the single extreme uniform u == 1.0 (probability 2**-53 per draw)
# --------------------------------------------------------------------------------------------

def state_whose_first_uniform_is_one() -> np.ndarray:
    """A state whose next xoshiro256** output is 2**64-1, so uniform() returns exactly 1.0."""
    inv5, inv9 = pow(5, -1, 1 << 64), pow(9, -1, 1 << 64)
    s1 = (_rotl((MASK * inv9) & MASK, 57) * inv5) & MASK  # invert rotl(s1*5, 7)*9
    return np.array([1, s1, 2, 3], dtype=np.uint64)


def test_uniform_can_be_exactly_one():
    assert rng.draw(state_whose_first_uniform_is_one(), "uniform", 1)[0] == 1.0


@pytest.mark.parametrize("kind,a,b", [("poisson", 20.0, 0.0), ("binomial", 1000, 0.3)])
def test_rejection_samplers_survive_uniform_one(kind, a, b):
    # PTRS/BTRS: u = 1.0 gives us = 0.5 - |u - 0.5| = 0, which must be rejected, not divided by
    x = rng.draw(state_whose_first_uniform_is_one(), kind, 1, a, b)
    assert np.isfinite(x[0])


def test_poisson_inversion_at_uniform_one_stays_in_range():
    # u = 1.0 never satisfies u <= F(k) in floating point: the search must stop in the far tail
    x = rng.draw(state_whose_first_uniform_is_one(), "poisson", 1, 9.99)
    assert x[0] <= 60  # P(X > 60) < 1e-20 for a mean of 9.99
