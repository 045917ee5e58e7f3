"""A plain-Python reference for the model code that ``stochins.compile`` generates.

Written from the model semantics (DESIGN.md, variability.py) and independently of compile.py's
expression trees, hoisting and dependency sets, so that a mistake there cannot be repeated here:
propensities are evaluated straight from the network's expressions with ``Expr.evaluate``, the
mass-action factor is the binomial coefficient C(x, n) computed exactly with ``math.comb``, and
which propensities a firing changes is found by evaluating all of them before and after.

Cell size Ω (variability.py): expressions read every species as the concentration x/Ω, a full
propensity is Ω·f(x/Ω), and mass action of total order n is k(x/Ω)·Ω^(1-n)·Π C(x_s, n_s); in the
deterministic limit C(x, n) becomes x^n/n!. Everything is keyed by name, never by array position.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from stochins.expressions import Expr
from stochins.network import Network, Reaction

Values = Mapping[str, float]
Perturb = Callable[[float], float]


class NaiveModel:
    def __init__(self, net: Network):
        self.net = net
        # each reaction's law with the named expressions inlined (done once: it does not change)
        self.laws: dict[str, Expr] = {
            n: net.propensity_expr(r) if r.propensity is not None else net.rate_expr(r)
            for n, r in net.reactions.items()}

    def environment(self, counts: Values, parameters: Values, inputs: Values, omega: float,
                    perturb: Perturb = float) -> dict[str, float]:
        """What an expression reads: parameters, inputs, and species as concentrations x/Ω.
        ``perturb`` (applied to each value) lets a caller measure how sensitive a result is to the
        rounding of its inputs, i.e. how much two correct evaluation orders may differ."""
        env = {**parameters, **inputs, **{s: counts[s] / omega for s in self.net.species}}
        return {k: perturb(v) for k, v in env.items()}

    def propensity(self, name: str, counts: Values, parameters: Values, inputs: Values,
                   omega: float = 1.0, perturb: Perturb = float) -> float:
        """Stochastic propensity (events per time) of reaction ``name`` at integer ``counts``."""
        r = self.net.reactions[name]
        law = self.laws[name].evaluate(self.environment(counts, parameters, inputs, omega, perturb))
        if r.propensity is not None:
            return perturb(omega) * law
        ways = 1
        for s, n in r.reactants:
            ways *= math.comb(int(counts[s]), n)  # distinct sets of reactant molecules; 0 when x < n
        return law * perturb(omega) ** (1 - _order(r)) * float(ways)

    def rate(self, name: str, amounts: Values, parameters: Values, inputs: Values, omega: float = 1.0,
             perturb: Perturb = float) -> float:
        """Deterministic-limit rate (molecules per time) of reaction ``name`` at real ``amounts``."""
        r = self.net.reactions[name]
        law = self.laws[name].evaluate(self.environment(amounts, parameters, inputs, omega, perturb))
        if r.propensity is not None:
            return perturb(omega) * law
        value = law * perturb(omega) ** (1 - _order(r))
        for s, n in r.reactants:
            value *= perturb(amounts[s]) ** n / math.factorial(n)
        return value

    def propensities(self, counts: Values, parameters: Values, inputs: Values, omega: float = 1.0) -> dict[str, float]:
        return {n: self.propensity(n, counts, parameters, inputs, omega) for n in self.net.reactions}

    def state_change(self, name: str) -> dict[str, int]:
        """Net change of each species when ``name`` fires; constant (boundary) species never change."""
        r = self.net.reactions[name]
        out: dict[str, int] = {}
        for s, n in r.reactants:
            out[s] = out.get(s, 0) - n
        for s, n in r.products:
            out[s] = out.get(s, 0) + n
        return {s: d for s, d in out.items() if d != 0 and not self.net.species[s].constant}

    def fired(self, name: str, counts: Mapping[str, int]) -> dict[str, int] | None:
        """The state after ``name`` fires once, or None when a count would go negative (an invalid
        firing, possible only for a full propensity that does not vanish without its reactants)."""
        after = dict(counts)
        for s, d in self.state_change(name).items():
            after[s] += d
        return None if any(v < 0 for v in after.values()) else after

    def changed(self, before: Values, after: Values) -> set[str]:
        """Reactions whose propensity differs between two evaluations: the dependants of a firing,
        found by evaluation rather than by which symbols an expression mentions."""
        return {n for n in self.net.reactions if not (before[n] == after[n]
                                                      or (math.isnan(before[n]) and math.isnan(after[n])))}


def _order(r: Reaction) -> int:
    return sum(n for _, n in r.reactants)
