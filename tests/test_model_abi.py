"""A model's event functions as the kernels compiled once for every model call them (engine/model_abi.py):
compiled as C callbacks and called through the model's function table, against the same generated code run
as plain Python, at random counts (the stochastic methods) and real-valued amounts (the ODE's twins),
parameters, cell sizes, inputs, times and events. ``propensities``, ``fire`` and ``direct_events`` are
checked the same way against naive.py in test_generated_code.py."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from stochins.compile import python_model
from stochins.engine import model_abi as abi
from test_composition_rejection import EVENTS


@njit
def _through_table(m, e, x, p, u, t, on, times, values, q):
    abi.triggers(m, x, p, u, t, on)
    abi.event_times(m, p, times)
    abi.event_values(m, e, x, p, u, t, values)
    abi.derive_cell(m, q)
    return abi.event_priority(m, e, x, p, u, t)


def disagreements(model, table: np.ndarray, real: bool, n: int = 200, seed: int = 3) -> list[str]:
    ns = python_model(model)
    rng = np.random.default_rng(seed)
    n_e, n_p = len(model.events), len(model.parameters)
    n_t, width = int(table[abi.TRIGGER_TIMES]), int(np.diff(model.event_arrays[0]).max())
    problems = []
    for _ in range(n):
        x = rng.integers(0, 30, len(model.species)).astype(np.int64)
        if real:
            x = x + rng.uniform(0.0, 1.0, x.size)
        p = model.parameter_vector()
        p[:n_p] *= rng.uniform(0.5, 2.0, n_p)
        p[n_p] = rng.uniform(0.5, 2.0)
        p[n_p + 1] = 1.0 / p[n_p]
        ns["derive_cell"](p)
        u, t, e = rng.uniform(0.0, 3.0, len(model.inputs)), float(rng.uniform(0.0, 10.0)), int(rng.integers(n_e))
        got = (np.zeros(n_e, dtype=np.bool_), np.full(n_t, np.nan), np.full(width, np.nan), p.copy())
        got[3][n_p + 2:] = 0.0
        priority = _through_table(table, e, x, p, u, t, *got)
        want = (np.zeros(n_e, dtype=np.bool_), np.full(n_t, np.nan), np.full(width, np.nan), p.copy())
        ns["triggers"](x, p, u, t, want[0])
        ns["event_times"](p, want[1])
        ns["event_values"](e, x, p, u, t, want[2])
        where = f"x={np.round(x, 3).tolist()} t={t:.3f} event {model.events[e]}"
        for name, g, w in zip(("triggers", "trigger times", "values", "derived constants"), got, want):
            if not np.allclose(g, w, rtol=1e-14, atol=0.0, equal_nan=True):
                problems.append(f"{name} {g.tolist()}, plain Python {w.tolist()} at {where}")
        if not np.isclose(priority, ns["event_priority"](e, x, p, u, t), rtol=1e-14, atol=0.0):
            problems.append(f"priority {priority!r} at {where}")
    return problems


def test_event_functions_through_the_table_equal_the_generated_code(model_from_text):
    model = model_from_text(EVENTS)
    for real in (False, True):  # counts for ssa, direct and tau; amounts, through the *_REAL slots, for ode
        table = model.function_table((), real=real)
        assert table[abi.TRIGGERS_REAL if real else abi.TRIGGERS] != 0 and table[abi.FIRE] == 0  # only what is asked
        assert not (problems := disagreements(model, table, real)), "\n".join(problems[:10])
    # power: the same comparison against the functions of a model whose events differ slightly
    other = model_from_text(EVENTS.replace('assign: {X: "X * 2 + k", Y: 0}, priority: 1',
                                           'assign: {X: "X * 2 + k", Y: 0}, priority: 1.5')
                                   .replace("t >= 2 * t_on", "t >= 2.5 * t_on"))
    problems = disagreements(model, other.function_table(()), False)
    assert any(s.startswith("priority") for s in problems) and any(s.startswith("trigger times") for s in problems)


@njit
def _fire(m, x, p, u, a):
    return abi.fire(m, 0, x, p, u, a)


def test_a_slot_left_empty_raises_instead_of_crashing(model_from_text):
    model = model_from_text(EVENTS)
    x = model.initial_state(model.parameter_vector())
    p, u, a = model.parameter_vector(), model.input_vector(), np.zeros(len(model.reactions))
    with pytest.raises(RuntimeError, match="holds no fire"):
        _fire(model.function_table((abi.PROPENSITIES,)), x, p, u, a)
    before = x.copy()
    _fire(model.function_table((abi.FIRE,)), x, p, u, a)  # the same call with the slot filled fires reaction 0
    assert (x != before).any()


def test_a_model_loaded_again_reuses_its_c_callbacks(model_from_text):
    """numba never frees compiled code: a new or unpickled CompiledModel of the same model (every Dask map
    scatters the plan again) must reuse the process's callbacks, not compile or load them once more."""
    import pickle

    model = model_from_text(EVENTS)
    first = model.function_table((abi.PROPENSITIES, abi.FIRE))
    again = pickle.loads(pickle.dumps(model)).function_table((abi.PROPENSITIES, abi.FIRE))
    assert np.array_equal(first, again) and first[abi.FIRE] != 0
