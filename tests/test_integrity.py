"""A file marked complete is exactly the uninterrupted run's file (issue 14).

Fault injection: ``STOCHINS_FAULT=POINT[#N][=kill|enospc]`` stops the writer at the N-th pass through a
named point — with SIGKILL, as a crash would, or with an injected "no space left on device". After
every such stop, ``--resume`` must give a file identical to the uninterrupted run's: every dataset
(statistics and quantiles included) bit for bit, every attribute but the timestamps. Also: resume is
refused across a changed model or stochins version, a second writer (``--overwrite`` included) is
refused while a run holds the output, SIGINT/SIGTERM stop even a runaway block within a second or
two with 130/143 and a resumable file, and the ``-o`` path can never be an input.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import stochins
from stochins.cli import main
from stochins.io.hdf5 import FAULT_ENV, FAULT_POINTS, OutputWriteError

MODEL = """
name: switched_immigration
species: {X: 0, Y: 5}
parameters: {k: 200.0, g: 1.0, h: 0.01}
inputs: {signal: 1.0}
expressions: {total: "X + 2 * Y", ratio: "Y / (1 + X)"}
reactions:
  birth: {equation: "0 -> X", propensity: "k * signal"}
  death: {equation: "X -> 0", rate: g}
  convert: {equation: "X -> Y", rate: h}
"""

# two conditions, 4 blocks each, trajectories of 20 of 60 cells kept: the end-of-run pass has both
# quantiles to record and cells to drop, and a kill can fall between conditions
RUN = """
model: model.yaml
cells: 60
seed: 3
time: {start: 0, end: 5, samples: 6}
sweep: {model_parameters.k: [100.0, 300.0]}
variability: {g: {distribution: lognormal, cv: 0.2}}
output: {trajectories: 20}
block_size: 16
threads: 1
"""

# the same run recording two observables besides the species: their datasets and moments are committed,
# verified, truncated and finished with the species'
RUN_OBSERVABLES = RUN + "record: [X, Y, total, ratio]\n"

#: (point, pass) pairs: block points on the 3rd block (mid-way through the first condition) or the
#: 6th (second condition); commits and the end-of-run pass at their first or second pass
KILLS = [("block.data", 3), ("block.cells", 2), ("block.moments", 6), ("block.journal", 5), ("commit.flushed", 1),
         ("commit.counted", 2), ("finish.start", 1), ("finish.quantiles", 1), ("finish.quantiles", 2),
         ("finish.recorded", 1), ("finish.shrunk", 1), ("finish.cleaned", 2), ("finish.complete", 1)]
#: the points where observables are written, between blocks, at a commit and in the end-of-run pass
KILLS_OBSERVABLES = [("block.data", 3), ("block.moments", 6), ("commit.flushed", 1), ("finish.quantiles", 2),
                     ("finish.shrunk", 1), ("finish.cleaned", 2)]
_TIMESTAMPS = {"created", "finished"}
_REFERENCES = {"DIMENSION_LIST", "REFERENCE_LIST"}  # object references: differ between any two files


def snapshot(path: Path) -> dict:
    """Every group and dataset: attributes (but timestamps and scale references) and data."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()
                     if k not in _TIMESTAMPS | _REFERENCES}
            out[name] = (attrs, obj[...] if isinstance(obj, h5py.Dataset) else None)

        visit("/", f)
        f.visititems(visit)
    return out


def assert_identical(a: Path, b: Path) -> None:
    sa, sb = snapshot(a), snapshot(b)
    assert sa.keys() == sb.keys(), sorted(set(sa) ^ set(sb))
    for name in sa:
        assert sa[name][0] == sb[name][0], (name, sa[name][0], sb[name][0])
        x, y = sa[name][1], sb[name][1]
        if x is not None:
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("integrity")
    (d / "model.yaml").write_text(textwrap.dedent(MODEL), encoding="utf-8")
    (d / "run.yaml").write_text(textwrap.dedent(RUN), encoding="utf-8")
    stochins.run(d / "run.yaml", output=d / "reference.h5", progress=False)
    return d


@pytest.fixture(scope="module")
def observables_reference(workdir):
    (workdir / "run_observables.yaml").write_text(textwrap.dedent(RUN_OBSERVABLES), encoding="utf-8")
    out = workdir / "reference_observables.h5"
    stochins.run(workdir / "run_observables.yaml", output=out, progress=False)
    with h5py.File(out, "r") as f:
        for g in f["conditions"].values():
            assert g["observable_trajectories"].shape == (20, 6, 2) and not np.isnan(g["observable_quantiles"]).any()
            assert not {"_moments", "_observable_moments", "_journal"} & set(g)
    return out


def cli_process(workdir: Path, *args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stochins.cli", "run", *args, "-q"], cwd=workdir,
                            env={**os.environ, **(env or {})}, stderr=subprocess.PIPE, text=True, **kw)


def test_every_fault_point_is_covered():
    assert {p for p, _ in KILLS} == set(FAULT_POINTS) and len(KILLS) >= 10


@pytest.mark.parametrize("point,nth", KILLS, ids=[f"{p}#{n}" for p, n in KILLS])
def test_kill_at_a_fault_point_then_resume_is_identical(workdir, point, nth):
    kill_then_resume(workdir, "run.yaml", workdir / "reference.h5", point, nth)


def kill_then_resume(workdir: Path, run: str, reference: Path, point: str, nth: int) -> None:
    out = workdir / f"killed_{Path(run).stem}_{point}_{nth}.h5"
    proc = cli_process(workdir, run, "-o", out.name, env={FAULT_ENV: f"{point}#{nth}"})
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "the fault point was never reached"
    assert not stochins.open_results(out).complete
    stochins.run(workdir / run, output=out, resume=True, progress=False)
    assert_identical(reference, out)


@pytest.mark.parametrize("point,nth", KILLS_OBSERVABLES, ids=[f"{p}#{n}" for p, n in KILLS_OBSERVABLES])
def test_kill_then_resume_is_identical_with_observables(workdir, observables_reference, point, nth):
    kill_then_resume(workdir, "run_observables.yaml", observables_reference, point, nth)


@pytest.mark.parametrize("point", ["block.moments", "commit.flushed"])
def test_disk_full_is_one_line_exit_3_and_resumable(workdir, point, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    out = workdir / f"full_{point}.h5"
    monkeypatch.setenv(FAULT_ENV, f"{point}#3=enospc")
    with pytest.raises(OutputWriteError, match="no space left on device.*--resume"):
        stochins.run("run.yaml", output=out, progress=False)
    assert not stochins.open_results(out).complete
    out.unlink()
    assert main(["run", "run.yaml", "-q", "-o", out.name]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left" in err[0], err
    monkeypatch.delenv(FAULT_ENV)  # space freed
    stochins.run("run.yaml", output=out, resume=True, progress=False)
    assert_identical(workdir / "reference.h5", out)


def _interrupted(workdir: Path, out: Path) -> None:
    """An incomplete output: Ctrl-C after the first block (the log callback is called per block)."""
    def log(_line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stochins.run(workdir / "run.yaml", output=out, progress=False, log=log)
    assert not stochins.open_results(out).complete


def test_resume_is_refused_after_the_model_changed(workdir):
    out = workdir / "model_changed.h5"
    _interrupted(workdir, out)
    model = workdir / "model.yaml"
    original = model.read_text(encoding="utf-8")
    try:
        model.write_text(original.replace("h: 0.01", "h: 0.02"), encoding="utf-8")
        with pytest.raises(stochins.ResultsError, match="model changed"):
            stochins.run(workdir / "run.yaml", output=out, resume=True, progress=False)
        model.write_text("# a comment changes nothing that matters\n" + original, encoding="utf-8")
        stochins.run(workdir / "run.yaml", output=out, resume=True, progress=False)
    finally:
        model.write_text(original, encoding="utf-8")
    assert_identical(workdir / "reference.h5", out)


def test_resume_is_refused_across_stochins_versions(workdir):
    out = workdir / "other_version.h5"
    _interrupted(workdir, out)
    with h5py.File(out, "a") as f:
        f.attrs["stochins_version"] = "0.0.1"
    with pytest.raises(stochins.ResultsError, match="started by stochins 0.0.1"):
        stochins.run(workdir / "run.yaml", output=out, resume=True, progress=False)


RUNAWAY = """
model: runaway.yaml
cells: 4
seed: 1
time: {start: 0, end: 10, samples: 3}
block_size: 2
threads: 1
"""


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_a_runaway_block_and_a_second_writer_is_refused(tmp_path, signum, status):
    """A propensity of 1e300 never finishes a block; the signal must still end the run within seconds,
    and while it runs nobody else may write (or --overwrite) its output."""
    (tmp_path / "runaway.yaml").write_text(textwrap.dedent(MODEL).replace("k * signal", "1e300 * signal")
                                           .replace("switched_immigration", "runaway"), encoding="utf-8")
    (tmp_path / "run.yaml").write_text(textwrap.dedent(RUNAWAY), encoding="utf-8")
    out = tmp_path / "out.h5"
    proc = cli_process(tmp_path, "run.yaml", "-o", out.name)
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and time.monotonic() < deadline:  # the writer exists: blocks are running
            time.sleep(0.2)
        assert out.exists() and proc.poll() is None
        time.sleep(1.0)
        for kwargs in ({"overwrite": True}, {"resume": True}):
            with pytest.raises(stochins.ResultsError, match="another stochins run"):
                stochins.run(tmp_path / "run.yaml", output=out, progress=False, **kwargs)
        t0 = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        stopped = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert stopped < 5, f"took {stopped:.1f} s to stop"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--resume" in lines[0] and "Traceback" not in err, err
    r = stochins.open_results(out)
    assert not r.complete and r["default"].cells_done == 0
    assert not (tmp_path / ".out.h5.lock").exists()


def test_overwrite_never_replaces_an_input(tmp_path):
    (tmp_path / "model.yaml").write_text(textwrap.dedent(MODEL), encoding="utf-8")
    (tmp_path / "run.yaml").write_text(textwrap.dedent(RUN), encoding="utf-8")
    for target, what in (("run.yaml", "run file"), ("model.yaml", "model file"), (".", "directory")):
        before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        with pytest.raises(stochins.ResultsError, match=what):
            stochins.run(tmp_path / "run.yaml", output=tmp_path / target, overwrite=True, progress=False)
        assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_a_sweep_of_many_one_cell_conditions_stays_small(workdir):
    """Issue 14: a 10^4-condition sweep wrote 5.4 GB, then 15.2 kB per condition (HDF5 1.8 chunk
    B-trees, a condition's links in a heap and two B-trees). The bound has power: either of those
    alone puts a condition above it (measured 14.2 and 8.3 kB against 7.5 kB now)."""
    n = 200
    values = ", ".join(f"{1.0 + i * 1e-3:.4f}" for i in range(n))
    run = workdir / "many.yaml"
    run.write_text(f"model: model.yaml\ncells: 1\nseed: 1\ntime: {{end: 1, samples: 2}}\nthreads: 1\n"
                   f"sweep: {{model_parameters.k: [{values}]}}\n", encoding="utf-8")
    out = stochins.run(run, output=workdir / "many.h5", progress=False)
    r = stochins.open_results(out)
    assert r.complete and len(r.conditions) == n
    per_condition = out.stat().st_size / n
    assert per_condition < 8_000, f"{per_condition:,.0f} bytes per condition"
