"""Rate expressions: parsed once with Python's ``ast``, checked against a small whitelist, then
either evaluated in Python (initial counts, load-time checks) or printed as numba source.

Keeping one parser for every use means the load-time checks, the ODE right-hand side and the SSA
kernel can never disagree about what an expression means.
"""

from __future__ import annotations

import ast
import functools
import math
from dataclasses import dataclass
from typing import Callable, Mapping

from .errors import ModelError

__all__ = ["Expr", "ModelError", "FUNCTIONS"]

#: longest expression text accepted (a guard against generated or hostile input)
MAX_EXPRESSION = 100_000


#: functions a model expression may call, with their Python/numba implementation names
_MATH_FUNCS = {
    "exp": "math.exp",
    "log": "math.log",
    "log10": "math.log10",
    "sqrt": "math.sqrt",
    "floor": "math.floor",
    "ceil": "math.ceil",
    "abs": "abs",
    "min": "min",
    "max": "max",
    "pow": "pow",
}
#: functions rewritten into plain arithmetic before printing or evaluating
_SPECIAL_FUNCS = {"hill", "piecewise"}
FUNCTIONS = frozenset(_MATH_FUNCS) | _SPECIAL_FUNCS

_ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Not,
    ast.IfExp, ast.Compare, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq,
    ast.BoolOp, ast.And, ast.Or,
)


@dataclass(frozen=True)
class Expr:
    """A validated expression: its text, its tree (specials rewritten) and the symbols it reads."""

    text: str
    tree: ast.Expression
    symbols: frozenset[str]

    @classmethod
    def parse(cls, value: object, where: str) -> "Expr":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ModelError(f"{where}: expected a number or an expression, got {value!r}")
        text = repr(float(value)) if not isinstance(value, str) else value.strip()
        if not text:
            raise ModelError(f"{where}: empty expression")
        if len(text) > MAX_EXPRESSION:
            raise ModelError(f"{where}: expression of {len(text):,} characters (at most {MAX_EXPRESSION:,})")
        try:
            tree = ast.parse(text.replace("^", "**"), mode="eval")
        except SyntaxError as exc:
            raise ModelError(f"{where}: cannot parse expression {text[:80]!r} ({exc.msg})") from None
        except (RecursionError, MemoryError):
            raise ModelError(f"{where}: expression nested too deeply to parse ({text[:40]!r}...)") from None
        for node in ast.walk(tree):  # node types first, so 'lambda' is reported as such
            if not isinstance(node, _ALLOWED_NODES + (ast.keyword,)):  # keywords: reported below
                raise ModelError(f"{where}: {type(node).__name__} is not allowed in expression {text!r}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                                   or not isinstance(node.value, (int, float))):
                raise ModelError(f"{where}: constant {node.value!r} is not a number in {text!r}")
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                    name = getattr(node.func, "id", ast.unparse(node.func))
                    raise ModelError(f"{where}: unknown function {name!r} in {text!r}; "
                                     f"allowed: {', '.join(sorted(FUNCTIONS))}")
                if node.keywords:
                    raise ModelError(f"{where}: keyword arguments are not allowed in {text!r}")
        for node in ast.walk(tree):  # constant powers are folded by compilers: refuse the ones that overflow
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not any(
                    isinstance(n, (ast.Name, ast.Call)) for n in ast.walk(node)):
                value = Expr(text, ast.Expression(node), frozenset()).evaluate({})
                if not math.isfinite(value):
                    raise ModelError(f"{where}: constant power {ast.unparse(node)[:60]!r} overflows or is undefined "
                                     f"in {text[:80]!r}")
        tree = _Specials(where, text).visit(tree)
        ast.fix_missing_locations(tree)
        symbols = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                            and not _is_func_name(tree, n))
        return cls(text, tree, symbols)

    def substitute(self, definitions: Mapping[str, "Expr"]) -> "Expr":
        """Inline named expressions (which must already be fully inlined themselves)."""
        if not self.symbols & definitions.keys():
            return self
        tree = _Inline(definitions).visit(_copy(self.tree))
        ast.fix_missing_locations(tree)
        symbols = frozenset().union(*(definitions[s].symbols if s in definitions else {s}
                                      for s in self.symbols))
        return Expr(self.text, tree, symbols)

    def source(self, name_of: Callable[[str], str]) -> str:
        """Python/numba source with every symbol replaced by ``name_of(symbol)``."""
        tree = _Rename(name_of).visit(_copy(self.tree))
        return ast.unparse(tree.body)

    def evaluate(self, env: Mapping[str, float]) -> float:
        # integer constants become floats, so 10 ** 10 ** 10 overflows at once (an error) instead of
        # building a ten-billion-digit integer
        code = compile(ast.fix_missing_locations(_Floats().visit(_Rename(lambda s: f"_e[{s!r}]").visit(
            _copy(self.tree)))), "<expr>", "eval")
        try:
            value = eval(code, {"math": math, "_e": env, "__builtins__": _SAFE_BUILTINS})
        except (ZeroDivisionError, OverflowError, ValueError):
            return math.nan  # the kernel sees IEEE inf/nan here; callers report non-finite values
        return math.nan if isinstance(value, complex) else float(value)  # e.g. (-1) ** 0.5

    def evaluate_array(self, env: Mapping[str, "np.ndarray | float"]) -> "np.ndarray":
        """Element-wise value over numpy arrays (broadcast together), e.g. an observable over every
        cell and recorded time at once; division by zero gives inf/nan as in the kernels."""
        import numpy as np

        tree = ast.fix_missing_locations(_Vectorize().visit(_copy(self.tree)))
        code = compile(tree, "<expr>", "eval")
        with np.errstate(all="ignore"):
            value = eval(code, {"_np": np, "_e": env, "_min": _np_min, "_max": _np_max,
                                "_and": _np_and, "_or": _np_or, "__builtins__": {}})
        return np.asarray(value, dtype=np.float64)

    def is_nonnegative_constant(self) -> bool:
        return not self.symbols and self.evaluate({}) >= 0.0


_SAFE_BUILTINS = {"abs": abs, "min": min, "max": max, "pow": pow}


def _copy(tree: ast.AST) -> ast.AST:
    return ast.parse(ast.unparse(tree), mode="eval")


def _is_func_name(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


class _Specials(ast.NodeTransformer):
    """Rewrite ``hill`` and ``piecewise`` into arithmetic and conditional expressions."""

    def __init__(self, where: str, text: str):
        self.where, self.text = where, text

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        name = node.func.id
        args = node.args
        if name == "hill":
            if len(args) != 3:
                raise ModelError(f"{self.where}: hill(x, K, n) takes 3 arguments in {self.text!r}")
            x, k, n = (ast.unparse(a) for a in args)
            return ast.parse(f"(({x}) ** ({n}) / (({k}) ** ({n}) + ({x}) ** ({n})))", mode="eval").body
        if name == "piecewise":
            if len(args) < 3 or len(args) % 2 == 0:
                raise ModelError(f"{self.where}: piecewise(value1, condition1, ..., otherwise) needs an "
                                 f"odd number (>= 3) of arguments in {self.text!r}")
            out = args[-1]
            for i in range(len(args) - 3, -1, -2):
                out = ast.IfExp(test=args[i + 1], body=args[i], orelse=out)
            return out
        if name in ("min", "max") and len(args) < 2:
            raise ModelError(f"{self.where}: {name}() needs at least 2 arguments in {self.text!r}")
        if name == "pow" and len(args) != 2:
            raise ModelError(f"{self.where}: pow() takes 2 arguments in {self.text!r}")
        if name not in ("min", "max", "pow") and len(args) != 1:
            raise ModelError(f"{self.where}: {name}() takes 1 argument in {self.text!r}")
        node.func = ast.Name(id=_MATH_FUNCS[name], ctx=ast.Load())
        return node


class _Floats(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            return ast.Constant(float(node.value))
        return node


class _Inline(ast.NodeTransformer):
    def __init__(self, definitions: Mapping[str, Expr]):
        self.definitions = definitions

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node.args = [self.visit(a) for a in node.args]
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.definitions:
            return _copy(self.definitions[node.id].tree).body
        return node


class _Rename(ast.NodeTransformer):
    def __init__(self, name_of: Callable[[str], str]):
        self.name_of = name_of

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node.args = [self.visit(a) for a in node.args]
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.parse(self.name_of(node.id), mode="eval").body


def _np_min(*args):
    import numpy as np

    return functools.reduce(np.minimum, args)


def _np_max(*args):
    import numpy as np

    return functools.reduce(np.maximum, args)


def _np_and(*args):
    import numpy as np

    return functools.reduce(np.logical_and, args)


def _np_or(*args):
    import numpy as np

    return functools.reduce(np.logical_or, args)


#: the numpy counterparts of the functions an expression may call (after ``_Specials``)
_NUMPY_FUNCS = {"math.exp": "_np.exp", "math.log": "_np.log", "math.log10": "_np.log10", "math.sqrt": "_np.sqrt",
                "math.floor": "_np.floor", "math.ceil": "_np.ceil", "abs": "_np.abs", "min": "_min",
                "max": "_max", "pow": "_np.power"}


class _Vectorize(ast.NodeTransformer):
    """Rewrite a checked expression for numpy arrays: symbols read from ``_e``, functions, conditionals
    and boolean logic element-wise (``a if c else b`` -> ``where``, chained comparisons -> ``and``)."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = ast.unparse(node.func)
        return ast.Call(ast.parse(_NUMPY_FUNCS[name], mode="eval").body,
                        [self.visit(a) for a in node.args], [])

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.parse(f"_e[{node.id!r}]", mode="eval").body

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        return _np_call("_np.where", [self.visit(node.test), self.visit(node.body), self.visit(node.orelse)])

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        return _np_call("_and" if isinstance(node.op, ast.And) else "_or", [self.visit(v) for v in node.values])

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if isinstance(node.op, ast.Not):
            return _np_call("_np.logical_not", [self.visit(node.operand)])
        return self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        left = self.visit(node.left)
        parts = []
        for op, right in zip(node.ops, node.comparators):
            right = self.visit(right)
            parts.append(ast.Compare(left, [op], [right]))
            left = right
        return parts[0] if len(parts) == 1 else _np_call("_and", parts)


def _np_call(name: str, args: list) -> ast.expr:
    return ast.Call(ast.parse(name, mode="eval").body, args, [])
