"""Calls from kernels compiled once for every model into one model's generated functions.

A kernel that names a model's generated functions must be compiled for that model (``kernels.py``), and
for the insulin model that costs seconds of numba's time per method over code that is the same for every
model. The kernels of ``common``, ``ssa``, ``direct`` and ``tau`` are therefore compiled once per installation and
reach the model through a table ``m`` (int64, ``CompiledModel.function_table``): the addresses of the
model's functions, each compiled on its own as a C callback over raw pointers (``SIGNATURES``), then the
model's sizes and the reactions that a trigger watches. The functions below call through it. The call
costs what a call to the same code compiled in place costs (numba does not inline functions of this
size), and a new model compiles only its own straight-line code.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

#: slots of the table: function addresses (0: not compiled, never called), then the model's sizes
PROPENSITIES, FIRE, DIRECT_EVENTS, DERIVE_CELL, EVENT_TIMES = 0, 1, 2, 3, 4
TRIGGERS, EVENT_VALUES, EVENT_PRIORITY = 5, 6, 7      # with integer counts (the stochastic methods)
TRIGGERS_REAL, EVENT_VALUES_REAL, EVENT_PRIORITY_REAL = 8, 9, 10  # with real-valued amounts (the ODE)
REACTIONS, EVENTS, TRIGGER_TIMES, PARAMETERS = 11, 12, 13, 14
#: m[WATCH + j] is 1 if reaction j's firing changes a species that a trigger reads (``compile._Events.watched``)
WATCH = 15

_COUNTS, _REALS, _BOOLS = types.CPointer(types.int64), types.CPointer(types.float64), types.CPointer(types.uint8)
#: slot -> (generated function, its C signature); ``x`` is the state: counts, or amounts for the *_REAL slots
SIGNATURES = {
    PROPENSITIES: ("propensities", types.void(_COUNTS, _REALS, _REALS, _REALS)),
    FIRE: ("fire", types.float64(types.int64, _COUNTS, _REALS, _REALS, _REALS)),
    DIRECT_EVENTS: ("direct_events", types.int64(*[types.float64] * 4, types.int64, _COUNTS, _REALS, _REALS, _REALS,
                                                 types.CPointer(types.uint64), _REALS)),
    DERIVE_CELL: ("derive_cell", types.void(_REALS)),
    EVENT_TIMES: ("event_times", types.void(_REALS, _REALS)),
    TRIGGERS: ("triggers", types.void(_COUNTS, _REALS, _REALS, types.float64, _BOOLS)),
    EVENT_VALUES: ("event_values", types.void(types.int64, _COUNTS, _REALS, _REALS, types.float64, _REALS)),
    EVENT_PRIORITY: ("event_priority", types.float64(types.int64, _COUNTS, _REALS, _REALS, types.float64)),
    TRIGGERS_REAL: ("triggers", types.void(_REALS, _REALS, _REALS, types.float64, _BOOLS)),
    EVENT_VALUES_REAL: ("event_values", types.void(types.int64, _REALS, _REALS, _REALS, types.float64, _REALS)),
    EVENT_PRIORITY_REAL: ("event_priority", types.float64(types.int64, _REALS, _REALS, _REALS, types.float64)),
}
#: the slots a model with events needs besides a method's own (``Method.model_functions``)
EVENT_SLOTS = (DERIVE_CELL, EVENT_TIMES, TRIGGERS, EVENT_VALUES, EVENT_PRIORITY)
REAL_SLOTS = {TRIGGERS: TRIGGERS_REAL, EVENT_VALUES: EVENT_VALUES_REAL, EVENT_PRIORITY: EVENT_PRIORITY_REAL}


def _call(slot: int, restype, args: tuple, state: int | None = None):
    """Signature and code of a call of the function in ``m[slot]`` (with a float64 state, argument
    ``state``, its real-valued twin's) with ``args`` (``m`` first): each array, which must be contiguous
    and hold the type the function reads, as its data pointer; each scalar cast to the function's type.
    ``CompiledModel.function_table`` fills the slots a method declares and the event slots for a model with
    events (the kernels call event functions only then); a slot left 0 raises RuntimeError, not a crash."""
    if state is not None and isinstance(args[state], types.Array) and args[state].dtype == types.float64:
        slot = REAL_SLOTS[slot]
    name, c_sig = SIGNATURES[slot]
    if args[0] != types.Array(types.int64, 1, "C"):
        raise TypingError(f"{name}: the model table must be a contiguous 1-d int64 array, got {args[0]}")
    for k, (ty, want) in enumerate(zip(args[1:], c_sig.args)):
        if isinstance(want, types.CPointer):
            ok = isinstance(ty, types.Array) and ty.layout == "C" and ty.ndim == 1 and ty.mutable and (
                ty.dtype == want.dtype or (ty.dtype == types.boolean and want.dtype == types.uint8))
        else:  # a count or an index must be an integer; a time or a rate may be either
            ok = isinstance(ty, types.Integer) or (want == types.float64 and isinstance(ty, types.Float))
        if not ok:
            raise TypingError(f"{name}: argument {k + 1} must be {want} (a writable contiguous 1-d array for a "
                              f"pointer), got {ty}")

    def codegen(context, builder, sig, llargs):
        values = []
        for ty, want, value in zip(sig.args[1:], c_sig.args, llargs[1:]):
            values.append(context.make_array(ty)(context, builder, value).data if isinstance(ty, types.Array)
                          else context.cast(builder, value, ty, want))
        table = context.make_array(sig.args[0])(context, builder, llargs[0]).data
        address = builder.load(builder.gep(table, [ir.Constant(ir.IntType(64), slot)]))
        cgutils.guard_null(context, builder, address, (RuntimeError, f"the model table holds no {name} (slot {slot})"))
        ret = ir.VoidType() if restype == types.void else context.get_value_type(restype)
        function = builder.inttoptr(address, ir.FunctionType(ret, [v.type for v in values]).as_pointer())
        result = builder.call(function, values)
        return context.get_dummy_value() if restype == types.void else result

    return restype(*args), codegen


@intrinsic
def propensities(typingctx, m, x, p, u, a):
    """Fill ``a`` with every propensity at state ``x`` (see engine/model_code.py for the arguments)."""
    return _call(PROPENSITIES, types.void, (m, x, p, u, a))


@intrinsic
def fire(typingctx, m, j, x, p, u, a):
    """Apply reaction ``j`` and recompute its dependants' propensities; the change of their sum, or NaN."""
    return _call(FIRE, types.float64, (m, j, x, p, u, a))


@intrinsic
def direct_events(typingctx, m, t_next, t_rec, t_break, a0, events, x, p, u, a, rng, out):
    """The direct method's generated event loop (see engine/model_code.py); the event count."""
    return _call(DIRECT_EVENTS, types.int64, (m, t_next, t_rec, t_break, a0, events, x, p, u, a, rng, out))


@intrinsic
def derive_cell(typingctx, m, p):
    """Recompute one cell's derived constants (after an event assigned a parameter)."""
    return _call(DERIVE_CELL, types.void, (m, p))


@intrinsic
def event_times(typingctx, m, p, times):
    """Fill ``times`` with the cell's trigger times."""
    return _call(EVENT_TIMES, types.void, (m, p, times))


@intrinsic
def triggers(typingctx, m, x, p, u, t, on):
    """Fill ``on`` (uint8 0/1) with every trigger's value at state ``x`` and time ``t``."""
    return _call(TRIGGERS, types.void, (m, x, p, u, t, on), state=1)


@intrinsic
def event_values(typingctx, m, e, x, p, u, t, values):
    """Fill ``values`` with the values event ``e`` assigns, at state ``x`` and time ``t``."""
    return _call(EVENT_VALUES, types.void, (m, e, x, p, u, t, values), state=2)


@intrinsic
def event_priority(typingctx, m, e, x, p, u, t):
    """Event ``e``'s priority (0 without one)."""
    return _call(EVENT_PRIORITY, types.float64, (m, e, x, p, u, t), state=2)
