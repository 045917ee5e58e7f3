"""Network -> CompiledModel: canonical arrays, generated numba code, dependency graph, disk cache.

Species, parameters, inputs and reactions are put in a canonical (sorted) order, so neither the
model hash nor the random streams depend on the order a file lists them in. The generated module
holds straight-line propensity code, one fused ``fire`` branch per reaction (state change plus
the propensities that depend on it) and the engine kernels; it is written under a name derived
from its own text, so numba's on-disk cache makes a second process start without recompiling.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Mapping

import numba
import numpy as np

from . import __version__
from .engine import ssa as _ssa  # noqa: F401  (registers the SSA kernels)
from .engine import tau as _tau  # noqa: F401  (registers the tau-leaping kernels)
from .engine.kernels import kernel_source
from .expressions import ModelError
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
    code_hash: str
    model_hash: str
    source_path: Path
    source: str = field(default="", repr=False)  # the generated module's text
    n_derived: int = 0  # hoisted per-cell constants stored after the parameters and the cell size
    _module: ModuleType | None = field(default=None, repr=False)

    def __getstate__(self) -> dict:
        """Pickled for Dask workers without the imported module; a worker re-creates it from the
        source (on its own disk, under the same content hash) and loads numba's cache from there."""
        return {**self.__dict__, "_module": None}

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
                raise ModelError(f"{self.network.source}: unknown parameter {name!r} in model_parameters"
                                 f"{_did_you_mean(name, values)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ModelError(f"model_parameters.{name}: expected a finite number, got {value!r}")
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

    @property
    def module(self) -> ModuleType:
        """The generated numba module (imported on first use; compiled lazily per kernel)."""
        if self._module is None:
            if not self.source_path.exists():
                self.source_path = _write_generated(self.source, self.code_hash)
            self._module = _import_generated(self.source_path)
        return self._module


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
    depends = [[k for k in range(M) if reads[k] & set(np.flatnonzero(change_m[j]).tolist())]
               for j in range(M)]

    hoist = _Hoist(set(species) | set(inputs))
    trees = {det: [hoist(_propensity_tree(network, network.reactions[n], det)) for n in reactions]
             for det in (False, True)}
    P = len(parameters)
    names = {**{s: f"x[{i}]" for i, s in enumerate(species)},
             **{q: f"p[{i}]" for i, q in enumerate(parameters)},
             **{q: f"u[{i}]" for i, q in enumerate(inputs)},
             _SIZE: f"p[{P}]", _INV: f"p[{P + 1}]",
             **{f"__d{k}": f"p[{P + 2 + k}]" for k in range(len(hoist.derived))}}
    stochastic = [f"float({_render(t, names)})" for t in trees[False]]
    deterministic = [f"float({_render(t, names)})" for t in trees[True]]
    derived = [_render(t, names) for t in hoist.derived.values()]
    guarded = {sidx[s] for n in reactions if network.reactions[n].propensity is not None
               for s, _ in network.reactions[n].reactants if not network.species[s].constant}
    model_code = _generate(stochastic, deterministic, derived, P, change_m, depends, guarded, M)
    source = _HEADER + model_code + "\n\n" + kernel_source() + "\n"
    code_hash = hashlib.sha256((source + numba.__version__ + __version__).encode()).hexdigest()

    canonical = {
        "species": {s: [network.species[s].initial.text, network.species[s].constant] for s in species},
        "parameters": {q: network.parameters[q] for q in parameters},
        "inputs": {q: network.inputs[q] for q in inputs},
        "reactions": {n: [stochastic[j], change_m[j].tolist()] for j, n in enumerate(reactions)},
    }
    model_hash = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
    path = _write_generated(source, code_hash)
    return CompiledModel(network, species, parameters, inputs, reactions, reactant_m, change_m, depends,
                         [sorted(r) for r in reads], code_hash, model_hash, path, source, len(derived))


# ---------------------------------------------------------------------- code generation
_HEADER = '''"""Generated by stochins.compile: do not edit (regenerated from the model when missing)."""
import math

import numpy as np
from numba import njit, prange

NAN = np.nan


def kernel(parallel=False):
    return njit(cache=True, parallel=parallel, error_model="numpy", nogil=True)


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
    order = sum(n for _, n in r.reactants)
    factors = [scaled(network.rate_expr(r))]
    factors += {0: [ast.Name(_SIZE)], 1: []}.get(order, [ast.Name(_INV)] * (order - 1))
    for sp, n in r.reactants:
        if deterministic:
            factors.append(ast.Name(sp) if n == 1 else ast.BinOp(ast.Name(sp), ast.Pow(), ast.Constant(n)))
        else:
            factors += [ast.Name(sp)] + [ast.BinOp(ast.Name(sp), ast.Sub(), ast.Constant(k)) for k in range(1, n)]
        if n > 1:
            factors.append(ast.Constant(1.0 / math.factorial(n)))
    return _product(factors)


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
        calls = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
        return not any(isinstance(n, ast.Name) and id(n) not in calls and n.id in self.variable
                       for n in ast.walk(node))

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


def _generate(stochastic, deterministic, derived, n_params, change, depends, guarded, n_reactions) -> str:
    out = [f"n_reactions_of_model = {n_reactions}", "", "",
           "@kernel()", "def derive(p):",
           '    """Per-cell constants hoisted out of the propensities (see compile._Hoist)."""',
           "    for c in range(p.shape[0]):"]
    out += [f"        p[c, {n_params + 2 + k}] = {src.replace('p[', 'p[c, ')}" for k, src in enumerate(derived)]
    out += ["        pass", "", "", "@kernel()", "def propensities(x, p, u, a):"]
    out += [f"    a[{j}] = {src}" for j, src in enumerate(stochastic)] or ["    pass"]
    out += ["", "", "@kernel()", "def rates(x, p, u, r):",
            '    """Deterministic-limit reaction rates for the ODE engine (x is float)."""']
    out += [f"    r[{j}] = {src}" for j, src in enumerate(deterministic)] or ["    pass"]
    out += ["", "", "@kernel()", "def fire(j, x, p, u, a):"]

    def branch(j: int, indent: str) -> list[str]:
        lines = []
        changed = np.flatnonzero(change[j])
        for s in changed:
            d = int(change[j, s])
            lines.append(f"{indent}x[{s}] {'+' if d > 0 else '-'}= {abs(d)}")
            if d < 0 and s in guarded:
                lines.append(f"{indent}if x[{s}] < 0:")
                lines.append(f"{indent}    return NAN")
        deps = depends[j]
        if not deps:
            return lines + [f"{indent}return 0.0"]
        lines.append(f"{indent}d = " + " + ".join(f"a[{k}]" for k in deps))
        for k in deps:
            lines.append(f"{indent}a[{k}] = {stochastic[k]}")
        for k in deps:
            lines.append(f"{indent}if not a[{k}] >= 0.0:")
            lines.append(f"{indent}    return NAN")
        lines.append(f"{indent}return (" + " + ".join(f"a[{k}]" for k in deps) + ") - d")
        return lines

    def tree(lo: int, hi: int, indent: str) -> list[str]:
        # a balanced binary search over j: log2(M) comparisons instead of an M-way if-chain
        if hi - lo == 1:
            return branch(lo, indent)
        mid = (lo + hi) // 2
        return ([f"{indent}if j < {mid}:"] + tree(lo, mid, indent + "    ")
                + [f"{indent}else:"] + tree(mid, hi, indent + "    "))

    out += tree(0, n_reactions, "    ")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------- cache on disk
def _write_generated(source: str, code_hash: str) -> Path:
    directory = cache_dir() / "models"
    path = directory / f"stochins_model_{code_hash[:20]}.py"
    if path.exists() and path.read_text() == source:
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(source)
    os.replace(tmp, path)  # atomic: concurrent processes never import a half-written file
    return path


def _import_generated(path: Path) -> ModuleType:
    name = path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
