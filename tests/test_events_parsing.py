"""Events in the model format and from SBML: parsed into ``Network.events`` and validated, with
one-line errors naming the file and the event (their execution: tests/test_events.py)."""

from __future__ import annotations

import textwrap

import pytest

import stochins
from stochins import ModelError, Network

pytest.importorskip("libsbml")

from stochins.models.sbml import from_sbml  # noqa: E402
from test_dsmts import DSMTS  # noqa: E402

SBML = DSMTS.parent / "sbml"

BASE = """
name: evented
species: {X: 0, P: 100, P2: 0}
parameters: {k: 20.0, g: 0.5, k1: 0.001}
inputs: {u: 1.0}
expressions: {total: P + 2 * P2}
reactions:
  birth: {equation: "0 -> X", rate: k}
  death: {equation: "X -> 0", rate: g}
  dimer: {equation: "2 P -> P2", rate: k1}
"""


def network(events: str, tmp_path) -> Network:
    path = tmp_path / "model.yaml"
    path.write_text(textwrap.dedent(BASE) + "events:\n" + textwrap.indent(textwrap.dedent(events), "  "),
                    encoding="utf-8")
    return Network.from_yaml(path)


def test_events_parse_with_sbml_defaults(tmp_path):
    net = network("""
        reset: {trigger: "t >= 25", assign: {X: 50}}
        refill:
          trigger: "total < 150 and P2 > 30"
          assign: {P: "P + 2 * P2", P2: 0, k: "k / 2", u: 0}
          persistent: false
          initial_value: false
          use_values_from_trigger_time: false
          priority: 2
          description: a state event
        """, tmp_path)
    reset, refill = net.events["reset"], net.events["refill"]
    assert reset.trigger.symbols == {"t"} and reset.assignments["X"].evaluate({}) == 50
    assert (reset.persistent, reset.initial_value, reset.use_values_from_trigger_time, reset.priority) == \
        (True, True, True, None)
    assert refill.trigger.symbols == {"P", "P2"}  # the expression 'total' is inlined
    assert refill.trigger.evaluate({"P": 10.0, "P2": 40.0}) and not refill.trigger.evaluate({"P": 100.0, "P2": 40.0})
    assert set(refill.assignments) == {"P", "P2", "k", "u"}
    assert (refill.persistent, refill.initial_value, refill.use_values_from_trigger_time) == (False, False, False)
    assert refill.priority.evaluate({}) == 2 and refill.description == "a state event"


def test_time_in_a_trigger_only_compared_with_parameters(tmp_path):
    net = network('late: {trigger: "t * k > 25", assign: {X: 50}}\n', tmp_path)
    with pytest.raises(ModelError, match=r"model.yaml: event 'late': trigger 't \* k > 25' reads time other than "
                                         r"compared with an expression of parameters") as err:
        stochins.load_model(net)
    assert "\n" not in str(err.value)


BAD = {
    "unknown target": ('e: {trigger: "t > 1", assign: {Y: 1}}', r"event 'e': unknown target 'Y'"),
    "target is an expression": ('e: {trigger: "t > 1", assign: {total: 1}}', r"event 'e': cannot assign 'total'"),
    "trigger on an unknown symbol": ('e: {trigger: "Q > 1", assign: {X: 1}}',
                                     r"event 'e': unknown symbol 'Q' in trigger 'Q > 1'"),
    "assignment reads an unknown symbol": ('e: {trigger: "t > 1", assign: {X: "k2 * 2"}}',
                                           r"event 'e': unknown symbol 'k2' in assign 'X' 'k2 \* 2' \(did you mean"),
    "trigger is not a condition": ('e: {trigger: "X + 1", assign: {X: 1}}', r"trigger 'X \+ 1' must be a condition"),
    "delay": ('e: {trigger: "t > 1", assign: {X: 1}, delay: 2}', r"event 'e': delayed events are not supported"),
    "unknown key": ('e: {trigger: "t > 1", assign: {X: 1}, persistant: true}',
                    r"event 'e': unknown key 'persistant' \(did you mean 'persistent'\?\)"),
    "missing assign": ('e: {trigger: "t > 1"}', r"event 'e': missing 'assign'"),
    "empty assign": ('e: {trigger: "t > 1", assign: {}}', r"'assign' must be a non-empty mapping"),
    "flag not a boolean": ('e: {trigger: "t > 1", assign: {X: 1}, persistent: 1}', r"'persistent' must be true or"),
    "name clash": ('k: {trigger: "t > 1", assign: {X: 1}}', r"event 'k': the name is already used"),
    "cycle of two events": ('a: {trigger: "X > 10", assign: {P: 200}}\nb: {trigger: "P > 150", assign: {X: 20}}',
                            r"events 'a' -> 'b' -> 'a' set what each other's triggers read, in a cycle"),
    "cycle through an expression": ('a: {trigger: "total > 300", assign: {X: 0}}\n'
                                    'b: {trigger: "X < 5", assign: {P2: 100}}',
                                    r"events 'a' -> 'b' -> 'a' set what each other's triggers read"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_events_are_one_line_errors(case, tmp_path):
    text, pattern = BAD[case]
    with pytest.raises(ModelError, match=pattern) as err:
        network(text + "\n", tmp_path)
    message = str(err.value)
    assert message.startswith(str(tmp_path / "model.yaml")) and "\n" not in message


def test_an_event_may_reset_what_its_own_trigger_reads(tmp_path):
    net = network('cap: {trigger: "P2 > 30", assign: {P: 100, P2: 0}}\n', tmp_path)
    assert set(net.events) == {"cap"}


@pytest.mark.parametrize("case, trigger, assign", [
    ("00028", "t >= 25", {"X": 50}),
    ("00029", "t >= 22.5", {"X": 20}),
    ("00032", "t >= 25", {"P": 100, "P2": 0}),
    ("00033", "P2 > 30", {"P": 100, "P2": 0}),
])
def test_dsmts_sbml_events_are_read(case, trigger, assign):
    net = from_sbml(SBML / f"{case}-sbml-l3v1.xml")
    ev = net.events["reset"]
    assert ev.trigger.text == trigger
    assert {k: v.evaluate({}) for k, v in ev.assignments.items()} == assign
    assert ev.persistent and not ev.initial_value and ev.use_values_from_trigger_time and ev.priority is None
    assert stochins.load_model(SBML / f"{case}-sbml-l3v1.xml").events == ["reset"]
    assert not from_sbml(SBML / f"{case}-sbml-l3v1.xml", ignore_events=True).events
