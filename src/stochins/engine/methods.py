"""The registry of simulation methods: every name a run file, the API or the CLI accepts.

Adding a method: one engine module declaring a ``METHOD`` (see ``interface.py``), one line here,
its tests and its README row. ``auto`` is not a method but a choice between ``ssa`` and ``tau``
made per condition by a short pilot, or ``cr`` for a large model (``stochins.simulation``).
"""

from __future__ import annotations

from ..errors import ArgumentError
from . import composition_rejection, direct, lockstep, ode, ssa, tau
from .interface import Method, Option

__all__ = ["METHODS", "AUTO", "method_names", "get_method", "Method", "Option"]

METHODS: dict[str, Method] = {m.name: m for m in (ssa.METHOD, direct.METHOD, tau.METHOD, ode.METHOD,
                                                   composition_rejection.METHOD, lockstep.METHOD)}
AUTO = "auto"


def method_names() -> tuple[str, ...]:
    """Every accepted value of ``method``."""
    return (*METHODS, AUTO)


def get_method(name: object) -> Method:
    if not isinstance(name, str) or name not in METHODS:
        raise ArgumentError(f"method: expected one of {', '.join(method_names())}, got {name!r}")
    return METHODS[name]
