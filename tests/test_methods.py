"""The method interface: every registered method declares what the registry, config, API and CLI read,
and runs through the one block loop; per-model instances import everything by name."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import stochins
from stochins.config import RunConfig
from stochins.engine import kernels
from stochins.engine.methods import METHODS, get_method, method_names

BIRTH_DEATH = """
name: birth_death
species: {X: 0}
parameters: {k: 5.0, mu: 0.5}
reactions:
  birth: {equation: "0 -> X", rate: k}
  death: {equation: "X -> 0", rate: mu}
"""


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_declares_a_consistent_interface(name):
    m = METHODS[name]
    assert m.name == name and m.summary and m.reference
    assert set(m.firings) <= set(m.work), "the firing counts must be work statistics"
    assert len(set(o.name for o in m.options)) == len(m.options)
    assert m.option_vector().shape == (len(m.options),)  # every default passes its own check
    assert m.module.startswith("stochins.engine.")
    assert callable(getattr(__import__(m.module, fromlist=[m.entry]), m.entry))


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if m.options])
def test_option_errors_are_one_line_argument_errors(name):
    m = METHODS[name]
    with pytest.raises(stochins.ArgumentError, match=rf"^{name}\.bogus: unknown option"):
        m.option_vector({"bogus": 1})
    first = m.options[0]
    for bad in (float("nan"), "x", True, first.low - 1.0):
        with pytest.raises(stochins.ArgumentError, match=rf"^{name}\.{first.name}: expected") as err:
            m.option_vector({first.name: bad})
        assert "\n" not in str(err.value)


def test_names_come_from_the_registry():
    assert set(method_names()) == set(METHODS) | {"auto"}
    for name, m in METHODS.items():  # one run-file key per method with options
        assert (name in RunConfig.model_fields) == bool(m.options)
    with pytest.raises(stochins.ArgumentError,
                       match=rf"^method: expected one of {re.escape(', '.join(method_names()))}, got 'nope'"):
        get_method("nope")
    out = subprocess.run([sys.executable, "-m", "stochins.cli", "methods"], capture_output=True, text=True, check=True)
    for name, m in METHODS.items():
        assert re.search(rf"^{name}\s", out.stdout, re.M)
        for o in m.options:
            assert f"{name}.{o.name} = " in out.stdout


def test_run_file_option_keys_are_checked_by_the_method(tmp_path):
    from stochins.config import ConfigError, parse_run_config

    good = parse_run_config({"model": "m.yaml", "time": {"end": 1}, "tau": {"epsilon": 0.01}})
    assert good.method_options()["tau"] == {"epsilon": 0.01}
    with pytest.raises(ConfigError, match=r"tau\.epsilon: expected 0 < epsilon < 1"):
        parse_run_config({"model": "m.yaml", "time": {"end": 1}, "tau": {"epsilon": 2}}, source="r.yaml")


def test_instances_import_every_name_and_nothing_relative(model_from_text):
    model = model_from_text(BIRTH_DEATH)
    for name, m in METHODS.items():
        if not kernels.instanced(m.module):  # compiled once for every model: the package module itself
            assert model.kernels(m.module) is __import__(m.module, fromlist=[m.entry])
            continue
        shared = not kernels.per_model(m.module)  # one copy for every model (it calls the model through a table)
        text = kernels.instantiate(m.module, kernels.SHARED if shared else model.code_hash,
                                   None if shared else model.source_path.stem)
        assert not re.search(r"^from \.", text, re.M)
        assert (f"from {model.source_path.stem} import " in text) != shared
        module = model.kernels(m.module)
        assert getattr(module, kernels.INSTANCE_MARK) == (kernels.SHARED if shared else model.code_hash)
    assert not any(kernels.per_model(f"stochins.engine.{n}") for n in ("ssa", "direct", "tau", "common"))
    assert kernels.per_model("stochins.engine.lockstep") and kernels.instanced("stochins.engine.ssa")
    assert not kernels.instanced("stochins.engine.rng") and not kernels.instanced("stochins.engine.interface")
    with pytest.raises(ImportError, match="may not import .model_code"):
        kernels.instantiate("stochins.engine.lockstep", kernels.SHARED, None)
    # an instance's name changes with the model and with the engine text it reaches; a shared one with neither model
    other = model_from_text(BIRTH_DEATH.replace('"X -> 0"', '"2 X -> X"'))
    assert kernels.instance_name("stochins.engine.lockstep", model.code_hash) != \
        kernels.instance_name("stochins.engine.lockstep", other.code_hash)
    assert other.kernels("stochins.engine.ssa") is model.kernels("stochins.engine.ssa")


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_reports_its_named_work(model_from_text, name):
    model = model_from_text(BIRTH_DEATH)
    res = stochins.simulate(model, cells=50, t_end=5.0, samples=6, seed=3, method=name)
    m = METHODS[name]
    assert res.method == name and res.work_names == list(m.work) and res.work.shape == (50, len(m.work))
    assert np.array_equal(res.events, m.event_count(res.work))
    if m.stochastic:
        assert res.trajectories.dtype == np.int32 and (res.events > 0).all()
    else:
        assert res.trajectories.dtype == np.float64
        # the deterministic limit of birth-death: k/mu + (x0 - k/mu) e^{-mu t}
        expect = 10.0 * (1.0 - np.exp(-0.5 * res.time))
        assert np.allclose(res["X"], expect, rtol=1e-6)


def test_auto_states_its_choice(model_from_text):
    res = stochins.simulate(model_from_text(BIRTH_DEATH), cells=5, t_end=5.0, samples=3, seed=1, method="auto")
    assert res.method == "ssa" and res.method_reason.startswith("ssa: ") and "pilot of 2 cells" in res.method_reason
