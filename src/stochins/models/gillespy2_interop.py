"""Convert models to and from `GillesPy2 <https://github.com/StochSS/GillesPy2>`_ (optional dependency).

``to_gillespy2`` writes every reaction with an explicit ``propensity_function`` (and
``ode_propensity_function``), so the combinatorial factors are stochins' own: stochastic mass action is
``rate * prod C(x, n)`` (``k*A*(A-1)/2`` for ``2 A``), the deterministic limit ``rate * prod x**n/n!``.
GillesPy2's own mass-action convention differs (``k*A*(A-1)/vol`` for ``2 A``, no ``1/2``), which
``from_gillespy2`` accounts for when it reads a gillespy2 mass-action reaction back as ``rate:``.

What the gillespy2 expression pipeline accepts, and how this module copes (gillespy2 1.8.3):

* The C++ solvers evaluate species as ``unsigned int`` and keep integer literals as integers, so
  ``1/2`` is 0 and ``A - B`` wraps around. Every number is written as a float literal and any
  operation whose operands are all species (integers) gets a ``1.0*`` so it is evaluated in double.
* Unary plus is printed as a minus by gillespy2's ``Reaction`` string converter: it is dropped here.
* Comparisons, ``and``/``or``/``not`` and conditional expressions (how ``piecewise`` appears) are
  mangled or rejected: a :class:`~stochins.ModelError` names the reaction.
* ``max``/``min`` are unknown to the C++ solvers: rewritten as ``((a)+(b)+abs((a)-(b)))/2`` (min
  with a minus), nested for more arguments. ``exp``, ``log``, ``log10``, ``sqrt``, ``floor``,
  ``ceil``, ``abs``, ``pow`` work in the C++ solvers; gillespy2's ``NumPySSASolver`` evaluates
  propensities with only Python builtins in scope, so of these it knows ``abs`` and ``pow`` only.
* A symbol named ``e`` is replaced by Euler's number by gillespy2 and ``vol`` is reserved: such
  names are rejected.
* Constant (boundary) species: gillespy2's SSA solvers ignore ``boundary_condition``/``constant``
  (only its TauHybridSolver reads them), so a constant species is written with
  ``boundary_condition=True`` *and* with equal reactant and product stoichiometry (or left out of
  the reaction), which keeps it constant under every solver.
* gillespy2's C++ SSA loops forever when a propensity turns negative (stochins stops with an
  error instead): clamp propensities that can, e.g. ``max(..., 0)``, before exporting.
* gillespy2's NumPy solvers substitute names by plain text replacement, so a one-letter name
  that occurs inside a function name (``p`` in ``pow``) corrupts that expression there; the
  C++ solvers substitute on the syntax tree and are not affected.

Building a gillespy2 C++ solver needs ``scons``; gillespy2 looks for it on ``PATH`` and otherwise
runs ``python -m SCons`` with the *resolved* interpreter, which misses a virtualenv's SCons. Wrap
the solver construction in :func:`solver_environment` to put this interpreter's ``bin`` on ``PATH``.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import math
import os
import shutil
import sys
from typing import Any, Iterator, Mapping

from ..errors import ArgumentError, ModelError

__all__ = ["to_gillespy2", "from_gillespy2", "is_gillespy2_model", "solver_environment", "gillespy2_propensities"]

#: stochins' (numba) function names -> names both gillespy2 solvers' parsers understand
_FUNC_TO_GPY = {
    "math.exp": "exp", "math.log": "log", "math.log10": "log10", "math.sqrt": "sqrt",
    "math.floor": "floor", "math.ceil": "ceil", "abs": "abs", "pow": "pow",
}
#: gillespy2 function names -> stochins model-file names
_FUNC_FROM_GPY = {"fabs": "abs", "ln": "log"}
#: names gillespy2 treats specially
_GPY_RESERVED = {"e": "gillespy2 replaces the name 'e' by Euler's number in propensities",
                 "vol": "'vol' is reserved by gillespy2 for the system volume"}


# ---------------------------------------------------------------------------- helpers
def is_gillespy2_model(obj: Any) -> bool:
    """True for a ``gillespy2.Model`` (or subclass) instance; never imports gillespy2."""
    return any(c.__name__ == "Model" and c.__module__.split(".")[0] == "gillespy2"
               for c in type(obj).__mro__)


@contextlib.contextmanager
def solver_environment() -> Iterator[None]:
    """Temporarily put this interpreter's ``bin`` directory first on ``PATH`` so gillespy2 finds SCons.

    Use around the construction of a gillespy2 C++ solver (``SSACSolver(model=...)``), which is when
    it compiles. ``PATH`` is process-global: do not build solvers from several threads at once.
    """
    if shutil.which("scons") is not None:
        yield
        return
    old = os.environ.get("PATH")
    os.environ["PATH"] = os.path.dirname(sys.executable) + (os.pathsep + old if old else "")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old


# ---------------------------------------------------------------------------- expressions -> gillespy2
class _Unsupported(Exception):
    pass


class _ToPlain(ast.NodeTransformer):
    """stochins expression tree -> plain-Python tree that gillespy2's parsers handle.

    With ``integer_comparisons``, ``a if L > R else b`` (also >=, <, <=) becomes
    ``b + (a - b) * min(max(L - R, 0), 1)``, which is exact when L and R are whole numbers (counts
    and integer thresholds); the caller vouches for that.
    """

    def __init__(self, integer_comparisons: bool = False):
        self.integer_comparisons = integer_comparisons

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant(float(node.value))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.USub):
            return ast.UnaryOp(ast.USub(), operand)
        raise _Unsupported("'not' (a logical operator)")

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        test = node.test
        if not (self.integer_comparisons and isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.ops[0], (ast.Gt, ast.GtE, ast.Lt, ast.LtE))):
            raise _Unsupported("a conditional ('a if c else b', e.g. from piecewise)")
        left, right = self.visit(test.left), self.visit(test.comparators[0])
        op = test.ops[0]
        diff = ast.BinOp(left, ast.Sub(), right) if isinstance(op, (ast.Gt, ast.GtE)) else \
            ast.BinOp(right, ast.Sub(), left)
        if isinstance(op, (ast.GtE, ast.LtE)):
            diff = ast.BinOp(diff, ast.Add(), ast.Constant(1.0))
        step = _max_min(_max_min(diff, ast.Constant(0.0), True), ast.Constant(1.0), False)
        a, b = self.visit(node.body), self.visit(node.orelse)
        return ast.BinOp(b, ast.Add(), ast.BinOp(ast.BinOp(a, ast.Sub(), b), ast.Mult(), step))

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        raise _Unsupported("a comparison")

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        raise _Unsupported("'and'/'or'")

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = ast.unparse(node.func)  # 'math.exp' is a dotted Name or, once inlined, an Attribute
        args = [self.visit(a) for a in node.args]
        if name in ("max", "min"):
            out = args[0]
            for arg in args[1:]:
                out = _max_min(out, arg, name == "max")
            return out
        if name not in _FUNC_TO_GPY:
            raise _Unsupported(f"the function {name!r}")
        return ast.Call(ast.Name(_FUNC_TO_GPY[name], ast.Load()), args, [])


def _max_min(a: ast.AST, b: ast.AST, is_max: bool) -> ast.AST:
    """max(a, b) = (a + b + |a - b|)/2, min(a, b) = (a + b - |a - b|)/2."""
    spread = ast.Call(ast.Name("abs", ast.Load()), [ast.BinOp(a, ast.Sub(), b)], [])
    total = ast.BinOp(ast.BinOp(a, ast.Add(), b), ast.Add() if is_max else ast.Sub(), spread)
    return ast.BinOp(total, ast.Div(), ast.Constant(2.0))


class _PromoteIntegers(ast.NodeTransformer):
    """Make every operation whose operands are all species (C++ ``unsigned int``) evaluate in double."""

    def __init__(self, species: set[str]):
        self.species = species

    def _is_int(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.species
        if isinstance(node, ast.BinOp):
            return self._is_int(node.left) and self._is_int(node.right)
        if isinstance(node, ast.UnaryOp):
            return self._is_int(node.operand)
        return False  # float constants, parameters and function results are double

    @staticmethod
    def _double(node: ast.AST) -> ast.AST:
        return ast.BinOp(ast.Constant(1.0), ast.Mult(), node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        both_int = self._is_int(node.left) and self._is_int(node.right)
        node.left, node.right = self.visit(node.left), self.visit(node.right)
        if both_int:
            node.left = self._double(node.left)
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        promote = self._is_int(node.operand)
        node.operand = self.visit(node.operand)
        if promote:
            node.operand = self._double(node.operand)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node.args = [self._double(self.visit(a)) if self._is_int(a) else self.visit(a) for a in node.args]
        return node


def _plain_tree(expr, what: str, integer_comparisons: bool = False) -> ast.AST:
    try:
        return _ToPlain(integer_comparisons).visit(copy.deepcopy(expr.tree)).body
    except _Unsupported as exc:
        raise ModelError(f"{what}: gillespy2 cannot express {exc} in {expr.text!r}") from None


def _render(tree: ast.AST, species: set[str]) -> str:
    tree = _PromoteIntegers(species).visit(ast.parse(ast.unparse(tree), mode="eval"))
    return ast.unparse(tree.body)


def _mass_action(rate: ast.AST, reactants, deterministic: bool) -> ast.AST:
    out = rate
    for s, n in reactants:
        if deterministic:
            factors = [ast.Name(s, ast.Load()) if n == 1 else
                       ast.BinOp(ast.Name(s, ast.Load()), ast.Pow(), ast.Constant(float(n)))]
        else:
            factors = [ast.Name(s, ast.Load())] + [
                ast.BinOp(ast.Name(s, ast.Load()), ast.Sub(), ast.Constant(float(k))) for k in range(1, n)]
        for f in factors:
            out = ast.BinOp(out, ast.Mult(), f)
        if n > 1:
            out = ast.BinOp(out, ast.Div(), ast.Constant(float(math.factorial(n))))
    return out


def gillespy2_propensities(network, reaction, integer_comparisons: bool = False) -> tuple[str, str]:
    """(stochastic, deterministic) propensity strings of one stochins reaction, in gillespy2 syntax."""
    what = f"{network.source}: reaction {reaction.name!r}"
    species = set(network.species)
    if reaction.propensity is not None:
        src = _render(_plain_tree(network.propensity_expr(reaction), what, integer_comparisons), species)
        return src, src
    rate = _plain_tree(network.rate_expr(reaction), what, integer_comparisons)
    return tuple(_render(_mass_action(rate, reaction.reactants, det), species) for det in (False, True))


# ---------------------------------------------------------------------------- to gillespy2
def to_gillespy2(model, inputs: Mapping[str, float] | None = None, model_parameters: Mapping[str, float] | None = None,
                 t_end: float | None = None, samples: int | None = None, integer_comparisons: bool = False):
    """A ``gillespy2.Model`` equivalent to a stochins model (anything :func:`stochins.load_model` takes).

    gillespy2 cannot evaluate conditionals; ``integer_comparisons=True`` rewrites ``a if L > R else b``
    (and >=, <, <=) into arithmetic that is exact when both sides are whole numbers — e.g. the
    insulin models' receptor-synthesis switch on a receptor count, when ``k5_threshold * scale``
    is an integer.

    Initial counts are evaluated with ``model_parameters``; inputs become constant parameters
    (``inputs`` overrides their defaults; gillespy2 gets no time-varying schedule). With ``t_end`` and
    ``samples`` the timespan is ``linspace(0, t_end, samples)``. Build C++ solvers for the result
    inside :func:`solver_environment`.
    """
    import gillespy2
    import numpy as np

    from .loader import load_model

    compiled = load_model(model)
    net = compiled.network
    src = net.source
    for name in net.known_symbols() | set(net.reactions):
        if name in _GPY_RESERVED:
            raise ModelError(f"{src}: name {name!r} cannot be exported to gillespy2 ({_GPY_RESERVED[name]})")
    if (t_end is None) != (samples is None):
        raise ArgumentError("to_gillespy2: give both t_end and samples, or neither")

    params = dict(zip(compiled.parameters, compiled.parameter_vector(model_parameters).tolist()))
    input_values = dict(net.inputs)
    for name, value in (inputs or {}).items():
        if name not in net.inputs:
            raise ArgumentError(f"{src}: unknown input {name!r} in inputs (known: {', '.join(net.inputs) or 'none'})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
                or not math.isfinite(value):
            raise ArgumentError(f"inputs.{name}: gillespy2 takes a constant non-negative number only, got {value!r}")
        input_values[name] = float(value)
    counts = net.initial_counts(params)

    gmodel = gillespy2.Model(name=net.name)
    gmodel.add_species([
        gillespy2.Species(name=s, initial_value=int(counts[s]), mode="discrete",
                          boundary_condition=bool(sp.constant))
        for s, sp in net.species.items()])
    gparams = [gillespy2.Parameter(name=n, expression=repr(float(v)))
               for n, v in {**params, **input_values}.items()]
    if gparams:
        gmodel.add_parameter(gparams)

    for r in net.reactions.values():
        stochastic, deterministic = gillespy2_propensities(net, r, integer_comparisons)
        reactants = {s: int(n) for s, n in r.reactants}
        products = {s: int(n) for s, n in r.products}
        for s in net.species:
            if net.species[s].constant:  # never changed by a reaction, under any gillespy2 solver
                products.pop(s, None)
                if s in reactants:
                    products[s] = reactants[s]
        gmodel.add_reaction(gillespy2.Reaction(name=r.name, reactants=reactants, products=products,
                                               propensity_function=stochastic,
                                               ode_propensity_function=deterministic))
    if t_end is not None:
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
            raise ArgumentError(f"samples: expected an integer >= 2, got {samples!r}")
        if not (isinstance(t_end, (int, float)) and math.isfinite(t_end) and t_end > 0):
            raise ArgumentError(f"t_end: expected a positive number, got {t_end!r}")
        gmodel.timespan(np.linspace(0.0, float(t_end), int(samples)))
    return gmodel


# ---------------------------------------------------------------------------- from gillespy2
class _FromGpy(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in _FUNC_FROM_GPY:
            node.func = ast.Name(_FUNC_FROM_GPY[node.func.id], ast.Load())
        return node


def _from_gpy_text(text: str, what: str) -> str:
    try:
        tree = ast.parse(str(text).replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ModelError(f"{what}: cannot parse gillespy2 expression {text!r} ({exc.msg})") from None
    return ast.unparse(_FromGpy().visit(tree))


def _name(key: Any) -> str:
    return key if isinstance(key, str) else key.name


def from_gillespy2(gmodel) -> "Network":
    """A stochins :class:`~stochins.network.Network` from a ``gillespy2.Model``.

    Species keep their initial counts (boundary/constant species become ``constant: true``),
    parameters are evaluated to numbers, customized reactions keep their stochastic
    ``propensity_function`` as ``propensity:`` and gillespy2 mass-action reactions become ``rate:``
    with gillespy2's convention converted (``2 A`` has propensity ``k*A*(A-1)/vol`` in gillespy2).
    Events, rules and function definitions are not supported.
    """
    from ..network import Network

    source = f"<gillespy2 model {gmodel.name!r}>"
    for attr, what in (("listOfEvents", "events"), ("listOfRateRules", "rate rules"),
                       ("listOfAssignmentRules", "assignment rules"),
                       ("listOfFunctionDefinitions", "function definitions")):
        if getattr(gmodel, attr, None):
            raise ModelError(f"{source}: gillespy2 {what} are not supported by stochins")

    species: dict[str, Any] = {}
    constant: set[str] = set()
    for name, sp in gmodel.listOfSpecies.items():
        value = float(sp.initial_value)
        if not math.isfinite(value) or value < 0 or value != int(value):
            raise ModelError(f"{source}: species {name!r}: initial value {sp.initial_value!r} is not a "
                             f"non-negative integer count")
        if getattr(sp, "boundary_condition", False) or getattr(sp, "constant", False):
            constant.add(name)
            species[name] = {"count": int(value), "constant": True}
        else:
            species[name] = int(value)

    parameters: dict[str, float] = {}
    for name, p in gmodel.listOfParameters.items():
        value = p.value
        if value is None:
            try:
                value = eval(str(p.expression), {"__builtins__": {}, **vars(math)}, dict(parameters))
            except Exception as exc:  # gillespy2 evaluates parameter expressions the same way
                raise ModelError(f"{source}: parameter {name!r}: cannot evaluate {p.expression!r} ({exc})") from None
        parameters[name] = float(value)

    volume = float(getattr(gmodel, "volume", 1.0))
    uses_vol = False
    reactions: dict[str, dict] = {}
    for rname, r in gmodel.listOfReactions.items():
        what = f"{source}: reaction {rname!r}"
        reactants = {_name(s): int(n) for s, n in r.reactants.items()}
        products = {_name(s): int(n) for s, n in r.products.items()}
        for s in constant:  # a boundary species is never changed by a reaction: a modifier at most
            products.pop(s, None)
            if s in reactants:
                products[s] = reactants[s]
        entry: dict[str, Any] = {"equation": f"{_side(reactants)} -> {_side(products)}"}
        if getattr(r, "massaction", False) and getattr(r, "marate", None) is not None:
            # gillespy2: 0 -> k*vol, X -> k*X, X + Y -> k*X*Y/vol, 2 X -> k*X*(X-1)/vol = (2k/vol)*C(X, 2)
            order = sum(reactants.values())
            rate = f"({_from_gpy_text(_name(r.marate), what)})"
            if order == 2 and len(reactants) == 1:
                rate += " * 2"
            if volume != 1.0 and order in (0, 2):
                rate += " * vol" if order == 0 else " / vol"
                uses_vol = True
            entry["rate"] = rate
        else:
            text = _from_gpy_text(r.propensity_function, what)
            uses_vol |= _reads(text, "vol")
            entry["propensity"] = text
        reactions[rname] = entry
    if uses_vol:
        if "vol" in parameters or "vol" in species:
            raise ModelError(f"{source}: 'vol' is both the gillespy2 volume and a model name")
        parameters["vol"] = volume

    data = {"name": str(gmodel.name) or "gillespy2_model", "species": species, "parameters": parameters,
            "reactions": reactions}
    if not parameters:
        del data["parameters"]
    return Network.from_dict(data, source=source)


def _reads(text: str, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(ast.parse(text, mode="eval")))


def _side(terms: Mapping[str, int]) -> str:
    return " + ".join(f"{n} {s}" if n != 1 else s for s, n in terms.items()) or "0"
