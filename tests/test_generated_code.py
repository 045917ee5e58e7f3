"""The generated model code against the plain-Python reference (naive.py) on random states and parameters.

For every model, random parameter vectors (lognormal around the defaults, cell sizes Ω = 1 and Ω != 1)
and random states (0, 1, 2, 3 and counts up to several times the initial ones) go through the
generated ``derive``, ``propensities``, ``rates`` and ``fire``; each result must equal the reference
(``search_fire``, the direct method's fused search, must do exactly what ``fire`` does for the channel
its target falls on):
states exactly, values to a relative 1e-12 (a few roundings of difference, since the generated code
hoists and reorders the arithmetic). The power checks run the same comparison on deliberately broken
copies of a generated module (a wrong combinatorial factor, a missing dependency edge, wrongly
hoisted constants) and require it to report them.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

import numpy as np
import pytest
from numba import njit

import naive
import stochins
from conftest import DATA
from stochins.compile import CompiledModel, compile_network
from stochins.engine import model_abi as abi
from stochins.errors import ModelError
from stochins.network import Network

RTOL = 1e-12
JITTER = 1e-14  # relative perturbation of the reference's inputs that measures its conditioning (see agree)
FUNCTIONS = ("derive", "propensities", "rates", "fire", "search_fire")

# Hill terms, clamps (min/max), piecewise and if-else with comparisons and and/not, named expressions,
# an input, constant species (a catalyst and a sink), a full propensity that does not vanish without
# its reactant (firing it at B = 0 must be refused), math functions.
EXPRESSIONS = """
name: expressions
species:
  A: 40
  B: 25
  C: 3
  R: 12
  P: 0
  E: {count: 8, constant: true}
  Sink: {count: 0, constant: true}
parameters: {kcat: 1.5, Km: 20, Kh: 10, n_h: 2.5, vmax: 30, thr: 15, basal: 0.4, k_on: 0.2, k_leak: 0.05,
             k_src: 3, cap: 50, k_tri: 0.001}
inputs: {signal: 2.0}
expressions:
  act: "hill(R, Kh, n_h)"
  mm: "kcat * E * A / (Km + A)"
  gate: "piecewise(vmax, C > thr, basal * vmax, C > thr / 2, basal)"
  boost: "1 + act * signal / (1 + signal)"
reactions:
  convert: {equation: "A -> P", propensity: mm}
  regulated: {equation: "0 -> R", propensity: "vmax * act * signal / (1 + signal)"}
  clamp: {equation: "R -> 0", propensity: "min(max(k_leak * (R - 2), 0), cap, 2 * vmax)"}
  switch: {equation: "C -> A", propensity: "gate * C / (1 + C)"}
  drain: {equation: "P -> Sink", propensity: "(k_src if P >= 5 and not signal > 10 else k_src / 3) * P / (P + 1)"}
  trimerise: {equation: "3 A -> C", rate: "k_tri * boost"}
  catalysed: {equation: "E + B -> E + A", rate: "k_on * sqrt(signal) / Km"}
  blind: {equation: "B -> R", propensity: "k_leak * 10"}
  mixed: {equation: "R -> C",
          propensity: "k_leak * R * (1 if 2 <= R < 30 else 0.5) + abs(C - R) * 1e-3 * exp(-A / 100) + log(1 + B) / 100"}
  powers: {equation: "C -> B", propensity: "pow(C, 1.5) * k_on ** 2 + C ** 0.5 / (1 + max(A, B) / Km)"}
  rounded: {equation: "B -> C", propensity: "k_on * floor(B / 7) + log10(1 + ceil(R / 3)) * (B != 0)"}
"""

# Mass action of every order 0..4, homo- and heteromeric, with rate constants that are expressions
# of parameters (hoisted) and of species (not hoisted), a reversible dimerisation and a catalyst
# species held constant.
MASS_ACTION = """
name: mass_action
species: {A: 30, B: 20, C: 5, D: 0, K: {count: 4, constant: true}}
parameters: {k0: 5, k1: 0.3, k2: 0.02, k3: 0.001, k4: 1e-5, kf: 0.01, kr: 0.4, V: 2.5, h: 3}
reactions:
  birth: {equation: "0 -> A", rate: "k0 * V"}
  dimer: {equation: "2 A -> B", rate: "k2 / V"}
  hetero: {equation: "A + B -> C", rate: "k2 * k1 / (V * h)"}
  trimer: {equation: "3 A -> D", rate: k3}
  mixed3: {equation: "2 B + C -> D + A", rate: "k3 * (1 + D / (h + D))"}
  tetramer: {equation: "4 B -> 2 D", rate: k4}
  cat: {equation: "K + C -> K + D", rate: "kf * h"}
  pair: {equation: "2 D <-> C", rate: [kf, kr]}
  decay: {equation: "D -> 0", rate: "k1 / (1 + A * k2)"}
"""

# names that compile.py also uses for its own symbols (refused by network.py, see the test below)
INTERNAL_NAMES = """
name: internal_names
species: {A: 10, B: 0}
parameters: {__d0: 2.0, __inv__: 3.0, __size__: 0.5, k: 3.0}
reactions:
  r1: {equation: "A -> B", rate: "k * __d0"}
  r2: {equation: "B -> A", propensity: "__inv__ * B + __size__"}
"""

MODELS = ["sedaghat2002", "sedaghat2002_feedback", "sedaghat2002_downstream", "expressions", "mass_action",
          "dsmts_00030"]


TEXT_MODELS = {"expressions": EXPRESSIONS, "mass_action": MASS_ACTION}


@lru_cache(maxsize=None)
def compiled(name: str) -> CompiledModel:
    if name in TEXT_MODELS:
        return compile_network(Network.from_yaml_text(TEXT_MODELS[name], source=f"<{name}>"))
    if name.startswith("dsmts_"):  # 2P -> P2 as the SBML writes it: a full propensity k1*P*(P-1)/2
        pytest.importorskip("libsbml")
        from stochins.models.sbml import from_sbml

        return compile_network(from_sbml(DATA / "sbml" / f"{name[6:]}-sbml-l3v1.xml"))
    return stochins.load_model(name)


# ---------------------------------------------------------------------------- random inputs
@dataclass
class Cases:
    p: np.ndarray  # (C, P+2+D) parameter rows: parameters, Ω, 1/Ω, room for derived constants
    u: np.ndarray  # (C, I) inputs
    x: np.ndarray  # (C, N, S) integer states
    y: np.ndarray  # (C, N, S) real-valued amounts for the deterministic rates


def random_cases(model: CompiledModel, seed: int, states: int = 12) -> Cases:
    """Four cells: default parameters, then lognormal draws (CV ~30 %) with Ω = 1, < 1 and > 1."""
    rng = np.random.default_rng(seed)
    base = model.parameter_vector()
    n_p = len(model.parameters)
    omega = np.array([1.0, 1.0, rng.uniform(0.3, 0.8), rng.uniform(1.5, 4.0)])
    p = np.repeat(base[None, :], omega.size, axis=0)
    p[1:, :n_p] *= rng.lognormal(0.0, 0.3, (omega.size - 1, n_p))
    p[:, n_p], p[:, n_p + 1] = omega, 1.0 / omega
    default_u = model.input_vector()
    u = np.where(default_u > 0, default_u, 1.0) * rng.lognormal(0.0, 1.0, (omega.size, default_u.size))
    u[0] = default_u
    x0 = model.initial_state(base).astype(float)
    typical = float(np.median(x0[x0 > 0])) if (x0 > 0).any() else 10.0
    ref = np.where(x0 > 0, x0, typical)
    x = np.empty((omega.size, states, x0.size), dtype=np.int64)
    for c in range(omega.size):
        top = np.maximum(4.0 * ref * omega[c], 4.0)
        kind = rng.integers(0, 4, (states, x0.size))  # 0: tiny, 1: uniform, 2-3: log-uniform
        small = rng.integers(0, 4, (states, x0.size))  # 0..3: the edges of C(x, n)
        wide = rng.integers(0, top.astype(np.int64) + 1, (states, x0.size))
        logu = np.floor(np.exp(rng.uniform(0.0, np.log(top + 1.0), (states, x0.size)))).astype(np.int64) - 1
        x[c] = np.select([kind == 0, kind == 1], [small, wide], logu)
        x[c, 0] = np.floor(x0 * omega[c] + 0.5)  # the initial state itself
        x[c, 1] = rng.integers(0, 2, x0.size)  # nearly empty: C(1, 2) = 0, firings without reactants
    frac = rng.uniform(0.0, 1.0, x.shape) * (rng.random(x.shape) < 0.7)
    return Cases(p, u, x, x + frac)


# ---------------------------------------------------------------------------- the comparison
@njit
def _abi_propensities(m, x, p, u, a):
    abi.propensities(m, x, p, u, a)


@njit
def _abi_fire(m, j, x, p, u, a):
    return abi.fire(m, j, x, p, u, a)


@njit
def _abi_direct_events(m, t_next, t_rec, t_break, a0, events, x, p, u, a, rng, out):
    return abi.direct_events(m, t_next, t_rec, t_break, a0, events, x, p, u, a, rng, out)


def direct_events(model: CompiledModel):
    """The compiled ``direct_events`` as the direct method calls it (through the model's function table),
    returning (time, next time, running total, events, code)."""
    m = model.function_table((abi.DIRECT_EVENTS,))

    def call(t_next, t_rec, t_break, a0, events, x, p, u, a, rng):
        out = np.full(4, -7.0)
        events = _abi_direct_events(m, t_next, t_rec, t_break, a0, events, x, p, u, a, rng, out)
        return out[0], out[1], out[2], events, out[3]
    return call


def jitted(model: CompiledModel) -> SimpleNamespace:
    """The compiled functions as the kernels call them: ``propensities`` and ``fire`` as C callbacks through
    the model's function table (engine/model_abi.py), the others as numba compiles them for their callers."""
    module = model.module
    m = model.function_table((abi.PROPENSITIES, abi.FIRE))
    return SimpleNamespace(**{f: getattr(module, f) for f in ("derive", "rates", "search_fire")},
                           propensities=lambda x, p, u, a: _abi_propensities(m, x, p, u, a),
                           fire=lambda j, x, p, u, a: _abi_fire(m, j, x, p, u, a), order=module.SEARCH_ORDER)


def close(got: float, want: float, scale: float | None = None) -> bool:
    if got == want:  # also an infinity both ways
        return True
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return abs(got - want) <= RTOL * (abs(want) if scale is None else scale)


def agree(got: float, want: float, again) -> bool:
    """``close``, or within what rounding of the inputs moves the reference: ``again(perturb)``
    re-evaluates it with every input scaled by 1 ± 1e-14. Only ill-conditioned values (a difference
    of nearly equal terms, a value at a threshold, e.g. the insulin model's k11 at basal PIP3) need it."""
    if close(got, want):
        return True
    if math.isnan(got) or math.isnan(want):
        return False
    rng = np.random.default_rng(1)
    spread = max(abs(again(lambda v: float(v) * (1.0 + JITTER * rng.uniform(-1.0, 1.0))) - want) for _ in range(4))
    return abs(got - want) <= RTOL * abs(want) + spread


def compare(model: CompiledModel, fn: SimpleNamespace, cases: Cases, fire_states: int = 3) -> list[str]:
    """Every disagreement between the generated functions ``fn`` and naive.py, one line each."""
    ref_model = naive.NaiveModel(model.network)
    n_p, names = len(model.parameters), model.reactions
    problems: list[str] = []
    p = cases.p.copy()
    fn.derive(p)
    if not np.array_equal(p[:, :n_p + 2], cases.p[:, :n_p + 2]):
        problems.append("derive: changed the parameters or the cell size")
    for c in range(p.shape[0]):
        args = (dict(zip(model.parameters, cases.p[c, :n_p].tolist())), dict(zip(model.inputs, cases.u[c].tolist())),
                float(cases.p[c, n_p]))
        where = f"{model.network.name} cell {c} (Ω={args[2]:.3g})"
        for y in cases.y[c]:
            r = np.full(len(names), -1.0)
            fn.rates(y.copy(), p[c], cases.u[c], r)
            amounts = dict(zip(model.species, y.tolist()))
            for k, name in enumerate(names):
                want = ref_model.rate(name, amounts, *args)
                if not agree(r[k], want, lambda e: ref_model.rate(name, amounts, *args, perturb=e)):
                    problems.append(f"{where}: rates[{name}] = {r[k]!r}, reference {want!r} at {y.tolist()}")
        for i, x in enumerate(cases.x[c]):
            counts = dict(zip(model.species, x.tolist()))
            ref = ref_model.propensities(counts, *args)
            a = np.full(len(names), -1.0)
            fn.propensities(x.copy(), p[c], cases.u[c], a)
            for k, name in enumerate(names):
                if not agree(a[k], ref[name], lambda e: ref_model.propensity(name, counts, *args, perturb=e)):
                    problems.append(f"{where}: propensities[{name}] = {a[k]!r}, reference {ref[name]!r} "
                                    f"at {x.tolist()}")
            if i >= fire_states or not all(v >= 0 and math.isfinite(v) for v in ref.values()):
                continue
            for j, name in enumerate(names):
                if ref[name] > 0:  # the engines fire only reactions with a positive propensity
                    problems += check_fire(fn, ref_model, model, j, x, p[c], cases.u[c], ref, args,
                                           f"{where}: fire({name}) at {x.tolist()}")
    return problems


def check_fire(fn, ref_model: naive.NaiveModel, model: CompiledModel, j: int, x: np.ndarray, p: np.ndarray,
               u: np.ndarray, before: dict[str, float], args: tuple, what: str) -> list[str]:
    names = model.reactions
    after = ref_model.fired(names[j], dict(zip(model.species, x.tolist())))
    xj, a = x.copy(), np.array([before[n] for n in names])
    delta = fn.fire(j, xj, p, u, a)
    if after is None:
        return [] if math.isnan(delta) else [f"{what}: a count goes negative, but fire returned {delta!r}"]
    ref = ref_model.propensities(after, *args)
    if not all(v >= 0 and math.isfinite(v) for v in ref.values()):
        return [] if math.isnan(delta) else [f"{what}: a propensity becomes invalid, but fire returned {delta!r}"]
    out = []
    want_x = [after[s] for s in model.species]
    if xj.tolist() != want_x:
        out.append(f"{what}: state {xj.tolist()}, reference {want_x}")
    for k, name in enumerate(names):
        if not agree(a[k], ref[name], lambda e: ref_model.propensity(name, after, *args, perturb=e)):
            out.append(f"{what}: propensity {name} = {a[k]!r} afterwards, reference {ref[name]!r}")
    old, new = sum(before.values()), sum(ref.values())
    if not close(delta, new - old, scale=old + new):
        out.append(f"{what}: returned change of the sum {delta!r}, reference {new - old!r}")
    out += check_search_fire(fn, j, x, p, u, a, xj, delta, before, names, what)
    # what fire recomputes (the others keep the NaN put there) must include every propensity whose
    # value the firing changes
    poisoned = np.full(len(names), np.nan)
    fn.fire(j, x.copy(), p, u, poisoned)
    for name in sorted(ref_model.changed(before, ref)):
        if math.isnan(poisoned[names.index(name)]):
            out.append(f"{what}: changes propensity {name} ({before[name]!r} -> {ref[name]!r}) but fire "
                       f"does not recompute it (missing dependency edge)")
    return out


def check_search_fire(fn, j, x, p, u, a_fired, x_fired, delta, before, names, what) -> list[str]:
    """``search_fire`` with a target inside channel j's interval (in the search order) must do what
    ``fire(j)`` did; a target beyond the total must change nothing and return +inf."""
    a = np.array([before[n] for n in names])
    pos = list(fn.order).index(j)
    prefix = float(sum(a[k] for k in fn.order[:pos]))
    if a[j] <= 1e-9 * prefix:  # round-off could move so thin an interval's midpoint
        return []
    xs, as_ = x.copy(), a.copy()
    got = fn.search_fire(prefix + 0.5 * a[j], xs, p, u, as_)
    out = []
    if not (got == delta or (math.isnan(got) and math.isnan(delta))) or xs.tolist() != x_fired.tolist() \
            or not np.array_equal(as_, a_fired, equal_nan=True):
        out.append(f"{what}: search_fire chose or applied something else than fire (returned {got!r}, "
                   f"fire {delta!r}; state {xs.tolist()}, fire's {x_fired.tolist()})")
    xs, as_ = x.copy(), a.copy()
    beyond = fn.search_fire(float(a.sum()) * (1 + 1e-9) + 1.0, xs, p, u, as_)
    if beyond != math.inf or xs.tolist() != x.tolist():
        out.append(f"{what}: search_fire beyond the total returned {beyond!r} and left state {xs.tolist()}")
    return out


def report(problems: list[str]) -> str:
    return f"{len(problems)} disagreements, first ones:\n" + "\n".join(problems[:12])


# ---------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("name", MODELS)
def test_generated_code_equals_naive_reference(name):
    model = compiled(name)
    net = model.network
    assert model.species == sorted(net.species) and model.parameters == sorted(net.parameters)
    assert model.inputs == sorted(net.inputs) and model.reactions == sorted(net.reactions)
    assert model.parameter_vector().size >= len(model.parameters) + 2
    problems = compare(model, jitted(model), random_cases(model, seed=20260 + MODELS.index(name)))
    assert not problems, report(problems)


@pytest.mark.parametrize("name", ["expressions", "mass_action"])
def test_direct_events_is_search_fire_in_a_loop(name):
    """``direct_events``, the direct method's generated event loop with the search inline, against its
    reference: ``search_fire`` (tested above against ``fire`` and naive.py) with the same two draws
    per event. From random states: one event then a stop (state, propensities, running total, the next
    time drawn, the random stream, the codes for an invalid firing and a target beyond the total), and
    2,048 events in a row up to the periodic re-summation."""
    from stochins.engine.rng import draw, seed_streams

    model = compiled(name)
    mod = model.module
    loop = direct_events(model)
    cases = random_cases(model, seed=4242 + MODELS.index(name))
    p = cases.p.copy()
    mod.derive(p)
    problems, checked = [], 0
    for c in range(p.shape[0]):
        u = cases.u[c]
        for i, x in enumerate(cases.x[c]):
            a = np.empty(len(model.reactions))
            mod.propensities(x.copy(), p[c], u, a)
            if not (a >= 0).all() or not a.sum() > 0:
                continue
            a0 = float(a.sum())
            rng = seed_streams(5, c, i, 1)[0]
            ref_rng, xr, ar = rng.copy(), x.copy(), a.copy()
            delta = mod.search_fire(draw(ref_rng, "uniform", 1)[0] * a0, xr, p[c], u, ar)
            xf, af = x.copy(), a.copy()
            t, t_next, a0f, events, code = loop(1.5, 1.5, np.inf, a0, 7, xf, p[c], u, af, rng)
            what = f"{name} cell {c} state {i}"
            if math.isnan(delta) or delta == math.inf:
                if not (code == delta or math.isnan(code) and math.isnan(delta)) or events != 7 or t != 1.5:
                    problems.append(f"{what}: search_fire returned {delta!r}, direct_events code {code!r}, "
                                    f"events {events}")
                continue
            checked += 1
            a0r = a0 + delta
            want_next = 1.5 + draw(ref_rng, "exponential", 1)[0] / a0r if a0r > 0.0 else math.inf
            if (code, t, events, a0f, t_next) != (0.0, 1.5, 8, a0r, want_next) or xf.tolist() != xr.tolist() \
                    or not np.array_equal(af, ar) or not np.array_equal(rng, ref_rng):
                problems.append(f"{what}: direct_events gave code {code!r}, t {t!r}, events {events}, total {a0f!r}, "
                                f"next {t_next!r}; reference 0.0, 1.5, 8, {a0r!r}, {want_next!r}, states equal "
                                f"{xf.tolist() == xr.tolist()}, propensities equal {np.array_equal(af, ar)}")
    assert checked >= 20 and not problems, report(problems)
    # a run without stops: events until the re-summation is due (code inf, at 2048), with a time
    # recorded for every event, as search_fire and the same draws give them
    x = model.initial_state(model.parameter_vector())
    a = np.empty(len(model.reactions))
    mod.propensities(x, p[0], cases.u[0], a)
    rng = seed_streams(6, 0, 0, 1)[0]
    ref_rng, xr, ar, a0r, tr = rng.copy(), x.copy(), a.copy(), float(a.sum()), 0.0
    t, t_next, a0, events, code = loop(0.0, np.inf, np.inf, float(a.sum()), 0, x, p[0], cases.u[0], a, rng)
    for e in range(2048):
        delta = mod.search_fire(draw(ref_rng, "uniform", 1)[0] * a0r, xr, p[0], cases.u[0], ar)
        assert math.isfinite(delta), f"{name}: the reference run stopped at event {e} ({delta!r})"
        a0r += delta
        if e < 2047:
            tr += draw(ref_rng, "exponential", 1)[0] / a0r
    assert (code, events, t, a0) == (math.inf, 2048, tr, a0r) and x.tolist() == xr.tolist() \
        and np.array_equal(rng, ref_rng), f"{name}: after 2,048 events {(code, events, t, a0)} vs {(tr, a0r)}"


@pytest.mark.parametrize("name", ["__d0", "__inv__", "__size__"])
def test_model_symbols_named_like_compile_internals_are_refused(name):
    """compile.py's own symbols (hoisted constants __d<k>, the cell size __size__ and its inverse __inv__)
    share the generated code's namespace, so a model name starting with '__' would be read as one of them
    (rate 'k * __d0' evaluated to 0): network.py refuses such names with one line naming the item."""
    text = INTERNAL_NAMES.replace("__d0: 2.0, __inv__: 3.0, __size__: 0.5, ", f"{name}: 2.0, ")
    text = text.replace('propensity: "__inv__ * B + __size__"', f'propensity: "{name} * B"').replace(
        "k * __d0", "k")
    with pytest.raises(ModelError, match=rf"<internal_names>: parameter name '{name}' is reserved"):
        Network.from_yaml_text(text, source="<internal_names>")


# ---------------------------------------------------------------------------- power checks
# Each mutation edits the syntax tree of a generated module the way a bug in compile.py would.
def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _branch(tree: ast.Module, j: int) -> list[ast.stmt]:
    """The statements ``fire`` runs for reaction j's state change: follow every ``if`` that tests j alone."""
    return _follow(_function(tree, "fire").body, "j", j)


def _update(tree: ast.Module, j: int) -> list[ast.stmt]:
    """The statements ``fire`` runs after reaction j's state change (recomputing propensities): follow every
    ``if`` that tests the group ``g`` that j's branch sets."""
    g = next(s.value.value for s in _branch(tree, j)
             if isinstance(s, ast.Assign) and getattr(s.targets[0], "id", "") == "g")
    return _follow(_function(tree, "fire").body[1:], "g", g)


def _follow(stmts: list[ast.stmt], name: str, value: int) -> list[ast.stmt]:
    while stmts and isinstance(stmts[0], ast.If) and \
            {n.id for n in ast.walk(stmts[0].test) if isinstance(n, ast.Name)} == {name}:
        taken = eval(compile(ast.Expression(stmts[0].test), "<test>", "eval"), {name: value})
        stmts = stmts[0].body if taken else stmts[0].orelse
    return stmts


def _search_branch(tree: ast.Module, j: int) -> list[ast.stmt]:
    """The statements ``search_fire`` runs when its search stops at reaction j."""
    stmts = _search_chain(tree)
    at = next(i for i, s in enumerate(stmts) if isinstance(s, ast.AugAssign) and ast.unparse(s) == f"target -= a[{j}]")
    return stmts[at + 1].body


def _search_chain(tree: ast.Module) -> list[ast.stmt]:
    """The body of ``search_fire``'s loop: per channel ``target -= a[j]`` and the branch that fires it."""
    return next(n for n in _function(tree, "search_fire").body if isinstance(n, ast.While)).body


def _derived(tree: ast.Module) -> list[ast.Assign]:
    """The assignments of hoisted constants in ``derive``."""
    return [n for n in ast.walk(_function(tree, "derive")) if isinstance(n, ast.Assign)]


def _replace(root: ast.AST, match, make) -> int:
    """Replace every node under ``root`` for which ``match(node)`` holds by ``make(node)``."""
    count = 0

    class Swap(ast.NodeTransformer):
        def visit(self, node):
            nonlocal count
            if match(node):
                count += 1
                return make(node)
            return self.generic_visit(node)

    Swap().visit(root)
    return count


def _p_column(node: ast.AST) -> int | None:
    """k for a read ``p[c, k]`` of a per-cell parameter row in ``derive``."""
    if isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "p" and \
            isinstance(node.slice, ast.Tuple) and isinstance(node.slice.elts[1], ast.Constant):
        return node.slice.elts[1].value
    return None


def falling_factor_dropped(model: CompiledModel):
    """C(x, 2) as x*x/2: the stochastic factor (x - 1) becomes x, in propensities and fire."""
    def mutate(tree):
        return sum(_replace(_function(tree, f), lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub)
                            and getattr(n.right, "value", None) == 1 and getattr(n.left, "value", None) is not None
                            and getattr(n.left.value, "id", "") == "x", lambda n: n.left)
                   for f in ("propensities", "fire"))
    return mutate


def half_factor_doubled(model: CompiledModel):
    """1/2! forgotten in a hoisted mass-action constant."""
    def mutate(tree):
        return sum(_replace(a.value, lambda n: isinstance(n, ast.Constant) and n.value == 0.5,
                            lambda n: ast.Constant(1.0)) for a in _derived(tree))
    return mutate


def missing_edge(fired: str, dependant: str):
    """``fire(fired)`` does not recompute the propensity of ``dependant``."""
    def make(model: CompiledModel):
        j, k = model.reactions.index(fired), model.reactions.index(dependant)

        def mutate(tree):
            body = _update(tree, j)
            hit = [s for s in body if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Subscript)
                   and getattr(s.targets[0].value, "id", "") == "a" and getattr(s.targets[0].slice, "value", None) == k]
            body[:] = [s for s in body if s not in hit[:1]]
            return len(hit[:1])
        return mutate
    return make


def wrong_state_change(reaction: str, branch=None):
    """``fire(reaction)`` (or the ``branch`` given, e.g. ``_search_branch``) changes its first
    species by one molecule too many."""
    def make(model: CompiledModel):
        def mutate(tree):
            body = (branch or _branch)(tree, model.reactions.index(reaction))
            step = next(s for s in body if isinstance(s, ast.AugAssign))
            step.value = ast.Constant(step.value.value + 1)
            return 1
        return mutate
    return make


def search_skips(reaction: str):
    """``search_fire`` never subtracts ``reaction``'s propensity: its interval goes to the next channel."""
    def make(model: CompiledModel):
        j = model.reactions.index(reaction)

        def mutate(tree):
            body = _search_chain(tree)
            at = next(i for i, s in enumerate(body) if ast.unparse(s) == f"target -= a[{j}]")
            del body[at:at + 2]
            return 1
        return mutate
    return make


def hoisted_off_by_1e9(model: CompiledModel):
    """The first hoisted constant computed a relative 1e-9 off."""
    def mutate(tree):
        first = _derived(tree)[0]
        first.value = ast.BinOp(first.value, ast.Mult(), ast.Constant(1.000000001))
        return 1
    return mutate


def hoisted_without_cell_size(model: CompiledModel):
    """Hoisted constants folded with Ω = 1 whatever the cell's size."""
    n_p = len(model.parameters)

    def mutate(tree):
        return sum(_replace(a.value, lambda n: _p_column(n) in (n_p, n_p + 1), lambda n: ast.Constant(1.0))
                   for a in _derived(tree))
    return mutate


def hoisted_from_first_cell(model: CompiledModel):
    """Every cell's hoisted constants computed from the first cell's parameters."""
    def mutate(tree):
        return sum(_replace(a.value, lambda n: _p_column(n) is not None,
                            lambda n: ast.Subscript(n.value, ast.Tuple([ast.Constant(0), n.slice.elts[1]])))
                   for a in _derived(tree))
    return mutate


#: label -> (model, mutation factory, a pattern some reported problem must match, one that none may match)
MUTANTS = {
    "unchanged": ("expressions", lambda m: lambda tree: 1, None, "."),  # (changes nothing, reports 1)
    "falling-factor": ("mass_action", falling_factor_dropped, r": propensities\[dimer\]", None),
    "half-factor": ("mass_action", half_factor_doubled, r": rates\[dimer\]", None),
    "missing-edge-hill": ("expressions", missing_edge("regulated", "trimerise"),
                          r"fire\(regulated\).*trimerise.*missing dependency edge", None),
    "missing-edge-self": ("mass_action", missing_edge("dimer", "dimer"),
                          r"fire\(dimer\).*dimer.*missing dependency edge", None),
    "state-change": ("mass_action", wrong_state_change("tetramer"), r"fire\(tetramer\).*: state", None),
    "search-state-change": ("mass_action", wrong_state_change("tetramer", _search_branch),
                            r"fire\(tetramer\).*search_fire",
                            None),
    "search-skips": ("expressions", search_skips("convert"), r"search_fire chose", None),
    "hoist-perturbed": ("expressions", hoisted_off_by_1e9, r": propensities\[", None),
    # caught only by the cells with Ω != 1, and only by the cells whose parameters differ from cell 0's
    "hoist-no-cell-size": ("expressions", hoisted_without_cell_size, r"Ω=", r"\(Ω=1\)"),
    "hoist-first-cell": ("mass_action", hoisted_from_first_cell, r"cell [123] ", r"cell 0 "),
}


def mutated_functions(model: CompiledModel, mutate, tmp_path, label: str) -> SimpleNamespace:
    """The model functions of a mutated copy of the generated module, run as plain Python (``py_func``):
    the comparison's power does not depend on the compiler, and compiling each mutant would cost seconds."""
    tree = ast.parse(model.source)
    assert mutate(tree), f"{label}: the mutation found nothing to change in the generated module"
    path = tmp_path / f"mutant_{label.replace('-', '_')}.py"
    path.write_text(ast.unparse(tree), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # @kernel looks its module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[path.stem]
    return SimpleNamespace(**{f: getattr(getattr(module, f), "py_func", getattr(module, f)) for f in FUNCTIONS},
                           order=module.SEARCH_ORDER)


@pytest.mark.parametrize("label", MUTANTS)
def test_comparison_catches_broken_generated_code(label, tmp_path):
    name, make, some, none = MUTANTS[label]
    model = compiled(name)
    fn = mutated_functions(model, make(model), tmp_path, label)
    problems = compare(model, fn, random_cases(model, seed=20260 + MODELS.index(name)))
    if some is not None:
        assert any(re.search(some, s) for s in problems), f"{label}: not reported as expected\n" + report(problems)
    if none is not None:  # for "unchanged": the harness itself (tree round trip, py_func) adds no disagreement
        assert not any(re.search(none, s) for s in problems), report(problems)
