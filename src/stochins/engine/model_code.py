"""The names a compiled model's generated module defines: the contract between compile.py and the kernels.

Engine modules whose kernels are compiled per model (``lockstep``, ``ode``) import these
names from here. ``compile.py`` instantiates such a module once per model with this import pointed at
the model's generated code (see ``kernels.instantiate``), so a kernel names everything it uses and
numba inlines the model's straight-line code into the kernel's loop. Kernels compiled once for every
model call ``propensities``, ``fire``, ``direct_events`` and the event functions through ``model_abi.py``
instead (the generated code leaves those uncompiled: ``CompiledModel.function_table`` compiles them as
C callbacks).
The stubs below only document the signatures; calling them is an error.

Arguments: ``x`` the state (int64 counts; float64 in ``rates``), ``p`` one cell's parameter vector
(parameters in canonical order, the cell size Ω, 1/Ω, then the derived constants), ``u`` the input
values in force, ``a`` the propensity vector, ``r`` the deterministic rate vector.
"""

from __future__ import annotations

#: numbers of reactions, events, per-cell trigger times and parameters (compile-time constants)
N_REACTIONS = 0
N_EVENTS = 0
N_EVENT_TIMES = 0
N_PARAMETERS = 0
#: per reaction: its firing changes a species that a trigger reads (``compile._Events.watched``)
WATCH = None
#: the lockstep method's lane layout: slots of ``F[slot * W + w]`` (see ``lane_sums``; species from slot 0)
LANE_PARAMETERS = LANE_INPUTS = LANE_A0 = LANE_LOWEST = LANE_TARGET = LANE_SLOTS = 0


def propensities(x, p, u, a):
    """Fill ``a`` with every reaction's propensity at state ``x``."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def fire(j, x, p, u, a):
    """Apply reaction ``j`` to ``x``, recompute the propensities that read a species it changed and
    return the change of their sum; NaN when a count went below zero or a propensity is negative/NaN."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def search_fire(target, x, p, u, a):
    """Subtract propensities from ``target`` in the order ``SEARCH_ORDER`` and fire (as ``fire``)
    the first channel that brings it to <= 0; +inf if none does (round-off: resum and redraw)."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def direct_events(t_next, t_rec, t_break, a0, events, x, p, u, a, rng, out):
    """The direct method's event loop: fire the event at ``t_next`` (``search_fire`` with a uniform
    target), draw the next event time, and go on while it falls at or before ``t_rec`` and before
    ``t_break``. Returns the event count (``events`` plus those fired) and leaves in ``out`` the time
    of the last event, the next time drawn, the running total and a code: 0 (t_next is past a stop),
    inf (the total is due to be summed again: redraw from t), -1 (the firing at t changed a species a
    trigger reads: test the triggers, then draw from t) or NaN (as ``fire``: nothing more may be fired)."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def derive(p):
    """Fill the derived per-cell constants of every row of ``p`` (n_cells, P + 2 + D)."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def rates(x, p, u, r):
    """Fill ``r`` with the deterministic-limit reaction rates at the real-valued state ``x``."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def derive_cell(p):
    """``derive`` for one cell's parameter vector (after an event assigned a parameter)."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def triggers(x, p, u, t, on):
    """Fill ``on[e]`` with event e's trigger value at state ``x`` and time ``t``."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def event_times(p, times):
    """Fill ``times`` with the cell's trigger times: every expression of parameters compared with time."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def event_values(e, x, p, u, t, values):
    """Fill ``values`` with the values event e assigns, in its assignments' order, at state ``x``."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def event_priority(e, x, p, u, t):
    """Event e's priority (simultaneous events: the higher first, then in name order); 0 without one."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def lane_sums(F, lanes):
    """For each of the W = ``len(lanes)`` lanes of ``F`` (lane w's slot k at ``F[k * W + w]``: species from
    slot 0, the parameter vector from LANE_PARAMETERS, the inputs from LANE_INPUTS), store the running
    sums of the propensities in reaction order, their total at LANE_A0 and the smallest at LANE_LOWEST."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")


def lane_fire(F, lanes):
    """For each lane, fire channel j = #{k : running sum k < target at LANE_TARGET} (no channel if j is the
    number of reactions: a target of +inf); returns the number of counts that went below zero."""
    raise NotImplementedError("model code exists only in a compiled model's generated module")
