"""Cells in lockstep (issue 11, item 3): an exact direct method that advances W cells at once, SIMD-style.

Rerun: ``python -m benchmarks.lockstep`` from the repository root (``--models insulin``, ``--skip-law``,
``--cells``, ``--rounds``; ``--only NAME --cells N --span T`` runs one method alone; ``--scaling`` the
generated networks). Cold, it compiles ~16 kernels per model (each variant, the ablations, the degraded
kernel; 15-30 s each on a loaded machine); then ~2 CPU-minutes per model (4-5 minutes wall at load 17).
Results and their discussion: ``benchmarks/results/lockstep.md``.

The kernel (generated per model from stochins' compiled network; constant inputs only) keeps W cells in
lanes, structure-of-arrays (state x[S, W], parameters, running sums cum[M, W], xoshiro256** states), and
per iteration gives every lane one event of Gillespie's direct method, with no data-dependent branch:
all M propensities recomputed as straight-line code vectorised across lanes, with their running sums;
an exponential (the ziggurat of ``engine/rng.py``, its fast path vectorised, the ~2 % slow draws per
lane) and a uniform per lane; the channel j = #{k : cum_k < u·a0} (compare-and-count; a0 is the last
running sum, so there is no drift and no re-summation); the state change from the channel's row of
the stoichiometry padded to a fixed length. A lane whose next grid time passed records (rare, scalar);
a lane whose cell finished takes the next cell and makes a null event (target +inf selects column M,
all zeros). Each cell draws only from its own stream, so the bits of a cell do not depend on W, its
lane, or the variant (checked: ``identical``). LLVM vectorises the lane loops only with numba's
``noalias`` flag and its SLP vectoriser switched on (``noalias()``: numba internals, see there).

Measured (2026-12-02, AMD EPYC Zen 4 with AVX-512, 2 cores shared with 5 other sessions, load average
12-19: thread CPU time of one thread, stochins' tuned ``direct`` run side by side in the same process,
16 cells, best of 2-3 interleaved rounds; only the ratios mean much):

insulin model (sedaghat2002, scale 0.01, 100 nM, 60 min, ~1e6 events per cell), 3 runs:
    direct 1.66-1.92e7 events/CPU-s (52-60 ns/event); lockstep, ratio to direct:
    full-W4 1.57-1.71 · full-W8 1.77-2.29 (dense gathers) · deps-W4 1.22-1.41 · deps-W8 1.55-1.89 ·
    full-W8-csr 2.46-2.64 · full-W4-pad 2.01-2.44 · full-W8-pad 2.54-2.89 (19-21 ns/event) ·
    full-W16-pad 2.72-3.39 · blocked-W16-pad 3.05-3.45 (17.5 ns/event)
20-species cascade (benchmarks/models/cascade.yaml, 100 s), 2 runs: direct 1.67-2.07e7 (48-60 ns/event);
    full-W4 1.74-1.90 · full-W8 1.94-2.05 · deps-W4 1.24-1.26 · deps-W8 1.69 · full-W8-csr 2.24-2.38 ·
    full-W4-pad 2.06-2.84 · full-W8-pad 2.77-3.02 (17.5-20 ns/event) · full-W16-pad 2.65-3.49 ·
    blocked-W16-pad 3.70
Exact in law: full-W8-pad against direct, 200 cells each, independent seeds, every species' mean and log
SD at 6 times: max |z| 2.96 / 2.47 and 2.20 / 2.59 (insulin, two seed pairs), 3.70 / 2.51 and 3.19 /
3.03 (cascade); the same kernel with its most frequent channel 10 % too fast fails with |z| 13 (insulin)
and 34 (cascade). Pure death to extinction (a0 = 0, many lane refills) against its exact binomial law,
4000 cells, 20 times: max |z| 1.49 (means), 2.04 (variances).
Where an iteration of full-W8-pad goes (ablation, ns per iteration of 8 events, ±10-20):
insulin 161-179 = compare-and-count 41-46 + propensities 5-16 + two draws 33-53 + rest 69-80 (running
sums, waiting time, recording test, loop) + state change 0-5; cascade 133-136 = 17-44 + 0-8 + 33-36 +
61-72 + 0-17.

Verdict: lockstep beats the tuned direct method 2.5-3.4x per core on both models, so by issue 11's rule it
is worth a method. Why: direct's event is a serial chain (a0 -> waiting time -> target -> ~4 dependent
tests whose exit is random, expected ~1 mispredicted branch per event -> the fired branch -> a0),
latency-bound; lockstep spends more work per event (all 32 channels) but without data-dependent branches
and with 8 events' chains in one register. The dependency-row variant and dense gathers lose to full
recomputation with per-lane rows: deciding what to recompute brings the branches back. Cost grows with
M, direct's hardly: on generated mass-action networks (``scaling``) lockstep is 2.43x direct at 64
channels and 0.61x at 128, so a method would be chosen by channel count.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import re
import time
from pathlib import Path

import numpy as np

#: the variants measured: (name, W, propensity update, stoichiometry)
VARIANTS = [
    ("full-W4", 4, "full", "dense"),
    ("full-W8", 8, "full", "dense"),
    ("deps-W4", 4, "deps", "dense"),
    ("deps-W8", 8, "deps", "dense"),
    ("full-W8-csr", 8, "full", "csr"),
    ("full-W4-pad", 4, "full", "pad"),
    ("full-W8-pad", 8, "full", "pad"),
    ("full-W16-pad", 16, "full", "pad"),
    ("blocked-W8-pad", 8, "blocked", "pad"),
    ("blocked-W16-pad", 16, "blocked", "pad"),
]

_HEADER = '''"""Generated by benchmarks/lockstep.py for one model (an experiment, not an engine); compiled with
noalias and the SLP vectoriser (see lockstep.noalias)."""
import math

import numpy as np
from numba import njit

from stochins.engine.rng import _ZF, _ZR, _ZX, exponential, uniform

W = {W}
S = {S}
M = {M}
NP = {NP}
INF = np.inf
TWO_M53 = 1.0 / 9007199254740992.0
U11 = np.uint64(11)
U255 = np.uint64(255)


@njit(cache=True, inline="always")
def rotl(v, k):
    return (v << np.uint64(k)) | (v >> np.uint64(64 - k))


@njit(cache=True, nogil=True, error_model="numpy")
def zig_rest(z, s):
    """The ziggurat of rng.exponential after its fast test failed for the 64-bit draw z (same law, same
    algorithm: the tail, the wedge test, else a fresh draw)."""
    i = int(z & U255)
    v = float(z >> U11) * TWO_M53 * _ZX[i]
    if i == 0:
        return _ZR - math.log(uniform(s))
    if _ZF[i] + uniform(s) * (_ZF[i + 1] - _ZF[i]) < math.exp(-v):
        return v
    return exponential(s)


'''


def _propensity_lines(source: str) -> list[str]:
    """The right-hand sides of the generated ``propensities`` function, in reaction order."""
    body = source.split("def propensities(x, p, u, a):\n", 1)[1].split("\n\n", 1)[0]
    out = []
    for j, line in enumerate(body.splitlines()):
        m = re.fullmatch(r"    a\[(\d+)\] = (.*)", line)
        assert m and int(m.group(1)) == j, line
        out.append(m.group(2))
    return out


def _lane_expr(expr: str, W: int) -> str:
    """A scalar propensity expression rewritten for lane w of structure-of-arrays state and parameters
    (inputs are constant and shared by all lanes)."""
    expr = re.sub(r"\bx\[(\d+)\]", lambda m: f"x[{int(m.group(1)) * W} + w]", expr)
    expr = re.sub(r"\bp\[(\d+)\]", lambda m: f"pp[{int(m.group(1)) * W} + w]", expr)
    return expr


#: the kernel's working arrays (lane-major: entry k of lane w at k * W + w), passed in as arguments so that
#: numba's noalias flag (see ``noalias``) lets LLVM vectorise across lanes: (name, length in lanes, dtype)
WORK = [("x", "S1", "f8"), ("pp", "NP", "f8"), ("a", "M", "f8"), ("cum", "M", "f8"), ("t", 1, "f8"), ("tg", 1, "f8"),
        ("tn", 1, "f8"), ("e", 1, "f8"), ("a0", 1, "f8"), ("uni", 1, "f8"), ("target", 1, "f8"), ("live", 1, "f8"),
        ("s0", 1, "u8"), ("s1", 1, "u8"), ("s2", 1, "u8"), ("s3", 1, "u8"), ("zz", 1, "u8"), ("ok", 1, "?"),
        ("ii", 1, "i8"), ("cell", 1, "i8"), ("nev", 1, "i8"), ("jj", 1, "i8"), ("tmp", 0, "u8")]


def work_arrays(cm, W: int) -> list[np.ndarray]:
    """Fresh zeroed working arrays for ``run`` (tmp: one scalar xoshiro state)."""
    size = {"S": len(cm.species), "S1": len(cm.species) + 1, "M": len(cm.reactions),
            "NP": len(cm.parameters) + 2 + cm.n_derived}
    return [np.zeros(4 if n == 0 else size.get(n, n) * W, dtype=d) for _, n, d in WORK]


def generate(cm, W: int, update: str, stoich: str, degrade: int = -1, ablate: tuple = ()) -> str:
    """The lockstep kernel's module text for compiled model ``cm``; ``degrade``: a channel whose propensity
    is made 10 % too large (a deliberately wrong kernel, for the power check of the law test); ``ablate``:
    parts left out, for timing only (wrong kernels): "stoich" (no lane fires), "select" (no compare-and-
    count), "props" (each propensity replaced by one load of a count), "draws" (constant E and U)."""
    S, M = len(cm.species), len(cm.reactions)
    NP = len(cm.parameters) + 2 + cm.n_derived
    props = [_lane_expr(e, W) for e in _propensity_lines(cm.source)]
    changed = [s for s in range(S) if cm.change[:, s].any()]
    L = [_HEADER.format(W=W, S=S, M=M, NP=NP)]
    L += ["@njit(cache=True, inline='always')", "def max0(v):", "    return 0.0 if 0.0 > v else v", "", ""]
    for k, e in enumerate(props):  # max(expr, 0) as a select: numba's max lowers to branches
        if "max(" in e:
            assert e.count("max(") == e.count(", 0)"), f"only max(expr, 0) is supported: {e}"
            props[k] = e.replace("max(", "max0(").replace(", 0)", ")")
    if degrade >= 0:
        props[degrade] = f"1.1 * ({props[degrade]})"
    L += ["@njit(cache=True, nogil=True, error_model='numpy')",
          "def run(x0, p, u, t_grid, rec, rng, out, nevents, CT, ptr, idx, val, pidx, pval, dep_bits, "
          f"{', '.join(n for n, _, _ in WORK)}):",
          '    """Cells of x0 through W lanes; returns (lane iterations, idle-lane iterations, slow exponentials)."""',
          "    n_cells = x0.shape[0]",
          "    T = t_grid.shape[0]",
          "    R = rec.shape[0]",
          "    tg[:] = INF",
          "    cell[:] = -1",
          "    jj[:] = M",
          "    next_cell = 0",
          "    active = 0",
          "    iterations = 0",
          "    idle = 0",
          "    slow = 0",
          "    for w in range(W):",
          "        c = next_cell if next_cell < n_cells else 0",
          "        for k in range(NP):",
          "            pp[k * W + w] = p[c, k]",
          "        if next_cell < n_cells:",
          "            for s in range(S):",
          "                x[s * W + w] = x0[c, s]",
          "            s0[w], s1[w], s2[w], s3[w] = rng[c, 0], rng[c, 1], rng[c, 2], rng[c, 3]",
          "            t[w] = t_grid[0]",
          "            tg[w] = t_grid[0]",
          "            cell[w] = c",
          "            next_cell += 1",
          "            active += 1",
          "    full = True",
          "    while active > 0:",
          "        iterations += 1",
          "        idle += W - active"]
    # 1. propensities and their running sums
    if update == "full":
        L += ["        for w in range(W):"]
        for k, e in enumerate(props):
            e = f"x[{(k % S) * W} + w]" if "props" in ablate else e
            L += [f"            c = {e}" if k == 0 else f"            c += {e}", f"            cum[{k * W} + w] = c"]
        L += ["            a0[w] = c"]
    elif update == "blocked":  # running sums in blocks of 8: a chain of ~8 + M/8 adds, not M; still
        # non-decreasing (rounded addition is monotone), so compare-and-count stays exact
        L += ["        for w in range(W):"]
        B = 8
        for k, e in enumerate(props):
            e = f"x[{(k % S) * W} + w]" if "props" in ablate else e
            b = k // B
            L += [f"            c{b} = {e}" if k % B == 0 else f"            c{b} += {e}"]
            L += [f"            cum[{k * W} + w] = c{b}" if b == 0 else f"            l{k} = c{b}"]
        for b in range(1, (M + B - 1) // B):
            L += [f"            o = cum[{(b * B - 1) * W} + w]" if b == 1 else f"            o = v"]
            for k in range(b * B, min(M, b * B + B)):
                L += [f"            v = o + l{k}", f"            cum[{k * W} + w] = v"]
        L += [f"            a0[w] = cum[{(M - 1) * W} + w]"]
    else:
        assert M <= 64, "the deps variant keeps the dependency rows as 64-bit sets"
        L += ["        if full:", "            bits = np.uint64(0xFFFFFFFFFFFFFFFF)", "            full = False",
              "        else:", "            bits = np.uint64(0)", "            for w in range(W):",
              "                bits |= dep_bits[jj[w]]"]
        for k, e in enumerate(props):
            L += [f"        if bits & np.uint64({1 << k}):", "            for w in range(W):",
                  f"                a[{k * W} + w] = {e}"]
        L += ["        for w in range(W):"]
        for k in range(M):
            L += [f"            c = a[{k * W} + w]" if k == 0 else f"            c += a[{k * W} + w]",
                  f"            cum[{k * W} + w] = c"]
        L += ["            a0[w] = c"]
    # 2. waiting times: xoshiro256** in every lane, the ziggurat's fast path vectorised, the rest per lane
    xo = ["            v0, v1, v2, v3 = s0[w], s1[w], s2[w], s3[w]",
          "            r = rotl(v1 * np.uint64(5), 7) * np.uint64(9)",
          "            q = v1 << np.uint64(17)",
          "            v2 ^= v0", "            v3 ^= v1", "            v1 ^= v2", "            v0 ^= v3",
          "            v2 ^= q",
          "            v3 = rotl(v3, 45)",
          "            s0[w], s1[w], s2[w], s3[w] = v0, v1, v2, v3"]
    if "draws" in ablate:
        L += ["        for w in range(W):", "            e[w] = 1.0"]
    else:
        L += ["        nok = 0", "        for w in range(W):"] + xo + [
            "            zz[w] = r",
            "            i = r & U255",
            "            v = float(r >> U11) * TWO_M53 * _ZX[i]",
            "            e[w] = v",
            "            ok[w] = v < _ZX[i + 1]",
            "            nok += not ok[w]",
            "        if nok:",
            "            slow += nok",
            "            for w in range(W):",
            "                if not ok[w]:",
            "                    tmp[0], tmp[1], tmp[2], tmp[3] = s0[w], s1[w], s2[w], s3[w]",
            "                    e[w] = zig_rest(zz[w], tmp)",
            "                    s0[w], s1[w], s2[w], s3[w] = tmp[0], tmp[1], tmp[2], tmp[3]"]
    L += [
        "        for w in range(W):",
        "            tn[w] = t[w] + e[w] / a0[w]",
        "        hit = 0",  # counts, not boolean ors: integer sums of comparisons vectorise
        "        bad = 0",
        "        for w in range(W):",
        "            hit += tg[w] < tn[w]",
        "            bad += not a0[w] >= 0.0",
        "        if bad:",
        "            for w in range(W):",
        "                if cell[w] >= 0 and not a0[w] >= 0.0:",
        "                    return -1 - cell[w], 0, 0"]
    if "draws" in ablate:
        L += ["        for w in range(W):", "            uni[w] = 0.5", "            live[w] = 1.0"]
    else:
        L += ["        for w in range(W):"] + xo + [
            "            zz[w] = r",
            "        for w in range(W):",  # the conversion in its own loop: fused with xoshiro it stayed scalar
            "            uni[w] = (float(zz[w] >> U11) + 1.0) * TWO_M53",
            "            live[w] = 1.0"]
    # 3. recording on the grid (rare: a scalar loop per lane that crossed its next grid time), refills
    L += ["        if hit:",
          "            for w in range(W):",
          "                while tg[w] < tn[w]:",
          "                    for r_ in range(R):",
          "                        out[cell[w], ii[w], r_] = np.int32(x[rec[r_] * W + w])",
          "                    ii[w] += 1",
          "                    tg[w] = t_grid[ii[w]] if ii[w] < T else INF",
          "                if ii[w] == T:",
          "                    nevents[cell[w]] = nev[w]",
          "                    live[w] = 0.0",
          "                    full = True",
          "                    if next_cell < n_cells:",
          "                        c = next_cell",
          "                        next_cell += 1",
          "                        for k in range(NP):",
          "                            pp[k * W + w] = p[c, k]",
          "                        for s in range(S):",
          "                            x[s * W + w] = x0[c, s]",
          "                        s0[w], s1[w], s2[w], s3[w] = rng[c, 0], rng[c, 1], rng[c, 2], rng[c, 3]",
          "                        t[w] = t_grid[0]",
          "                        tn[w] = t_grid[0]",
          "                        ii[w] = 0",
          "                        tg[w] = t_grid[0]",
          "                        cell[w] = c",
          "                        nev[w] = 0",
          "                    else:",
          "                        for s in range(S):",
          "                            x[s * W + w] = 0.0",
          "                        cell[w] = -1",
          "                        ii[w] = T + 1",
          "                        tn[w] = t[w]",
          "                        active -= 1"]
    # 4. channel selection, branch-free: j = number of running sums below the target (M: no channel)
    L += ["        for w in range(W):",
          "            target[w] = " + ("INF" if "stoich" in ablate else "uni[w] * a0[w] if live[w] > 0.0 else INF"),
          "            t[w] = tn[w]",
          "            nev[w] += live[w] > 0.0",
          "            j = 0"]
    L += [f"            j += cum[{k * W} + w] < target[w]" for k in range(M) if "select" not in ablate]
    L += ["            j = M"] if "select" in ablate else []
    L += ["            jj[w] = j"]
    # 5. state change: a gather from the dense (species, channel) table, or the channel's sparse row per lane
    if stoich == "dense":
        L += ["        for w in range(W):"]
        L += [f"            x[{s * W} + w] += CT[{s * (M + 1)} + jj[w]]" for s in changed]
    elif stoich == "csr":
        L += ["        for w in range(W):", "            j = jj[w]", "            for q in range(ptr[j], ptr[j + 1]):",
              "                x[idx[q] * W + w] += val[q]"]
    else:  # rows padded to the longest with +0 on a spare species slot: a fixed trip count, no branch
        K = int((cm.change != 0).sum(axis=1).max())
        L += ["        for w in range(W):", f"            j = jj[w] * {K}"]
        L += [f"            x[pidx[j + {q}] * W + w] += pval[j + {q}]" for q in range(K)]
    L += ["    return iterations, idle, slow", ""]
    return "\n".join(L)


def tables(cm):
    """The arrays the kernel reads besides cells: dense change table (species × channels+1, the last
    column zero: the null event of a lane that did not fire), its CSR form, the CSR rows padded to equal
    length, dependency bitsets."""
    S, M = len(cm.species), len(cm.reactions)
    CT = np.zeros((S, M + 1))
    CT[:, :M] = cm.change.T
    ptr = np.zeros(M + 2, dtype=np.int64)
    idx, val = [], []
    for j in range(M):
        nz = np.flatnonzero(cm.change[j])
        idx += nz.tolist()
        val += cm.change[j, nz].astype(float).tolist()
        ptr[j + 1] = len(idx)
    ptr[M + 1] = len(idx)
    dep_bits = np.zeros(M + 1, dtype=np.uint64)  # the deps variant only: one bit per channel, M <= 64
    for j in range(M if M <= 64 else 0):
        for k in cm.depends[j]:
            dep_bits[j] |= np.uint64(1 << k)
    K = int((cm.change != 0).sum(axis=1).max())
    pidx = np.full((M + 1, K), S, dtype=np.int64)  # padding: +0 on the spare slot S
    pval = np.zeros((M + 1, K))
    for j in range(M):
        nz = np.flatnonzero(cm.change[j])
        pidx[j, :nz.size] = nz
        pval[j, :nz.size] = cm.change[j, nz]
    return CT.ravel(), ptr, np.array(idx, dtype=np.int64), np.array(val), pidx.ravel(), pval.ravel(), dep_bits


@contextlib.contextmanager
def noalias():
    """Compile with numba's internal ``noalias`` flag (array arguments do not overlap, which holds here)
    and LLVM's SLP vectoriser (numba turns it off by default: ``NUMBA_SLP_VECTORIZE``). Without noalias
    LLVM must assume that a store to one lane array may change another and vectorises nothing; without
    SLP, the lane loops that the loop vectoriser leaves (fully unrolled W-wide code) stay scalar. Set for
    the compiles inside this block only, so stochins' own kernels (and their shared disk cache) are
    unaffected."""
    from numba import config
    from numba.core import cpu

    finalize, slp = cpu.CPUTargetOptions.finalize, config.SLP_VECTORIZE

    def with_noalias(self, flags, options):
        finalize(self, flags, options)
        flags.noalias = True

    cpu.CPUTargetOptions.finalize = with_noalias
    config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        cpu.CPUTargetOptions.finalize, config.SLP_VECTORIZE = finalize, slp


def kernel(cm, W: int, update: str, stoich: str, degrade: int = -1, ablate: tuple = ()):
    """The compiled lockstep kernel for a model (generated text cached beside stochins' models)."""
    from stochins.compile import _import_generated, _write_generated

    src = generate(cm, W, update, stoich, degrade, ablate)
    name = "lockstep_" + hashlib.sha256(src.encode()).hexdigest()[:16]
    return _import_generated(_write_generated(src, name)).run


# ---------------------------------------------------------------------- driver
WORKLOADS = {
    "insulin": dict(model="sedaghat2002", t_end=60.0, samples=61, inputs={"insulin": 100.0},
                    model_parameters={"scale": 0.01}),
    "cascade": dict(model=str(Path(__file__).resolve().parent / "models" / "cascade.yaml"), t_end=100.0,
                    samples=101, inputs=None, model_parameters=None),
}


def setup(key: str, cells: int, seed: int):
    """The compiled model, a stochins Plan for the direct method, and the cells' arrays."""
    import stochins
    from stochins.engine.rng import seed_streams
    from stochins.simulation import Plan

    wl = WORKLOADS[key]
    model = stochins.load_model(wl["model"])
    plan = Plan.create(model, t_end=wl["t_end"], samples=wl["samples"], method="direct", seed=seed,
                       inputs=wl["inputs"], model_parameters=wl["model_parameters"])
    assert plan.schedule.values.shape[0] == 1, "the prototype handles constant inputs only"
    p, x0, _ = plan.cells(0, cells)
    rng = seed_streams(np.uint64(plan.seed), np.uint64(plan.condition), 0, cells)
    return model, plan, p, x0.astype(np.float64), rng


def run_lockstep(fn, W, model, plan, p, x0, rng):
    """One lockstep run; (trajectories (cells, T, species), events per cell, wall s, CPU s, counters)."""
    rec = model.species_index(plan.record)
    out = np.zeros((x0.shape[0], plan.time.size, rec.size), dtype=np.int32)
    nev = np.zeros(x0.shape[0], dtype=np.int64)
    arrays = tables(model)
    w0, c0 = time.perf_counter(), time.thread_time()
    work = work_arrays(model, W)
    with noalias():
        counters = fn(x0, p, plan.schedule.values[0], plan.time, rec, rng.copy(), out, nev, *arrays, *work)
    wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    assert counters[0] >= 0, f"bad propensity in cell {-1 - counters[0]}"
    return out, nev, wall, cpu, counters


def run_direct(plan, cells: int):
    """stochins' tuned direct method on one thread; (trajectories, events per cell, wall s, CPU s)."""
    w0, c0 = time.perf_counter(), time.thread_time()
    block = plan.block(0, cells, threads=1)
    return block.trajectories, block.events, time.perf_counter() - w0, time.thread_time() - c0


def law_check(a: np.ndarray, b: np.ndarray, times: list[int]) -> tuple[float, float]:
    """Largest |z| of the mean differences and of the log-SD ratios over species at the given samples.

    SE of a mean difference from both samples' variances; SE of log SD ≈ sqrt((kurtosis - 1) / 4n)."""
    zm, zs = 0.0, 0.0
    for i in times:
        for s in range(a.shape[2]):
            x, y = a[:, i, s].astype(float), b[:, i, s].astype(float)
            vx, vy = x.var(ddof=1), y.var(ddof=1)
            if vx == 0 and vy == 0:
                continue
            zm = max(zm, abs(x.mean() - y.mean()) / math.sqrt(vx / x.size + vy / y.size))
            if vx > 0 and vy > 0:
                kx = ((x - x.mean()) ** 4).mean() / vx ** 2
                ky = ((y - y.mean()) ** 4).mean() / vy ** 2
                se = math.sqrt((kx - 1) / (4 * x.size) + (ky - 1) / (4 * y.size))
                zs = max(zs, abs(0.5 * math.log(vx / vy)) / se)
    return zm, zs


def _short(plan, t_end: float, samples: int):
    """The plan on [t0, t_end] with ``samples`` recording times (same cells, same streams)."""
    import copy

    out = copy.copy(plan)
    out.time = np.linspace(plan.time[0], t_end, samples)
    return out


def speed(key: str, variants, cells: int, rounds: int, log) -> dict:
    """Events/s per thread-CPU second of direct and each variant on the same cells, interleaved."""
    model, plan, p, x0, rng = setup(key, cells, seed=1)
    warm = _short(plan, plan.time[-1] / 100, 2)
    run_direct(warm, 1)  # direct first: its kernels (and the shared rng functions) compile without noalias
    fns = {}
    for name, W, update, stoich in variants:
        t0 = time.perf_counter()
        fns[name] = (kernel(model, W, update, stoich), W)
        run_lockstep(fns[name][0], W, model, warm, p[:1], x0[:1], rng[:1])
        log(f"  {key} {name}: compiled or loaded in {time.perf_counter() - t0:.1f} s")
    rows = {"direct": []} | {name: [] for name in fns}
    for _ in range(rounds):
        _, ev, wall, cpu = run_direct(plan, cells)
        rows["direct"].append((int(ev.sum()), wall, cpu, None))
        for name, (fn, W) in fns.items():
            _, ev, wall, cpu, counters = run_lockstep(fn, W, model, plan, p, x0, rng)
            rows[name].append((int(ev.sum()), wall, cpu, counters))
    result = {}
    for name, runs in rows.items():
        events, wall, cpu, counters = min(runs, key=lambda r: r[2] / r[0])  # the least disturbed round
        result[name] = {"events": events, "wall_s": wall, "cpu_s": cpu, "events_per_cpu_s": events / cpu,
                        "ns_per_event": 1e9 * cpu / events}
        if counters is not None:
            iterations, idle, slow = counters
            W = fns[name][1]
            result[name].update(iterations=iterations, idle_lane_share=idle / (iterations * W),
                                slow_exponential_share=slow / (iterations * W), ns_per_iteration=1e9 * cpu / iterations)
    base = result["direct"]["events_per_cpu_s"]
    for name, r in result.items():
        r["ratio_to_direct"] = r["events_per_cpu_s"] / base
        log(f"  {key} {name:12s} {r['events_per_cpu_s']:.3g} events/CPU-s ({r['ns_per_event']:.1f} ns/event, "
            f"wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.2f} s) = {r['ratio_to_direct']:.2f}x direct")
    return result


def identical(key: str, variants, cells: int, log) -> None:
    """Every variant gives the same bits: a cell's draws and arithmetic do not depend on its lane, W,
    the propensity update or the stoichiometry layout (checked on a short run)."""
    model, plan, p, x0, rng = setup(key, cells, seed=5)
    plan = _short(plan, plan.time[-1] / 20, 5)
    first = None
    for name, W, update, stoich in variants:
        out, nev, _, _, _ = run_lockstep(kernel(model, W, update, stoich), W, model, plan, p, x0, rng)
        if first is None:
            first = (name, out, nev)
        assert np.array_equal(out, first[1]) and np.array_equal(nev, first[2]), f"{name} differs from {first[0]}"
    log(f"  {key}: all {len(variants)} variants give identical trajectories and event counts ({cells} cells)")


#: the variant the law test checks in full (every variant gives the same bits, see ``identical``)
BEST = next(v for v in VARIANTS if v[0] == "full-W8-pad")

#: |z| above this, for any species' mean or log SD at any of the tested times, rejects a kernel
Z_LIMIT = 4.0


def law(key: str, variant, cells: int, log, seeds=(11, 12)) -> dict:
    """A variant against stochins' direct method, independent seeds: max |z| of the mean difference and of
    the log-SD ratio, every species at 6 times over the whole span (120 comparisons per statistic for
    the insulin model: under a correct kernel max |z| > 4 has probability ~1 %); the power check runs
    the same test on the kernel with its most frequently fired channel 10 % too fast, which must fail."""
    model, plan, p, x0, rng = setup(key, cells, seed=seeds[0])
    ref, _, _, _ = run_direct(plan, cells)
    _, plan2, p2, x02, rng2 = setup(key, cells, seed=seeds[1])
    T = plan.time.size
    times = [round(k * (T - 1) / 6) for k in range(1, 7)]
    name, W, update, stoich = variant
    fastest = int(model.module.SEARCH_ORDER[0])
    result = {}
    for label, degrade in ((name, -1), (f"{name} with channel {model.reactions[fastest]} x1.1", fastest)):
        out, _, _, _, _ = run_lockstep(kernel(model, W, update, stoich, degrade), W, model, plan2, p2, x02, rng2)
        zm, zs = law_check(out, ref, times)
        verdict = "pass" if max(zm, zs) < Z_LIMIT else "FAIL"
        result[label] = {"max_abs_z_mean": zm, "max_abs_z_log_sd": zs, "verdict": verdict}
        log(f"  {key} {label}: vs direct ({cells} cells each, seeds {seeds}, 6 times to t = {plan.time[-1]:g}): "
            f"max |z| means {zm:.2f}, log SDs {zs:.2f}: {verdict}")
    assert result[name]["verdict"] == "pass", "the lockstep kernel is not exact in law"
    assert result[label]["verdict"] == "FAIL", "the law test has no power: a 10 % wrong channel passes"
    return result


def ablation(key: str, variant, cells: int, rounds: int, log) -> dict:
    """Where a lockstep iteration's time goes: ns per iteration (W lanes) with parts left out cumulatively
    (timing-only kernels; a branch-free iteration costs about the same whatever the state)."""
    name, W, update, stoich = variant
    model, plan, p, x0, rng = setup(key, cells, seed=1)
    steps = [(), ("stoich",), ("stoich", "select"), ("stoich", "select", "props"),
             ("stoich", "select", "props", "draws")]
    fns = [kernel(model, W, update, stoich, ablate=a) for a in steps]
    warm = _short(plan, plan.time[-1] / 100, 2)
    for fn in fns:
        run_lockstep(fn, W, model, warm, p[:1], x0[:1], rng[:1])
    best = [math.inf] * len(steps)
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            _, _, _, cpu, counters = run_lockstep(fn, W, model, plan, p, x0, rng)
            best[k] = min(best[k], 1e9 * cpu / counters[0])
    labels = [{"csr": "state change (CSR row per lane)", "pad": "state change (padded rows per lane)",
               "dense": "state change (gathers over all species)"}[stoich],
              f"compare-and-count over {len(model.reactions)} channels",
              f"{len(model.reactions)} propensities (beyond one load each)",
              "2 draws per lane (xoshiro256**, ziggurat, slow draws)",
              "the rest: running sums, waiting time, recording test, loop"]
    parts = {lab: (best[k] - best[k + 1] if k + 1 < len(best) else best[k]) for k, lab in enumerate(labels)}
    log(f"  {key} {name}: {best[0]:.0f} ns per iteration of {W} lanes ({best[0] / W:.1f} ns per lane-event)")
    for lab, ns in parts.items():
        log(f"    {lab}: {ns:.0f} ns/iteration ({ns / W:.1f} ns/event, {100 * ns / best[0]:.0f} %)")
    return {"ns_per_iteration": best[0], "parts_ns_per_iteration": parts}


def scaling(log, cells: int = 16, rounds: int = 2) -> None:
    """full-W8-pad against direct on generated mass-action networks of growing size (benchmarks/
    large_network.py): lockstep's work per event grows with the number of channels, direct's hardly."""
    import tempfile

    from .large_network import large_network_yaml

    for per_mass, pairs in ((10, 32), (20, 64)):  # 320 channels: no lockstep kernel within 15 min of compiling
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "network.yaml"
            path.write_text(large_network_yaml(per_mass=per_mass, pairs=pairs), encoding="utf-8")
            key = f"network-{2 * pairs}"
            WORKLOADS[key] = dict(model=str(path), t_end=1.0, samples=2, inputs=None, model_parameters=None)
            _, plan, _, _, _ = setup(key, 2, seed=1)
            _, ev, _, _ = run_direct(plan, 2)  # events per unit time: size the span to ~3e5 events per cell
            WORKLOADS[key]["t_end"] = float(np.clip(3e5 / max(ev.mean(), 1.0), 1.0, 1e4))
            WORKLOADS[key]["samples"] = 11
            speed(key, [BEST], cells, rounds, log)
            del WORKLOADS[key]


def profile(key: str, name: str, cells: int, span: float, log) -> None:
    """One method on its own (nothing else simulated after the warm-up), for counting its instructions."""
    model, plan, p, x0, rng = setup(key, cells, seed=3)
    plan = _short(plan, span, 2)
    warm = _short(plan, span / 100, 2)
    if name == "direct":
        run_direct(warm, 1)
        _, ev, wall, cpu = run_direct(plan, cells)
    else:
        _, W, update, stoich = next(v for v in VARIANTS if v[0] == name)
        fn = kernel(model, W, update, stoich)
        run_lockstep(fn, W, model, warm, p[:1], x0[:1], rng[:1])
        _, ev, wall, cpu, _ = run_lockstep(fn, W, model, plan, p, x0, rng)
    log(f"{key} {name}: {cells} cells, {int(ev.sum())} events, CPU {cpu:.3f} s")


_DEATH = """name: pure_death
description: pure death to extinction (the kernel's a0 = 0 path and many lane refills)
species: {A: 5}
parameters: {k: 1.0}
reactions: {death: {equation: "A -> 0", rate: k}}
"""


def extinction(log, cells: int = 4000) -> None:
    """Pure death A -> 0 from 5: exactly Binomial(5, exp(-t)) at every time; the z of each time's mean
    and variance (SE of a sample variance from the binomial's fourth central moment)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "death.yaml"
        path.write_text(_DEATH, encoding="utf-8")
        WORKLOADS["death"] = dict(model=str(path), t_end=5.0, samples=21, inputs=None, model_parameters=None)
        model, plan, p, x0, rng = setup("death", cells, seed=3)
        del WORKLOADS["death"]
    name, W, update, stoich = BEST
    out, nev, _, _, _ = run_lockstep(kernel(model, W, update, stoich), W, model, plan, p, x0, rng)
    q = np.exp(-plan.time[1:])
    var = 5 * q * (1 - q)
    mu4 = var * (1 + 3 * (5 - 2) * q * (1 - q))  # Binomial(n, q): npq (1 + 3 (n - 2) pq)
    zm = (out[:, 1:, 0].mean(axis=0) - 5 * q) / np.sqrt(var / cells)
    zv = (out[:, 1:, 0].var(axis=0, ddof=1) - var) / np.sqrt((mu4 - var ** 2) / cells)
    worst = max(np.abs(zm).max(), np.abs(zv).max())
    log(f"  pure death to extinction ({name}, {cells} cells, 20 times): max |z| mean {np.abs(zm).max():.2f}, "
        f"variance {np.abs(zv).max():.2f}: {'pass' if worst < Z_LIMIT else 'FAIL'}")
    assert worst < Z_LIMIT


def main(argv=None) -> None:
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(WORKLOADS))
    ap.add_argument("--cells", type=int, default=16, help="cells per speed run (default 16)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--law-cells", type=int, default=200)
    ap.add_argument("--skip-law", action="store_true")
    ap.add_argument("--only", metavar="NAME", help="run only this method (direct or a variant) once on --cells cells "
                    "over --span, after a warm-up (to profile it alone)")
    ap.add_argument("--span", type=float, default=1.0, help="--only: simulated time, in the model's unit")
    ap.add_argument("--scaling", action="store_true", help="only the generated networks of 64 and 128 channels "
                    "(cold: a few minutes of compiling)")
    args = ap.parse_args(argv)
    log = print
    if args.only:
        profile(args.models[0], args.only, args.cells, args.span, log)
        return
    if args.scaling:
        scaling(log, args.cells, args.rounds)
        return
    log(f"load average before: {os.getloadavg()}")
    extinction(log)
    for key in args.models:
        identical(key, VARIANTS, 8, log)
        if not args.skip_law:
            law(key, BEST, args.law_cells, log)
        speed(key, VARIANTS, args.cells, args.rounds, log)
        ablation(key, BEST, args.cells, args.rounds, log)
    log(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
