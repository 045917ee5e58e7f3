"""Observables (named expressions recorded like species): API, HDF5 round trip, xarray, summaries,
sweeps, plots, and the model-file errors about them.

The model is test_exact's immigration-death network with expressions added: expressions that no
rate reads do not change the generated kernels, so no new numba compile is needed.
"""

from __future__ import annotations

import textwrap

import h5py
import numpy as np
import pytest

import stochins
from stochins.analysis import dose_response, summary_table
from stochins.io.hdf5 import QUANTILES

MODEL = """
name: immigration_death
species: {X: 0}
parameters: {k: 20.0, g: 0.5}
expressions:
  half: X / 2
  above_30: "1 if X > 30 else 0"
  scaled: "half * k / 20"
reactions:
  birth: {equation: "0 -> X", rate: k}
  death: {equation: "X -> 0", rate: g}
"""


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "immigration_death.yaml"
    path.write_text(textwrap.dedent(MODEL), encoding="utf-8")
    return path


def test_simulate_returns_observables_equal_to_the_species_they_read(model_path):
    kw = dict(cells=300, t_end=6, samples=7, seed=3)
    plain = stochins.simulate(model_path, **kw)
    res = stochins.simulate(model_path, record=["half", "above_30", "scaled"], **kw)
    assert res.species == [] and res.observables == ["half", "above_30", "scaled"]
    assert res.observable_trajectories.dtype == np.float64
    x = plain["X"].astype(float)
    np.testing.assert_array_equal(res["half"], x / 2)  # same cells: the extra recorded species is internal
    np.testing.assert_array_equal(res["above_30"], (x > 30).astype(float))
    np.testing.assert_array_equal(res["scaled"], x / 2)
    # species and observables together, in the order asked for within each kind
    both = stochins.simulate(model_path, record=["scaled", "X"], **kw)
    assert both.species == ["X"] and both.observables == ["scaled"]
    np.testing.assert_array_equal(both["X"], plain["X"])
    # per-cell parameters reach the observables: k drawn per cell doubles 'scaled' where k doubles
    var = stochins.simulate(model_path, record=["X", "scaled"], variability={"k": {"distribution": "list",
                                                                                   "values": [20.0, 40.0]}}, **kw)
    np.testing.assert_array_equal(var["scaled"], var["X"] / 2 * var.parameters[:, :1] / 20)


def test_ode_records_observables(model_path):
    res = stochins.simulate(model_path, cells=2, t_end=4, samples=5, method="ode", record=["X", "half"])
    t = res.time
    np.testing.assert_allclose(res["half"][0], 20 * (1 - np.exp(-0.5 * t)), rtol=1e-5, atol=1e-6)


def test_unknown_record_name_is_one_line(model_path):
    with pytest.raises(stochins.ArgumentError, match=r"record: unknown species or observable 'halve'.*observables: "
                                                  r"half, above_30, scaled"):
        stochins.simulate(model_path, cells=2, record=["halve"])


RUN = """
model: {model}
cells: {cells}
seed: 5
time: {{start: 0, end: 8, samples: 9}}
record: [X, half, above_30]
sweep:
  model_parameters.k: [10.0, 20.0, 40.0]
output: {{trajectories: {keep}}}
"""


def _run(tmp_path, model_path, cells=400, keep="all", **kw):
    run = tmp_path / "run.yaml"
    run.write_text(RUN.format(model=model_path, cells=cells, keep=keep), encoding="utf-8")
    return stochins.run(run, output=tmp_path / "out.h5", progress=False, **kw)


def test_observables_round_trip_through_hdf5_and_xarray(tmp_path, model_path):
    out = _run(tmp_path, model_path, block_size=150)  # several blocks: moments merged across them
    r = stochins.open_results(out)
    assert len(r.conditions) == 3
    for name in r.conditions:
        cond = r[name]
        assert cond.species == ["X"] and cond.observables == ["half", "above_30"]
        assert cond.quantities == ["X", "half", "above_30"]
        x = cond["X"].astype(float)
        obs = cond.observable_trajectories
        assert obs.dtype == np.float64 and obs.shape == (400, 9, 2)
        np.testing.assert_array_equal(cond["half"], x / 2)
        np.testing.assert_array_equal(cond["above_30"], (x > 30).astype(float))
        with h5py.File(out, "r") as f:
            g = f["conditions"][name]
            np.testing.assert_allclose(g["observable_mean"][...], obs.mean(axis=0), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(g["observable_std"][...], obs.std(axis=0, ddof=1), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(g["observable_quantiles"][...], np.quantile(obs, QUANTILES, axis=0))
            assert "_observable_moments" not in g
        ds = cond.to_xarray()
        assert list(ds["observable"].values) == ["half", "above_30"]
        assert ds["observable_trajectories"].dims == ("cell", "time", "observable")
        np.testing.assert_array_equal(ds["observable_mean"].sel(observable="half").values,
                                      ds["mean"].sel(species="X").values / 2)
    # the same cells as the API gives
    api = stochins.simulate(model_path, cells=400, t_end=8, samples=9, seed=5, record=["X", "half"],
                            model_parameters={"k": 10.0})
    np.testing.assert_array_equal(r[r.conditions[0]]["half"], api["half"])


def test_summaries_sweeps_and_plots_accept_observables(tmp_path, model_path, capsys):
    out = _run(tmp_path, model_path, cells=200, keep=0)  # summaries exact without kept trajectories
    rows = summary_table(out, times=[8], species=["half", "X"])
    by = {(row.condition, row.species): row for row in rows}
    for cond in stochins.open_results(out).conditions:
        assert by[(cond, "half")].mean == pytest.approx(by[(cond, "X")].mean / 2)
        assert by[(cond, "half")].sd == pytest.approx(by[(cond, "X")].sd / 2)
    dr = dose_response(out, "half", 8, dose_key="model_parameters.k")
    assert dr.response[0] < dr.response[1] < dr.response[2]
    with h5py.File(out, "r") as f:
        assert f["conditions"][stochins.open_results(out).conditions[0]]["observable_trajectories"].shape[0] == 0
    from stochins.cli import main

    assert main(["summarize", str(out), "--species", "above_30", "--times", "8"]) == 0
    assert "above_30" in capsys.readouterr().out
    pytest.importorskip("matplotlib")
    png = tmp_path / "obs.png"
    assert main(["plot", str(out), "-o", str(png), "--species", "X,half"]) == 0
    assert png.stat().st_size > 0


def test_old_layout_without_observables_still_reads(tmp_path, model_path):
    run = tmp_path / "plain.yaml"
    run.write_text(RUN.format(model=model_path, cells=20, keep="all").replace("record: [X, half, above_30]\n", ""),
                   encoding="utf-8")
    out = stochins.run(run, output=tmp_path / "plain.h5", progress=False)
    with h5py.File(out, "r") as f:
        assert not any(k.startswith("observable") for k in f["conditions"][next(iter(f["conditions"]))])
    cond = stochins.open_results(out)[stochins.open_results(out).conditions[0]]
    assert cond.observables == [] and cond.quantities == ["X"]
    assert len(summary_table(out, times=[8])) == 3


@pytest.mark.parametrize("expressions, message", [
    ({"a": "a + X"}, r"expressions refer to each other in a cycle: a -> a"),
    ({"a": "b", "b": "a * 2"}, r"cycle: a -> b -> a"),
    ({"a": "Y / 2"}, r"expression 'a': unknown symbol 'Y'"),
    ({"X": "k"}, r"duplicate name 'X'"),
])
def test_bad_observables_are_one_line_errors(tmp_path, expressions, message):
    path = tmp_path / "bad.yaml"
    body = "\n".join(f"  {k}: \"{v}\"" for k, v in expressions.items())
    path.write_text(textwrap.dedent(MODEL).split("expressions:")[0] + "expressions:\n" + body + "\nreactions:\n"
                    + textwrap.dedent(MODEL).split("reactions:\n")[1], encoding="utf-8")
    with pytest.raises(stochins.ModelError, match=message) as err:
        stochins.load_model(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_resume_continues_the_observables_bit_for_bit(tmp_path, model_path):
    run = tmp_path / "run.yaml"
    run.write_text(RUN.format(model=model_path, cells=300, keep="all") + "block_size: 100\n", encoding="utf-8")
    whole = stochins.run(run, output=tmp_path / "whole.h5", progress=False)
    out = tmp_path / "cut.h5"
    count = {"n": 0}

    def stop_after_one_block(_line):
        count["n"] += 1
        if count["n"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stochins.run(run, output=out, progress=False, log=stop_after_one_block)
    name = stochins.open_results(out).conditions[0]
    with h5py.File(out, "a") as f:  # a killed writer may leave rows beyond cells_done: resume drops them
        g = f["conditions"][name]
        assert g.attrs["cells_done"] == 100 and "_observable_moments" in g
        g["observable_trajectories"].resize((250, 9, 2))  # rows a later block would not overwrite
    stochins.run(run, output=out, resume=True, progress=False)
    with h5py.File(out, "r") as a, h5py.File(whole, "r") as b:
        for cond in a["conditions"]:
            for key in ("observable_trajectories", "observable_mean", "observable_std", "observable_quantiles"):
                np.testing.assert_array_equal(a["conditions"][cond][key][...], b["conditions"][cond][key][...])
