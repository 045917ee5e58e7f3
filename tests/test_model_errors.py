"""Malformed model files: each must fail at load time with one ModelError line that names the file
and the offending item, before any numba compilation happens."""

from __future__ import annotations

import re
import textwrap
import time

import pytest

import stochins
import stochins.models.loader

# A valid skeleton; most cases append one bad reaction to it.
BASE = """\
species:
  A: 10
  B: 5
parameters:
  k: 0.1
reactions:
"""


def with_reaction(line: str) -> str:
    return BASE + "  " + line + "\n"


CASES = {
    "unknown_symbol_in_rate": (
        with_reaction("r1: {equation: 'A -> B', rate: kk}"),
        r"reaction 'r1'.*unknown symbol 'kk' in rate.*did you mean 'k'"),
    "unknown_species_in_equation": (
        with_reaction("r1: {equation: 'A -> Bb', rate: k}"),
        r"reaction 'r1'.*unknown species 'Bb'.*did you mean 'B'"),
    "negative_initial_count": (
        "species: {A: -3}\nparameters: {k: 1}\nreactions: {r1: {equation: 'A -> 0', rate: k}}\n",
        r"species 'A'.*non-negative integer.*-3"),
    "non_integer_initial_count": (
        "species: {A: 10.5}\nparameters: {k: 1}\nreactions: {r1: {equation: 'A -> 0', rate: k}}\n",
        r"species 'A'.*integer.*10\.5"),
    "initial_count_expression_negative": (
        "species: {A: 'n - 5'}\nparameters: {k: 1, n: 2}\nreactions: {r1: {equation: 'A -> 0', rate: k}}\n",
        r"species 'A'.*initial count 'n - 5'.*-3"),
    "duplicate_species_and_parameter": (
        "species: {A: 1, k: 2}\nparameters: {k: 1}\nreactions: {r1: {equation: 'A -> 0', rate: k}}\n",
        r"duplicate name 'k' \(parameter and species\)"),
    "duplicate_reaction_and_parameter": (
        with_reaction("k: {equation: 'A -> B', rate: k}"),
        r"duplicate name 'k' \(parameter and reaction\)"),
    "duplicate_yaml_key": (  # PyYAML would silently keep only the second reaction
        with_reaction("r1: {equation: 'A -> B', rate: k}") + "  r1: {equation: 'B -> A', rate: k}\n",
        r"line 8.*duplicate key 'r1'"),
    "reversible_name_clash": (
        with_reaction("r: {equation: 'A <-> B', rate: [k, k]}") + "  r_fwd: {equation: 'A -> 0', rate: k}\n",
        r"duplicate name 'r_fwd'"),
    "equation_without_arrow": (
        with_reaction("r1: {equation: 'A + B', rate: k}"),
        r"reaction 'r1'.*'A \+ B'.*exactly one arrow"),
    "equation_with_two_arrows": (
        with_reaction("r1: {equation: 'A -> B -> A', rate: k}"),
        r"reaction 'r1'.*exactly one arrow"),
    "equation_fractional_stoichiometry": (
        with_reaction("r1: {equation: '2.5 A -> B', rate: k}"),
        r"reaction 'r1'.*cannot read term '2\.5 A'"),
    "equation_empty_term": (
        with_reaction("r1: {equation: 'A + -> B', rate: k}"),
        r"reaction 'r1'.*cannot read term ''"),
    "equation_zero_stoichiometry": (
        with_reaction("r1: {equation: '0 A -> B', rate: k}"),
        r"reaction 'r1'.*zero stoichiometry"),
    "equation_not_a_string": (
        with_reaction("r1: {equation: [A, B], rate: k}"),
        r"reaction 'r1'.*equation must be a string"),
    "expression_syntax": (
        with_reaction("r1: {equation: 'A -> B', rate: 'k *'}"),
        r"reaction 'r1' rate.*cannot parse expression 'k \*'"),
    "attribute_access": (
        with_reaction("r1: {equation: 'A -> B', rate: 'k.real'}"),
        r"reaction 'r1' rate.*Attribute is not allowed"),
    "lambda": (
        with_reaction("r1: {equation: 'A -> B', rate: '(lambda x: x)(k)'}"),
        r"reaction 'r1' rate.*Lambda is not allowed"),
    "string_constant": (
        with_reaction("r1: {equation: 'A -> B', rate: \"k * 'a'\"}"),
        r"reaction 'r1' rate.*constant 'a' is not a number"),
    "unknown_function": (
        with_reaction("r1: {equation: 'A -> B', rate: 'foo(k)'}"),
        r"reaction 'r1' rate.*unknown function 'foo'.*allowed: .*exp"),
    "dunder_import": (
        with_reaction("r1: {equation: 'A -> B', rate: '__import__(\"os\")'}"),
        r"reaction 'r1' rate.*unknown function '__import__'"),
    "subscript": (
        with_reaction("r1: {equation: 'A -> B', rate: '[k][0]'}"),
        r"reaction 'r1' rate.*(Subscript|List) is not allowed"),
    "hill_wrong_arity": (
        with_reaction("r1: {equation: 'A -> B', propensity: 'hill(A, k)'}"),
        r"reaction 'r1' propensity.*hill\(x, K, n\) takes 3 arguments"),
    "negative_propensity": (
        with_reaction("r1: {equation: 'A -> B', propensity: '-k*A'}"),
        r"reaction 'r1'.*propensity is -1\.0 at the initial state"),
    "negative_propensity_shifted": (
        with_reaction("r1: {equation: 'A -> B', propensity: 'k*(A-200)'}"),
        r"reaction 'r1'.*propensity is -19\.0 at the initial state"),
    "nan_propensity": (
        with_reaction("r1: {equation: 'A -> B', propensity: 'log(A - 10)'}"),
        r"reaction 'r1'.*propensity is nan"),
    "complex_propensity": (  # (-5) ** 0.5 is complex in Python: must be reported, not crash
        with_reaction("r1: {equation: 'A -> B', propensity: '(A - 15)^0.5'}"),
        r"reaction 'r1'.*propensity is nan"),
    "negative_rate": (
        with_reaction("r1: {equation: 'A -> B', rate: '-k'}"),
        r"reaction 'r1'.*rate is -0\.1"),
    "consumes_constant_species": (
        "species:\n  A: {count: 10, constant: true}\n  B: 0\nparameters: {k: 1}\n"
        "reactions: {r1: {equation: 'A -> B', rate: k}}\n",
        r"reaction 'r1'.*consumes constant species 'A'"),
    "constant_not_boolean": (
        "species:\n  A: {count: 10, constant: 'no'}\nparameters: {k: 1}\n"
        "reactions: {r1: {equation: '0 -> A', rate: k}}\n",
        r"species 'A'.*'constant' must be true or false"),
    "species_unknown_subkey": (
        "species:\n  A: {count: 10, const: true}\nparameters: {k: 1}\n"
        "reactions: {r1: {equation: '0 -> A', rate: k}}\n",
        r"species 'A'.*unknown key 'const'"),
    "reversible_single_rate": (
        with_reaction("r1: {equation: 'A <-> B', rate: k}"),
        r"reaction 'r1'.*reversible equation needs 'rate: \[forward, reverse\]'"),
    "irreversible_two_rates": (
        with_reaction("r1: {equation: 'A -> B', rate: [k, k]}"),
        r"reaction 'r1'.*two rates.*'<->'"),
    "rate_and_propensity": (
        with_reaction("r1: {equation: 'A -> B', rate: k, propensity: k}"),
        r"reaction 'r1'.*exactly one of 'rate'.*'propensity'"),
    "neither_rate_nor_propensity": (
        with_reaction("r1: {equation: 'A -> B'}"),
        r"reaction 'r1'.*exactly one of 'rate'.*'propensity'"),
    "unknown_reaction_key": (
        with_reaction("r1: {equation: 'A -> B', rates: k}"),
        r"reaction 'r1'.*unknown key 'rates'.*did you mean 'rate'"),
    "unknown_top_level_key": (
        "species: {A: 1}\nparameters: {k: 1}\nreaction:\n  r1: {equation: 'A -> 0', rate: k}\n",
        r"unknown key 'reaction'.*did you mean 'reactions'"),
    "invalid_yaml": (
        "species:\n  A: [1, 2\nreactions: {\n",
        r"not valid YAML at line \d+"),
    "yaml_tab_indent": (
        "species:\n\tA: 1\n",
        r"not valid YAML at line 2"),
    "not_a_mapping": (
        "- just\n- a list\n",
        r"must be a mapping"),
    "no_reactions": (
        "species: {A: 1}\nparameters: {k: 1}\n",
        r"no reactions"),
    "parameter_not_a_number": (
        with_reaction("r1: {equation: 'A -> B', rate: k}").replace("k: 0.1", "k: fast"),
        r"parameter 'k' must be a finite number.*'fast'"),
    "reserved_name": (
        "species: {exp: 1}\nparameters: {k: 1}\nreactions: {r1: {equation: 'exp -> 0', rate: k}}\n",
        r"species name 'exp' is reserved"),
    "expression_cycle": (
        with_reaction("r1: {equation: 'A -> B', rate: e1}") + "expressions:\n  e1: 'e2 * 2'\n  e2: 'e3 + k'\n"
                                                               "  e3: 'e1'\n",
        r"cycle: e1 -> e2 -> e3 -> e1"),
    "expression_unknown_symbol": (
        with_reaction("r1: {equation: 'A -> B', rate: e1}") + "expressions:\n  e1: 'kk * A'\n",
        r"expression 'e1'.*unknown symbol 'kk'.*did you mean 'k'"),
    "time_in_propensity": (
        with_reaction("r1: {equation: 'A -> B', propensity: 'k*A*t'}"),
        r"reaction 'r1'.*time 't' in a propensity.*input schedule"),
    "time_in_rate": (
        with_reaction("r1: {equation: 'A -> B', rate: 'k*time'}"),
        r"reaction 'r1'.*time 'time' in a rate"),
    "initial_count_uses_species": (
        "species:\n  A: 10\n  B: 'A * 2'\nparameters: {k: 1}\nreactions: {r1: {equation: 'A -> B', rate: k}}\n",
        r"species 'B'.*initial count may use parameters only.*'A'"),
}


def assert_model_error(path, pattern: str) -> str:
    start = time.perf_counter()
    with pytest.raises(stochins.ModelError) as info:
        stochins.load_model(path)
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message and message.strip() == message, f"not a single line: {message!r}"
    assert str(path) in message, f"file not named: {message!r}"
    assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    assert elapsed < 1.0, f"took {elapsed:.2f}s: the error should come before any compilation"
    return message


@pytest.fixture(autouse=True)
def no_compilation(monkeypatch):
    """Validation must fail before the network is ever handed to the numba code generator."""
    def forbidden(*args, **kwargs):
        raise AssertionError("compile_network was reached: the model should have been rejected earlier")

    monkeypatch.setattr(stochins.models.loader, "compile_network", forbidden)


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_model(case, tmp_path):
    text, pattern = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(textwrap.dedent(text))
    assert_model_error(path, pattern)


def test_missing_file(tmp_path):
    assert_model_error(tmp_path / "nowhere.yaml", r"cannot read model file")


def test_missing_file_without_suffix(tmp_path):
    assert_model_error(tmp_path / "nowhere", r"no such model file")


def test_directory_instead_of_file(tmp_path):
    path = tmp_path / "adir.yaml"
    path.mkdir()
    assert_model_error(path, r"cannot read model file")


def test_valid_base_model_reaches_compilation(tmp_path):
    """Control: the skeleton itself is valid, so every failure above is due to the one change."""
    path = tmp_path / "ok.yaml"
    path.write_text(with_reaction("r1: {equation: 'A -> B', rate: k}"))
    with pytest.raises(AssertionError, match="compile_network was reached"):
        stochins.load_model(path)



def test_case_count():
    assert len(CASES) >= 14
