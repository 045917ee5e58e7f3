"""Per-cell random streams: xoshiro256** seeded through SplitMix64 from (seed, condition, cell).

Each cell owns four uint64 words of state, so a cell's draws depend only on its own key and
never on which thread or block simulates it. All samplers are numba functions that advance the
state array in place; there is no global RNG state anywhere.

References: Blackman & Vigna (2021) xoshiro256**; Steele et al. (2014) SplitMix64;
Hörmann (1993) PTRS for Poisson and BTRS for binomial variates.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels import quick_load

_U = np.uint64
_GOLDEN = _U(0x9E3779B97F4A7C15)
_M1 = _U(0xBF58476D1CE4E5B9)
_M2 = _U(0x94D049BB133111EB)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _splitmix64(z):
    z = z + _GOLDEN
    z = (z ^ (z >> _U(30))) * _M1
    z = (z ^ (z >> _U(27))) * _M2
    return z ^ (z >> _U(31))


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U(k)) | (x >> _U(64 - k))


@quick_load  # called from Python at the start of every block: see kernels.quick_load
@njit(cache=True)
def seed_streams(seed, condition, first_cell, n):
    """States of cells ``first_cell .. first_cell+n-1`` of one condition, shape (n, 4) uint64."""
    states = np.empty((n, 4), dtype=np.uint64)
    key = _splitmix64(_splitmix64(_U(seed)) ^ _U(condition))
    for i in range(n):
        z = _splitmix64(key ^ _splitmix64(_U(first_cell + i)))
        for w in range(4):
            z = _splitmix64(z)
            states[i, w] = z
    return states


@njit(cache=True, inline="always")
def xoshiro(s0, s1, s2, s3):
    """One xoshiro256** step of a state held in four words: (output, the new four words). On words, not
    an array, so that the lockstep method can step many cells' streams in vector registers."""
    result = _rotl(s1 * _U(5), 7) * _U(9)
    t = s1 << _U(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True, inline="always")
def next_u64(s):
    result, s[0], s[1], s[2], s[3] = xoshiro(s[0], s[1], s[2], s[3])
    return result


@njit(cache=True, inline="always")
def unit(z):
    """The 64-bit draw z as a uniform on (0, 1]: never 0, so ``-log(u)`` is always finite."""
    return (float(z >> _U(11)) + 1.0) * _TWO_M53


@njit(cache=True, inline="always")
def uniform(s):
    """Uniform on (0, 1]: never 0, so ``-log(u)`` is always finite."""
    return unit(next_u64(s))


def _ziggurat_tables(n=256, r=7.69711747013104972, v=3.949659822581572e-3):
    """Layer edges of Marsaglia & Tsang's (2000) 256-layer ziggurat for Exp(1): each layer has area v."""
    x = np.empty(n + 1)
    x[0], x[1], x[n] = v / math.exp(-r), r, 0.0
    for i in range(2, n):
        x[i] = -math.log(v / x[i - 1] + math.exp(-x[i - 1]))
    return x, np.exp(-x)


_ZX, _ZF = _ziggurat_tables()
_ZR = 7.69711747013104972


@njit(cache=True, inline="always")
def ziggurat(z):
    """The ziggurat's first try with the 64-bit draw z: (x, True) for ~99 % of draws, x then the variate."""
    i = int(z & _U(255))
    x = float(z >> _U(11)) * _TWO_M53 * _ZX[i]
    return x, x < _ZX[i + 1]


@njit(cache=True)
def exponential(s):
    """Exp(1) by the ziggurat: one 64-bit draw and no logarithm for ~99 % of variates."""
    while True:
        z = next_u64(s)
        x, fast = ziggurat(z)
        if fast:
            return x
        i = int(z & _U(255))
        if i == 0:  # the tail beyond r is again exponential (memoryless)
            return _ZR - math.log(uniform(s))
        if _ZF[i] + uniform(s) * (_ZF[i + 1] - _ZF[i]) < math.exp(-x):
            return x


@njit(cache=True)
def normal(s):
    """Standard normal by Box-Muller (one variate per call, no hidden cached state)."""
    return math.sqrt(-2.0 * math.log(uniform(s))) * math.cos(2.0 * math.pi * uniform(s))


@njit(cache=True)
def poisson(s, lam):
    """Exact Poisson: sequential inversion below mean 10, Hörmann's PTRS above."""
    if lam <= 0.0:
        return 0
    if lam < 10.0:
        p = math.exp(-lam)
        f = p
        u = uniform(s)
        k = 0
        while u > f:
            k += 1
            p *= lam / k
            if f + p == f:  # u rounded above the representable cdf (u == 1.0): stop in the far tail
                break
            f += p
        return k
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = uniform(s) - 0.5
        v = uniform(s)
        us = 0.5 - abs(u)
        if us <= 0.0:  # u == 1.0 exactly (probability 2**-53): outside the hat, reject
            continue
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= v_r:
            return int(k)
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(inv_alpha) - math.log(a / (us * us) + b)
                <= -lam + k * loglam - math.lgamma(k + 1.0)):
            return int(k)


@njit(cache=True)
def binomial(s, n, p):
    """Exact binomial: inversion when n·min(p, 1-p) < 10, Hörmann's BTRS otherwise."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(s, n, 1.0 - p)
    if n * p < 10.0:
        q = 1.0 - p
        ratio = p / q
        a = (n + 1) * ratio
        r = q ** n
        u = uniform(s)
        k = 0
        while u > r and k < n and r > 0.0:
            u -= r
            k += 1
            r *= a / k - ratio
        return k
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    lpq = math.log(p / (1.0 - p))
    m = math.floor((n + 1) * p)
    h = math.lgamma(m + 1.0) + math.lgamma(n - m + 1.0)
    while True:
        u = uniform(s) - 0.5
        v = uniform(s)
        us = 0.5 - abs(u)
        if us <= 0.0:
            continue
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0.0 or k > n:
            continue
        if us >= 0.07 and v <= v_r:
            return int(k)
        v = math.log(v * alpha / (a / (us * us) + b))
        if v <= h - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) + (k - m) * lpq:
            return int(k)


@njit(cache=True)
def gamma(s, shape):
    """Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 via the boost U**(1/shape)."""
    if shape <= 0.0:
        return 0.0
    boost = 1.0
    if shape < 1.0:
        boost = uniform(s) ** (1.0 / shape)
        shape += 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        z = normal(s)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(s)
        if u < 1.0 - 0.0331 * z ** 4 or math.log(u) < 0.5 * z * z + d * (1.0 - v + math.log(v)):
            return d * v * boost


# Vectorised entry points for tests and Python callers (one stream, many draws).
@njit(cache=True)
def draw(state, kind, n, a=0.0, b=0.0):
    """``n`` draws of one kind ('uniform', 'exponential', 'normal', 'poisson', 'binomial', 'gamma')."""
    out = np.empty(n)
    for i in range(n):
        if kind == "uniform":
            out[i] = uniform(state)
        elif kind == "exponential":
            out[i] = exponential(state)
        elif kind == "normal":
            out[i] = normal(state)
        elif kind == "poisson":
            out[i] = poisson(state, a)
        elif kind == "gamma":
            out[i] = gamma(state, a)
        else:
            out[i] = binomial(state, int(a), b)
    return out
