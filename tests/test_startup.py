"""Start-up: a model's first run says it is compiling (once per method); a cached run says nothing and
compiles nothing; a run imports only what it uses; ``auto`` picks the SSA without compiling tau-leaping
when a plain-Python exact pilot finds few events, and that pilot samples the right law."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import stochins
from stochins.compile import compile_notices, python_model
from stochins.simulation import AUTO_PILOT_CELLS, Plan, _few_events, _python_ssa

TINY = """
name: tiny_start
species: {X: 5}
parameters: {k: 1.0}
reactions:
  decay: {equation: "X -> 0", rate: k}
"""

#: pure birth at rate k * signal, the signal switching 1 -> 4 at t = 4.3: the events up to t = 10 are
#: Poisson with mean k (4.3 + 4 * 5.7) = 54.2
SWITCHED_BIRTH = """
name: startup_switched_birth
species: {X: 0}
parameters: {k: 2.0}
inputs: {signal: 1.0}
reactions:
  birth: {equation: "0 -> X", propensity: "k * signal"}
"""
SWITCH = [[0.0, 1.0], [4.3, 4.0]]

#: modules a plain `stochins run` of an exact method must not load (each costs start-up time)
NOT_IMPORTED = ("dask", "distributed", "matplotlib", "gillespy2", "xarray", "libsbml", "scipy.integrate",
                "scipy.optimize", "scipy.stats", "tqdm")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One empty stochins cache for this file's compiles (numba's cache lives beside the generated code)."""
    return tmp_path_factory.mktemp("startup-cache")


def _tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_compile_notice_only_when_numba_has_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCHINS_CACHE_DIR", str(tmp_path / "cache"))
    path = _tiny(tmp_path)
    lines: list[str] = []
    with compile_notices(lines.append):
        stochins.simulate(stochins.load_model(path), cells=2, t_end=1.0, samples=2, seed=1, method="direct")
    # an empty cache: the method's kernels (compiled once for every model, unless this process has them
    # already), then the model's code for it
    assert lines[-1] == "compiling tiny_start for direct (first run of this model; numba caches it for later runs)…"
    assert lines[:-1] in ([], ["compiling the direct engine (once for every model; numba caches it)…"]), lines
    lines.clear()
    with compile_notices(lines.append):  # a new model object of the same model: numba's cache holds it now
        stochins.simulate(stochins.load_model(path), cells=2, t_end=1.0, samples=2, seed=1, method="direct")
    assert lines == []


def test_auto_picks_the_ssa_without_compiling_tau(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("STOCHINS_CACHE_DIR", str(cache))
    model = stochins.load_model(_tiny(tmp_path))
    ran: list[str] = []
    block = Plan.block
    monkeypatch.setattr(Plan, "block", lambda self, *a, **k: ran.append(self.method) or block(self, *a, **k))
    lines: list[str] = []
    with compile_notices(lines.append):
        res = stochins.simulate(model, cells=3, t_end=1.0, samples=2, seed=1, method="auto")
    assert res.method == "ssa" and res.method_reason.startswith("ssa: few events per cell"), res.method_reason
    assert f"pilot of {AUTO_PILOT_CELLS} cells in plain Python" in res.method_reason
    assert "tau" not in ran, ran  # no tau-leaping pilot block ran, so its kernels were never needed
    # the notices name the method used: its kernels (once for every model) and the model's code for it
    assert len(lines) <= 2 and all(" ssa " in line for line in lines), lines


def test_auto_leaves_a_busy_model_to_the_tau_pilot():
    # the quickstart's regime: about 5e7 events per cell, so the plain-Python pilot gives up at once
    plan = Plan.create(stochins.load_model("sedaghat2002"), t_end=60.0, samples=2, seed=1, method="auto",
                       inputs={"insulin": 10.0})
    assert _few_events(plan) is None


def _pilot_events(model, schedule, cells: int, seed: int = 7) -> np.ndarray:
    plan = Plan.create(model, t_end=10.0, samples=2, seed=1, method="ssa", inputs={"signal": schedule})
    p, x0, _ = plan.cells(0, 1)
    code = python_model(model)
    rng = np.random.default_rng(seed)
    return np.array([_python_ssa(code, x0[0].tolist(), p[0].tolist(), plan.schedule.times.tolist(),
                                 plan.schedule.values.tolist(), 0.0, 10.0, rng, 10**6) for _ in range(cells)])


def test_plain_python_pilot_samples_the_exact_law(model_from_text, tmp_path):
    # events of pure birth across an input switch: Poisson(54.2); mean by a z-score, variance by its ratio
    model = model_from_text(SWITCHED_BIRTH)
    n, lam = 3000, 2.0 * (4.3 + 4.0 * 5.7)

    def consistent(events: np.ndarray) -> bool:
        z = (events.mean() - lam) / np.sqrt(lam / n)
        ratio = events.var(ddof=1) / lam  # SD of the ratio ~ sqrt(2 / n) for a Poisson law this large
        return abs(z) < 4.0 and abs(ratio - 1.0) < 4.0 * np.sqrt(2.0 / n + 1.0 / (lam * n))

    assert consistent(_pilot_events(model, SWITCH, n))
    # power: the same test rejects a pilot that ignores the switch, or switches 1 min late
    assert not consistent(_pilot_events(model, [[0.0, 1.0]], n))
    assert not consistent(_pilot_events(model, [[0.0, 1.0], [5.3, 4.0]], n))
    # a cell that runs out of molecules fires exactly its count
    tiny = stochins.load_model(_tiny(tmp_path))
    plan = Plan.create(tiny, t_end=1e3, samples=2, seed=1, method="ssa")
    p, x0, _ = plan.cells(0, 1)
    assert _python_ssa(python_model(tiny), x0[0].tolist(), p[0].tolist(), [0.0], [[]], 0.0, 1e3,
                       np.random.default_rng(1), 100) == 5


_CHILD = textwrap.dedent("""
    import json, sys
    from numba.core import event
    compiled = []

    class Listener(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__qualname__)

    event.register("numba:compile", Listener())
    from stochins.engine import kernels
    c_function = kernels.c_function

    def counted(func, sig):  # the model's C callbacks: numba's compile events do not cover them
        made = c_function(func, sig)
        if made.cache_hits == 0:
            compiled.append(func.__qualname__ + " (C callback)")
        return made

    kernels.c_function = counted
    import stochins.compile
    stochins.compile.c_function = counted
    from stochins.cli import main
    status = main(["run", sys.argv[1], "-q", "--overwrite"])
    modules = sorted(sys.modules)
    import hashlib, h5py
    data = hashlib.sha256()
    with h5py.File(sys.argv[2], "r") as f:
        f.visititems(lambda name, obj: data.update(name.encode() + (repr(obj[()]).encode() if obj.dtype.kind == "O"
                                                                    else obj[()].tobytes()))
                     if isinstance(obj, h5py.Dataset) else None)
    print(json.dumps({"status": status, "compiled": compiled, "modules": modules, "data": data.hexdigest()}))
""")


def test_a_run_imports_what_it_uses_and_a_second_process_compiles_nothing(cache, tmp_path):
    _tiny(tmp_path)
    run_file = tmp_path / "run.yaml"
    run_file.write_text(f"model: tiny.yaml\ncells: 4\nseed: 1\nmethod: ssa\ntime: {{end: 1, samples: 2}}\n"
                        f"output: {{path: {tmp_path / 'out.h5'}}}\n", encoding="utf-8")
    env = {**os.environ, "STOCHINS_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CACHE_DIR", None)
    runs = []
    for _ in range(2):  # the first may compile (a cold cache), the second must load everything from it
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(run_file), str(tmp_path / "out.h5")], env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for k, r in enumerate(runs):
        assert r["status"] == 0
        # the first run of a network also proves its conservation bounds with scipy.optimize (then cached)
        loaded = [m for m in NOT_IMPORTED if m in r["modules"] and not (k == 0 and m == "scipy.optimize")]
        assert loaded == [], f"stochins run loaded {loaded}"
    assert runs[1]["compiled"] == [], f"a cached run compiled {runs[1]['compiled']}"
    # loaded without numba's context refresh (kernels.quick_load), which imports scipy.linalg among much else
    assert "scipy.linalg" not in runs[1]["modules"]
    assert runs[0]["data"] == runs[1]["data"]  # the code loaded from the cache gives the compiled code's bits


#: birth and death with a propensity no other test uses: its code is compiled afresh in this process
FRESH = """
name: startup_fresh
species: {X: 3}
parameters: {k: 2.0, mu: 0.5}
reactions:
  birth: {equation: "0 -> X", propensity: "k * (1 + 0.25 * min(X, 7))"}
  death: {equation: "X -> 0", rate: mu}
"""


def test_a_new_model_compiles_only_its_own_code(model_from_text, tmp_path, monkeypatch):
    # the kernels of ssa, direct and tau are compiled once for every model (engine/model_abi.py): once another
    # model has run them, a new model's runs compile its generated functions and nothing else
    from numba.core import event

    from stochins.compile import _C_FUNCTIONS as C_FUNCTIONS
    from stochins.engine import model_abi as abi

    monkeypatch.setenv("STOCHINS_CACHE_DIR", str(tmp_path / "cache"))
    compiled: list[str] = []

    class Listener(event.Listener):
        def on_start(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__module__)

        def on_end(self, ev):
            pass

    for text in (TINY, FRESH):
        model = model_from_text(text)
        compiled.clear()
        listener = Listener()
        event.register("numba:compile", listener)
        try:
            for method in ("ssa", "direct", "tau"):
                stochins.simulate(model, cells=2, t_end=2.0, samples=2, seed=1, method=method)
        finally:
            event.unregister("numba:compile", listener)
        made = {k: f for (stem, k), f in C_FUNCTIONS.items() if stem == model.source_path.stem}
        assert set(made) == {abi.PROPENSITIES, abi.FIRE, abi.DIRECT_EVENTS}  # C callbacks, compiled in this test
        assert all(f.cache_hits == 0 for f in made.values())
    # the second model: its derive (and numba's implementations of what its code calls), no engine kernel
    assert {m for m in compiled if not m.startswith("numba.")} == {model.source_path.stem}, compiled


def test_auto_reads_which_methods_execute_events_from_their_flags(model_from_text, monkeypatch):
    # a large model with a time event: auto takes composition-rejection for it once that method declares
    # that it executes events (no code is generated, nothing compiled: the choice is made before any pilot)
    import dataclasses

    from stochins.engine import composition_rejection as cr

    reactions = "\n".join(f"  r{k}: {{equation: \"X{k % 20} -> X{(k + 1) % 20}\", rate: 0.1}}" for k in range(120))
    species = ", ".join(f"X{k}: 10" for k in range(20))
    model = model_from_text(f"name: startup_large_events\nspecies: {{{species}}}\nparameters: {{t1: 1.0}}\n"
                            f"reactions:\n{reactions}\nevents:\n  reset: {{trigger: \"t >= t1\", assign: {{X0: 10}}}}\n")
    capable = dataclasses.replace(cr.METHOD, time_events=True, state_events=True)
    monkeypatch.setattr(cr, "METHOD", capable)
    plan = Plan.create(model, t_end=2.0, samples=2, seed=1, method="auto")
    assert plan.resolve_method() == "cr" and plan.method_reason.startswith("cr: 120 reactions")
    assert model._code is None  # no per-model code was generated for the choice
