"""The composition-rejection method (``cr``): its tables and programs against the plain-Python reference,
its event programs against the generated code's event functions, its law against the SSA, its compile shared by every model, and a large model validated without code.

The kernel itself is run on the random states and parameters of test_generated_code.py: started at a
state with a one-point time grid, it evaluates every propensity (tables for mass action, postfix
programs for the rest) and stops, leaving them in its working arrays; run for a few hundred events, the
propensities it keeps up to date through the dependency graph must equal the reference's at the state
it ends in. Mutants of the arrays (a wrong combinatorial factor in the table, a lost 1/n!, a missing
dependency edge, a wrong operator in a program) must be reported. The exact-law, DSMTS, agreement and
reproducibility tests of the other exact methods run ``cr`` too (they take every exact method).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from scipy import stats

import naive
import stochins
from stats_helpers import P_MIN
from stochins.engine import composition_rejection as cr
from stochins.engine.rng import seed_streams
from test_generated_code import MODELS, agree, compiled, random_cases, report

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1]))
from benchmarks.large_network import large_network_yaml  # noqa: E402


def run_kernel(model, arrays, x, p, u, t_end: float = 0.0, seed: int = 1):
    """``cr_cell`` from state x over [0, t_end] (0: evaluate the propensities only): (status, detail, the
    final state, the propensities the kernel holds for it, events)."""
    m = len(model.reactions)
    g = cr.group_state(m, min(cr.N_GROUPS, m))
    stack = np.empty(max(1, int(np.diff(arrays[1]).max())))
    x = np.array(x, dtype=np.int64)
    rng = seed_streams(np.uint64(seed), np.uint64(0), 0, 1)[0]
    grid = np.array([0.0, t_end]) if t_end > 0 else np.array([0.0])
    out = np.zeros((grid.size, 1), dtype=np.int32)
    status, detail, events = cr.cr_cell(x, p, np.array([0.0]), np.array(u, dtype=np.float64)[None, :], grid,
                                        np.array([0]), rng, out, np.zeros(m), tuple(arrays), stack, g, np.arange(m),
                                        np.empty(len(u) + 1), cr.event_scratch(tuple(arrays)))
    return status, detail, x, g[0].copy(), events


#: short runs per cell that check the propensities the kernel keeps up to date
RUNS = 16


def compare(model, arrays, cases, firing_cells: int = 4) -> list[str]:
    """Every disagreement of the kernel's propensities with naive.py, one line each: at every random
    state, and after runs of 4, 8, ... expected events from each cell's initial state (the dependency graph)."""
    ref = naive.NaiveModel(model.network)
    n_p, names = len(model.parameters), model.reactions
    problems = []
    for c in range(cases.p.shape[0]):
        args = (dict(zip(model.parameters, cases.p[c, :n_p].tolist())), dict(zip(model.inputs, cases.u[c].tolist())),
                float(cases.p[c, n_p]))
        where = f"{model.network.name} cell {c} (Ω={args[2]:.3g})"
        for x in cases.x[c]:
            counts = dict(zip(model.species, x.tolist()))
            status, detail, _, a, _ = run_kernel(model, arrays, x, cases.p[c], cases.u[c])
            want = ref.propensities(counts, *args)
            checked = names if status == cr.OK else names[:detail]
            if status != cr.OK:
                bad = want[names[detail]]
                if status != cr.BAD_PROPENSITY or (bad >= 0 and math.isfinite(bad)):
                    problems.append(f"{where}: status {status} at reaction {names[detail]} ({bad!r}) at {x.tolist()}")
            for k, name in enumerate(checked):
                if not agree(a[k], want[name], lambda e: ref.propensity(name, counts, *args, perturb=e)):
                    problems.append(f"{where}: propensity {name} = {a[k]!r}, reference {want[name]!r} at {x.tolist()}")
        if c >= firing_cells:
            continue
        x0 = cases.x[c, 0]
        a0 = sum(ref.propensities(dict(zip(model.species, x0.tolist())), *args).values())
        if not a0 > 0 or not math.isfinite(a0):
            continue
        for seed in range(RUNS):  # runs of different lengths: each ends after a different last firing
            status, detail, x, a, events = run_kernel(model, arrays, x0, cases.p[c], cases.u[c],
                                                      t_end=(1 + seed) * 4.0 / a0, seed=seed)
            if status == cr.NEGATIVE_COUNT:  # a full propensity that does not vanish without its reactant
                continue
            if status != cr.OK:
                problems.append(f"{where}: run from {x0.tolist()} ended with status {status} ({detail})")
                continue
            counts = dict(zip(model.species, x.tolist()))
            want = ref.propensities(counts, *args)
            for k, name in enumerate(names):
                if not agree(a[k], want[name], lambda e: ref.propensity(name, counts, *args, perturb=e)):
                    problems.append(f"{where}: after {events} events propensity {name} = {a[k]!r}, reference "
                                    f"{want[name]!r} at {x.tolist()} (kept up to date through the dependency graph)")
    return problems


@pytest.mark.parametrize("name", MODELS)
def test_tables_and_programs_equal_naive_reference(name):
    model = compiled(name)
    arrays = model.cr_arrays
    problems = compare(model, arrays, random_cases(model, seed=20260 + MODELS.index(name)))
    assert not problems, report(problems)
    if name == "sedaghat2002":  # most of its reactions are table mass action; the rest are programs
        assert 0 < (arrays[0] == 0).sum() < len(model.reactions)


def _mutant(arrays, index, change):
    out = [a.copy() for a in arrays]
    change(out[index])
    return out


def _reaction(model, name):
    return model.reactions.index(name)


def factor_dropped(model, arrays):
    """The table of 2 A -> B with order 1: C(A, 1) instead of C(A, 2)."""
    j = _reaction(model, "dimer")
    return _mutant(arrays, 7, lambda ma_n: ma_n.__setitem__(arrays[5][j], 1))


def half_lost(model, arrays):
    """1/2! missing from the table constants (the constant 0.5 read as 1)."""
    k = int(np.flatnonzero(arrays[4] == 0.5)[0])
    return _mutant(arrays, 4, lambda consts: consts.__setitem__(k, 1.0))


def edge_lost(model, arrays):
    """The dependency graph forgets that firing 'dimer' changes its own propensity."""
    j = _reaction(model, "dimer")
    row = list(range(arrays[11][j], arrays[11][j + 1]))
    at = next(k for k in row if arrays[12][k] == j)
    keep = np.ones(arrays[12].size, dtype=bool)
    keep[at] = False
    out = list(arrays)
    out[11] = arrays[11] - (np.arange(arrays[11].size) > j)
    out[12] = arrays[12][keep]
    return out


def min_is_max(model, arrays):
    """Every min() in the programs evaluated as max()."""
    return _mutant(arrays, 2, lambda op: op.__setitem__(op == cr.MIN, cr.MAX))


MUTANTS = {
    "table-factor": ("mass_action", factor_dropped, "propensity dimer"),
    "table-constant": ("mass_action", half_lost, "propensity dimer"),
    "missing-edge": ("mass_action", edge_lost, "dependency graph"),
    "program-operator": ("expressions", min_is_max, "propensity clamp"),
}


@pytest.mark.parametrize("label", MUTANTS)
def test_comparison_catches_broken_arrays(label):
    name, mutate, expect = MUTANTS[label]
    model = compiled(name)
    problems = compare(model, mutate(model, model.cr_arrays), random_cases(model, seed=20260 + MODELS.index(name)))
    assert any(expect in s for s in problems), f"{label}: not reported\n" + report(problems)


# ---------------------------------------------------------------------------- agreement in law
def smallest_ks_p(a, b, species, times) -> float:
    idx = [int(np.argmin(np.abs(a.time - t))) for t in times]
    return min(stats.ks_2samp(a[s][:, i], b[s][:, i]).pvalue for s in species for i in idx)


INSULIN_SPECIES = ("IRS1_pY", "PIP3", "Akt_active", "GLUT4_surface")


@pytest.fixture(scope="module")
def insulin():
    model = stochins.load_model("sedaghat2002")
    kw = dict(cells=400, t_end=3.0, samples=7, inputs={"insulin": 100.0}, model_parameters={"scale": 0.01},
              record=list(INSULIN_SPECIES))
    return model, kw, stochins.simulate(model, method="ssa", seed=1, **kw)


def test_insulin_model_agrees_with_ssa_in_law(insulin):
    model, kw, ref = insulin
    res = stochins.simulate(model, method="cr", seed=2, **kw)
    assert res.events.mean() > 1e4
    assert smallest_ks_p(ref, res, INSULIN_SPECIES, (0.5, 1.5, 3.0)) > P_MIN


def test_insulin_agreement_rejects_a_wrong_rate(insulin):
    """Power: the same comparison with IRS1 phosphorylation 10 % too fast in cr fails."""
    model, kw, ref = insulin
    wrong = stochins.simulate(model, method="cr", seed=2, **{**kw, "model_parameters": {"scale": 0.01, "k7": 1.1 * model.network.parameters["k7"]}})
    assert smallest_ks_p(ref, wrong, INSULIN_SPECIES, (0.5, 1.5, 3.0)) < P_MIN


# ---------------------------------------------------------------------------- a large network
def numpy_direct(model, cells: int, times: np.ndarray, seed: int) -> np.ndarray:
    """A plain direct-method SSA for a mass-action network of order <= 2: every propensity recomputed
    with numpy at every event (an independent reference: no tables, no groups, no dependency graph).
    Returns counts (cells, times, species)."""
    net, m, s = model.network, len(model.reactions), len(model.species)
    k = np.array([net.rate_expr(net.reactions[n]).evaluate(net.parameters) for n in model.reactions])
    first = np.full((2, m), s)  # two reactant slots per reaction; species s is a dummy count of 1
    order = np.zeros((2, m), dtype=np.int64)
    for j, name in enumerate(model.reactions):
        for slot, (sp, n) in enumerate(net.reactions[name].reactants):
            first[slot, j], order[slot, j] = model.species.index(sp), n
    assert order.max() <= 2
    change = model.change.astype(float)
    rng = np.random.default_rng(seed)
    out = np.empty((cells, times.size, s))
    x0 = np.append(model.initial_state(model.parameter_vector()).astype(float), 1.0)

    def factor(v, n):
        return np.where(n == 2, v * (v - 1) / 2, np.where(n == 1, v, 1.0))

    for c in range(cells):
        x, t, i = x0.copy(), 0.0, 0
        while i < times.size:
            a = k * factor(x[first[0]], order[0]) * factor(x[first[1]], order[1])
            total = a.sum()
            t += rng.exponential(1.0 / total) if total > 0 else np.inf
            while i < times.size and times[i] < t:
                out[c, i] = x[:s]
                i += 1
            j = min(int(np.searchsorted(np.cumsum(a), rng.random() * total, side="right")), m - 1)
            x[:s] += change[j]
    return out


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    path = tmp_path_factory.mktemp("large") / "large_network.yaml"
    path.write_text(large_network_yaml(), encoding="utf-8")
    model = stochins.load_model(path)
    times = np.linspace(0.0, 0.3, 4)
    ref = numpy_direct(model, 300, times, seed=5)
    busy = np.argsort(-ref[:, -1, :].std(0))[:4]  # the species that spread most by the last time
    return model, times, ref, busy


def _large_p(model, times, ref, busy, **kw) -> float:
    res = stochins.simulate(model, cells=2000, t_end=float(times[-1]), samples=times.size, seed=6, method="cr", **kw)
    assert np.array_equal(res.time, times) and res.events.mean() > 300
    names = [model.species[b] for b in busy]
    return min(stats.ks_2samp(res[name][:, i], ref[:, i, b]).pvalue for name, b in zip(names, busy)
               for i in range(1, times.size))


def test_large_network_agrees_with_a_plain_direct_method(large):
    """320 reactions, 120 species (benchmarks/large_network.py): the generated SSA would take minutes to
    compile for it, so the reference is a plain numpy direct method."""
    model, times, ref, busy = large
    assert len(model.reactions) >= 300 and len(model.species) >= 100
    assert _large_p(model, times, ref, busy) > P_MIN


def test_large_network_agreement_rejects_wrong_rates(large):
    """Power: every binding 20 % faster in cr is rejected."""
    model, times, ref, busy = large
    faster = {q: 1.2 * v for q, v in model.network.parameters.items() if q.startswith("kf")}
    assert _large_p(model, times, ref, busy, model_parameters=faster) < P_MIN


def test_auto_takes_cr_above_its_threshold_and_says_why(large):
    model = large[0]
    assert len(model.reactions) > cr.AUTO_ABOVE_REACTIONS
    res = stochins.simulate(model, cells=3, t_end=0.01, samples=2, seed=1, method="auto")
    assert res.method == "cr" and res.method_reason.startswith("cr: 320 reactions")
    assert model._code is None  # no generated per-reaction code was needed


SECOND_MODEL = """
import json, stochins
from stochins.engine import composition_rejection as cr
model = stochins.load_model({path!r})
stochins.simulate(model, cells=2, t_end=1.0, samples=2, seed=1, method="cr", threads=1)
print(json.dumps([sum(cr.cr_cells.stats.cache_hits.values()), sum(cr.cr_cells.stats.cache_misses.values())]))
"""


def test_one_compile_serves_every_model(tmp_path):
    """A second, different model in a fresh process loads cr's kernels from numba's cache (no compile)."""
    runs = []
    for k, text in enumerate((textwrap.dedent("""
            name: one
            species: {X: 5}
            parameters: {k: 2.0, mu: 0.1}
            reactions:
              birth: {equation: "0 -> X", rate: k}
              death: {equation: "X -> 0", rate: mu}
            """), large_network_yaml(pairs=40, per_mass=10))):
        path = tmp_path / f"model_{k}.yaml"
        path.write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", SECOND_MODEL.format(path=str(path))], capture_output=True,
                             text=True, check=True)
        runs.append((json.loads(out.stdout.strip().splitlines()[-1]), time.perf_counter() - t0))
    print(f"\nfirst process {runs[0][1]:.1f} s, second model's process {runs[1][1]:.1f} s")
    hits, misses = runs[1][0]
    assert hits >= 1 and misses == 0


# ---------------------------------------------------------------------------- events as programs
EVENTS = """
name: event_programs
species: {X: 5, Y: 2}
parameters: {k: 1.5, cap: 10, t_on: 3.0}
inputs: {s: 1.0}
reactions:
  make: {equation: "0 -> X", propensity: "k * s"}
  convert: {equation: "X -> Y", rate: k}
events:
  switch: {trigger: "t >= 2 * t_on", assign: {k: "k / 2", s: "s + 1"}, priority: "k + X"}
  full: {trigger: "X > cap and Y < 3 or X / (Y + 1) >= 2.5", assign: {X: "X * 2 + k", Y: 0}, priority: 1}
  late: {trigger: "t > t_on and s > 1.5", assign: {Y: "max(Y, X) - 1"}}
"""


def event_disagreements(model, arrays, seed: int = 7, n: int = 300) -> list[str]:
    """cr's event programs (triggers, trigger times, priorities, assigned values) against the generated
    code's functions run as plain Python, at random states, parameters, cell sizes, inputs and times."""
    from stochins.compile import python_model

    ns, net = python_model(model), tuple(arrays)
    stack = np.empty(max(1, int(np.diff(arrays[1]).max())))
    rng = np.random.default_rng(seed)
    n_e, n_t, n_p = len(model.events), int(arrays[13][2]), len(model.parameters)
    width = int(np.diff(arrays[14]).max())
    problems = []
    for _ in range(n):
        x = rng.integers(0, 30, len(model.species)).astype(np.int64)
        p = model.parameter_vector()
        p[:n_p] *= rng.uniform(0.5, 2.0, n_p)
        p[n_p] = rng.uniform(0.5, 2.0)
        p[n_p + 1] = 1.0 / p[n_p]
        u, t = rng.uniform(0.0, 3.0, len(model.inputs)), float(rng.uniform(0.0, 10.0))
        u_t = np.append(u, t)
        where = f"x={x.tolist()} p={p[:n_p + 1].round(3).tolist()} u={u.round(3).tolist()} t={t:.3f}"
        want, got = np.zeros(n_e, dtype=bool), np.zeros(n_e, dtype=bool)
        ns["triggers"](x, p, u, t, want)
        cr.program_triggers(x, p, u_t, got, net, stack)
        if not np.array_equal(want, got):
            problems.append(f"triggers {got.tolist()}, generated {want.tolist()} at {where}")
        times = np.empty(n_t)
        ns["event_times"](p, times)
        for k in range(n_t):
            if cr.event_program(net, 1, k, x, p, u_t, stack) != times[k]:
                problems.append(f"trigger time {k} differs at {where}")
        for e in range(n_e):
            if cr.event_program(net, 2, e, x, p, u_t, stack) != ns["event_priority"](e, x, p, u, t):
                problems.append(f"priority of {model.events[e]} differs at {where}")
            want_v, got_v = np.zeros(width), np.zeros(width)
            ns["event_values"](e, x, p, u, t, want_v)
            cr.program_values(e, x, p, u_t, got_v, net, stack)
            if not np.array_equal(want_v, got_v):
                problems.append(f"values of {model.events[e]} {got_v.tolist()}, generated {want_v.tolist()} at {where}")
    return problems


def test_event_programs_equal_the_generated_code(model_from_text):
    """The naive reference of cr's event programs is the generated code's (which ssa runs); power: every
    `and` of the programs read as `or` is reported."""
    model = model_from_text(EVENTS)
    assert not (problems := event_disagreements(model, model.cr_arrays)), report(problems)
    wrong = _mutant(model.cr_arrays, 2, lambda op: op.__setitem__(op == cr.AND, cr.OR))
    assert any(s.startswith("triggers") for s in event_disagreements(model, wrong))


def test_the_cell_kernel_releases_the_gil():
    """Threads share a block by calling the cell kernel concurrently (engine/threads.py): without
    ``nogil`` they took turns, and two threads ran no faster than one (bits: test_reproducibility.py)."""
    assert cr.cr_cells.targetoptions.get("nogil") is True
