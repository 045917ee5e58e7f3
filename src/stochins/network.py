"""Reaction networks: species, parameters, inputs, named expressions and reactions (pure Python).

A :class:`Network` is what a model file says, validated; it knows nothing about numba. Every
validation error is a :class:`ModelError` whose one-line message names the file and the item.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import keyword
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .expressions import FUNCTIONS, Expr, ModelError
from .yamlio import load_yaml

__all__ = ["Network", "Reaction", "Species", "Event", "ModelError", "parse_equation"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Python keywords cannot be printed into generated code, and names starting with "__" are the
# generated code's own (the cell size __size__, its inverse __inv__, hoisted constants __d0, ...)
_RESERVED = FUNCTIONS | {"t", "time", "math"} | set(keyword.kwlist)
#: largest initial count (counts are int64, and exact as float64 below 2**53)
MAX_COUNT = 2**53
#: largest stoichiometry of a reactant (a mass-action propensity multiplies that many factors) and of a product
MAX_ORDER = 1000
MAX_STOICHIOMETRY = 2**31 - 1
#: longest species/parameter/reaction name (HDF5 strings and messages stay readable)
_MAX_NAME = 200
_TOP_KEYS = ("name", "description", "time_unit", "species", "parameters", "inputs", "expressions", "reactions",
             "events")
_REACTION_KEYS = ("equation", "rate", "propensity", "description")
_NAME_RULE = " (ASCII letters, digits and '_', not starting with a digit)"
_TERM = re.compile(r"^(?:(\d+)\s*\*?\s*)?([A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class Species:
    name: str
    initial: Expr  # count, possibly an expression of parameters; rounded when evaluated
    constant: bool = False


@dataclass(frozen=True)
class Reaction:
    """One irreversible channel. Exactly one of ``rate`` (mass action) or ``propensity`` is set."""

    name: str
    reactants: tuple[tuple[str, int], ...]
    products: tuple[tuple[str, int], ...]
    rate: Expr | None = None
    propensity: Expr | None = None

    def net_change(self) -> dict[str, int]:
        change: dict[str, int] = {}
        for s, n in self.reactants:
            change[s] = change.get(s, 0) - n
        for s, n in self.products:
            change[s] = change.get(s, 0) + n
        return {s: n for s, n in change.items() if n != 0}


@dataclass(frozen=True)
class Event:
    """A discontinuity: when ``trigger`` turns true, each target is set to its expression's value.

    SBML semantics (the defaults are SBML Level 2's): ``persistent`` (the assignments happen even if the
    trigger turns false again before they are executed; without delays always the case),
    ``initial_value`` (the trigger's value just before t = 0: ``False`` lets a trigger that holds at
    the start fire at t = 0), ``use_values_from_trigger_time`` (assignments read the state when the
    trigger fired) and ``priority`` (simultaneous events: highest first, then by name). The trigger
    and the assignments may read time ``t``, species, parameters, inputs and expressions (inlined).
    """

    name: str
    trigger: Expr
    assignments: dict[str, Expr]  # target (species, parameter or input) -> new value
    persistent: bool = True
    initial_value: bool = True
    use_values_from_trigger_time: bool = True
    priority: Expr | None = None
    description: str = ""

    def __hash__(self) -> int:
        return hash(self.name)


_EVENT_KEYS = ("trigger", "assign", "persistent", "initial_value", "use_values_from_trigger_time", "priority",
               "delay", "description")


@dataclass
class Network:
    name: str
    species: dict[str, Species]
    parameters: dict[str, float]
    inputs: dict[str, float]
    expressions: dict[str, Expr]
    reactions: dict[str, Reaction]
    description: str = ""
    time_unit: str = "min"
    source: str = "<model>"
    text: str = field(default="", repr=False)  # the YAML the network was read from, for provenance
    events: dict[str, Event] = field(default_factory=dict)  # executed by the engine (not yet: see compile)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_yaml(cls, path: str | Path) -> "Network":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelError(f"{path}: cannot read model file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ModelError(f"{path}: not a UTF-8 text file (byte {exc.start}); a model file is YAML text") from None
        if "\x00" in text:
            raise ModelError(f"{path}: not a text file (it holds NUL bytes); a model file is YAML text")
        return cls.from_yaml_text(text, source=str(path))

    @classmethod
    def from_yaml_text(cls, text: str, source: str = "<model>") -> "Network":
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ModelError(f"{source}: not valid YAML{where} ({getattr(exc, 'problem', exc)})") from None
        net = cls.from_dict(data, source=source)
        net.text = text
        return net

    @classmethod
    def from_dict(cls, data: Any, source: str = "<model>") -> "Network":
        if not isinstance(data, Mapping):
            raise ModelError(f"{source}: a model file must be a mapping with keys {', '.join(_TOP_KEYS)}")
        for key in data:
            if key not in _TOP_KEYS:
                raise ModelError(f"{source}: unknown key {key!r}{_did_you_mean(key, _TOP_KEYS)}")
        if not data.get("reactions"):
            raise ModelError(f"{source}: the model has no reactions")
        if not data.get("species"):
            raise ModelError(f"{source}: the model has no species")

        def section(key: str) -> Mapping:
            value = data.get(key) or {}
            if not isinstance(value, Mapping):
                raise ModelError(f"{source}: '{key}' must be a mapping of name: value")
            return value

        seen: dict[str, str] = {}

        def declare(name: Any, kind: str) -> str:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ModelError(f"{source}: {kind} name {str(name)[:60]!r} is not a valid identifier{_NAME_RULE}")
            if len(name) > _MAX_NAME:
                raise ModelError(f"{source}: {kind} name {name[:40]!r}... is longer than {_MAX_NAME} characters")
            if name in _RESERVED or name.startswith("__"):
                why = "a Python keyword" if keyword.iskeyword(name) else \
                    "internal (names starting with '__' are stochins' own)" if name.startswith("__") else "a function or time"
                raise ModelError(f"{source}: {kind} name {name!r} is reserved ({why}); rename it")
            if name in seen:
                raise ModelError(f"{source}: duplicate name {name!r} ({seen[name]} and {kind})")
            seen[name] = kind
            return name

        parameters: dict[str, float] = {}
        for name, value in section("parameters").items():
            declare(name, "parameter")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ModelError(f"{source}: parameter {name!r} must be a finite number, got {value!r}")
            parameters[name] = float(value)

        inputs: dict[str, float] = {}
        for name, value in section("inputs").items():
            declare(name, "input")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ModelError(f"{source}: input {name!r} default must be a non-negative number, got {value!r}")
            inputs[name] = float(value)

        species: dict[str, Species] = {}
        for name, value in section("species").items():
            declare(name, "species")
            where = f"{source}: species {name!r}"
            constant = False
            if isinstance(value, Mapping):
                unknown = set(value) - {"count", "constant"}
                if unknown:
                    raise ModelError(f"{where}: unknown key {sorted(unknown)[0]!r} (expected count, constant)")
                if "count" not in value:
                    raise ModelError(f"{where}: missing 'count'")
                constant = value.get("constant", False)
                if not isinstance(constant, bool):
                    raise ModelError(f"{where}: 'constant' must be true or false, got {constant!r}")
                value = value["count"]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value) or value < 0 or value != int(value):
                    raise ModelError(f"{where}: initial count must be a non-negative integer, got {value!r}")
                value = int(value)
            initial = Expr.parse(value, f"{where} initial count")
            bad = initial.symbols - parameters.keys()
            if bad:
                raise ModelError(f"{where}: initial count may use parameters only; "
                                 f"unknown {sorted(bad)[0]!r}{_did_you_mean(sorted(bad)[0], parameters)}")
            species[name] = Species(name, initial, constant)

        raw_expr = {declare(n, "expression"): Expr.parse(v, f"{source}: expression {n!r}")
                    for n, v in section("expressions").items()}

        reactions: dict[str, Reaction] = {}
        for name, spec in section("reactions").items():
            where = f"{source}: reaction {name!r}"
            if not isinstance(name, str) or not _NAME.match(name):
                raise ModelError(f"{source}: reaction name {str(name)[:60]!r} is not a valid identifier{_NAME_RULE}")
            if len(name) > _MAX_NAME:
                raise ModelError(f"{source}: reaction name {name[:40]!r}... is longer than {_MAX_NAME} characters")
            if not isinstance(spec, Mapping):
                raise ModelError(f"{where}: expected a mapping with 'equation' and 'rate' or 'propensity'")
            for key in spec:
                if key not in _REACTION_KEYS:
                    raise ModelError(f"{where}: unknown key {key!r}{_did_you_mean(key, _REACTION_KEYS)}")
            if "equation" not in spec:
                raise ModelError(f"{where}: missing 'equation'")
            if ("rate" in spec) == ("propensity" in spec):
                raise ModelError(f"{where}: give exactly one of 'rate' (mass action) or 'propensity'")
            reactants, products, reversible = parse_equation(spec["equation"], where)
            if reversible:
                if "rate" not in spec or not isinstance(spec["rate"], (list, tuple)) or len(spec["rate"]) != 2:
                    raise ModelError(f"{where}: a reversible equation needs 'rate: [forward, reverse]'")
                kf, kr = (Expr.parse(r, f"{where} rate") for r in spec["rate"])
                for rname, lhs, rhs, k in ((f"{name}_fwd", reactants, products, kf),
                                           (f"{name}_rev", products, reactants, kr)):
                    _add(reactions, seen, Reaction(rname, lhs, rhs, rate=k), source)
                continue
            if "rate" in spec:
                if isinstance(spec["rate"], (list, tuple)):
                    raise ModelError(f"{where}: two rates given for an irreversible equation (use '<->')")
                reaction = Reaction(name, reactants, products, rate=Expr.parse(spec["rate"], f"{where} rate"))
            else:
                reaction = Reaction(name, reactants, products,
                                    propensity=Expr.parse(spec["propensity"], f"{where} propensity"))
            _add(reactions, seen, reaction, source)

        events = _parse_events(data.get("events"), source)
        net = cls(name=str(data.get("name") or Path(source).stem), species=species, parameters=parameters,
                  inputs=inputs, expressions=raw_expr, reactions=reactions,
                  description=str(data.get("description") or ""), time_unit=str(data.get("time_unit") or "min"),
                  source=source, events=events)
        net._validate()
        return net

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        src = self.source
        self.expressions = _resolve_expressions(self.expressions, self.known_symbols(), src)
        known = self.known_symbols()
        for r in self.reactions.values():
            where = f"{src}: reaction {r.name!r}"
            for s, _ in r.reactants + r.products:
                if s not in self.species:
                    raise ModelError(f"{where}: unknown species {s!r}{_did_you_mean(s, self.species)}")
            for side, limit in ((r.reactants, MAX_ORDER), (r.products, MAX_STOICHIOMETRY)):
                for s, n in side:
                    if n > limit:  # mass action of order n is a product of n factors in the generated code
                        raise ModelError(f"{where}: stoichiometry {n:,} of {s!r} (at most {limit:,} "
                                         f"{'for a reactant' if limit == MAX_ORDER else 'per species'})")
            expr = r.rate if r.rate is not None else r.propensity
            kind = "rate" if r.rate is not None else "propensity"
            for sym in sorted(expr.symbols):
                if sym in ("t", "time"):
                    raise ModelError(f"{where}: time {sym!r} in a {kind} is not supported by exact "
                                     f"simulation; drive time dependence through an input schedule")
                if sym not in known:
                    raise ModelError(f"{where}: unknown symbol {sym!r} in {kind} "
                                     f"{expr.text!r}{_did_you_mean(sym, known)}")
            for s, n in r.net_change().items():
                if self.species[s].constant and n < 0:
                    raise ModelError(f"{where}: consumes constant species {s!r}; a constant species may "
                                     f"only act as a modifier (write '{s} -> {s} + ...') or in a propensity")
        self.events = _resolve_events(self, self.events)
        self.check_initial_rates()

    def check_initial_rates(self, parameters: Mapping[str, float] | None = None,
                            inputs: Mapping[str, float] | None = None, context: str = "") -> None:
        """Every rate and propensity is a finite non-negative number at the initial state, with the model's
        parameters and inputs or a run's (``context`` says which): otherwise the first cell would fail."""
        params = {**self.parameters, **(parameters or {})}
        reactions = list(self.reactions.values())
        read = None  # the model's own values: every initial count is checked too
        if parameters is not None or inputs is not None:  # a run's values: only what they change (a sweep
            changed = {k for k, v in {**(parameters or {}), **(inputs or {})}.items()  # of 10^4 doses)
                       if v != {**self.parameters, **self.inputs}.get(k)}
            changed |= {s.name for s in self.species.values() if s.initial.symbols & changed}
            reactions = [r for r in reactions if changed & self._reads(r)]
            read = set().union(*(self._reads(r) for r in reactions)) & self.species.keys()
        env = {**params, **self.inputs, **(inputs or {}),
               **{k: float(v) for k, v in self.initial_counts(params, only=read).items()}}
        for r in reactions:
            value = self.propensity_expr(r).evaluate(env) if r.propensity is not None else \
                self.rate_expr(r).evaluate(env)
            if not 0 <= value < math.inf:  # also catches NaN
                kind = "propensity" if r.propensity is not None else "rate"
                raise ModelError(f"{self.source}: reaction {r.name!r}: {kind} is {value!r} at the initial state"
                                 f"{context} (must be a finite non-negative number); clamp it, e.g. max(..., 0)")

    def with_events(self, section: Any, source: str) -> "Network":
        """This network plus the events of a run file's ``events:`` section (same form as the model
        file's), checked against the model; a name the model's events already use is refused."""
        added = _parse_events(section, source)
        for name in added:
            if name in self.events:
                raise ModelError(f"{source}: event {name!r}: the model already has an event of that name")
        checked = _resolve_events(dataclasses.replace(self, source=source), added)  # errors name the run file
        return dataclasses.replace(self, events={**self.events, **checked})

    def known_symbols(self) -> set[str]:
        return set(self.species) | set(self.parameters) | set(self.inputs) | set(self.expressions)

    def rate_expr(self, r: Reaction) -> Expr:
        return r.rate.substitute(self.expressions)

    def propensity_expr(self, r: Reaction) -> Expr:
        return r.propensity.substitute(self.expressions)

    def _reads(self, r: Reaction) -> frozenset[str]:
        """The species, parameters and inputs a reaction's rate or propensity reads (through expressions)."""
        expr = r.rate if r.rate is not None else r.propensity
        return frozenset().union(*(self.expressions[s].symbols if s in self.expressions else {s}
                                   for s in expr.symbols))

    def initial_counts(self, parameters: Mapping[str, float] | None = None,
                       only: set[str] | None = None) -> dict[str, int]:
        """Initial counts under these parameters (of the species in ``only``, default all)."""
        env = {**self.parameters, **(parameters or {})}
        counts = {}
        for s in self.species.values():
            if only is not None and s.name not in only:
                continue
            value = s.initial.evaluate(env)
            if not math.isfinite(value) or value < -0.5:
                raise ModelError(f"{self.source}: species {s.name!r}: initial count {s.initial.text!r} "
                                 f"evaluates to {value!r} (must be a non-negative number)")
            if value > MAX_COUNT:
                raise ModelError(f"{self.source}: species {s.name!r}: initial count {s.initial.text!r} evaluates to "
                                 f"{value:.3g} molecules, more than stochins counts ({MAX_COUNT:.3g}); "
                                 f"rescale the model (e.g. a smaller substance_scale for SBML)")
            counts[s.name] = int(math.floor(value + 0.5))  # nearest integer, halves up
        return counts

    def default_environment(self) -> dict[str, float]:
        return {**self.parameters, **self.inputs, **{k: float(v) for k, v in self.initial_counts().items()}}


def parse_equation(text: Any, where: str) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...], bool]:
    """``"A + 2 B <-> C"`` -> reactants, products, reversible."""
    if not isinstance(text, str):
        raise ModelError(f"{where}: equation must be a string like 'A + B -> C', got {text!r}")
    parts = re.split(r"(<->|<=>|->|=>)", text)
    if len(parts) != 3 or any(c in parts[0] + parts[2] for c in "<>="):
        raise ModelError(f"{where}: equation {text!r} must have exactly one arrow ('->' or '<->')")
    lhs, arrow, rhs = parts
    return _side(lhs, text, where), _side(rhs, text, where), arrow in ("<->", "<=>")


def _side(side: str, text: str, where: str) -> tuple[tuple[str, int], ...]:
    side = side.strip()
    if side in ("", "0", "∅"):
        return ()
    terms: dict[str, int] = {}
    for term in side.split("+"):
        m = _TERM.match(term.strip())
        if not m:
            raise ModelError(f"{where}: cannot read term {term.strip()!r} in equation {text!r} "
                             f"(expected e.g. 'A', '2 A' or '0')")
        n = int(m.group(1) or 1)
        if n == 0:
            raise ModelError(f"{where}: zero stoichiometry in equation {text!r}")
        terms[m.group(2)] = terms.get(m.group(2), 0) + n
    return tuple(terms.items())


def _add(reactions: dict[str, Reaction], seen: dict[str, str], r: Reaction, source: str) -> None:
    if r.name in reactions or r.name in seen:
        raise ModelError(f"{source}: duplicate name {r.name!r} ({seen.get(r.name, 'reaction')} and reaction)")
    reactions[r.name] = r


def _resolve_expressions(raw: dict[str, Expr], known: set[str], source: str) -> dict[str, Expr]:
    """Inline expressions into each other in dependency order; reject unknown symbols and cycles."""
    resolved: dict[str, Expr] = {}
    visiting: list[str] = []

    def visit(name: str) -> Expr:
        if name in resolved:
            return resolved[name]
        if name in visiting:
            cycle = " -> ".join(visiting[visiting.index(name):] + [name])
            raise ModelError(f"{source}: expressions refer to each other in a cycle: {cycle}")
        visiting.append(name)
        expr = raw[name]
        for sym in sorted(expr.symbols):
            if sym in raw:
                visit(sym)
            elif sym not in known:
                raise ModelError(f"{source}: expression {name!r}: unknown symbol {sym!r}"
                                 f"{_did_you_mean(sym, known)}")
        visiting.pop()
        resolved[name] = expr.substitute(resolved)
        return resolved[name]

    for name in raw:
        visit(name)
    return {name: resolved[name] for name in raw}


def _parse_events(section: Any, source: str) -> dict[str, Event]:
    """The ``events:`` section: ``name: {trigger: "t >= 25", assign: {X: 50}, ...}`` (checked for form
    here, against the model's symbols in :func:`_resolve_events`)."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ModelError(f"{source}: 'events' must be a mapping of name: {{trigger, assign}}")
    events: dict[str, Event] = {}
    for name, spec in section.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ModelError(f"{source}: event name {name!r} is not a valid identifier")
        where = f"{source}: event {name!r}"
        if not isinstance(spec, Mapping):
            raise ModelError(f"{where}: expected a mapping with 'trigger' and 'assign'")
        for key in spec:
            if key not in _EVENT_KEYS:
                raise ModelError(f"{where}: unknown key {key!r}{_did_you_mean(key, _EVENT_KEYS)}")
        if "delay" in spec:
            raise ModelError(f"{where}: delayed events are not supported (remove 'delay', or schedule the change "
                             f"at the later time)")
        for key in ("trigger", "assign"):
            if key not in spec:
                raise ModelError(f"{where}: missing {key!r}")
        trigger = Expr.parse(spec["trigger"], f"{where} trigger")
        if not isinstance(trigger.tree.body, (ast.Compare, ast.BoolOp)) and not (
                isinstance(trigger.tree.body, ast.UnaryOp) and isinstance(trigger.tree.body.op, ast.Not)):
            raise ModelError(f"{where}: trigger {trigger.text!r} must be a condition, e.g. 't >= 25' or 'P2 > 30'")
        assign = spec["assign"]
        if not isinstance(assign, Mapping) or not assign:
            raise ModelError(f"{where}: 'assign' must be a non-empty mapping of target: value")
        flags = {}
        for key, default in (("persistent", True), ("initial_value", True), ("use_values_from_trigger_time", True)):
            flags[key] = spec.get(key, default)
            if not isinstance(flags[key], bool):
                raise ModelError(f"{where}: '{key}' must be true or false, got {flags[key]!r}")
        priority = Expr.parse(spec["priority"], f"{where} priority") if spec.get("priority") is not None else None
        events[name] = Event(name, trigger, {str(k): Expr.parse(v, f"{where} assign {k!r}") for k, v in assign.items()},
                             priority=priority, description=str(spec.get("description") or ""), **flags)
    return events


def _resolve_events(net: "Network", events: dict[str, Event]) -> dict[str, Event]:
    """Check events against the model (targets, symbols) and inline expressions; reject events that
    could set off one another in a cycle at one instant."""
    src = net.source
    known = net.known_symbols() | {"t", "time"}
    targets = set(net.species) | set(net.parameters) | set(net.inputs)
    out: dict[str, Event] = {}
    for ev in events.values():
        where = f"{src}: event {ev.name!r}"
        if ev.name in net.known_symbols() or ev.name in net.reactions:
            raise ModelError(f"{where}: the name is already used by a species, parameter, input, expression or "
                             f"reaction")
        parts = [("trigger", ev.trigger)] + [(f"assign {k!r}", v) for k, v in ev.assignments.items()] + \
            ([("priority", ev.priority)] if ev.priority is not None else [])
        for what, expr in parts:
            for sym in sorted(expr.symbols):
                if sym not in known:
                    raise ModelError(f"{where}: unknown symbol {sym!r} in {what} {expr.text!r}"
                                     f"{_did_you_mean(sym, known)}")
        for target in ev.assignments:
            if target in net.expressions:
                raise ModelError(f"{where}: cannot assign {target!r}, an expression computed from other symbols "
                                 f"(assign what it reads instead)")
            if target not in targets:
                raise ModelError(f"{where}: unknown target {target!r} (an event may set species, parameters or "
                                 f"inputs){_did_you_mean(target, targets)}")
        out[ev.name] = Event(ev.name, ev.trigger.substitute(net.expressions),
                             {k: v.substitute(net.expressions) for k, v in ev.assignments.items()},
                             ev.persistent, ev.initial_value, ev.use_values_from_trigger_time,
                             ev.priority.substitute(net.expressions) if ev.priority is not None else None,
                             ev.description)
    # event a -> b when a sets a symbol b's trigger reads; a cycle of two or more events could fire forever at
    # one instant (an event resetting what its own trigger reads, e.g. X > 100 -> X = 0, is the usual case)
    edges = {a: sorted(b for b in out if b != a and set(out[a].assignments) & out[b].trigger.symbols) for a in out}
    state: dict[str, int] = {}

    def visit(a: str, path: list[str]) -> None:
        state[a] = 1
        for b in edges[a]:
            if state.get(b) == 1:
                cycle = path[path.index(b):] + [b]
                raise ModelError(f"{src}: events {' -> '.join(repr(c) for c in cycle)} set what each other's "
                                 f"triggers read, in a cycle (simultaneous firings could cascade without end)")
            if b not in state:
                visit(b, path + [b])
        state[a] = 2

    for a in sorted(out):
        if a not in state:
            visit(a, [a])
    return out


def _did_you_mean(word: str, choices) -> str:
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""
