"""Network -> CompiledModel: canonical arrays, generated numba code, dependency graph, disk cache.

Species, parameters, inputs and reactions are put in a canonical (sorted) order, so neither the
model hash nor the random streams depend on the order a file lists them in. The generated model
module holds straight-line propensity code and one fused ``fire`` branch per reaction (state
change plus the propensities that depend on it), the names ``engine/model_code.py`` declares. The
kernels of ``ssa`` and ``tau`` are compiled once for every model and call the model's ``propensities``,
``fire`` and event functions, each compiled on first use as a C callback, through a table of their
addresses (``CompiledModel.function_table``, ``engine/model_abi.py``); the other methods' kernels are
instantiated for the model (``CompiledModel.kernels``). Every generated module is written under a name
derived from its own text, so numba's on-disk cache makes a second process start without recompiling.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib.util
import json
import math
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Mapping

import numba
import numpy as np

from ._version import __version__
from .engine.common import RESUM_EVERY
from .engine import model_abi as abi
from .engine.kernels import (INSTANCE_MARK, SHARED, c_function, engine_source, instance_name, instanced, instantiate,
                             per_model, quick_load_module, relative_imports)
from .errors import ArgumentError, ModelError
from .network import Network, Reaction, _did_you_mean

__all__ = ["CompiledModel", "compile_network", "cache_dir"]


def cache_dir() -> Path:
    """Where generated model modules (and numba's cache of them) live; ``STOCHINS_CACHE_DIR`` overrides."""
    root = os.environ.get("STOCHINS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "stochins")
    return Path(root)


@dataclass
class CompiledModel:
    """Everything the engines need about one model, as arrays in canonical order."""

    network: Network
    species: list[str]          # canonical (sorted) order: the state vector's layout
    parameters: list[str]
    inputs: list[str]
    reactions: list[str]
    reactant: np.ndarray        # (M, S) int64 reactant stoichiometry
    change: np.ndarray          # (M, S) int64 net state change
    depends: list[list[int]]    # reactions whose propensity reads a species that reaction j changes
    reads: list[list[int]]      # species each propensity reads
    n_derived: int = 0  # hoisted per-cell constants stored after the parameters and the cell size
    events: list[str] = field(default_factory=list)  # canonical (sorted) order
    event_arrays: tuple = field(default=(), repr=False)  # see _Events.arrays; a method's ``needs``
    state_events: list[str] = field(default_factory=list)  # events whose trigger reads the state
    _codegen: tuple = field(default=(), repr=False)  # (hoisted trees, hoist, names, events): _generate_code's input
    _code: dict | None = field(default=None, repr=False)  # the generated module (see _generate_code), made lazily
    _module: ModuleType | None = field(default=None, repr=False)
    _kernels: dict = field(default_factory=dict, repr=False)
    _noticed: set = field(default_factory=set, repr=False)  # methods whose compile a notice announced

    def __getstate__(self) -> dict:
        """Pickled for Dask workers without imported modules; a worker re-creates them from the
        source (on its own disk, under the same content hash) and loads numba's cache from there."""
        return {**self.__dict__, "_module": None, "_kernels": {}, "_noticed": set()}

    # ------------------------------------------------------------------ the generated module, made on first use
    # A method compiled once for every model (composition-rejection) never needs it, so a large model's
    # per-reaction source (tens of MB at 10^4 reactions) is generated only for a method that compiles it.
    @property
    def source(self) -> str:
        """The generated module's text."""
        return self._generated()["source"]

    @property
    def code_hash(self) -> str:
        return self._generated()["code_hash"]

    @functools.cached_property
    def model_hash(self) -> str:
        """A hash of the model's content (species, parameters, inputs, propensities, changes, events), from
        its canonical form alone: a run records it, and a method compiled once for every model never
        generates the model's code."""
        return _model_hash(self)

    @functools.cached_property
    def _stochastic(self) -> list[str]:
        """Each reaction's propensity as the generated code computes it (canonical order)."""
        trees, _, names, _ = self._codegen
        return [f"float({_render(t, names)})" for t in trees[False]]

    @property
    def source_path(self) -> Path:
        return self._generated()["path"]

    def _generated(self) -> dict:
        if self._code is None:
            self._code = _generate_code(self)
        return self._code

    # ------------------------------------------------------------------ values in canonical order
    @property
    def declared_species(self) -> list[str]:
        """Species in the order the model file lists them (the default output order)."""
        return list(self.network.species)

    def parameter_vector(self, overrides: Mapping[str, float] | None = None) -> np.ndarray:
        """Parameter values in canonical order, then the cell size Ω = 1, 1/Ω and room for the
        derived constants (filled per cell by ``module.derive``)."""
        values = dict(self.network.parameters)
        for name, value in (overrides or {}).items():
            if name not in values:
                raise ArgumentError(f"{self.network.source}: unknown parameter {name!r} in model_parameters"
                                    f"{_did_you_mean(name, values)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ArgumentError(f"model_parameters.{name}: expected a finite number, got {value!r}")
            values[name] = float(value)
        return np.array([values[n] for n in self.parameters] + [1.0, 1.0] + [0.0] * self.n_derived,
                        dtype=np.float64)

    def initial_state(self, parameter_vector: np.ndarray) -> np.ndarray:
        counts = self.network.initial_counts(dict(zip(self.parameters, parameter_vector.tolist())))
        return np.array([counts[s] for s in self.species], dtype=np.int64)

    def input_vector(self, values: Mapping[str, float] | None = None) -> np.ndarray:
        merged = {**self.network.inputs, **(values or {})}
        return np.array([merged[n] for n in self.inputs], dtype=np.float64)

    def species_index(self, names: list[str]) -> np.ndarray:
        pos = {s: i for i, s in enumerate(self.species)}
        return np.array([pos[n] for n in names], dtype=np.int64)

    def leap_arrays(self) -> tuple[np.ndarray, ...]:
        """Sparse structure for tau-leaping, as CSR arrays: per reaction its changes, its reactants, the
        species its propensity reads (with, per read, the reactant stoichiometry, whether the read goes
        through the rate/propensity expression so its elasticity needs a finite difference, and the net
        change the reaction makes to that species), the reactions whose propensities its firing
        recomputes; and the species read through expressions grouped so that no reaction reads two of
        one group (one propensity evaluation per group gives every elasticity by finite differences)."""
        def csr(rows):
            ptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
            idx = np.array([i for r in rows for i, _ in r], dtype=np.int64)
            val = np.array([v for r in rows for _, v in r], dtype=np.int64)
            return ptr, idx, val

        n_r = len(self.reactions)
        ch = csr([[(int(i), int(self.change[j, i])) for i in np.flatnonzero(self.change[j])] for j in range(n_r)])
        re = csr([[(int(i), int(self.reactant[j, i])) for i in np.flatnonzero(self.reactant[j])]
                  for j in range(n_r)])
        sidx = {s: i for i, s in enumerate(self.species)}
        changing = set(np.flatnonzero(self.change.any(axis=0)).tolist())
        via_expr = []
        for name in self.reactions:
            r = self.network.reactions[name]
            expr = self.network.propensity_expr(r) if r.propensity is not None else self.network.rate_expr(r)
            via_expr.append({sidx[s] for s in expr.symbols if s in sidx})
        rd_ptr, rd_idx, rd_n = csr([[(i, int(self.reactant[j, i])) for i in r] for j, r in enumerate(self.reads)])
        rd_fd = np.array([i in via_expr[j] and i in changing for j, r in enumerate(self.reads) for i in r],
                         dtype=np.bool_)
        rd_ch = np.array([self.change[j, i] for j, r in enumerate(self.reads) for i in r], dtype=np.int64)
        dep_ptr, dep_idx, _ = csr([[(k, 0) for k in d] for d in self.depends])
        # greedy colouring of the finite-difference species: no reaction reads two of one colour
        colour: dict[int, int] = {}
        for i in sorted({i for j, r in enumerate(self.reads) for i in r if i in via_expr[j] and i in changing}):
            taken = {colour[k] for j, r in enumerate(self.reads) if i in r for k in r if k in colour}
            colour[i] = min(set(range(len(taken) + 1)) - taken)
        groups = [[(i, 0) for i in sorted(colour) if colour[i] == c] for c in range(max(colour.values(), default=-1) + 1)]
        col_ptr, col_idx, _ = csr(groups)
        return (*ch, *re, rd_ptr, rd_idx, rd_n, rd_fd, rd_ch, dep_ptr, dep_idx, col_ptr, col_idx)

    @functools.cached_property
    def cr_arrays(self) -> tuple[np.ndarray, ...]:
        """The network as arrays for the model-independent composition-rejection kernels (see
        ``_cr_arrays``); built once per model, sparse (CSR) throughout."""
        return _cr_arrays(self)

    def needs(self, names: tuple[str, ...]) -> list[np.ndarray]:
        """The arrays a method declares it needs (``Method.needs``), in order; methods returning
        several arrays (``leap_arrays``) contribute each of them."""
        out: list[np.ndarray] = []
        for name in names:
            value = getattr(self, name)
            value = value() if callable(value) else value
            out += list(value) if isinstance(value, tuple) else [value]
        return out

    @property
    def module(self) -> ModuleType:
        """The generated model code (imported on first use; numba compiles each function lazily)."""
        if self._module is None:
            with _LOADING:
                if self._module is None:
                    if not self.source_path.exists():
                        self._generated()["path"] = _write_generated(self.source, self.source_path.stem)
                    self._module = _import_generated(self.source_path)
        return self._module

    def kernels(self, module: str, _dependency: bool = False) -> ModuleType:
        """An engine module (``stochins.engine.X``) as the model's kernels: its copy for this model, or its copy
        for every model, or the package module itself (see engine/kernels.py)."""
        if not instanced(module):  # compiled once for every model in the package (e.g. composition_rejection)
            return quick_load_module(importlib.import_module(module))
        if not per_model(module):
            return shared_kernels(module)
        with _LOADING:
            return self._instance(module, _dependency)

    def _instance(self, module: str, _dependency: bool) -> ModuleType:
        if module not in self._kernels:
            self.module  # instances import the model code and each other by name: load those first
            for dep in relative_imports(module):
                if instanced(dep):
                    self.kernels(dep, _dependency=True)
            name = instance_name(module, self.code_hash)
            text = instantiate(module, self.code_hash, self.source_path.stem)
            path = _write_generated(text, name)
            # a module without kernels of its own (the ODE's) compiles little, and leaves no index to look for
            cached = "@kernel(" not in text or any(_numba_cache(path).glob(f"{name}.*.nbi"))
            if not _dependency and not cached:
                self._notice_compile(module.rsplit('.', 1)[-1])
            self._kernels[module] = _import_generated(path)
        return self._kernels[module]

    def _notice_compile(self, method: str) -> None:
        if method not in self._noticed:
            self._noticed.add(method)
            _notice(f"compiling {self.network.name} for {method} (first run of this model; numba caches it for "
                    f"later runs)…")

    def function_table(self, slots: tuple[int, ...], real: bool = False, method: str = "") -> np.ndarray:
        """The table through which kernels compiled once for every model call this model (``model_abi.py``):
        the addresses of the functions in ``slots`` (and of the event functions, for a model with events;
        with ``real``, their real-valued twins), compiled or loaded on first use, then the model's sizes and
        the reactions a trigger watches. ``method`` is named in the compile notice."""
        if self.events:
            slots = tuple(slots) + tuple(abi.REAL_SLOTS.get(k, k) if real else k for k in abi.EVENT_SLOTS)
        table = self._table_sizes.copy()
        with _LOADING:
            self._compile_functions(slots, method)
        for k in slots:
            table[k] = _C_FUNCTIONS[self.source_path.stem, k].address
        return table

    @functools.cached_property
    def _table_sizes(self) -> np.ndarray:
        """The table without addresses: the model's sizes and the reactions a trigger watches (made once)."""
        table = np.zeros(abi.WATCH + len(self.reactions), dtype=np.int64)
        _, _, _, events = self._codegen
        table[abi.REACTIONS], table[abi.EVENTS], table[abi.PARAMETERS] = (len(self.reactions), len(self.events),
                                                                          len(self.parameters))
        table[abi.TRIGGER_TIMES] = len(events.times)
        sidx = {s: i for i, s in enumerate(self.species)}
        table[[abi.WATCH + j for j in events.watched(sidx, self.change)]] = 1
        return table

    def _compile_functions(self, slots: tuple[int, ...], method: str) -> None:
        missing = [k for k in slots if (self.source_path.stem, k) not in _C_FUNCTIONS]
        if missing:
            name, _ = abi.SIGNATURES[missing[0]]
            cache = _numba_cache(self.source_path)
            if not any(cache.glob(f"{self.source_path.stem}.{name}-*.nbi")):
                self._notice_compile(method)
        for k in missing:
            name, sig = abi.SIGNATURES[k]
            _C_FUNCTIONS[self.source_path.stem, k] = c_function(getattr(self.module, name), sig)


def shared_kernels(module: str) -> ModuleType:
    """The copy of a shared engine module (``kernels.instanced`` and not ``per_model``) that every model uses."""
    name = instance_name(module, SHARED)
    with _LOADING:
        if name not in sys.modules:
            path = _write_generated(instantiate(module, SHARED, None), name)
            if not any(_numba_cache(path).glob(f"{name}.*.nbi")) and module.rsplit(".", 1)[-1] != "common":
                _notice(f"compiling the {module.rsplit('.', 1)[-1]} engine (once for every model; numba caches it)…")
            for dep in relative_imports(module):
                if instanced(dep):
                    shared_kernels(dep)
            _import_generated(path)
        return sys.modules[name]


def _notice(line: str) -> None:
    """Tell the innermost ``compile_notices`` callback, if any."""
    if _NOTICES:
        _NOTICES[-1](line)


_NOTICES: list[Callable[[str], None]] = []  # innermost compile_notices callback last
#: held while generated modules are written, imported or compiled: threads of one process (a Dask worker's, a
#: block abandoned by a signal and the next run's) must not import a module another is still executing
_LOADING = threading.RLock()
#: (generated module, table slot) -> its C callback, once per process: numba never frees compiled code, so a
#: model loaded again (a new CompiledModel, an unpickled one on a Dask worker) must not compile or load it again;
#: held here, the code a table points to also lives as long as the process
_C_FUNCTIONS: dict[tuple[str, int], object] = {}


def _numba_cache(path: Path) -> Path:
    """Where numba's disk cache keeps the compiled code of the module at ``path`` (beside it, or under
    NUMBA_CACHE_DIR when that is set)."""
    if numba.config.CACHE_DIR:
        from numba.core.caching import UserProvidedCacheLocator

        return Path(numba.config.CACHE_DIR) / UserProvidedCacheLocator.get_suitable_cache_subpath(str(path))
    return path.parent / "__pycache__"


@contextlib.contextmanager
def compile_notices(callback: Callable[[str], None] | None):
    """Within the block, ``callback`` gets one line whenever an engine module is about to be compiled
    for a model that numba's disk cache does not hold yet (the CLI shows it on a terminal or with -v)."""
    if callback is None:
        yield
        return
    _NOTICES.append(callback)
    try:
        yield
    finally:
        _NOTICES.remove(callback)


def python_model(model: CompiledModel) -> dict | None:
    """The model's generated functions as plain Python, nothing compiled (a pilot that must not wait
    for numba, e.g. ``auto``'s); None if the model's source is not at hand."""
    header = _HEADER.replace("{mark}", f"{INSTANCE_MARK} = {model.code_hash!r}")
    if not model.source.startswith(header):
        return None
    ns = {"kernel": lambda parallel=False: (lambda f: f), "math": math, "np": np, "NAN": math.nan, "INF": math.inf}
    exec(compile(model.source[len(header):], f"<{model.network.name} in plain Python>", "exec"), ns)
    return ns


def compile_network(network: Network) -> CompiledModel:
    species = sorted(network.species)
    parameters = sorted(network.parameters)
    inputs = sorted(network.inputs)
    reactions = sorted(network.reactions)
    sidx = {s: i for i, s in enumerate(species)}
    M, S = len(reactions), len(species)

    reactant_m = np.zeros((M, S), dtype=np.int64)
    change_m = np.zeros((M, S), dtype=np.int64)
    reads: list[set[int]] = []
    for j, name in enumerate(reactions):
        r = network.reactions[name]
        for s, n in r.reactants:
            reactant_m[j, sidx[s]] += n
        for s, n in r.net_change().items():
            if not network.species[s].constant:  # boundary species never change
                change_m[j, sidx[s]] += n
        reads.append({sidx[s] for s in _propensity_symbols(network, r) if s in sidx})
    readers: list[list[int]] = [[] for _ in range(S)]  # species -> reactions whose propensity reads it
    for k, r in enumerate(reads):
        for s in r:
            readers[s].append(k)
    depends = [sorted(set().union(*(readers[s] for s in np.flatnonzero(change_m[j])))) for j in range(M)]

    hoist = _Hoist(set(species) | set(inputs))
    trees = {det: [hoist(_propensity_tree(network, network.reactions[n], det)) for n in reactions]
             for det in (False, True)}
    hoist.memo.clear()
    P = len(parameters)
    names = {**{s: f"x[{i}]" for i, s in enumerate(species)},
             **{q: f"p[{i}]" for i, q in enumerate(parameters)},
             **{q: f"u[{i}]" for i, q in enumerate(inputs)},
             _SIZE: f"p[{P}]", _INV: f"p[{P + 1}]",
             **{f"__d{k}": f"p[{P + 2 + k}]" for k in range(len(hoist.derived))}}
    events = _Events(network, species, parameters, inputs, names)
    return CompiledModel(network, species, parameters, inputs, reactions, reactant_m, change_m, depends,
                         [sorted(r) for r in reads], len(hoist.derived), events=events.names,
                         event_arrays=events.arrays(), state_events=events.state_triggered,
                         _codegen=(trees, hoist, names, events))


def _generate_code(model: CompiledModel) -> dict:
    """The model's generated module (written to the cache directory), its code hash and the model hash."""
    network, species, parameters, inputs, reactions = (model.network, model.species, model.parameters, model.inputs,
                                                       model.reactions)
    trees, hoist, names, events = model._codegen
    sidx, change_m, depends = {s: i for i, s in enumerate(species)}, model.change, model.depends
    M, P = len(reactions), len(parameters)
    stochastic = model._stochastic
    deterministic = [f"float({_render(t, names)})" for t in trees[True]]
    derived = [_render(t, names) for t in hoist.derived.values()]
    guarded = {sidx[s] for n in reactions if network.reactions[n].propensity is not None
               for s, _ in network.reactions[n].reactants if not network.species[s].constant}
    args = (stochastic, deterministic, derived, P, change_m, depends, guarded, M)
    order = _search_order(network, _generate(*args), species, parameters, inputs, len(derived))
    stops = events.watched(sidx, change_m)
    model_code = _generate(*args, order=order, stops=stops)
    model_code += events.code(derived, stops)
    model_code += _lockstep_code(stochastic, change_m, P + 2 + len(derived), len(inputs))
    # with the text of rng.py (numba's cache of the generated code does not notice changes of the functions it
    # calls) and of the modules that say how it is compiled and called (kernels.py, model_abi.py)
    engine = "".join(engine_source(f"stochins.engine.{m}") for m in ("rng", "kernels", "model_abi"))
    code_hash = hashlib.sha256((_HEADER + model_code + numba.__version__ + __version__ + engine).encode()).hexdigest()
    source = _HEADER.replace("{mark}", f"{INSTANCE_MARK} = {code_hash!r}") + model_code
    path = _write_generated(source, f"stochins_model_{code_hash[:20]}")
    return {"source": source, "code_hash": code_hash, "path": path}


def _model_hash(model: CompiledModel) -> str:
    network, stochastic = model.network, model._stochastic
    canonical = {
        "species": {s: [network.species[s].initial.text, network.species[s].constant] for s in model.species},
        "parameters": {q: network.parameters[q] for q in model.parameters},
        "inputs": {q: network.inputs[q] for q in model.inputs},
        "reactions": {n: [stochastic[j], model.change[j].tolist()] for j, n in enumerate(model.reactions)},
        "events": model._codegen[3].canonical(),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------- code generation
_HEADER = '''"""Generated by stochins.compile: do not edit (regenerated from the model when missing)."""
import math

import numpy as np

from stochins.engine.kernels import kernel
from stochins.engine.rng import exponential, uniform

{mark}
NAN = np.nan
INF = np.inf


'''


def _propensity_symbols(network: Network, r: Reaction) -> set[str]:
    if r.propensity is not None:
        return set(network.propensity_expr(r).symbols)
    return set(network.rate_expr(r).symbols) | {s for s, _ in r.reactants}


_SIZE, _INV = "__size__", "__inv__"  # the cell size and its inverse, per-cell values after the parameters


def _propensity_tree(network: Network, r: Reaction, deterministic: bool) -> ast.expr:
    """A propensity as one expression tree over symbol names.

    Mass action uses the stochastic combinatorial factor C(x, n); the deterministic limit x**n/n!.
    Cell size Ω: expressions read species as x/Ω, a full propensity is multiplied by Ω and mass action
    of order n by Ω^(1-n) (see variability.py); for Ω = 1 the results do not depend on it.
    """
    def scaled(expr) -> ast.expr:
        return _ScaleSpecies(set(network.species)).visit(ast.parse(ast.unparse(expr.tree), mode="eval")).body

    if r.propensity is not None:
        return _product([ast.Name(_SIZE), scaled(network.propensity_expr(r))])
    factors = [scaled(network.rate_expr(r))] + _size_factors(sum(n for _, n in r.reactants))
    for sp, n in r.reactants:
        if deterministic:
            factors.append(ast.Name(sp) if n == 1 else ast.BinOp(ast.Name(sp), ast.Pow(), ast.Constant(n)))
        else:
            factors += [ast.Name(sp)] + [ast.BinOp(ast.Name(sp), ast.Sub(), ast.Constant(k)) for k in range(1, n)]
        if n > 1:
            factors.append(ast.Constant(1.0 / math.factorial(n)))
    return _product(factors)


def _size_factors(order: int) -> list[ast.expr]:
    """Mass action of total order n scales with the cell size as Ω^(1-n)."""
    return {0: [ast.Name(_SIZE)], 1: []}.get(order, [ast.Name(_INV)] * (order - 1))


def _product(factors: list[ast.expr]) -> ast.expr:
    out = factors[0]
    for f in factors[1:]:
        out = ast.BinOp(out, ast.Mult(), f)
    return out


class _ScaleSpecies(ast.NodeTransformer):
    def __init__(self, species: set[str]):
        self.species = species

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node.args = [self.visit(a) for a in node.args]
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.species:
            return ast.BinOp(ast.Name(node.id), ast.Mult(), ast.Name(_INV))
        return node


class _Hoist:
    """Move the parts of propensities that depend on parameters only out of the event loop.

    Products are flattened and their parameter-only factors (divisions become reciprocals) folded
    into one derived per-cell constant, as is any other parameter-only subexpression; the derived
    values are computed once per cell by the generated ``derive``. The kernels then do a few
    multiplications where the model text has divisions and sums of constants.
    """

    def __init__(self, variable: set[str]):
        self.variable = variable  # species and inputs: they change during a simulation
        self.derived: dict[str, ast.expr] = {}
        self.memo: dict[int, tuple[ast.AST, bool]] = {}  # see _constant; cleared once the trees are hoisted

    def __call__(self, node: ast.expr) -> ast.expr:
        if self._constant(node):
            return node if isinstance(node, (ast.Name, ast.Constant)) else self._ref(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            factors = self._factors(node, 1)
            const = [(f, e) for f, e in factors if self._constant(f)]
            var = [(self(f), e) for f, e in factors if not self._constant(f)]
            terms = []
            if const:
                folded = self._fold(const)
                terms.append(folded if isinstance(folded, (ast.Name, ast.Constant)) else self._ref(folded))
            num = [f for f, e in var if e > 0]
            den = [f for f, e in var if e < 0]
            out = _product(terms + num) if terms + num else ast.Constant(1.0)
            return ast.BinOp(out, ast.Div(), _product(den)) if den else out
        if isinstance(node, ast.Call):
            node.args = [self(a) for a in node.args]
            return node
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(node, name, self(value))
            elif isinstance(value, list):
                setattr(node, name, [self(v) if isinstance(v, ast.expr) else v for v in value])
        return node

    def _factors(self, node: ast.expr, sign: int) -> list[tuple[ast.expr, int]]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return self._factors(node.left, sign) + self._factors(node.right, sign)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self._factors(node.left, sign) + self._factors(node.right, -sign)
        return [(node, sign)]

    @staticmethod
    def _fold(const: list[tuple[ast.expr, int]]) -> ast.expr:
        num = [f for f, e in const if e > 0] or [ast.Constant(1.0)]
        den = [f for f, e in const if e < 0]
        return ast.BinOp(_product(num), ast.Div(), _product(den)) if den else _product(num)

    def _constant(self, node: ast.expr) -> bool:
        """No species or input below ``node`` (a called function's name is not a symbol). Memoised per
        node, bottom-up: hoisting asks again for nested subtrees, which made it quadratic in their depth
        (a 10^4-reaction model spent seconds here). The memo keeps each node, so no id is reused."""
        hit = self.memo.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        if isinstance(node, ast.Name):
            value = node.id not in self.variable
        else:
            children = node.args if isinstance(node, ast.Call) else ast.iter_child_nodes(node)
            value = all([self._constant(c) for c in children])
        self.memo[id(node)] = (node, value)
        return value

    def _ref(self, node: ast.expr) -> ast.Name:
        key = ast.unparse(node)
        if key not in self.derived:
            self.derived[key] = node
        return ast.Name(f"__d{list(self.derived).index(key)}")


def _render(node: ast.expr, names: Mapping[str, str]) -> str:
    class Rename(ast.NodeTransformer):
        def visit_Call(self, call: ast.Call) -> ast.AST:
            call.args = [self.visit(a) for a in call.args]
            return call

        def visit_Name(self, name: ast.Name) -> ast.AST:
            return ast.parse(names[name.id], mode="eval").body if name.id in names else name

    tree = Rename().visit(ast.parse(ast.unparse(node), mode="eval"))
    return ast.unparse(tree.body)


def _unwrapped(src: str) -> str:
    """A propensity without its float(...) cast where a parameter factor makes it float anyway:
    numba types and lowers every call, and stores into the float array cast in any case."""
    return src[6:-1] if src.startswith("float(") and "p[" in src else src


#: The one exit of ``search_fire``. numba takes a reference to each array argument on entry
#: and releases it after the argument's last use, in every branch; its reference-count pruning pairs
#: them only along paths of fewer than 15 blocks, which a search through dozens of channels exceeds,
#: so each event paid eight atomic NRT_incref/NRT_decref calls. Reading every array here (lengths are
#: never negative: the test is always true) makes this block their last use: one release each, paired.
_ONE_EXIT = "    return delta if len(x) + len(p) + len(u) + len(a) >= 0 else NAN"


def _generate(stochastic, deterministic, derived, n_params, change, depends, guarded, n_reactions,
              order: list[int] | None = None, stops: list[int] = ()) -> str:
    """The model module's text; with ``order``, also ``search_fire`` (channels searched in that order).
    ``stops``: the channels whose firing may turn a trigger that reads the state; ``direct_events``
    returns after each of them (code -1) for the kernel to test the triggers (none: the loop is as before)."""
    out = [f"N_REACTIONS = {n_reactions}", "", "",
           "@kernel()", "def derive(p):",
           '    """Per-cell constants hoisted out of the propensities (see compile._Hoist)."""',
           "    for c in range(p.shape[0]):"]
    out += [f"        p[c, {n_params + 2 + k}] = {src.replace('p[', 'p[c, ')}" for k, src in enumerate(derived)]
    out += ["        pass", "", "", "def propensities(x, p, u, a):"]
    out += [f"    a[{j}] = {_unwrapped(src)}" for j, src in enumerate(stochastic)] or ["    pass"]
    out += ["", "", "@kernel()", "def rates(x, p, u, r):",
            '    """Deterministic-limit reaction rates for the ODE engine (x is float)."""']
    out += [f"    r[{j}] = {src}" for j, src in enumerate(deterministic)] or ["    pass"]
    out += ["", "", "def fire(j, x, p, u, a):"]

    branch = _Branch(stochastic, change, depends, guarded)
    # flat chains of j == k tests, which LLVM turns into jump tables (a balanced tree of j < k tests
    # costs several unpredictable branches per event)
    out += branch.fire() if n_reactions else ["    return NAN"]
    if order is not None:
        search = _search(order, branch, "        ", stops)  # made once (10^4 reactions: megabytes of text)
        out += ["", "", f"SEARCH_ORDER = {tuple(order)!r}", "", "",
                "@kernel()", "def search_fire(target, x, p, u, a):"] + [line[4:] for line in search] + [_ONE_EXIT]
        out += ["", "", "def direct_events(t_next, t_rec, t_break, a0, events, x, p, u, a, rng, out):",
                '    """The direct method\'s event loop with ``search_fire`` inline (a call per event costs a fifth',
                '    of the event: arguments, spilled registers). See engine/model_code.py."""',
                "    while True:",
                "        t = t_next"]
        out += ["        stop = False"] if stops else []
        out += ["        target = uniform(rng) * a0"]
        out += search
        out += ["        if not delta < INF:  # round-off left the running total above the true sum, or NaN",
                *_leave("t", "delta"),
                "        a0 += delta",
                "        events += 1"]
        out += ["        if stop:  # a state trigger may have turned: the kernel tests them",
                *_leave("t", "-1.0")] if stops else []
        out += [f"        if events % {RESUM_EVERY} == 0:",
                *_leave("t", "INF"),
                "        t_next = t + exponential(rng) / a0 if a0 > 0.0 else INF",
                "        if t_next > t_rec or t_next >= t_break:",
                *_leave("t_next", "0.0")]
    return "\n".join(out) + "\n"


def _leave(t_next: str, code: str) -> list[str]:
    """``direct_events``' exit: (time, next time, running total, code) into ``out``, the event count returned."""
    return [f"            out[0], out[1], out[2], out[3] = t, {t_next}, a0, {code}", "            return events"]


def _search(order: list[int], branch: "_Branch", indent: str, stops: list[int] = ()) -> list[str]:
    """Subtract propensities from ``target`` in ``order`` and fire the first channel that brings it to
    <= 0 (its state change, then its set of propensities recomputed as in ``fire``), setting ``delta``
    (INF if none does, NaN for a count below zero): a loop left by break, so that its end is the one exit.
    A channel in ``stops`` also sets ``stop`` (read by ``direct_events`` only)."""
    out = [f"{indent}g = -1", f"{indent}while True:"]
    stops = set(stops)
    for j in order:
        lines, negative = branch.state_change(j, indent + "        ")
        out += [f"{indent}    target -= a[{j}]", f"{indent}    if target <= 0.0:"] + lines
        g = branch.groups[tuple(branch.depends[j])]
        out += ([f"{indent}        g = -2 if {negative} else {g}"] if negative else [f"{indent}        g = {g}"])
        out += [f"{indent}        stop = True"] if j in stops else []
        out.append(f"{indent}        break")
    out.append(f"{indent}    break")
    return out + branch.group_chain(indent, [f"{indent}if g < 0:", f"{indent}    delta = INF if g == -1 else NAN"])


#: channels per loop of the lockstep method's running sums, and of its compare-and-count; species changes
#: (selects) per loop of its state change (see _lockstep_code)
_LANE_BLOCK, _LANE_COUNT, _LANE_SELECTS = 8, 32, 48


def _lockstep_code(stochastic: list[str], change: np.ndarray, n_params: int, n_inputs: int) -> str:
    """The model code of the lockstep method (``engine/lockstep.py``), which advances W cells at once.

    Lane w's values live in one float64 array at ``F[slot * W + w]``, W = ``len(lanes)`` (a tuple, so
    that W is a compile-time constant): one array at constant offsets is what lets LLVM prove that
    the lanes' loads and stores do not overlap and vectorise across lanes without numba's private
    ``noalias`` flag. Slots: the species, the parameter vector, the inputs, the running sums of the
    propensities, then a0, the smallest propensity, the selection target and the channel chosen
    (``LANE_*``); the engine's own slots follow. Every loop runs over lanes, without data-dependent
    branches or addresses, and holds a bounded piece of the model (a block of channels or of species
    changes), so compile time grows linearly with the model: one loop over all of a 128-channel
    network's lanes did not compile in 10 minutes. The state change selects each species' change by
    the channel number: a scatter through a table of changes is a store LLVM cannot vectorise."""
    M, S = change.shape
    slots = {"x": 0, "p": S, "u": S + n_params}
    sums = S + n_params + n_inputs
    a0, low, target, chosen = sums + M, sums + M + 1, sums + M + 2, sums + M + 3

    def lane(src: str) -> str:  # each slot read into a local first: a conditional expression then selects
        # between values, not addresses (a load from a selected address stops LLVM vectorising the loop)
        return re.sub(r"\b([xpu])\[(\d+)\]", lambda m: f"q{slots[m.group(1)] + int(m.group(2))}", _unwrapped(src))

    exprs = [lane(src) for src in stochastic]
    lanes = "    for w in range(W):"
    out = ["", "", f"LANE_PARAMETERS = {slots['p']}", f"LANE_INPUTS = {slots['u']}", f"LANE_A0 = {a0}",
           f"LANE_LOWEST = {low}", f"LANE_TARGET = {target}", f"LANE_SLOTS = {chosen + 1}", "", "",
           "@kernel()", "def lane_sums(F, lanes):",
           '    """Every lane\'s propensities as running sums (see engine/model_code.py)."""', "    W = len(lanes)"]
    # running sums in blocks: the block's partial sums s, plus the previous blocks' total o (kept at a0);
    # they stay non-decreasing (rounded addition is monotone), so compare-and-count is still exact
    for b in range(0, M, _LANE_BLOCK):
        block = exprs[b:b + _LANE_BLOCK]
        read = sorted({int(k) for e in block for k in re.findall(r"\bq(\d+)\b", e)})
        out += [lanes] + [f"        q{k} = F[{k} * W + w]" for k in read]
        out += [f"        o = F[{a0} * W + w]", f"        low = F[{low} * W + w]"] if b else []
        for j, e in enumerate(block, start=b):
            out += [f"        v = {e}"]
            out += ["        s = v", "        m = v"] if j == b else ["        s += v", "        m = v if v < m else m"]
            out += [f"        F[{sums + j} * W + w] = {'o + s' if b else 's'}"]
        out += [f"        F[{a0} * W + w] = o + s", f"        F[{low} * W + w] = m if m < low else low"] if b else \
            [f"        F[{a0} * W + w] = s", f"        F[{low} * W + w] = m"]
    if not M:
        out += [lanes, f"        F[{a0} * W + w] = 0.0", f"        F[{low} * W + w] = 0.0"]
    out += ["", "", "@kernel()", "def lane_fire(F, lanes):",
            '    """Every lane\'s channel by compare-and-count, and its state change (see engine/model_code.py)."""',
            "    W = len(lanes)", "    negative = 0"]
    for b in range(0, max(M, 1), _LANE_COUNT):
        out += [lanes, f"        t = F[{target} * W + w]", "        j = 0"]
        out += [f"        j += F[{sums + k} * W + w] < t" for k in range(b, min(M, b + _LANE_COUNT))]
        out += [f"        F[{chosen} * W + w] {'+' if b else ''}= j"]
    changed, count = [], 0
    for s in np.flatnonzero(change.any(axis=0)):  # species changes in groups of about _LANE_SELECTS selects
        if not changed or count >= _LANE_SELECTS:
            changed.append([])
            count = 0
        changed[-1].append(s)
        count += int((change[:, s] != 0).sum())
    for group in changed:
        out += [lanes, f"        c = F[{chosen} * W + w]"]  # a float: on integers LLVM turns the selects into a switch
        for s in group:
            out += ["        d = 0.0"] + [f"        d = {float(change[k, s])!r} if c == {float(k)!r} else d"
                                          for k in np.flatnonzero(change[:, s])]
            out += [f"        v = F[{s} * W + w] + d", f"        F[{s} * W + w] = v"]
            out += ["        negative += v < 0.0"] if (change[:, s] < 0).any() else []
    return "\n".join(out + ["    return negative", ""])


class _Events:
    """Events -> generated code (triggers, assignment values, priorities, per-cell trigger times) and the
    arrays the kernels execute them with (see engine/common.fire_events).

    Triggers read species as counts divided by the cell size, as propensities do; an assignment to a
    species sets the count to the value times the cell size, rounded. Time may appear in a trigger only
    compared with an expression of parameters (``t >= 25``, ``t > t_wash``): each such expression is a
    per-cell time at which the engines stop and look (a breakpoint), so time events are exact.
    """

    def __init__(self, network: Network, species: list[str], parameters: list[str], inputs: list[str],
                 names: Mapping[str, str]):
        self.network = network
        self.names = sorted(network.events)
        self.render_names = {**names, "t": "t", "time": "t"}
        self.targets = {**{s: (0, i) for i, s in enumerate(species)}, **{q: (1, i) for i, q in enumerate(parameters)},
                        **{q: (2, i) for i, q in enumerate(inputs)}}
        self.n_params = len(parameters)
        self.scale = _ScaleSpecies(set(species))
        self.times: list[ast.expr] = []  # parameter-only expressions that time is compared with
        self.state_triggered: list[str] = []
        for name in self.names:
            trigger = self._tree(network.events[name].trigger)
            found = self._time_comparisons(trigger)
            uses = sum(isinstance(n, ast.Name) and n.id in ("t", "time") for n in ast.walk(trigger))
            if uses > len(found):
                raise ModelError(f"{network.source}: event {name!r}: trigger {network.events[name].trigger.text!r} "
                                 f"reads time other than compared with an expression of parameters "
                                 f"(write e.g. 't >= 25')")
            self.times += found
            if network.events[name].trigger.symbols - {"t", "time"} - set(parameters):
                self.state_triggered.append(name)

    def program_trees(self) -> list[ast.expr]:
        """The trees ``code`` prints, in the order of the composition-rejection programs: the triggers, the
        trigger times, the priorities (0 without one), then every assignment's value in ``arrays``' order."""
        events = [self.network.events[n] for n in self.names]
        return ([self._tree(ev.trigger) for ev in events] + list(self.times)
                + [self._tree(ev.priority) if ev.priority is not None else ast.Constant(0.0) for ev in events]
                + [self._tree(v) for ev in events for v in ev.assignments.values()])

    def watched(self, sidx: Mapping[str, int], change: np.ndarray) -> list[int]:
        """The reactions whose firing changes a species that a trigger reads: between breakpoints only
        their firings can turn a trigger, so the exact methods test the triggers after those alone."""
        trees = [self._tree(self.network.events[name].trigger) for name in self.state_triggered]
        read = {sidx[n.id] for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in sidx}
        return [j for j in range(change.shape[0]) if any(change[j, s] for s in read)]

    def _tree(self, expr) -> ast.expr:
        return self.scale.visit(ast.parse(ast.unparse(expr.tree), mode="eval")).body

    def _time_comparisons(self, node: ast.expr) -> list[ast.expr]:
        constant = set(self.network.parameters)
        out = []
        for n in ast.walk(node):
            if isinstance(n, ast.Compare) and len(n.ops) == 1:
                for this, other in ((n.left, n.comparators[0]), (n.comparators[0], n.left)):
                    if isinstance(this, ast.Name) and this.id in ("t", "time") and all(
                            not isinstance(m, ast.Name) or m.id in constant or _is_call_name(other, m)
                            for m in ast.walk(other)):
                        out.append(other)
        return out

    def _src(self, node: ast.expr) -> str:
        return _render(node, self.render_names)

    def code(self, derived: list[str], watched: list[int]) -> str:
        net, P = self.network, self.n_params
        events = [net.events[n] for n in self.names]
        out = ["", "", f"N_EVENTS = {len(events)}", f"N_EVENT_TIMES = {len(self.times)}", f"N_PARAMETERS = {P}",
               "WATCH = np.zeros(N_REACTIONS, dtype=np.bool_)"]
        out += [f"WATCH[{watched!r}] = True"] if watched else []
        out += ["", "", "def derive_cell(p):",
               '    """derive() for one cell (after an event assigned a parameter)."""']
        out += [f"    p[{P + 2 + k}] = {src}" for k, src in enumerate(derived)] or ["    pass"]
        out += ["", "", "def triggers(x, p, u, t, on):"]
        out += [f"    on[{e}] = bool({self._src(self._tree(ev.trigger))})" for e, ev in enumerate(events)] or ["    pass"]
        out += ["", "", "def event_times(p, times):"]
        out += [f"    times[{k}] = float({self._src(t)})" for k, t in enumerate(self.times)] or ["    pass"]
        out += ["", "", "def event_values(e, x, p, u, t, values):"]
        for e, ev in enumerate(events):
            out.append(f"    if e == {e}:")
            out += [f"        values[{k}] = float({self._src(self._tree(v))})"
                    for k, v in enumerate(ev.assignments.values())]
        out += ["    pass", "", "", "def event_priority(e, x, p, u, t):"]
        for e, ev in enumerate(events):
            if ev.priority is not None:
                out += [f"    if e == {e}:", f"        return float({self._src(self._tree(ev.priority))})"]
        out += ["    return 0.0"]
        return "\n".join(out) + "\n"

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(ptr, kind, index, flags): event e assigns targets ptr[e]..ptr[e+1] (kind 0 species, 1 parameter,
        2 input; index in that vector); flags[e] = persistent, initial value, values from trigger time."""
        events = [self.network.events[n] for n in self.names]
        ptr = np.cumsum([0] + [len(ev.assignments) for ev in events]).astype(np.int64)
        kind = np.array([self.targets[t][0] for ev in events for t in ev.assignments], dtype=np.int64)
        index = np.array([self.targets[t][1] for ev in events for t in ev.assignments], dtype=np.int64)
        flags = np.array([[ev.persistent, ev.initial_value, ev.use_values_from_trigger_time] for ev in events],
                         dtype=np.int64).reshape(len(events), 3)
        return ptr, kind, index, flags

    def canonical(self) -> dict:
        return {n: [self.network.events[n].trigger.text,
                    {k: v.text for k, v in self.network.events[n].assignments.items()},
                    self.network.events[n].persistent, self.network.events[n].initial_value,
                    self.network.events[n].use_values_from_trigger_time,
                    self.network.events[n].priority.text if self.network.events[n].priority is not None else None]
                for n in self.names}


def _is_call_name(tree: ast.expr, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


class _Branch:
    """The statements that fire reaction j: its state change (a count test if one can go below zero), then
    the set of propensities that read a species it changed; the checks (counts, then propensities) are each
    one non-short-circuit test, so numba has fewer blocks to type and lower. The recomputation sets
    ``delta`` to the change of the propensity sum, or NaN, and does not return (see ``_ONE_EXIT``)."""

    def __init__(self, stochastic, change, depends, guarded):
        self.stochastic, self.change, self.depends, self.guarded = stochastic, change, depends, guarded

    def state_change(self, j: int, indent: str) -> tuple[list[str], str]:
        """Reaction j's state change, and the test that a count it decrements went below zero ('' if
        none can: only a reaction with a full propensity can fire at a count of zero)."""
        lines, negative = [], []
        for s in np.flatnonzero(self.change[j]):
            d = int(self.change[j, s])
            lines.append(f"{indent}x[{s}] {'+' if d > 0 else '-'}= {abs(d)}")
            if d < 0 and s in self.guarded:
                negative.append(f"(x[{s}] < 0)")
        return lines, " | ".join(negative)

    def update(self, deps: list[int], indent: str) -> list[str]:
        """Recompute the propensities ``deps``; ``delta``: the change of their sum, or NaN if one is invalid."""
        lines, ok = [], []
        if deps:
            lines.append(f"{indent}d = " + " + ".join(f"a[{k}]" for k in deps))
        for k in deps:
            lines.append(f"{indent}v{k} = {_unwrapped(self.stochastic[k])}")
            lines.append(f"{indent}a[{k}] = v{k}")
            ok.append(f"(v{k} >= 0.0)")
        delta = "(" + " + ".join(f"v{k}" for k in deps) + ") - d" if deps else "0.0"
        if not ok:
            return lines + [f"{indent}delta = {delta}"]
        return lines + [f"{indent}if {' & '.join(ok)}:", f"{indent}    delta = {delta}", f"{indent}else:",
                        f"{indent}    delta = NAN"]

    @functools.cached_property
    def groups(self) -> dict[tuple[int, ...], int]:
        """The distinct sets of propensities that firings recompute, numbered in reaction order: reactions that
        change the same species share theirs (as a reversible reaction's two directions do)."""
        groups: dict[tuple[int, ...], int] = {}
        for j in range(self.change.shape[0]):
            groups.setdefault(tuple(self.depends[j]), len(groups))
        return groups

    def group_chain(self, indent: str, first: list[str] = ()) -> list[str]:
        """Recompute the set of propensities numbered ``g`` (``update``), one ``g == k`` test each; ``first``:
        a branch of its own tested before them (its ``if`` line and body)."""
        out, lead = list(first), "elif" if first else "if"
        for deps, g in self.groups.items():
            if len(self.groups) > 1 or first:
                last = g == len(self.groups) - 1
                out.append(f"{indent}else:" if last else f"{indent}{lead if g == 0 else 'elif'} g == {g}:")
            out += self.update(list(deps), indent + "    " if len(self.groups) > 1 or first else indent)
        return out

    def fire(self) -> list[str]:
        """The body of ``fire``: a chain of j == k tests applying the state change and choosing the set of
        propensities to recompute, then a chain over those sets: less code for numba to compile than a
        recomputation per reaction, and LLVM threads the second jump to the first's branch."""
        out = []
        for j in range(self.change.shape[0]):
            lines, negative = self.state_change(j, "        ")
            out += [f"    {'if' if j == 0 else 'elif'} j == {j}:"] + lines
            out += [f"        if {negative}:", "            return NAN"] if negative else []
            out.append(f"        g = {self.groups[tuple(self.depends[j])]}")
        out += ["    else:", "        return NAN"]
        return out + self.group_chain("    ") + ["    return delta"]


#: the pilot that orders the direct method's channel search: this many events, counted after as many
PILOT_EVENTS = 10000
#: the pilot's cell is sized so that its largest initial count is about this
PILOT_COUNT = 200
#: the value given to inputs that default to 0: a strong stimulus, the regime with the most events,
#: where the search order matters most (weakly stimulated runs fire few events anyway)
PILOT_INPUT = 100.0
#: above this many reactions the pilot is skipped (its plain-Python model code would be too large to
#: compile and run in reasonable time) and channels are searched in canonical order, which is as exact
PILOT_MAX_REACTIONS = 1000


def _search_order(network: Network, base_code: str, species, parameters, inputs, n_derived) -> list[int]:
    """Channels by decreasing firing count in a short plain-Python SSA run of the model itself.

    Any fixed order samples the same law; a good one makes the direct method's linear search short.
    The pilot depends on the model alone (default parameters; inputs at their defaults, those that
    default to 0 set to PILOT_INPUT so that the channels they drive are ranked), so the generated code,
    and with it every cell's bits, is a function of the model. It is cached beside the generated
    modules because a model is compiled again in every process.
    """
    if len(network.reactions) > PILOT_MAX_REACTIONS:
        return list(range(len(network.reactions)))
    key = hashlib.sha256(f"{base_code} {PILOT_EVENTS} {PILOT_COUNT} {PILOT_INPUT}".encode()).hexdigest()[:20]
    path = cache_dir() / "models" / f"search_order_{key}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    ns = {"kernel": lambda parallel=False: (lambda f: f)}  # the model functions as plain Python
    exec(compile(base_code, "<stochins pilot>", "exec"), {**ns, "math": math, "np": np, "NAN": math.nan}, ns)
    M = ns["N_REACTIONS"]
    counts = [0] * M
    try:
        env = dict(network.parameters)
        x0 = network.initial_counts()
        size = min(1.0, PILOT_COUNT / max(1, max(x0.values())))  # a small cell: the pilot reaches further in time
        p = np.array([[env[q] for q in parameters] + [size, 1.0 / size] + [0.0] * n_derived])
        ns["derive"](p)
        p = p[0].tolist()
        x = [math.floor(x0[s] * size + 0.5) for s in species]
        u = [network.inputs[q] or PILOT_INPUT for q in inputs]
        a = [0.0] * M
        ns["propensities"](x, p, u, a)
        rng = np.random.default_rng(20081)
        for event, r in enumerate(rng.random(2 * PILOT_EVENTS)):
            a0 = math.fsum(a)
            if not a0 > 0.0 or not math.isfinite(a0):
                break
            target, j = r * a0, 0
            while j < M - 1 and target > a[j]:
                target -= a[j]
                j += 1
            if event >= PILOT_EVENTS:
                counts[j] += 1
            if math.isnan(ns["fire"](j, x, p, u, a)):
                break
    except (ArithmeticError, ValueError, ModelError):  # a model that needs run settings: canonical order
        pass
    order = sorted(range(M), key=lambda j: -counts[j])
    _write_generated(json.dumps(order), path.stem, ".json")
    return order


# ---------------------------------------------------------------------- arrays for model-independent kernels
def _cr_arrays(model: CompiledModel) -> tuple[np.ndarray, ...]:
    """(kind, prog_ptr, op, arg, consts, ma_ptr, ma_species, ma_order, ch_ptr, ch_species, ch_delta, dep_ptr,
    dep_index, layout, ev_ptr, ev_kind, ev_index, ev_flags, watch): reaction j's propensity is, for kind 0 (mass action whose rate reads no species), its
    program's value (rate constant, cell-size factor and 1/n! per reactant: parameters and inputs only)
    times the falling factorials x(x-1)..(x-n+1) of its reactants ma_ptr[j]..ma_ptr[j+1]; for kind 1 its
    program's value (the whole propensity, as the generated code computes it). Programs are postfix
    code (``_Program``); then the state changes and the dependency graph, each as CSR. Built in time linear in the model's size.

    A kind-1 program is the hoisted tree the generated code is printed from (``_Hoist``): its
    parameter-only parts read the derived per-cell constants, whose programs follow the reactions'
    (program M + k computes p[P + 2 + k]; the kernel runs them at a cell's start).

    Events: layout = (D derived constants, E events, T trigger times, P parameters); after the derived
    constants' programs come the E triggers', the T trigger times', the E priorities' and one per
    assignment (``_Events.program_trees``); then the event arrays (``_Events.arrays``) and per reaction
    whether its firing changes a species that a trigger reads (then the kernel tests the triggers)."""
    net = model.network
    sidx = {s: i for i, s in enumerate(model.species)}
    hoisted, hoist = model._codegen[0][False], model._codegen[1]
    program = _Program(sidx, {q: i for i, q in enumerate(model.parameters)}, {q: i for i, q in enumerate(model.inputs)},
                       len(hoist.derived))
    kind, ma = [], []
    for j, name in enumerate(model.reactions):
        r = net.reactions[name]
        if r.propensity is None and not (net.rate_expr(r).symbols & sidx.keys()):
            inv = 1.0 / math.prod(math.factorial(n) for _, n in r.reactants)
            program.add(_product([net.rate_expr(r).tree.body] + _size_factors(sum(n for _, n in r.reactants))
                                 + ([ast.Constant(inv)] if inv != 1.0 else [])))
            kind.append(0)
            ma.append([(sidx[s], n) for s, n in r.reactants])
        else:
            program.add(hoisted[j])
            kind.append(1)
            ma.append([])
    for tree in hoist.derived.values():
        program.add(tree)
    events = model._codegen[3]
    time = (program.cr.INPUT, len(model.inputs))  # in triggers: the time, one more input (see the kernel)
    program.names.update({"t": time, "time": time})
    for tree in events.program_trees():
        program.add(tree)
    watch = np.zeros(len(model.reactions), dtype=np.int64)
    watch[events.watched(sidx, model.change)] = 1
    layout = np.array([len(hoist.derived), len(events.names), len(events.times), len(model.parameters)], dtype=np.int64)

    def csr(rows: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ptr = np.cumsum([0] + [len(row) for row in rows]).astype(np.int64)
        return (ptr, np.array([i for row in rows for i, _ in row], dtype=np.int64),
                np.array([v for row in rows for _, v in row], dtype=np.int64))

    changes = [[(int(i), int(model.change[j, i])) for i in np.flatnonzero(model.change[j])]
               for j in range(len(model.reactions))]
    dep_ptr, dep_idx, _ = csr([[(k, 0) for k in d] for d in model.depends])
    return (np.array(kind, dtype=np.int64), *program.arrays(), *csr(ma), *csr(changes), dep_ptr, dep_idx, layout,
            *model.event_arrays, watch)


class _Program:
    """Expression trees -> postfix programs for ``engine.composition_rejection.run_program``: operands
    pushed, operators applied to the top of the stack, conditionals as jumps (only the branch taken
    is evaluated, as in the generated code), ``and``/``or`` with Python's values."""

    def __init__(self, species: Mapping[str, int], parameters: Mapping[str, int], inputs: Mapping[str, int],
                 n_derived: int):
        from .engine import composition_rejection as cr

        self.cr = cr
        n_p = len(parameters)
        self.names = {**{s: (cr.SPECIES, i) for s, i in species.items()},
                      **{q: (cr.PARAM, i) for q, i in parameters.items()},
                      **{q: (cr.INPUT, i) for q, i in inputs.items()},
                      _SIZE: (cr.PARAM, n_p), _INV: (cr.PARAM, n_p + 1),
                      **{f"__d{k}": (cr.PARAM, n_p + 2 + k) for k in range(n_derived)}}
        self.binary = {ast.Add: cr.ADD, ast.Sub: cr.SUB, ast.Mult: cr.MUL, ast.Div: cr.DIV, ast.Pow: cr.POW}
        self.compare = {ast.Lt: cr.LT, ast.LtE: cr.LE, ast.Gt: cr.GT, ast.GtE: cr.GE, ast.Eq: cr.EQ,
                        ast.NotEq: cr.NE}
        self.unary = {"math.exp": cr.EXP, "math.log": cr.LOG, "math.log10": cr.LOG10, "math.sqrt": cr.SQRT,
                      "math.floor": cr.FLOOR, "math.ceil": cr.CEIL, "abs": cr.ABS}
        self.consts: dict[float, int] = {}
        self.ptr = [0]
        self.code: list[tuple[int, int]] = []

    def add(self, tree: ast.expr) -> None:
        start = len(self.code)
        self._emit(tree, start)
        self.ptr.append(len(self.code))

    def arrays(self) -> tuple[np.ndarray, ...]:
        code = np.array(self.code, dtype=np.int64).reshape(-1, 2)
        return (np.array(self.ptr, dtype=np.int64), np.ascontiguousarray(code[:, 0]), np.ascontiguousarray(code[:, 1]),
                np.array(list(self.consts), dtype=np.float64))

    def _emit(self, node: ast.expr, start: int) -> None:
        cr, out = self.cr, self.code
        if isinstance(node, ast.Constant):
            value = float(node.value)
            out.append((cr.CONST, self.consts.setdefault(value, len(self.consts))))
        elif isinstance(node, ast.Name):
            if node.id not in self.names:
                raise ModelError(f"symbol {node.id!r} is not a species, parameter or input")
            out.append(self.names[node.id])
        elif isinstance(node, ast.BinOp):
            self._emit(node.left, start)
            self._emit(node.right, start)
            out.append((self.binary[type(node.op)], 0))
        elif isinstance(node, ast.UnaryOp):
            self._emit(node.operand, start)
            if isinstance(node.op, ast.USub):
                out.append((cr.NEG, 0))
            elif isinstance(node.op, ast.Not):
                out.append((cr.NOT, 0))
        elif isinstance(node, ast.Compare):  # a < b < c: (a < b) and (b < c)
            left = node.left
            for k, (op, right) in enumerate(zip(node.ops, node.comparators)):
                self._emit(left, start)
                self._emit(right, start)
                out.append((self.compare[type(op)], 0))
                if k:
                    out.append((cr.AND, 0))
                left = right
        elif isinstance(node, ast.BoolOp):
            self._emit(node.values[0], start)
            for value in node.values[1:]:
                self._emit(value, start)
                out.append((cr.AND if isinstance(node.op, ast.And) else cr.OR, 0))
        elif isinstance(node, ast.IfExp):
            self._emit(node.test, start)
            jump = len(out)
            out.append((cr.JUMP_IF_FALSE, -1))
            self._emit(node.body, start)
            end = len(out)
            out.append((cr.JUMP, -1))
            out[jump] = (cr.JUMP_IF_FALSE, len(out) - start)
            self._emit(node.orelse, start)
            out[end] = (cr.JUMP, len(out) - start)
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("min", "max"):
                self._emit(node.args[0], start)
                for arg in node.args[1:]:
                    self._emit(arg, start)
                    out.append((cr.MIN if name == "min" else cr.MAX, 0))
            elif name == "pow":
                self._emit(node.args[0], start)
                self._emit(node.args[1], start)
                out.append((cr.POW, 0))
            else:
                self._emit(node.args[0], start)
                out.append((self.unary[name], 0))
        else:
            raise ModelError(f"cannot compile {ast.unparse(node)!r} for the composition-rejection method")


# ---------------------------------------------------------------------- cache on disk
def _write_generated(source: str, name: str, suffix: str = ".py") -> Path:
    directory = cache_dir() / "models"
    path = directory / f"{name}{suffix}"
    if path.exists() and path.read_text(encoding="utf-8") == source:
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(source, encoding="utf-8")
    os.replace(tmp, path)  # atomic: concurrent processes never import a half-written file
    return path


def _import_generated(path: Path) -> ModuleType:
    name = path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:  # an interrupted import must not leave a half-run module behind for later calls
        del sys.modules[name]
        raise
    return module
