"""Batch runs end to end: HDF5 round trip, xarray, streaming summaries, resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import stochins

MODEL = """
name: switched_immigration
species: {X: 0, Y: 5}
parameters: {k: 200.0, g: 1.0, h: 0.01}
inputs: {signal: 1.0}
reactions:
  birth: {equation: "0 -> X", propensity: "k * signal"}
  death: {equation: "X -> 0", rate: g}
  convert: {equation: "X -> Y", rate: h}
"""


def write_run(tmp_path, body: str, name: str = "run") -> str:
    (tmp_path / "model.yaml").write_text(textwrap.dedent(MODEL))
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return str(path)


RUN = """
model: model.yaml
cells: 300
seed: 11
time: {start: 0, end: 10, samples: 21}
inputs:
  signal: {protocol: pulse, dose: 2.5, start: 2.2, duration: 3.3}
block_size: 64
"""


def test_file_holds_exactly_what_simulate_returns(tmp_path):
    out = stochins.run(write_run(tmp_path, RUN), output=tmp_path / "out.h5", progress=False)
    # the pulse written as a table: an equivalent schedule gives the same cells
    res = stochins.simulate(tmp_path / "model.yaml", cells=300, t_end=10, samples=21, seed=11,
                            inputs={"signal": [[0.0, 0.0], [2.2, 2.5], [5.5, 0.0]]})
    r = stochins.open_results(out)
    assert r.complete and r.conditions == ["default"]
    cond = r["default"]
    assert cond.species == res.species and np.array_equal(cond.time, res.time)
    assert cond.trajectories.dtype == np.int32
    assert np.array_equal(cond.trajectories, res.trajectories)
    x = res.trajectories.astype(float)
    np.testing.assert_allclose(cond.mean, x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cond.std, x.std(0, ddof=1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cond.quantiles, np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0))


def test_layout_attributes_and_dimension_scales(tmp_path):
    out = stochins.run(write_run(tmp_path, RUN), output=tmp_path / "out.h5", progress=False)
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "stochins" and f.attrs["format_version"] == 1
        assert f.attrs["complete"] and f.attrs["method"] == "ssa" and f.attrs["seed"] == "11"
        assert "birth" in f.attrs["model"] and "cells: 300" in f.attrs["run_config"]
        for key, value in f.attrs.items():
            assert isinstance(value, (str, bytes, np.integer, np.floating, np.bool_, int, float)), key
        g = f["conditions/default"]
        traj = g["trajectories"]
        assert traj.maxshape[0] is None and traj.compression == "gzip" and traj.shuffle
        assert np.prod(traj.chunks) * traj.dtype.itemsize <= 1 << 20
        assert [d.label or traj.dims[i][0].name.rsplit("/", 1)[-1] for i, d in enumerate(traj.dims)] \
            == ["cell", "time", "species"]
        assert g.attrs["cells_done"] == 300 and "_moments" not in g and "_journal" not in g


def test_xarray_opens_each_condition_with_named_coordinates(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    out = stochins.run(write_run(tmp_path, RUN), output=tmp_path / "out.h5", progress=False)
    ds = xr.open_dataset(out, group="conditions/default", engine="h5netcdf")
    assert ds["trajectories"].dims == ("cell", "time", "species")
    assert list(ds["species"].values) == ["X", "Y"]
    assert ds["mean"].sel(species="X").shape == (21,)
    np.testing.assert_array_equal(ds["trajectories"].values, stochins.open_results(out)["default"].trajectories)
    same = stochins.open_results(out)["default"].to_xarray()
    assert same["trajectories"].shape == (300, 21, 2)


def test_threads_and_block_size_do_not_change_a_bit(tmp_path):
    path = write_run(tmp_path, RUN)
    a = stochins.run(path, output=tmp_path / "a.h5", progress=False, threads=1)
    cfg = stochins.config.load_run_config(path)
    cfg.block_size, cfg.threads = 7, 2
    b = stochins.run(cfg, output=tmp_path / "b.h5", progress=False)
    ra, rb = stochins.open_results(a)["default"], stochins.open_results(b)["default"]
    assert np.array_equal(ra.trajectories, rb.trajectories)
    np.testing.assert_allclose(ra.mean, rb.mean, rtol=1e-12)


@pytest.mark.parametrize("keep", ["none", 40])
def test_summaries_are_exact_when_trajectories_are_not_kept(tmp_path, keep):
    body = RUN + f"output: {{trajectories: {keep}}}\n"
    out = stochins.run(write_run(tmp_path, body), output=tmp_path / "out.h5", progress=False)
    full = stochins.simulate(tmp_path / "model.yaml", cells=300, t_end=10, samples=21, seed=11,
                             inputs={"signal": {"protocol": "pulse", "dose": 2.5, "start": 2.2, "duration": 3.3}})
    cond = stochins.open_results(out)["default"]
    kept = 0 if keep == "none" else keep
    assert cond.trajectories.shape[0] == kept
    assert np.array_equal(cond.trajectories, full.trajectories[:kept])
    x = full.trajectories.astype(float)
    np.testing.assert_allclose(cond.mean, x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cond.std, x.std(0, ddof=1), rtol=1e-10, atol=1e-12)
    # quantiles come from the first cells stored for them (all 300 here, fewer than 10,000)
    np.testing.assert_allclose(cond.quantiles, np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0))


KILL_RUN = """
model: model.yaml
model_parameters: {k: 20000.0}
cells: 1200
seed: 5
time: {start: 0, end: 10, samples: 11}
inputs: {signal: 1.0}
block_size: 40
threads: 1
"""


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    path = write_run(tmp_path, KILL_RUN)
    killed = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-m", "stochins.cli", "run", path, "-o", str(killed), "-v", "-q"],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    blocks = 0
    for line in proc.stderr:
        if "done" in line:
            blocks += 1
            if blocks == 3:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    partial = stochins.open_results(killed)
    assert not partial.complete
    done = partial["default"].cells_done
    assert 120 <= done < 1200
    resumed = subprocess.run([sys.executable, "-m", "stochins.cli", "run", path, "-o", str(killed), "--resume", "-q"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    whole = stochins.run(path, output=tmp_path / "whole.h5", progress=False)
    a, b = stochins.open_results(killed), stochins.open_results(whole)
    assert a.complete
    assert np.array_equal(a["default"].trajectories, b["default"].trajectories)
    np.testing.assert_array_equal(a["default"].mean, b["default"].mean)


def test_resume_refuses_a_changed_run_file(tmp_path):
    path = write_run(tmp_path, KILL_RUN.replace("cells: 1200", "cells: 80"))
    out = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt):
        stochins.run(path, output=out, progress=False, log=_interrupt_after(1))
    assert not stochins.open_results(out).complete
    original = (tmp_path / "run.yaml").read_text()
    changed = write_run(tmp_path, KILL_RUN.replace("cells: 1200", "cells: 80").replace("seed: 5", "seed: 6"))
    with pytest.raises(stochins.ResultsError, match="changed"):
        stochins.run(changed, output=out, resume=True, progress=False)
    (tmp_path / "run.yaml").write_text(original)
    stochins.run(path, output=out, resume=True, progress=False)
    assert stochins.open_results(out).complete


def _interrupt_after(n_blocks):
    count = {"n": 0}

    def log(_line):
        count["n"] += 1
        if count["n"] >= n_blocks:
            raise KeyboardInterrupt

    return log
