"""Import SBML models (python-libsbml) as a :class:`~stochins.Network`.

Covers the mass-action and rule-based subset used by BioModels files: compartments, species,
global and reaction-local parameters, assignment rules, initial assignments, function definitions
(inlined) and kinetic laws. Anything else raises a one-line :class:`~stochins.ModelError` naming the
feature and the SBML id. ``stochins.load_model("model.xml")`` (or ``.sbml``) goes through here with the
default options.

How SBML quantities become molecule counts
------------------------------------------
``substance_scale`` is the number of molecules per SBML substance unit (default 1: amounts are
already counts). For BIOMD0000000137 (substance = fmol, compartments of size 1, so concentrations in
fM) ``substance_scale=100`` reads one fM-unit as 100 molecules.

* Initial count of a species = its SBML amount × ``substance_scale``, where the amount is the
  ``initialAmount`` (or an initial assignment, for ``hasOnlySubstanceUnits`` species), or the
  concentration (``initialConcentration`` or ``initialAmount`` / size) × compartment size. A count
  that is not a whole number is written as an expression string, which the model format rounds to
  the nearest integer when the model is run (e.g. 0.31 % of PIP3 at ``substance_scale=1`` gives 0:
  choose ``substance_scale`` so that the counts you care about are large).
* In kinetic laws and rules a species symbol is replaced by its SBML value: ``X / s`` for an amount
  (``hasOnlySubstanceUnits``) species and ``X / s / C`` for a concentration species in compartment
  ``C``, where ``X`` is the count and ``s`` the scale. A kinetic law is extent per time (substance per
  time), so the propensity, in molecules per time, is ``s × law``. With ``s = 1`` and amount species
  the law is used exactly as written (the SBML stochastic convention: e.g. DSMTS writes
  ``k1*P*(P-1)/2`` for ``2 P -> P2``).
* Compartments become parameters (their size), so laws can read them; overriding one later does not
  change the initial counts computed here.
* Boundary-condition or constant species are ``{count, constant: true}`` and are left out of the
  reaction equations (reactions never change them); laws still read them.
* ``inputs``: names of species that no reaction changes (typically modifiers, like insulin x1 in
  BIOMD0000000137) or of global parameters, turned into stochins inputs. An input holds the value the
  SBML symbol has in the laws (a concentration for a concentration species, e.g. fM for x1),
  *not* scaled by ``substance_scale``; its default is the SBML initial value.

Reactions
---------
An irreversible reaction's propensity is ``s × law``. A reversible reaction's law is a net rate,
which one propensity cannot express; it is split into ``<id>_fwd`` and ``<id>_rev`` when the law is a
difference of terms (``A - B``, also under a common factor or divisor, e.g.
``CellSurface*(k1*x1*x2 - kminus1*x3)``) whose forward part vanishes when a consumed reactant is
absent and whose reverse part vanishes when a consumed product is absent; otherwise the import
fails naming the reaction. A reversible reaction whose law has no negative term is kept as one
irreversible channel. A part that is not non-negative by construction (e.g. BIOMD0000000137's
``k11*x16`` where the rule ``k11`` is negative below basal PIP3) is clamped with ``max(..., 0)``, as the
built-in models do, so a stochastic fluctuation cannot make a propensity negative; this changes the
deterministic net rate only where that part would be negative (never in the BIOMD0000000137 reference
run, where k11 >= 0 throughout). The model description lists the clamped reactions. Stoichiometries must be integers. ``fast="true"`` reactions
are simulated as ordinary reactions (noted in the description).

Unsupported (ModelError naming the feature and the id): rate rules, algebraic rules, events (except
those that only assign declared inputs, which are dropped because the run's input schedule plays their
part; ``ignore_events=True`` drops all events, noted in the description), ``delay``, ``rateOf``, time in
a rate law, non-integer or variable stoichiometry, conversion factors, required SBML Level 3 packages,
trigonometric and other functions outside the model format's set. Constraints are ignored (noted).
"""

from __future__ import annotations

import ast
import copy
import keyword
import math
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import yaml

from ..expressions import FUNCTIONS, Expr, ModelError
from ..network import _RESERVED, Network, _resolve_expressions

__all__ = ["from_sbml", "from_sbml_string", "to_sbml"]


def from_sbml(path: str | os.PathLike, *, substance_scale: float = 1.0, inputs: Sequence[str] = (),
              ignore_events: bool = False) -> Network:
    """Read an SBML file into a validated :class:`~stochins.Network` (conventions: module docstring).

    ``substance_scale``: molecules per SBML substance unit. ``inputs``: SBML ids of species that no
    reaction changes, or of global parameters, to turn into inputs (values in the SBML's units).
    ``ignore_events``: drop events instead of raising (listed in the model description).
    """
    libsbml = _libsbml(str(path))
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such SBML file")
    doc = libsbml.SBMLReader().readSBMLFromFile(str(path))
    return _Importer(libsbml, doc, str(path), substance_scale, inputs, ignore_events).network()


def from_sbml_string(text: str, *, source: str = "<sbml>", substance_scale: float = 1.0,
                     inputs: Sequence[str] = (), ignore_events: bool = False) -> Network:
    """As :func:`from_sbml`, from the XML text of an SBML document."""
    libsbml = _libsbml(source)
    doc = libsbml.SBMLReader().readSBMLFromString(text)
    return _Importer(libsbml, doc, source, substance_scale, inputs, ignore_events).network()


def _libsbml(source: str):
    try:
        import libsbml
    except ImportError:
        raise ModelError(f"{source}: reading SBML needs python-libsbml "
                         f"(pip install 'stochins[sbml]')") from None
    return libsbml


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _fmt(value: float) -> str:
    return f"{value:.6g}"


_UNSUPPORTED_FUNCS = {
    "AST_FUNCTION_SIN": "sin", "AST_FUNCTION_COS": "cos", "AST_FUNCTION_TAN": "tan", "AST_FUNCTION_SEC": "sec",
    "AST_FUNCTION_CSC": "csc", "AST_FUNCTION_COT": "cot", "AST_FUNCTION_SINH": "sinh", "AST_FUNCTION_COSH": "cosh",
    "AST_FUNCTION_TANH": "tanh", "AST_FUNCTION_SECH": "sech", "AST_FUNCTION_CSCH": "csch",
    "AST_FUNCTION_COTH": "coth", "AST_FUNCTION_ARCSIN": "arcsin", "AST_FUNCTION_ARCCOS": "arccos",
    "AST_FUNCTION_ARCTAN": "arctan", "AST_FUNCTION_ARCSEC": "arcsec", "AST_FUNCTION_ARCCSC": "arccsc",
    "AST_FUNCTION_ARCCOT": "arccot", "AST_FUNCTION_ARCSINH": "arcsinh", "AST_FUNCTION_ARCCOSH": "arccosh",
    "AST_FUNCTION_ARCTANH": "arctanh", "AST_FUNCTION_ARCSECH": "arcsech", "AST_FUNCTION_ARCCSCH": "arccsch",
    "AST_FUNCTION_ARCCOTH": "arccoth", "AST_FUNCTION_FACTORIAL": "factorial", "AST_FUNCTION_QUOTIENT": "quotient",
    "AST_FUNCTION_REM": "rem", "AST_LOGICAL_XOR": "xor", "AST_LOGICAL_IMPLIES": "implies",
}


class _Math:
    """libsbml ASTNode -> Python ``ast`` expression in the model format's syntax."""

    def __init__(self, libsbml, functions: dict, where: str, names: Callable[[str], ast.expr],
                 time_value: float | str | None = None):
        self.L = libsbml
        self.functions = functions  # id -> FunctionDefinition
        self.where = where
        self.names = names
        self.time_value = time_value  # None: time is an error (rate laws); 0.0 for initial values; "t" events
        self.unsupported = {getattr(libsbml, k): v for k, v in _UNSUPPORTED_FUNCS.items() if hasattr(libsbml, k)}

    def error(self, what: str) -> ModelError:
        return ModelError(f"{self.where}: {what}")

    def __call__(self, node, bound: dict[str, ast.expr] | None = None, stack: tuple[str, ...] = ()) -> ast.expr:
        L, t = self.L, node.getType()
        kids = [node.getChild(i) for i in range(node.getNumChildren())]

        def sub(n):
            return self(n, bound, stack)

        if t == L.AST_INTEGER:
            return _num(node.getInteger())
        if t in (L.AST_REAL, L.AST_REAL_E, L.AST_RATIONAL):
            value = node.getReal()
            if not math.isfinite(value):
                raise self.error(f"non-finite number {value!r} in math (unsupported)")
            return _num(value)
        if t == L.AST_CONSTANT_PI:
            return _num(math.pi)
        if t == L.AST_CONSTANT_E:
            return _num(math.e)
        if t == L.AST_NAME_AVOGADRO:
            return _num(node.getReal())
        if t in (L.AST_CONSTANT_TRUE, L.AST_CONSTANT_FALSE):
            return ast.Compare(_num(1), [ast.Eq() if t == L.AST_CONSTANT_TRUE else ast.NotEq()], [_num(1)])
        if t == L.AST_NAME_TIME:
            if isinstance(self.time_value, str):  # event triggers and assignments: the model format's t
                return ast.Name(self.time_value, ast.Load())
            if self.time_value is None:
                raise self.error("time-dependent rates are unsupported (SBML csymbol time); "
                                 "drive time dependence through an input schedule")
            return _num(self.time_value)
        if t == L.AST_NAME:
            name = node.getName()
            if bound is not None and name in bound:
                return copy.deepcopy(bound[name])
            return self.names(name)
        if t == L.AST_PLUS:
            return _fold([sub(k) for k in kids], ast.Add(), 0)
        if t == L.AST_TIMES:
            return _fold([sub(k) for k in kids], ast.Mult(), 1)
        if t == L.AST_MINUS:
            if len(kids) == 1:
                return ast.UnaryOp(ast.USub(), sub(kids[0]))
            return ast.BinOp(sub(kids[0]), ast.Sub(), sub(kids[1]))
        if t == L.AST_DIVIDE:
            return ast.BinOp(sub(kids[0]), ast.Div(), sub(kids[1]))
        if t in (L.AST_POWER, L.AST_FUNCTION_POWER):
            return ast.BinOp(sub(kids[0]), ast.Pow(), sub(kids[1]))
        simple = {L.AST_FUNCTION_ABS: "abs", L.AST_FUNCTION_EXP: "exp", L.AST_FUNCTION_LN: "log",
                  L.AST_FUNCTION_FLOOR: "floor", L.AST_FUNCTION_CEILING: "ceil"}
        if t in simple:
            return _call(simple[t], [sub(kids[0])])
        if t in (L.AST_FUNCTION_MIN, L.AST_FUNCTION_MAX):
            args = [sub(k) for k in kids]
            if not args:
                raise self.error("min/max without arguments")
            return args[0] if len(args) == 1 else _call("min" if t == L.AST_FUNCTION_MIN else "max", args)
        if t == L.AST_FUNCTION_LOG:
            if len(kids) == 1:
                return _call("log10", [sub(kids[0])])
            base = sub(kids[0])
            x = sub(kids[1])
            if isinstance(base, ast.Constant) and base.value == 10:
                return _call("log10", [x])
            return ast.BinOp(_call("log", [x]), ast.Div(), _call("log", [base]))
        if t == L.AST_FUNCTION_ROOT:
            if len(kids) == 1:
                return _call("sqrt", [sub(kids[0])])
            degree, x = sub(kids[0]), sub(kids[1])
            if isinstance(degree, ast.Constant) and degree.value == 2:
                return _call("sqrt", [x])
            return ast.BinOp(x, ast.Pow(), ast.BinOp(_num(1), ast.Div(), degree))
        if t == L.AST_FUNCTION_PIECEWISE:
            args = [sub(k) for k in kids]
            if len(args) % 2 == 0:
                raise self.error("piecewise without an 'otherwise' value is unsupported (its value is "
                                 "undefined when no condition holds)")
            return args[0] if len(args) == 1 else _call("piecewise", args)
        relations = {L.AST_RELATIONAL_EQ: ast.Eq, L.AST_RELATIONAL_NEQ: ast.NotEq, L.AST_RELATIONAL_LT: ast.Lt,
                     L.AST_RELATIONAL_LEQ: ast.LtE, L.AST_RELATIONAL_GT: ast.Gt, L.AST_RELATIONAL_GEQ: ast.GtE}
        if t in relations:
            args = [sub(k) for k in kids]
            if len(args) < 2:
                raise self.error("relational operator with fewer than 2 arguments")
            return ast.Compare(args[0], [relations[t]() for _ in args[1:]], args[1:])
        if t in (L.AST_LOGICAL_AND, L.AST_LOGICAL_OR):
            args = [sub(k) for k in kids]
            if not args:
                return ast.Compare(_num(1), [ast.Eq() if t == L.AST_LOGICAL_AND else ast.NotEq()], [_num(1)])
            return args[0] if len(args) == 1 else ast.BoolOp(ast.And() if t == L.AST_LOGICAL_AND else ast.Or(),
                                                            args)
        if t == L.AST_LOGICAL_NOT:
            return ast.UnaryOp(ast.Not(), sub(kids[0]))
        if t == L.AST_FUNCTION_DELAY:
            raise self.error("delay() is unsupported (SBML delay)")
        if hasattr(L, "AST_FUNCTION_RATE_OF") and t == L.AST_FUNCTION_RATE_OF:
            raise self.error("rateOf() is unsupported (SBML rateOf)")
        if t == L.AST_FUNCTION:
            return self._inline(node, kids, bound, stack)
        if t == L.AST_LAMBDA:
            raise self.error("a lambda outside a function definition is unsupported")
        if t in self.unsupported:
            raise self.error(f"function {self.unsupported[t]!r} is unsupported (allowed: "
                             f"{', '.join(sorted(FUNCTIONS - {'hill'}))}, piecewise, and/or/not, comparisons)")
        name = node.getName() or L.formulaToL3String(node) or f"type {t}"
        raise self.error(f"MathML element {name!r} is unsupported")

    def _inline(self, node, kids, bound, stack) -> ast.expr:
        name = node.getName()
        fd = self.functions.get(name)
        if fd is None:
            raise self.error(f"call of unknown function {name!r}")
        if name in stack:
            raise self.error(f"function definition {name!r} calls itself (recursion is unsupported)")
        lam = fd.getMath()
        if lam is None or lam.getType() != self.L.AST_LAMBDA:
            raise self.error(f"function definition {name!r} has no lambda (unsupported)")
        n_args = lam.getNumChildren() - 1
        params = [lam.getChild(i).getName() for i in range(n_args)]
        if len(kids) != n_args:
            raise self.error(f"function {name!r} takes {n_args} arguments, called with {len(kids)}")
        args = {p: self(k, bound, stack) for p, k in zip(params, kids)}
        return self(lam.getChild(n_args), args, stack + (name,))


def _num(value: float) -> ast.expr:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)


def _call(name: str, args: list[ast.expr]) -> ast.expr:
    return ast.Call(ast.Name(name, ast.Load()), args, [])


def _fold(args: list[ast.expr], op: ast.operator, empty: float) -> ast.expr:
    if not args:
        return _num(empty)
    out = args[0]
    for a in args[1:]:
        out = ast.BinOp(out, op, a)
    return out


def _text(node: ast.expr) -> str:
    return ast.unparse(ast.fix_missing_locations(node))


def _symbols(node: ast.expr) -> set[str]:
    calls = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in calls}


def _signed_terms(node: ast.expr, sign: int = 1) -> list[tuple[int, ast.expr]]:
    """``node`` as a signed sum of terms: sums and differences split, products and quotients
    distributed over them (a divisor is never split)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right = -sign if isinstance(node.op, ast.Sub) else sign
        return _signed_terms(node.left, sign) + _signed_terms(node.right, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
        return _signed_terms(node.operand, -sign)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
        return _signed_terms(node.operand, sign)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = _signed_terms(node.left), _signed_terms(node.right)
        left = left if any(s < 0 for s, _ in left) else [(1, node.left)]  # distribute over differences only
        right = right if any(s < 0 for s, _ in right) else [(1, node.right)]
        if len(left) == 1 and len(right) == 1:
            return [(sign * left[0][0] * right[0][0], node)]
        return [(sign * sl * sr, ast.BinOp(copy.deepcopy(a), ast.Mult(), copy.deepcopy(b)))
                for sl, a in left for sr, b in right]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left = _signed_terms(node.left)
        if all(s > 0 for s, _ in left) or len(left) == 1:
            return [(sign * left[0][0] if len(left) == 1 else sign, node)]
        return [(sign * s, ast.BinOp(a, ast.Div(), copy.deepcopy(node.right))) for s, a in left]
    return [(sign, node)]


def _sum(terms: list[ast.expr]) -> ast.expr:
    return _fold(terms, ast.Add(), 0)


class _Importer:
    def __init__(self, libsbml, doc, source: str, scale: float, inputs: Sequence[str], ignore_events: bool):
        self.L, self.doc, self.source = libsbml, doc, source
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
            raise ModelError(f"{source}: substance_scale must be a positive number, got {scale!r}")
        self.scale = float(scale)
        if isinstance(inputs, str):
            inputs = [inputs]
        self.input_ids = list(inputs)
        self.ignore_events = bool(ignore_events)
        self.notes: list[str] = []

    # ------------------------------------------------------------------ helpers
    def err(self, what: str) -> ModelError:
        return ModelError(f"{self.source}: {what}")

    def unsupported(self, feature: str, sid: str, detail: str = "") -> ModelError:
        return self.err(f"unsupported SBML feature: {feature} ({sid}){': ' + detail if detail else ''}")

    def formula(self, node) -> str:
        return _one_line(self.L.formulaToL3String(node)) if node is not None else "?"

    # ------------------------------------------------------------------ main
    def network(self) -> Network:
        doc = self.doc
        self._check_document()
        m = self.m = doc.getModel()
        self.level = doc.getLevel()
        if m.isSetConversionFactor():
            raise self.unsupported("conversion factor", f"model conversionFactor {m.getConversionFactor()!r}")

        self.functions = {f.getId(): f for f in m.getListOfFunctionDefinitions()}
        self.compartments = {c.getId(): c for c in m.getListOfCompartments()}
        self.sbml_species = {s.getId(): s for s in m.getListOfSpecies()}
        self.sbml_params = {p.getId(): p for p in m.getListOfParameters()}
        self.reaction_ids = {r.getId() for r in m.getListOfReactions()}
        self.specref_ids = {sr.getId() for r in m.getListOfReactions()
                            for sr in list(r.getListOfReactants()) + list(r.getListOfProducts())
                            + list(r.getListOfModifiers()) if sr.isSetId()}
        self._names()
        self._rules()
        self._inputs()
        self._events()
        if m.getNumConstraints():
            self.notes.append("constraints ignored")
        self._initial_values()

        data: dict = {"name": self.safe_model_name(), "description": "", "time_unit": self._time_unit()}
        species: dict = {}
        for sid in self.state_species:
            s = self.sbml_species[sid]
            count = self.count[sid]
            entry: object = count
            if s.getBoundaryCondition() or s.getConstant():
                entry = {"count": count, "constant": True}
            species[self.name[sid]] = entry
        data["species"] = species
        params: dict = {}
        for cid in self.compartments:
            if cid not in self.assign and cid not in self.sizeless:
                params[self.name[cid]] = self.values[cid]
        for pid, p in self.sbml_params.items():
            if pid not in self.assign and pid not in self.input_set:
                params[self.name[pid]] = self.values[pid]
        self.params = params
        data["parameters"] = params
        data["inputs"] = {self.name[i]: self.values[i] for i in self.input_ids}
        self.expr_ast = {self.name[v]: self._translate(math_, f"assignment rule for {v!r}")
                         for v, math_ in self.assign.items()}
        data["expressions"] = {k: _text(v) for k, v in self.expr_ast.items()}
        data["reactions"] = self._reactions(data)
        data["events"] = self._event_specs()
        data["description"] = self._description()
        for key in ("inputs", "expressions", "events"):
            if not data[key]:
                del data[key]
        net = Network.from_dict(data, source=self.source)
        net.text = yaml.safe_dump(data, sort_keys=False, width=120)
        return net

    # ------------------------------------------------------------------ document and names
    def _check_document(self) -> None:
        L, doc = self.L, self.doc
        for i in range(doc.getNumErrors()):
            e = doc.getError(i)
            if e.getSeverity() >= L.LIBSBML_SEV_ERROR:
                if e.getErrorId() in (L.XMLFileUnreadable, L.XMLFileOperationError):
                    raise self.err("cannot read SBML file")
                where = f" at line {e.getLine()}" if e.getLine() else ""
                raise self.err(f"not valid SBML{where}: {_one_line(e.getMessage())}")
        for i in range(doc.getNumPlugins() if doc.getLevel() >= 3 else 0):  # L2 layout lives in annotations
            pkg = doc.getPlugin(i).getPackageName()
            if pkg == "l3v2extendedmath":  # libsbml's name for math that is core in Level 3 Version 2
                continue
            if doc.isSetPackageRequired(pkg) and doc.getPackageRequired(pkg):
                raise self.unsupported(f"Level 3 package '{pkg}' (required=true)", f"xmlns:{pkg}")
        for i in range(doc.getNumUnknownPackages()):
            uri = doc.getUnknownPackageURI(i)
            if doc.getPackageRequired(uri):
                raise self.unsupported(f"unknown Level 3 package {doc.getUnknownPackagePrefix(i)!r} (required=true)",
                                       uri)
        if doc.getModel() is None:
            raise self.err("the SBML document has no model")

    def _names(self) -> None:
        """Model-format names for SBML ids (ids that are reserved words get a trailing underscore)."""
        reserved = set(_RESERVED) | set(keyword.kwlist) | {"__size__", "__inv__"}
        ids = (list(self.compartments) + list(self.sbml_species) + list(self.sbml_params)
               + sorted(self.reaction_ids))
        self.taken = set(ids)
        self.name: dict[str, str] = {}
        for sid in ids:
            new = sid
            if new.startswith("__"):  # the model format keeps names starting with "__" for itself
                new = "id" + new
            while new in reserved or (new != sid and new in self.taken):
                new += "_"
            if new != sid:
                self.notes.append(f"id {sid!r} renamed {new!r}")
                self.taken.add(new)
            self.name[sid] = new

    def fresh(self, base: str) -> str:
        new = base
        while new in self.taken or new in _RESERVED or keyword.iskeyword(new):
            new += "_"
        self.taken.add(new)
        return new

    def safe_model_name(self) -> str:
        name = self.m.getId() or Path(self.source).stem
        return re.sub(r"\W", "_", name) or "sbml_model"

    def _time_unit(self) -> str:
        m, L = self.m, self.L
        uid = m.getTimeUnits() if self.level >= 3 and m.isSetTimeUnits() else ("time" if self.level < 3 else "")
        if not uid:
            return "min"
        if uid == "second":
            return "s"
        ud = m.getUnitDefinition(uid)
        if ud is None:
            return "s" if uid == "time" else uid
        if ud.getNumUnits() == 1:
            u = ud.getUnit(0)
            if u.getKind() == L.UNIT_KIND_SECOND and u.getExponent() == 1:
                factor = u.getMultiplier() * 10.0 ** u.getScale()
                for label, value in (("s", 1), ("min", 60), ("h", 3600), ("day", 86400)):
                    if math.isclose(factor, value, rel_tol=1e-9):
                        return label
                return f"{_fmt(factor)} s"
        return uid

    # ------------------------------------------------------------------ rules, inputs, events
    def _rules(self) -> None:
        self.assign: dict[str, object] = {}  # variable -> MathML of its assignment rule (in order)
        for rule in self.m.getListOfRules():
            var = rule.getVariable() if not rule.isAlgebraic() else ""
            if rule.isAlgebraic():
                raise self.unsupported("algebraic rule", f"0 = {self.formula(rule.getMath())}")
            if rule.isRate():
                raise self.unsupported("rate rule", f"d{var}/dt = {self.formula(rule.getMath())}",
                                       "ODE-only variables cannot be simulated stochastically")
            if var in self.specref_ids:
                raise self.unsupported("variable stoichiometry (assignment rule)", var)
            if rule.getMath() is None:
                raise self.err(f"assignment rule for {var!r} has no math")
            self.assign[var] = rule.getMath()

    def _inputs(self) -> None:
        self.input_set = set()
        for name in self.input_ids:
            if not isinstance(name, str):
                raise self.err(f"inputs: expected SBML ids (strings), got {name!r}")
            if name in self.sbml_species:
                pass
            elif name in self.sbml_params:
                pass
            else:
                raise self.err(f"inputs: {name!r} is not a species or global parameter of the SBML model")
            if name in self.assign:
                raise self.err(f"inputs: {name!r} is set by an assignment rule and cannot be an input")
            self.input_set.add(name)
        for r in self.m.getListOfReactions():
            change: dict[str, float] = {}
            for sr in r.getListOfReactants():
                change[sr.getSpecies()] = change.get(sr.getSpecies(), 0) - sr.getStoichiometry()
            for sr in r.getListOfProducts():
                change[sr.getSpecies()] = change.get(sr.getSpecies(), 0) + sr.getStoichiometry()
            for s, n in change.items():
                if s in self.input_set and n != 0 and not self.sbml_species[s].getBoundaryCondition():
                    raise self.err(f"inputs: species {s!r} is changed by reaction {r.getId()!r}; only a species "
                                   f"that no reaction changes (e.g. a modifier) can be an input")

    def _events(self) -> None:
        dropped_inputs, dropped = [], []
        self.kept_events: list = []  # translated in _event_specs once every symbol has its name
        for ev in self.m.getListOfEvents():
            eid = ev.getId() or "<event without id>"
            targets = [a.getVariable() for a in ev.getListOfEventAssignments()]
            trig = ev.getTrigger()
            what = f"when {self.formula(trig.getMath() if trig else None)}: " + \
                ", ".join(f"{a.getVariable()} = {self.formula(a.getMath())}" for a in ev.getListOfEventAssignments())
            if targets and all(t in self.input_set for t in targets):
                dropped_inputs.append(f"{eid} ({what})")
            elif self.ignore_events:
                dropped.append(f"{eid} ({what})")
            else:
                self.kept_events.append(ev)
        if dropped_inputs:
            self.notes.append("events that only set inputs were dropped (the run's input schedule replaces them): "
                              + "; ".join(dropped_inputs))
        if dropped:
            self.notes.append("events dropped (ignore_events=True): " + "; ".join(dropped))

    def _event_specs(self) -> dict:
        """Kept events in the model format's ``events:`` form (targets in counts, like the state)."""
        out: dict = {}
        for i, ev in enumerate(self.kept_events):
            eid = ev.getId() or f"event_{i + 1}"
            where = f"event {eid!r}"
            if ev.isSetDelay():
                raise self.unsupported("event delay", eid, "delayed events are not supported")
            trig = ev.getTrigger()
            if trig is None or trig.getMath() is None:
                raise self.err(f"{where} has no trigger")
            spec: dict = {"trigger": _text(self._translate(trig.getMath(), f"trigger of {where}", time="t"))}
            assign: dict = {}
            for a in ev.getListOfEventAssignments():
                var = a.getVariable()
                if a.getMath() is None:
                    raise self.err(f"{where}: assignment to {var!r} has no math")
                if var in self.assign:
                    raise self.err(f"{where}: assigns {var!r}, which an assignment rule defines")
                if var in self.compartments:
                    raise self.unsupported("event assignment to a compartment size", eid, var)
                if var not in self.name or var in self.reaction_ids:
                    raise self.err(f"{where}: unknown assignment target {var!r}")
                value = self._translate(a.getMath(), f"assignment to {var!r} in {where}", time="t")
                if var in self.sbml_species and var not in self.input_set:  # SBML amount/concentration -> count
                    s = self.sbml_species[var]
                    if not s.getHasOnlySubstanceUnits():
                        value = ast.BinOp(value, ast.Mult(), ast.Name(self.name[s.getCompartment()], ast.Load()))
                    if self.scale != 1.0:
                        value = ast.BinOp(_num(self.scale), ast.Mult(), value)
                assign[self.name[var]] = _text(value)
            spec["assign"] = assign
            if self.level >= 3:
                spec["persistent"] = bool(trig.getPersistent())
                spec["initial_value"] = bool(trig.getInitialValue())
            if ev.isSetUseValuesFromTriggerTime():
                spec["use_values_from_trigger_time"] = bool(ev.getUseValuesFromTriggerTime())
            if self.level >= 3 and ev.isSetPriority() and ev.getPriority().getMath() is not None:
                spec["priority"] = _text(self._translate(ev.getPriority().getMath(), f"priority of {where}", time="t"))
            out[self.fresh(re.sub(r"\W", "_", eid))] = spec
        return out

    # ------------------------------------------------------------------ initial values
    def _initial_values(self) -> None:
        """Every SBML symbol's value at t = 0 in SBML units (sizes, amounts or concentrations,
        parameter values), honouring initial assignments and assignment rules; then counts."""
        L, m = self.L, self.m
        pending: dict[str, ast.expr] = {}
        values: dict[str, float] = {}
        self.sizeless: set[str] = set()
        ia = {a.getSymbol(): a for a in m.getListOfInitialAssignments()}
        for sym, a in ia.items():
            if sym in self.specref_ids:
                raise self.unsupported("initial assignment to a species reference (variable stoichiometry)", sym)
        def names(sid: str) -> ast.expr:
            if sid in self.reaction_ids:
                raise self.unsupported("reaction id used as a symbol (its rate) in math", sid, current[0])
            if sid in self.specref_ids:
                raise self.unsupported("species reference id used as a symbol (stoichiometry) in math", sid,
                                       current[0])
            return ast.Name(self.name.get(sid, sid), ast.Load())

        current = [""]
        mathf = _Math(L, self.functions, "", names, time_value=0.0)

        def from_math(sym: str, node, what: str) -> None:
            current[0] = what
            mathf.where = f"{self.source}: {what}"
            pending[sym] = mathf(node)

        for cid, c in self.compartments.items():
            if cid in self.assign:
                from_math(cid, self.assign[cid], f"assignment rule for compartment {cid!r}")
            elif cid in ia:
                from_math(cid, ia[cid].getMath(), f"initial assignment of compartment {cid!r}")
            elif c.isSetSize() and math.isfinite(c.getSize()):
                values[cid] = c.getSize()
            elif self.level < 3 and c.getSpatialDimensions() == 3:
                values[cid] = 1.0  # SBML Level 2 default volume
            else:
                self.sizeless.add(cid)  # fine unless a law or a concentration needs it
        for pid, p in self.sbml_params.items():
            if pid in self.assign:
                from_math(pid, self.assign[pid], f"assignment rule for {pid!r}")
            elif pid in ia:
                from_math(pid, ia[pid].getMath(), f"initial assignment of {pid!r}")
            elif p.isSetValue():
                values[pid] = p.getValue()
            else:
                raise self.err(f"parameter {pid!r} has no value (set 'value' or an initial assignment)")
        for sid, s in self.sbml_species.items():
            if s.isSetConversionFactor():
                raise self.unsupported("conversion factor", f"species {sid!r}")
            comp = s.getCompartment()
            if comp not in self.compartments:
                raise self.err(f"species {sid!r}: unknown compartment {comp!r}")
            cname = self.name[comp]
            hosu = s.getHasOnlySubstanceUnits()
            if comp in self.sizeless and not hosu and sid not in self.input_set:
                raise self.err(f"compartment {comp!r} has no size, needed for concentration species {sid!r} "
                               f"(set 'size' or an initial assignment)")
            if sid in self.assign:
                from_math(sid, self.assign[sid], f"assignment rule for species {sid!r}")
            elif sid in ia:
                from_math(sid, ia[sid].getMath(), f"initial assignment of species {sid!r}")
            elif s.isSetInitialAmount():
                amount = _num(s.getInitialAmount())
                pending[sid] = amount if hosu else ast.BinOp(amount, ast.Div(), ast.Name(cname, ast.Load()))
            elif s.isSetInitialConcentration():
                conc = _num(s.getInitialConcentration())
                pending[sid] = ast.BinOp(conc, ast.Mult(), ast.Name(cname, ast.Load())) if hosu else conc
            else:
                raise self.err(f"species {sid!r} has no initial amount or concentration")
        # resolve in dependency order (values by model-format name)
        env = {self.name[k]: v for k, v in values.items()}
        todo = dict(pending)
        while todo:
            progress = False
            for sym, tree in list(todo.items()):
                if _symbols(tree) <= env.keys():
                    expr = Expr.parse(_text(tree), f"{self.source}: initial value of {sym!r}")
                    env[self.name[sym]] = expr.evaluate(env)
                    del todo[sym]
                    progress = True
            if not progress:
                sym = next(iter(todo))
                missing = sorted(_symbols(todo[sym]) - env.keys())
                sizeless = [c for c in self.sizeless if self.name[c] in missing]
                if sizeless:
                    raise self.err(f"initial value of {sym!r} needs the size of compartment {sizeless[0]!r}, "
                                   f"which is not set")
                raise self.err(f"initial value of {sym!r} cannot be computed (depends on {', '.join(missing)}: "
                               f"unknown symbol or circular definition)")
        self.values: dict[str, float] = {}
        for sym in list(self.compartments) + list(self.sbml_params) + list(self.sbml_species):
            if sym in self.sizeless:
                continue
            v = env[self.name[sym]]
            if not math.isfinite(v):
                raise self.err(f"initial value of {sym!r} is {v!r} (must be finite)")
            self.values[sym] = float(v)
        for i in self.input_ids:
            if self.values[i] < 0:
                raise self.err(f"inputs: {i!r} has negative initial value {self.values[i]!r}")

        # counts of the state species
        self.state_species = [s for s in self.sbml_species if s not in self.assign and s not in self.input_set]
        self.count: dict[str, int | str] = {}
        rounded = []
        # the model's own parameters: what a count expression may read (``_count_expression``)
        fixed = {self.name[c] for c in self.compartments if c not in self.assign and c not in self.sizeless}
        fixed |= {self.name[p] for p in self.sbml_params if p not in self.assign and p not in self.input_set}
        for sid in self.state_species:
            s = self.sbml_species[sid]
            amount = self.values[sid] * (1.0 if s.getHasOnlySubstanceUnits()
                                         else self.values[s.getCompartment()])
            n = amount * self.scale
            if n < 0:
                raise self.err(f"species {sid!r}: negative initial amount {amount!r}")
            whole = abs(n - round(n)) <= 1e-9 * max(1.0, abs(n))
            # an expression is rounded to the nearest integer when run
            self.count[sid] = self._count_expression(sid, ia, fixed) or (int(round(n)) if whole else repr(n))
            if not whole:
                rounded.append(f"{sid} {_fmt(n)}")
        if rounded:
            self.notes.append("initial counts rounded to the nearest integer: " + ", ".join(rounded))

    def _count_expression(self, sid: str, ia: dict, fixed: set[str]) -> str | None:
        """A species' initial assignment that reads only the model's own parameters, as the expression of its
        count, so that a run's parameter overrides (e.g. a scale) move the initial count as SBML defines it;
        None for a species without one, a constant one, or one that reads species, rules or inputs (then its
        value at import)."""
        if sid not in ia:
            return None
        mathf = _Math(self.L, self.functions, f"{self.source}: initial assignment of species {sid!r}",
                      lambda name: ast.Name(self.name.get(name, name), ast.Load()), time_value=0.0)
        tree = mathf(ia[sid].getMath())
        symbols = _symbols(tree)
        if not symbols or not symbols <= fixed:
            return None
        s = self.sbml_species[sid]
        if not s.getHasOnlySubstanceUnits():
            tree = ast.BinOp(tree, ast.Mult(), ast.Name(self.name[s.getCompartment()], ast.Load()))
        if self.scale != 1.0:
            tree = ast.BinOp(tree, ast.Mult(), _num(self.scale))
        return _text(tree)

    # ------------------------------------------------------------------ expressions
    def _global_name(self, sid: str, where: str) -> ast.expr:
        if sid in self.sbml_species and sid not in self.assign and sid not in self.input_set:
            s = self.sbml_species[sid]
            node: ast.expr = ast.Name(self.name[sid], ast.Load())
            if self.scale != 1.0:
                node = ast.BinOp(node, ast.Div(), _num(self.scale))
            if not s.getHasOnlySubstanceUnits():
                node = ast.BinOp(node, ast.Div(), ast.Name(self.name[s.getCompartment()], ast.Load()))
            return node
        if sid in self.sizeless:
            raise self.err(f"{where}: compartment {sid!r} is used but has no size")
        if sid in self.name and sid not in self.reaction_ids:
            return ast.Name(self.name[sid], ast.Load())
        if sid in self.reaction_ids:
            raise self.unsupported("reaction id used as a symbol (its rate) in math", sid, where)
        if sid in self.specref_ids:
            raise self.unsupported("species reference id used as a symbol (stoichiometry) in math", sid, where)
        raise self.err(f"{where}: unknown symbol {sid!r}")

    def _translate(self, node, where: str, local: dict[str, str] | None = None, time: str | None = None) -> ast.expr:
        def names(sid: str) -> ast.expr:
            if local and sid in local:
                return ast.Name(local[sid], ast.Load())
            return self._global_name(sid, where)

        return _Math(self.L, self.functions, f"{self.source}: {where}", names, time_value=time)(node)

    def _nonnegative(self, node: ast.expr, seen: tuple[str, ...] = ()) -> bool:
        """Non-negative by construction (for every state, with the default parameter values)?"""
        syms = _symbols(node)
        if not syms & (self.species_names | set(self.inputs_names) | set(self.expr_ast)):
            try:  # constants and parameters only
                return Expr.parse(_text(node), "").evaluate({**self.params, **self.local_values}) >= 0
            except (ModelError, KeyError):
                return False
        if isinstance(node, ast.Constant):
            return node.value >= 0
        if isinstance(node, ast.Name):
            if node.id in self.expr_ast:
                return node.id not in seen and self._nonnegative(self.expr_ast[node.id], seen + (node.id,))
            return node.id in self.species_names or node.id in self.inputs_names
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, (ast.Add, ast.Mult, ast.Div)):
                return self._nonnegative(node.left, seen) and self._nonnegative(node.right, seen)
            if isinstance(node.op, ast.Pow):
                return self._nonnegative(node.left, seen)
            return False
        if isinstance(node, ast.IfExp):
            return self._nonnegative(node.body, seen) and self._nonnegative(node.orelse, seen)
        if isinstance(node, ast.Call):
            f, args = node.func.id, node.args
            if f in ("exp", "abs"):
                return True
            if f in ("sqrt", "floor", "ceil", "min"):
                return all(self._nonnegative(a, seen) for a in args)
            if f == "max":
                return any(self._nonnegative(a, seen) for a in args)
            if f == "pow":
                return self._nonnegative(args[0], seen)
            if f == "piecewise":
                return all(self._nonnegative(a, seen) for a in args[0::2])
        return False

    # ------------------------------------------------------------------ reactions
    def _stoichiometry(self, r, refs, kind: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for sr in refs:
            sid = sr.getSpecies()
            if sid not in self.sbml_species:
                raise self.err(f"reaction {r.getId()!r}: unknown species {sid!r}")
            if self.level < 3 and sr.isSetStoichiometryMath():
                raise self.unsupported("stoichiometryMath", f"reaction {r.getId()!r}, species {sid!r}")
            if sr.isSetId() and (sr.getId() in self.assign
                                 or any(a.getSymbol() == sr.getId() for a in self.m.getListOfInitialAssignments())):
                raise self.unsupported("variable stoichiometry", f"reaction {r.getId()!r}, {sr.getId()!r}")
            n = sr.getStoichiometry()
            if not math.isfinite(n):
                raise self.err(f"reaction {r.getId()!r}: {kind} {sid!r} has no stoichiometry")
            if n != int(n) or n < 0:
                raise self.unsupported("non-integer stoichiometry", f"reaction {r.getId()!r}",
                                       f"{kind} {sid!r} has stoichiometry {n!r}")
            out[sid] = out.get(sid, 0) + int(n)
        return out

    def _reactions(self, data: dict) -> dict:
        self.species_names = set(data["species"])
        self.inputs_names = list(data["inputs"])
        self.local_values: dict[str, float] = {}
        reactions: dict = {}
        fast, clamped, kept_single = [], [], []
        env_cache: list = []
        for r in self.m.getListOfReactions():
            rid = r.getId()
            where = f"reaction {rid!r}"
            kl = r.getKineticLaw()
            if kl is None or kl.getMath() is None:
                raise self.err(f"{where} has no kinetic law")
            if r.isSetFast() and r.getFast():
                fast.append(rid)
            reactants = self._stoichiometry(r, r.getListOfReactants(), "reactant")
            products = self._stoichiometry(r, r.getListOfProducts(), "product")
            for side in (reactants, products):
                for sid in list(side):
                    s = self.sbml_species[sid]
                    if s.getBoundaryCondition() or s.getConstant() or sid in self.input_set:
                        del side[sid]  # reactions never change boundary/constant species or inputs
                    elif sid in self.assign:
                        raise self.err(f"{where}: species {sid!r} is set by an assignment rule but changed by "
                                       f"the reaction (declare it boundaryCondition=true)")
            # local parameters: <reaction>_<param>
            local: dict[str, str] = {}
            plist = kl.getListOfLocalParameters() if self.level >= 3 else kl.getListOfParameters()
            for p in plist:
                pid = p.getId()
                new = self.fresh(f"{self.name[rid]}_{pid}")
                if not p.isSetValue() or not math.isfinite(p.getValue()):
                    raise self.err(f"{where}: local parameter {pid!r} has no value")
                local[pid] = new
                self.params[new] = p.getValue()
                self.local_values[new] = p.getValue()
            law = self._translate(kl.getMath(), f"kinetic law of {where}", local)

            def scaled(node: ast.expr) -> ast.expr:
                return node if self.scale == 1.0 else ast.BinOp(_num(self.scale), ast.Mult(), node)

            lhs = " + ".join(f"{n} {self.name[s]}" if n != 1 else self.name[s] for s, n in reactants.items()) or "0"
            rhs = " + ".join(f"{n} {self.name[s]}" if n != 1 else self.name[s] for s, n in products.items()) or "0"
            terms = _signed_terms(copy.deepcopy(law)) if r.getReversible() else [(1, law)]
            if all(sign > 0 for sign, _ in terms):
                if r.getReversible():
                    kept_single.append(rid)
                reactions[self.name[rid]] = {"equation": f"{lhs} -> {rhs}", "propensity": _text(scaled(law))}
                continue
            forward = [t for sign, t in terms if sign > 0]
            reverse = [t for sign, t in terms if sign < 0]
            parts = {}
            for direction, tlist, consumed, eq in (
                    ("forward", forward, reactants, f"{lhs} -> {rhs}"),
                    ("reverse", reverse, products, f"{rhs} -> {lhs}")):
                if not tlist:
                    continue
                node = _sum(tlist)
                net = {s: n - (products if direction == "forward" else reactants).get(s, 0)
                       for s, n in consumed.items()}
                self._check_vanishes(rid, direction, node, [s for s, n in net.items() if n > 0], law, env_cache,
                                     data)
                if not self._nonnegative(node):
                    node = _call("max", [node, _num(0)])
                    clamped.append(f"{rid} {direction}")
                parts[direction] = (eq, node)
            for direction, (eq, node) in parts.items():
                name = self.fresh(f"{self.name[rid]}_{'fwd' if direction == 'forward' else 'rev'}")
                reactions[name] = {"equation": eq, "propensity": _text(scaled(node))}
        if fast:
            self.notes.append("fast reactions simulated as ordinary reactions: " + ", ".join(fast))
        if kept_single:
            self.notes.append("reversible reactions whose law has no negative term kept as one channel: "
                              + ", ".join(kept_single))
        if clamped:
            self.notes.append("reversible laws split into forward and reverse propensities; parts that can be "
                              "negative clamped at 0 with max(..., 0): " + ", ".join(clamped))
        return reactions

    def _check_vanishes(self, rid, direction, node, consumed, law, env_cache, data) -> None:
        """A split direction must have zero propensity when a species it consumes is absent."""
        if not consumed:
            return
        if not env_cache:
            exprs = {k: Expr.parse(v, f"{self.source}: expression {k!r}") for k, v in data["expressions"].items()}
            known = set(data["species"]) | set(self.params) | set(data["inputs"]) | set(exprs)
            env_cache.append(_resolve_expressions(exprs, known, self.source))
        resolved = env_cache[0]
        env = {**self.params, **data["inputs"]}  # parameters include the local ones added so far
        for s in data["species"]:
            env[s] = 10.0 * self.scale + 7.0  # a generic state: every species present
        expr = Expr.parse(_text(node), f"{self.source}: reaction {rid!r}").substitute(resolved)
        for sid in consumed:
            value = expr.evaluate({**env, self.name[sid]: 0.0})
            if value != 0:
                raise self.err(f"reaction {rid!r}: the reversible kinetic law {_text(law)!r} cannot be split into "
                               f"forward and reverse propensities (its {direction} part does not vanish when "
                               f"{sid!r} is absent); write it as two irreversible reactions")

    def _description(self) -> str:
        m = self.m
        title = m.getName() or m.getId() or Path(self.source).stem
        text = (f"{title}. Imported from SBML {Path(self.source).name} (Level {self.doc.getLevel()} Version "
                f"{self.doc.getVersion()}) with substance_scale={_fmt(self.scale)} molecules per substance unit; "
                f"species symbols in laws are amount or concentration as in the SBML, propensities are "
                f"substance_scale x kinetic law.")
        if self.input_ids:
            text += " Inputs (SBML units, unscaled): " + ", ".join(self.input_ids) + "."
        if self.notes:
            text += " Notes: " + "; ".join(self.notes) + "."
        return text


# ---------------------------------------------------------------------- export
def to_sbml(model) -> str:
    """SBML Level 3 Version 2 text of a :class:`~stochins.Network` or compiled model, for COPASI,
    libroadrunner and other SBML tools.

    Species are amounts in molecules (``hasOnlySubstanceUnits``, substance and extent unit ``item``)
    in one compartment of size 1, so every kinetic law is the stochins propensity as written: a
    mass-action ``rate`` k becomes ``k * A * (A - 1) / 2`` for ``2 A`` (the stochastic combinatorial
    factor; a deterministic tool reads its large-number limit, as our ODE does); a ``propensity`` is
    copied. Constant species are ``boundaryCondition``; parameters are constant parameters (not constant
    when an event sets them); inputs are parameters holding their default (non-constant; import them
    back with ``from_sbml(..., inputs=[...])``); expressions (observables) are assignment rules; initial
    counts written as expressions are initial assignments; events keep their SBML attributes. Time is in
    the model's ``time_unit``. ``from_sbml`` of the result gives back the same species, parameters,
    initial counts, stoichiometry and propensities (tests/test_sbml_export.py).
    """
    libsbml = _libsbml("to_sbml")
    net = getattr(model, "network", model)
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId(re.sub(r"\W", "_", net.name) or "stochins_model")
    m.setName(net.name)
    if net.description:
        m.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{_xml_escape(net.description)}</p></body>')
    _unit(libsbml, m, "item_unit", libsbml.UNIT_KIND_ITEM, 1.0)
    seconds = {"s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0}.get(net.time_unit)
    if seconds is not None:
        _unit(libsbml, m, "time_unit", libsbml.UNIT_KIND_SECOND, seconds)
        m.setTimeUnits("time_unit")
    m.setSubstanceUnits("item_unit")
    m.setExtentUnits("item_unit")
    taken = set(net.species) | set(net.parameters) | set(net.inputs) | set(net.expressions) | set(net.reactions)
    comp_id = next(c for c in ("compartment", "cell_compartment", "compartment_") if c not in taken)
    c = m.createCompartment()
    c.setId(comp_id)
    c.setSize(1.0)
    c.setSpatialDimensions(3)
    c.setConstant(True)

    assigned = {k for ev in net.events.values() for k in ev.assignments}
    counts = net.initial_counts()
    for sp in net.species.values():
        x = m.createSpecies()
        x.setId(sp.name)
        x.setCompartment(comp_id)
        x.setHasOnlySubstanceUnits(True)
        x.setBoundaryCondition(sp.constant)
        x.setConstant(False)
        x.setInitialAmount(float(counts[sp.name]))
        if sp.initial.symbols:  # e.g. "90000 * scale": keep the formula (rounded to a count on import)
            _check(libsbml, m.createInitialAssignment().setSymbol(sp.name), "initial assignment")
            m.getInitialAssignment(sp.name).setMath(_math(libsbml, sp.initial, f"species {sp.name!r}"))
    for name, value in net.parameters.items():
        _parameter(m, name, value, constant=name not in assigned)
    for name, value in net.inputs.items():
        _parameter(m, name, value, constant=False)
    for name in net.expressions:
        _parameter(m, name, None, constant=False)
        rule = m.createAssignmentRule()
        rule.setVariable(name)
        rule.setMath(_math(libsbml, Expr.parse(net.expressions[name].text, name), f"expression {name!r}"))

    for r in net.reactions.values():
        rx = m.createReaction()
        rx.setId(r.name)
        rx.setReversible(False)
        for side, create in ((r.reactants, rx.createReactant), (r.products, rx.createProduct)):
            for sid, n in side:
                ref = create()
                ref.setSpecies(sid)
                ref.setStoichiometry(float(n))
                ref.setConstant(True)
        law = r.propensity if r.propensity is not None else r.rate
        text = f"({law.text})"
        if r.propensity is None:  # mass action with the stochastic combinatorial factor
            for sid, n in r.reactants:
                text += "".join(f" * ({sid} - {j})" if j else f" * {sid}" for j in range(n))
                text += f" / {math.factorial(n)}" if n > 1 else ""
        on_sides = {sid for sid, _ in r.reactants + r.products}
        for sid in sorted(net.species):
            if sid not in on_sides and sid in _free_symbols(law, net):
                mod = rx.createModifier()
                mod.setSpecies(sid)
        kl = rx.createKineticLaw()
        kl.setMath(_math(libsbml, Expr.parse(text, f"reaction {r.name!r}"), f"reaction {r.name!r}"))

    for ev in net.events.values():
        e = m.createEvent()
        e.setId(ev.name)
        e.setUseValuesFromTriggerTime(ev.use_values_from_trigger_time)
        trig = e.createTrigger()
        trig.setInitialValue(ev.initial_value)
        trig.setPersistent(ev.persistent)
        trig.setMath(_math(libsbml, Expr.parse(ev.trigger.text, ev.name), f"event {ev.name!r} trigger"))
        for target, value in ev.assignments.items():
            a = e.createEventAssignment()
            a.setVariable(target)
            a.setMath(_math(libsbml, Expr.parse(value.text, ev.name), f"event {ev.name!r} assignment"))
        if ev.priority is not None:
            e.createPriority().setMath(_math(libsbml, Expr.parse(ev.priority.text, ev.name),
                                             f"event {ev.name!r} priority"))
    text = libsbml.writeSBMLToString(doc)
    doc2 = libsbml.readSBMLFromString(text)
    errors = [doc2.getError(i) for i in range(doc2.getNumErrors())
              if doc2.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:  # a bug here, not a user error: say what libsbml rejects
        raise ModelError(f"{net.source}: SBML export is invalid: {_one_line(errors[0].getMessage())}")
    return text


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unit(libsbml, m, uid: str, kind, multiplier: float) -> None:
    ud = m.createUnitDefinition()
    ud.setId(uid)
    u = ud.createUnit()
    u.setKind(kind)
    u.setExponent(1)
    u.setScale(0)
    u.setMultiplier(multiplier)


def _parameter(m, name: str, value: float | None, constant: bool) -> None:
    p = m.createParameter()
    p.setId(name)
    if value is not None:
        p.setValue(float(value))
    p.setConstant(constant)


def _check(libsbml, status: int, what: str) -> None:
    if status != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise ModelError(f"SBML export: cannot write {what} (libsbml status {status})")


def _free_symbols(expr: Expr, net) -> set[str]:
    return expr.substitute(net.expressions).symbols


_SBML_FUNCS = {"math.exp": "exp", "math.log": "ln", "math.log10": "log10", "math.sqrt": "sqrt",
               "math.floor": "floor", "math.ceil": "ceiling", "abs": "abs", "min": "min", "max": "max"}
_SBML_CMP = {ast.Lt: "lt", ast.LtE: "leq", ast.Gt: "gt", ast.GtE: "geq", ast.Eq: "eq", ast.NotEq: "neq"}


def _formula(node: ast.expr) -> str:
    """An expression tree (after the model format's rewrites) as an SBML L3 infix formula, with every
    function and logical operator spelled out so the libsbml parser cannot misread it (e.g. log)."""
    if isinstance(node, ast.Constant):
        return repr(float(node.value)) if isinstance(node.value, float) else str(node.value)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return f"pow({_formula(node.left)}, {_formula(node.right)})"
        op = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}[type(node.op)]
        return f"({_formula(node.left)} {op} {_formula(node.right)})"
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return f"not({_formula(node.operand)})"
        return f"(-{_formula(node.operand)})" if isinstance(node.op, ast.USub) else _formula(node.operand)
    if isinstance(node, ast.Call):
        name = ast.unparse(node.func)
        args = ", ".join(_formula(a) for a in node.args)
        return f"pow({args})" if name == "pow" else f"{_SBML_FUNCS[name]}({args})"
    if isinstance(node, ast.IfExp):
        return f"piecewise({_formula(node.body)}, {_formula(node.test)}, {_formula(node.orelse)})"
    if isinstance(node, ast.BoolOp):
        return f"{'and' if isinstance(node.op, ast.And) else 'or'}({', '.join(_formula(v) for v in node.values)})"
    if isinstance(node, ast.Compare):
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators):
            parts.append(f"{_SBML_CMP[type(op)]}({_formula(left)}, {_formula(right)})")
            left = right
        return parts[0] if len(parts) == 1 else f"and({', '.join(parts)})"
    raise ModelError(f"SBML export: cannot write {ast.unparse(node)!r}")


def _math(libsbml, expr: Expr, where: str):
    settings = libsbml.L3ParserSettings()
    settings.setParseLog(libsbml.L3P_PARSE_LOG_AS_LN)
    node = libsbml.parseL3FormulaWithSettings(_formula(expr.tree.body), settings)
    if node is None:
        raise ModelError(f"SBML export: {where}: cannot write {expr.text!r} ({libsbml.getLastParseL3Error()})")
    stack = [node]
    while stack:  # the model format's time t is SBML's csymbol time
        n = stack.pop()
        if n.getType() == libsbml.AST_NAME and n.getName() in ("t", "time"):
            n.setType(libsbml.AST_NAME_TIME)
            n.setName("time")
        stack.extend(n.getChild(i) for i in range(n.getNumChildren()))
    return node
