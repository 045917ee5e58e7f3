"""Events executed by the engines: the DSMTS event cases, exactness at time and state triggers, SBML
semantics (priorities, values from trigger time, parameters and inputs as targets), the post-event state at
the event time, BIOMD0000000137 with its own events, reproducibility; power: dropping an event fails.
Every exact stochastic method that runs events (``EXACT``: ssa, direct, cr) passes the same checks."""

from __future__ import annotations

import numpy as np
import pytest

import stochins
from stochins.engine.methods import METHODS
from stochins.simulation import Plan

pytest.importorskip("libsbml")

from dsmts_all import check_case  # noqa: E402
from test_dsmts import DSMTS  # noqa: E402

SBML = DSMTS.parent / "sbml"
EXACT = [name for name, m in METHODS.items() if m.exact and m.stochastic and m.time_events and m.state_events]

IMMIGRATION_DEATH = """
name: immigration_death_events
species: {X: 0}
parameters: {k: 10.0, mu: 0.5, cap: 20}
inputs: {boost: 1.0}
reactions:
  birth: {equation: "0 -> X", propensity: "k * boost"}
  death: {equation: "X -> 0", rate: mu}
"""


#: every case with ssa; the other methods the reset of a count at a time (00028) and at a crossing (00033)
EVENT_CASES = [("00028", "ssa"), ("00029", "ssa"), ("00032", "ssa"), ("00033", "ssa")] + \
    [(case, m) for m in EXACT if m != "ssa" for case in ("00028", "00033")]


@pytest.mark.parametrize("case,method", EVENT_CASES)
def test_dsmts_event_cases(case, method):
    r = check_case(case, SBML / f"{case}-sbml-l3v1.xml", DSMTS / f"{case}-mean.csv", DSMTS / f"{case}-sd.csv",
                   n=10_000, seed=2008, method=method)
    assert r.status == "pass", r.detail


def test_power_the_criteria_fail_without_the_event():
    """00028's reference (reset X := 50 at t = 25) against the same model with its event dropped."""
    from stochins.models.sbml import from_sbml

    model = stochins.load_model(from_sbml(SBML / "00028-sbml-l3v1.xml", ignore_events=True))
    res = stochins.simulate(model, cells=10_000, t_end=50.0, samples=51, seed=2008)
    mean = np.genfromtxt(DSMTS / "00028-mean.csv", delimiter=",", names=True)["X"]
    z = (res["X"].mean(0) - mean) / (res["X"].std(0, ddof=1) / 100 + 1e-12)
    assert (np.abs(z) >= 3).sum() > 10


@pytest.mark.parametrize("method", EXACT)
def test_time_event_is_exact_and_recorded_after_it(model_from_text, method):
    """At t = 10 the event empties X and sets k: the law after it is Poisson with mean
    k2/mu (1 - exp(-mu (t - 10))), and the state recorded at t = 10 itself is the post-event one."""
    model = model_from_text(IMMIGRATION_DEATH + """
events:
  wash: {trigger: "t >= 10", assign: {X: 0, k: 40}}
""")
    res = stochins.simulate(model, cells=20_000, t_end=12.0, samples=7, seed=5, method=method)  # 0, 2, ..., 12
    assert (res["X"][:, 5] == 0).all()
    x = res["X"][:, 6].astype(float)
    lam = 40 / 0.5 * (1 - np.exp(-0.5 * 2.0))
    n = x.size
    assert abs(x.mean() - lam) / np.sqrt(lam / n) < 4
    assert abs(x.var(ddof=1) / lam - 1) < 4 * np.sqrt(2 / n)  # Poisson: variance = mean
    before = res["X"][:, 4].astype(float)  # t = 8: the unperturbed process, mean 20 (1 - e^-4)
    assert abs(before.mean() - 20 * (1 - np.exp(-4))) / np.sqrt(20 / n) < 4


@pytest.mark.parametrize("method", EXACT)
def test_state_event_fires_at_the_crossing(model_from_text, method):
    """X >= cap resets X to 0 at the instant it is reached: no recorded state ever holds cap molecules,
    while one step below is reached (the trigger is tested after every firing, not on the grid)."""
    model = model_from_text(IMMIGRATION_DEATH + """
events:
  reset: {trigger: "X >= cap", assign: {X: 0}}
""")
    res = stochins.simulate(model, cells=2_000, t_end=30.0, samples=301, seed=9, method=method)
    x = res["X"]
    assert x.max() == 19 and (x == 19).sum() > 100
    # power: the same process without the event goes past the cap
    free = stochins.simulate(model_from_text(IMMIGRATION_DEATH), cells=2_000, t_end=30.0, samples=301, seed=9,
                             method=method)
    assert free["X"].max() > 20


@pytest.mark.parametrize("method", EXACT)
def test_an_event_equals_the_same_input_schedule_bit_for_bit(model_from_text, method):
    """An event that sets an input at t = 5 and a schedule that sets it there are the same exact process:
    with the same streams (condition key fixed), the same draws and so the same bits."""
    evented = model_from_text(IMMIGRATION_DEATH + """
events:
  stimulate: {trigger: "t >= 5", assign: {boost: 3.0}}
""")
    plain = model_from_text(IMMIGRATION_DEATH)
    a = Plan.create(evented, t_end=10.0, samples=21, seed=3, condition=1, method=method).block(0, 200).trajectories
    b = Plan.create(plain, t_end=10.0, samples=21, seed=3, condition=1, method=method,
                    inputs={"boost": [[0, 1.0], [5, 3.0]]}).block(0, 200).trajectories
    assert np.array_equal(a, b)


@pytest.mark.parametrize("method", EXACT)
def test_priorities_and_values_from_trigger_time(model_from_text, method):
    """Two events at one instant: the higher priority runs first; with values from trigger time both read
    the state before either ran, without it the second sees the first's assignment."""
    text = IMMIGRATION_DEATH.replace("species: {X: 0}", "species: {X: 0, Y: 0}") + """
events:
  first:  {trigger: "t >= 1", assign: {X: 100}, priority: 2}
  second: {trigger: "t >= 1", assign: {Y: "X + 1"}, priority: 1, use_values_from_trigger_time: %s}
"""
    for from_trigger, expect in (("true", None), ("false", 101)):
        model = model_from_text(text % from_trigger)
        res = stochins.simulate(model, cells=50, t_end=1.0, samples=2, seed=1, record=["X", "Y"], method=method)
        y = res["Y"][:, 1]
        if expect is None:  # Y = X(1-) + 1: X before the reset, a birth-death count
            assert (y != 101).any() and (y >= 1).all()
        else:
            assert (y == expect).all()


@pytest.mark.parametrize("method", EXACT)
def test_events_set_parameters_and_are_reproducible(model_from_text, method):
    model = model_from_text(IMMIGRATION_DEATH + """
events:
  slow: {trigger: "X > 15", assign: {mu: 2.0}}
""")
    ref = stochins.simulate(model, cells=300, t_end=20.0, samples=11, seed=4, threads=1, block_size=300, method=method)
    for threads, block in [(2, 300), (2, 7), (1, 1)]:
        other = stochins.simulate(model, cells=300, t_end=20.0, samples=11, seed=4, threads=threads, block_size=block,
                                  method=method)
        assert np.array_equal(ref.trajectories, other.trajectories)
    # after the switch the stationary mean is k/2 = 5 (it was 20): the parameter took effect
    assert abs(ref["X"][:, -1].mean() - 5.0) < 4 * np.sqrt(5.0 / 300)


@pytest.mark.parametrize("method", EXACT)
def test_bad_event_value_is_one_line(model_from_text, method):
    model = model_from_text(IMMIGRATION_DEATH + """
events:
  oops: {trigger: "t >= 1", assign: {X: -5}}
""")
    with pytest.raises(stochins.SimulationError, match=r"event 'oops' assigned a negative or non-finite count") as err:
        stochins.simulate(model, cells=3, t_end=2.0, samples=3, seed=1, method=method)
    assert "\n" not in str(err.value)


LARGE = """
name: large_immigration_death
species: {X: 1000}
parameters: {k: 1000.0, mu: 1.0}
reactions:
  birth: {equation: "0 -> X", rate: k}
  death: {equation: "X -> 0", rate: mu}
events:
  cap:  {trigger: "X >= 1040", assign: {X: 900}}
  wash: {trigger: "t >= 2", assign: {X: 0}}
"""


def test_tau_lands_on_time_events_and_never_leaps_over_a_state_trigger(model_from_text):
    """Leaping forced on 10^3 molecules: no recorded count reaches the cap (a leap over it would leave
    counts above it until the next firing), the reset at t = 2 is exact, and the cap fired (power)."""
    model = model_from_text(LARGE)
    forced = {"exact_below": 0, "exact_firings": 0, "ssa_factor": 0}
    res = stochins.simulate(model, cells=300, t_end=3.0, samples=301, seed=2, method="tau", tau=forced)
    assert res.work[:, res.work_names.index("leaped_firings")].sum() > 0.5 * res.events.sum()
    x = res["X"]
    assert x.max() < 1040 and (x[:, 1:200] < 960).any(), "the cap never fired"
    assert (x[:, 200] == 0).all()  # t = 2: the post-event state
    free = stochins.simulate(model_from_text(LARGE.split("events:")[0]), cells=300, t_end=3.0, samples=301,
                             seed=2, method="tau", tau=forced)
    assert free["X"].max() >= 1040  # without the event the counts do reach the cap


def test_biomd137_with_its_own_events_reproduces_the_reference_ode():
    """The washout (x1 := 0 at t >= 15) and the k5 switches (x6 + x7 + x8 crossing 100) executed by the
    engine: the deterministic limit within 1e-3 of each species' peak of the libroadrunner course."""
    from test_sbml import BIOMD137, _sedaghat_reference

    times, ref = _sedaghat_reference()
    res = stochins.simulate(stochins.load_model(BIOMD137, sbml={"substance_scale": 100}), cells=1, t_end=60.0,
                            samples=121, method="ode")
    np.testing.assert_allclose(res.time, times)
    for k in range(2, 22):
        peak = np.abs(ref[f"x{k}"]).max()
        assert np.abs(res[f"x{k}"][0] / 100 - ref[f"x{k}"]).max() / peak < 1e-3, f"x{k}"


def test_a_run_file_adds_events_without_editing_the_model(tmp_path, capsys):
    from stochins.cli import main

    (tmp_path / "m.yaml").write_text(IMMIGRATION_DEATH, encoding="utf-8")
    run = ("model: m.yaml\ncells: 50\nseed: 3\ntime: {end: 4, samples: 5}\n"
           "events:\n  knockdown: {trigger: \"t >= 2\", assign: {X: 0, k: 0}}\n")
    (tmp_path / "run.yaml").write_text(run, encoding="utf-8")
    out = stochins.run(tmp_path / "run.yaml", output=tmp_path / "out.h5", progress=False)
    x = stochins.open_results(out)["default"]["X"]
    assert (x[:, 2:] == 0).all() and (x[:, 1] > 0).any()  # emptied at t = 2 and nothing is made after
    (tmp_path / "bad.yaml").write_text(run.replace("assign: {X: 0, k: 0}", "assign: {Y: 0}"), encoding="utf-8")
    assert main(["run", str(tmp_path / "bad.yaml"), "-q", "-o", str(tmp_path / "bad.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.yaml: events: event 'knockdown': unknown target 'Y'" in err[0], err
