"""Unit tests of model parsing (pure Python: no numba compilation anywhere in this file)."""

from __future__ import annotations

import math
import textwrap

import pytest

from stochins.expressions import Expr, ModelError
from stochins.network import Network, parse_equation


def net(text: str) -> Network:
    return Network.from_yaml_text(textwrap.dedent(text), source="test.yaml")


# ---------------------------------------------------------------- equations
@pytest.mark.parametrize("text, reactants, products, reversible", [
    ("2 A + B -> C", (("A", 2), ("B", 1)), (("C", 1),), False),
    ("A -> 0", (("A", 1),), (), False),
    ("-> X", (), (("X", 1),), False),
    ("X ->", (("X", 1),), (), False),
    ("0 -> X", (), (("X", 1),), False),
    ("∅ -> X", (), (("X", 1),), False),
    ("2A <-> A2", (("A", 2),), (("A2", 1),), True),
    ("A <=> B", (("A", 1),), (("B", 1),), True),
    ("A => B", (("A", 1),), (("B", 1),), False),
    ("3*X + Y_1 -> 10 Z", (("X", 3), ("Y_1", 1)), (("Z", 10),), False),
    ("  A   +B->C  ", (("A", 1), ("B", 1)), (("C", 1),), False),
])
def test_parse_equation(text, reactants, products, reversible):
    assert parse_equation(text, "w") == (reactants, products, reversible)


def test_stoichiometry_merges_repeated_species():
    assert parse_equation("A + A -> B", "w") == parse_equation("2 A -> B", "w")
    assert parse_equation("A + 2 A + B -> B + B", "w") == ((("A", 3), ("B", 1)), (("B", 2),), False)


@pytest.mark.parametrize("text", ["A + B", "A -> B -> C", "A <- B", "2.5 A -> B", "A + -> B", "A - B -> C",
                                  "0 A -> B", "A B -> C", "A -> B <-> C"])
def test_parse_equation_rejects(text):
    with pytest.raises(ModelError, match=r"^where: "):
        parse_equation(text, "where")


def test_net_change():
    n = net("""
        species: {A: 1, B: 0}
        parameters: {k: 1}
        reactions:
          auto: {equation: "A -> 2 A", rate: k}
          noop: {equation: "A + B -> A + B", rate: k}
          conv: {equation: "2 A + B -> 3 B", rate: k}
    """)
    assert n.reactions["auto"].net_change() == {"A": 1}
    assert n.reactions["noop"].net_change() == {}
    assert n.reactions["conv"].net_change() == {"A": -2, "B": 2}


# ---------------------------------------------------------------- network structure
def test_reversible_expansion():
    n = net("""
        species: {A: 10, B: 0}
        parameters: {kf: 2, kr: 3}
        reactions:
          bind: {equation: "2 A <-> B", rate: [kf, "kr * 2"]}
    """)
    assert sorted(n.reactions) == ["bind_fwd", "bind_rev"]
    fwd, rev = n.reactions["bind_fwd"], n.reactions["bind_rev"]
    assert (fwd.reactants, fwd.products) == ((("A", 2),), (("B", 1),))
    assert (rev.reactants, rev.products) == ((("B", 1),), (("A", 2),))
    assert fwd.rate.evaluate(n.parameters) == 2.0 and rev.rate.evaluate(n.parameters) == 6.0
    assert fwd.propensity is None and rev.propensity is None


def test_constant_species():
    n = net("""
        species:
          Source: {count: 7, constant: true}
          Sink: {count: 0, constant: true}
          X: 0
          Y: {count: 3}
        parameters: {k: 1}
        reactions:
          make: {equation: "Source -> Source + X", rate: k}
          drain: {equation: "X -> Sink", rate: k}
    """)
    assert n.species["Source"].constant and n.species["Sink"].constant
    assert not n.species["X"].constant and not n.species["Y"].constant
    assert n.initial_counts() == {"Source": 7, "Sink": 0, "X": 0, "Y": 3}


def test_initial_counts_from_parameters():
    n = net("""
        species:
          A: "N / 3"
          B: "floor(N / 3)"
          C: "2 * N"
          D: 4
        parameters: {N: 10, k: 1}
        reactions:
          r: {equation: "A -> B", rate: k}
    """)
    assert n.initial_counts() == {"A": 3, "B": 3, "C": 20, "D": 4}  # 3.33 rounds to 3
    assert n.initial_counts({"N": 11}) == {"A": 4, "B": 3, "C": 22, "D": 4}  # 3.67 rounds to 4
    assert n.parameters["N"] == 10.0  # overrides do not stick
    assert n.species["A"].initial.symbols == {"N"}


def test_initial_count_override_negative_is_rejected():
    n = net("""
        species: {A: "N - 5"}
        parameters: {N: 10, k: 1}
        reactions: {r: {equation: "A -> 0", rate: k}}
    """)
    assert n.initial_counts() == {"A": 5}
    with pytest.raises(ModelError, match=r"test.yaml: species 'A': initial count 'N - 5' evaluates to -3"):
        n.initial_counts({"N": 2})


def test_expressions_inlined_in_any_order():
    n = net("""
        species: {X: 4}
        parameters: {k: 2, K: 4}
        inputs: {u: 3}
        expressions:
          c: "b * 2"          # uses b, defined below
          b: "a + u"
          a: "k * X / (K + X)"
        reactions:
          r: {equation: "X -> 0", propensity: "c + a"}
    """)
    assert n.expressions["a"].symbols == {"k", "X", "K"}
    assert n.expressions["b"].symbols == {"k", "X", "K", "u"}
    assert n.expressions["c"].symbols == {"k", "X", "K", "u"}
    env = n.default_environment()
    assert env == {"k": 2.0, "K": 4.0, "u": 3.0, "X": 4.0}
    assert n.expressions["c"].evaluate(env) == pytest.approx((2 * 4 / 8 + 3) * 2)
    p = n.propensity_expr(n.reactions["r"])
    assert p.symbols == {"k", "X", "K", "u"}
    assert p.evaluate(env) == pytest.approx(8 + 1)
    # the reaction keeps its text; only the inlined tree changes
    assert n.reactions["r"].propensity.symbols == {"c", "a"}


def test_rate_expr_inlines_expressions():
    n = net("""
        species: {A: 1}
        parameters: {k: 0.5}
        expressions: {kk: "k * 3"}
        reactions: {r: {equation: "A -> 0", rate: kk}}
    """)
    assert n.rate_expr(n.reactions["r"]).symbols == {"k"}
    assert n.rate_expr(n.reactions["r"]).evaluate(n.parameters) == 1.5


def test_exponent_floats_without_dot():
    """YAML 1.1 (PyYAML) reads 1e-3 as a string; model files accept it as a number."""
    n = net("""
        species: {A: 1e3}
        parameters: {k: 1e-3, j: -2.5E+2, m: 7}
        reactions: {r: {equation: "A -> 0", rate: k}}
    """)
    assert n.parameters == {"k": 1e-3, "j": -250.0, "m": 7.0}
    assert n.initial_counts() == {"A": 1000}


def test_metadata_and_text():
    text = """
        name: demo
        description: a demo
        time_unit: s
        species: {A: 1}
        parameters: {k: 1}
        reactions: {r: {equation: "A -> 0", rate: k, description: decay}}
    """
    n = net(text)
    assert (n.name, n.description, n.time_unit, n.source) == ("demo", "a demo", "s", "test.yaml")
    assert n.text == textwrap.dedent(text)
    assert net("species: {A: 1}\nparameters: {k: 1}\nreactions: {r: {equation: 'A -> 0', rate: k}}\n").name == "test"


# ---------------------------------------------------------------- expressions
ENV = {"x": 3.0, "K": 2.0, "k": 0.5, "n": 2.0}

EXPR_CASES = [
    ("x^2", 9.0),
    ("2^3", 8.0),
    ("-x^2", -9.0),
    ("k * x ^ n", 4.5),
    ("hill(x, K, n)", 9.0 / 13.0),
    ("hill(K, K, 4)", 0.5),
    ("k * hill(x^1, K + 0, n)", 0.5 * 9.0 / 13.0),
    ("piecewise(1, x < 0, 2, x < 5, 3)", 2.0),
    ("piecewise(1, x < 0, 2, x < 2, 3)", 3.0),
    ("piecewise(10, x > 1, 20)", 10.0),
    ("1 if x > 2 else 0", 1.0),
    ("(x if x < K else K) * 2", 4.0),
    ("1 if x > 2 and K > 5 else 7", 7.0),
    ("1 if not x > 2 or k < 1 else 7", 1.0),
    ("min(x, K)", 2.0),
    ("max(x - 5, 0)", 0.0),
    ("min(x, K, k)", 0.5),
    ("max(x, K, 10)", 10.0),
    ("exp(log(x))", 3.0),
    ("log(exp(2))", 2.0),
    ("log10(1000)", 3.0),
    ("sqrt(x^2 + 16)", 5.0),
    ("abs(K - x)", 1.0),
    ("floor(x / K) + ceil(k)", 2.0),
    ("pow(K, 3)", 8.0),
    ("(x > 2) * k", 0.5),
    (7, 7.0),
    (0.25, 0.25),
]


@pytest.mark.parametrize("text, expected", EXPR_CASES)
def test_expr_evaluate(text, expected):
    e = Expr.parse(text, "w")
    assert e.evaluate(ENV) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("text, expected", EXPR_CASES)
def test_expr_source_matches_evaluate(text, expected):
    e = Expr.parse(text, "w")
    src = e.source(lambda s: f"v[{s!r}]")
    for special in ("hill", "piecewise", "^"):
        assert special not in src
    value = eval(src, {"math": math, "v": ENV, "__builtins__": {"min": min, "max": max, "abs": abs, "pow": pow}})
    assert float(value) == pytest.approx(e.evaluate(ENV), rel=1e-12, abs=1e-12)
    assert float(value) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_expr_source_with_array_names():
    e = Expr.parse("k * hill(x, K, n) + exp(-k)", "w")
    order = ["K", "k", "n", "x"]
    src = e.source(lambda s: f"p[{order.index(s)}]")
    assert "p[1]" in src and "math.exp" in src
    assert eval(src, {"math": math, "p": [ENV[s] for s in order]}) == pytest.approx(e.evaluate(ENV))


def test_expr_symbols_exclude_functions():
    assert Expr.parse("exp(k * x) + hill(x, K, n) + max(x, 0)", "w").symbols == {"k", "x", "K", "n"}
    assert Expr.parse("piecewise(a, b > c, d)", "w").symbols == {"a", "b", "c", "d"}
    assert Expr.parse(3, "w").symbols == frozenset()


def test_expr_substitute():
    a = Expr.parse("k * 2", "w")
    e = Expr.parse("a + x * a", "w").substitute({"a": a})
    assert e.symbols == {"k", "x"}
    assert e.evaluate({"k": 1.5, "x": 2.0}) == pytest.approx(3 + 2 * 3)
    # precedence survives inlining: a = k + 1, so 2 * a = 2k + 2
    b = Expr.parse("k + 1", "w")
    assert Expr.parse("2 * b ^ 2", "w").substitute({"b": b}).evaluate({"k": 1.0}) == 8.0


@pytest.mark.parametrize("text", ["1 / x", "log(x)", "sqrt(x - 1)", "(x - 1) ^ 0.5", "exp(1000)"])
def test_expr_invalid_arithmetic_gives_nan(text):
    value = Expr.parse(text, "w").evaluate({"x": 0.0})
    assert math.isnan(value) or math.isinf(value)


def test_expr_is_nonnegative_constant():
    assert Expr.parse("2 * 3", "w").is_nonnegative_constant()
    assert not Expr.parse("-1", "w").is_nonnegative_constant()
    assert not Expr.parse("k", "w").is_nonnegative_constant()


@pytest.mark.parametrize("value, pattern", [
    ("k *", r"cannot parse"),
    ("a.b", r"Attribute is not allowed"),
    ("lambda: 1", r"Lambda is not allowed"),
    ("'s'", r"constant 's' is not a number"),
    ("True", r"constant True is not a number"),
    ("foo(1)", r"unknown function 'foo'"),
    ("exp(1, 2)", r"exp\(\) takes 1 argument"),
    ("min(1)", r"min\(\) needs at least 2 arguments"),
    ("max(x=1)", r"keyword arguments"),
    ("piecewise(1, 2)", r"piecewise"),
    ("x // 2", r"FloorDiv is not allowed"),
    ("", r"empty expression"),
    (True, r"expected a number or an expression"),
    (None, r"expected a number or an expression"),
    ([1], r"expected a number or an expression"),
])
def test_expr_parse_rejects(value, pattern):
    with pytest.raises(ModelError, match=r"^here: .*" + pattern):
        Expr.parse(value, "here")
