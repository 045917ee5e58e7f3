"""What a new user ran into, beyond the issues: inputs that used to pass silently, crash with a
traceback, or leave a wrong file (found by following the README on files no issue names).

Every refusal is exit status 2 and one line naming the file and the key, with no file left behind.
One small simulated sweep (the birth-death model of ``test_hostile_inputs.py``, three cells) serves
the checks on results files.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import stochins
from stochins.cli import main
from stochins.errors import ArgumentError
from test_hostile_inputs import MODEL, RUN  # one model: one compile serves both files

RUN_ARGS = ["run", "run.yaml", "-q", "-o", "out.h5"]


def run_with(extra: str, model: str = MODEL) -> dict:
    return {"bd.yaml": model, "run.yaml": RUN + extra}


# id: (files, argv, pattern the one line must match)
CASES = {
    # YAML 1.1 reads yes/true as booleans, and pydantic took them for 1
    "cells_true": ({"bd.yaml": MODEL, "run.yaml": RUN.replace("cells: 3", "cells: true")}, RUN_ARGS,
                   r"run\.yaml: key 'cells': expected a number, got True"),
    "input_yes": (run_with("inputs: {signal: yes}\n"), RUN_ARGS, r"key 'inputs\.signal': expected a number"),
    "parameter_true": (run_with("model_parameters: {k: true}\n"), ["validate", "run.yaml"],
                       r"key 'model_parameters\.k': expected a number"),
    "swept_true": (run_with("sweep: {model_parameters.k: [1, true]}\n"), RUN_ARGS, r"model_parameters\.k.*number"),
    # a duplicate key was "not valid YAML at line 5", without saying which key
    "duplicate_key": ({"bd.yaml": MODEL, "run.yaml": RUN + "seed: 8\n"}, RUN_ARGS,
                      r"run\.yaml: not valid YAML at line 5 \(duplicate key 'seed'\)"),
    # overrides that make a rate negative at the start: the first cell failed (exit 1, incomplete file)
    "negative_override": (run_with("model_parameters: {k: -1}\n"), RUN_ARGS,
                          r"run\.yaml: .*'birth': propensity is -1\.0 at the initial state with this run's"),
    "negative_override_in_validate": (run_with("model_parameters: {mu: -0.5}\n"), ["validate", "run.yaml"],
                                      r"'death': rate is -0\.5 at the initial state"),
    "negative_override_in_sweep": (run_with("sweep: {model_parameters.k: [1, -2]}\n"), RUN_ARGS,
                                   r"condition k=-2.*'birth'"),
    # mass action of order 1e11 built a list of 1e11 factors: MemoryError
    "stoichiometry_1e11": (run_with("", MODEL.replace('"X -> 0"', '"100000000000 X -> 0"')), RUN_ARGS,
                           r"reaction 'death': stoichiometry 100,000,000,000 of 'X' \(at most 1,000"),
    # a valid Python identifier, but not one the generated code and HDF5 names accept: say what is
    "unicode_name": (run_with("", MODEL.replace("mu", "µ")), RUN_ARGS, r"'µ' is not a valid identifier \(ASCII"),
    # sbml options were only checked for SBML models: a typo next to a YAML model passed unseen
    "sbml_typo": (run_with("sbml: {substance_scal: 100}\n"), ["validate", "run.yaml"],
                  r"key 'sbml': unknown SBML import option 'substance_scal' \(did you mean 'substance_scale'"),
    "sbml_inputs_string": (run_with("sbml: {inputs: x1}\n"), ["validate", "run.yaml"],
                           r"sbml\.inputs: expected a list of SBML ids, got 'x1'"),
    "sbml_ignore_events_maybe": (run_with("sbml: {ignore_events: maybe}\n"), ["validate", "run.yaml"],
                                 r"sbml\.ignore_events: expected true or false"),
    # cv² overflowed: every drawn value NaN, and the ODE wrote NaN trajectories into a complete file
    "lognormal_cv_1e300": (run_with("variability: {k: {distribution: lognormal, cv: 1.0e300}}\n"), RUN_ARGS,
                           r"variability\.k\.cv: 1e\+300 is too large"),
    # `stochins export bd.yaml -o bd.yaml` replaced the model with its SBML
    "export_over_its_model": ({"bd.yaml": MODEL}, ["export", "bd.yaml", "-o", "bd.yaml"], r"bd\.yaml: is the model"),
}


def _write(tmp_path: Path, files: dict) -> dict:
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    return {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stochins: error:") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_one_line_and_nothing_written(case, tmp_path, monkeypatch, capsys):
    files, argv, pattern = CASES[case]
    monkeypatch.chdir(tmp_path)
    before = _write(tmp_path, files)
    assert main(argv) == 2
    line = _one_line(capsys)
    assert re.search(pattern, line), line
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_output_that_is_not_a_regular_file_is_never_replaced(tmp_path, monkeypatch, capsys):
    """``-o /dev/full --overwrite`` unlinked the device and wrote the results in its place (as root)."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, run_with(""))
    os.mkfifo(tmp_path / "pipe")
    for extra in ([], ["--overwrite"], ["--resume"]):
        assert main(["run", "run.yaml", "-q", "-o", "pipe", *extra]) == 2
        assert "is not a regular file" in _one_line(capsys)
        assert (tmp_path / "pipe").is_fifo()


def test_api_arguments_of_the_wrong_shape(tmp_path):
    """A string ``record`` was read letter by letter; ``inputs`` as a list was a TypeError; a negative
    override was found by the first cell. Plan checks only: nothing is compiled."""
    (tmp_path / "bd.yaml").write_text(MODEL.replace("  X: 20", "  X: 20\n  XY: 0"), encoding="utf-8")
    model = stochins.load_model(tmp_path / "bd.yaml")
    with pytest.raises(ArgumentError, match="record: expected a list"):
        stochins.simulate(model, cells=1, t_end=1, samples=2, seed=1, record="XY")
    with pytest.raises(ArgumentError, match="inputs: expected a mapping"):
        stochins.simulate(model, cells=1, t_end=1, samples=2, seed=1, inputs=[["signal", 1.0]])
    with pytest.raises(ArgumentError, match=r"'death': rate is -1\.0 at the initial state with these"):
        stochins.simulate(model, cells=1, t_end=1, samples=2, seed=1, model_parameters={"mu": -1.0})
    with pytest.raises(ArgumentError, match="given both as tau= and as options"):  # one was dropped
        stochins.simulate(model, cells=1, t_end=1, samples=2, seed=1, tau={"epsilon": 0.01},
                          options={"tau": {"epsilon": 0.05}})


def test_closed_pipe_is_not_a_traceback(tmp_path):
    """``stochins methods | head -1``: the reader leaves early; no BrokenPipeError traceback, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "stochins.cli", "methods"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err and err == "", err


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two conditions with different time grids (a sweep over time.end), two of three cells kept."""
    d = tmp_path_factory.mktemp("sweep")
    (d / "bd.yaml").write_text(MODEL, encoding="utf-8")
    (d / "run.yaml").write_text(RUN + "output: {trajectories: 2}\nrecord: [X]\nsweep: {time.end: [5, 10]}\n",
                                encoding="utf-8")
    assert main(["run", str(d / "run.yaml"), "-q", "-o", str(d / "out.h5")]) == 0
    return d / "out.h5"


def test_unkept_cells_read_as_missing_not_zero(sweep):
    """The trajectories dataset is shorter than its ``cell`` scale; xarray padded it with h5py's fill
    value 0, i.e. cells of zero molecules. Now the padding is -1 (NaN for floats), marked _FillValue."""
    pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    r = stochins.open_results(sweep)
    for name in r.conditions:
        with h5py.File(sweep) as f:
            stored = f[f"conditions/{name}/trajectories"][:]
        assert stored.shape[0] == 2 and stored.dtype == np.int32 and (stored >= 0).all()
        ds = r[name].to_xarray()
        values = ds["trajectories"].values
        assert values.shape[0] == 3 and np.isnan(values[2]).all()
        np.testing.assert_array_equal(values[:2], stored)
        np.testing.assert_allclose(ds["trajectories"].mean("cell").values, stored.mean(0))
        ds.close()


def test_reading_an_unrecorded_name_says_what_was_recorded(sweep):
    """``cond["Y"]`` was ``ValueError: 'Y' is not in list``; a column read loads only that column."""
    cond = stochins.open_results(sweep)["end=10"]
    with pytest.raises(KeyError, match=r"recorded no 'Y' \(recorded: X\)"):
        cond["Y"]
    np.testing.assert_array_equal(cond["X"], cond.trajectories[:, :, 0])


def test_summarize_reads_each_condition_at_its_own_last_time(sweep, capsys):
    """The default time was the first condition's last (5 min), read on the second's grid as 4 min."""
    assert main(["summarize", str(sweep)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("end=")]
    assert [(row[0], row[2]) for row in rows] == [("end=5", "5"), ("end=10", "10")]
    assert main(["summarize", str(sweep), "--times", "10"]) == 2  # recorded by one condition only: which not
    assert re.search(r"out\.h5: condition 'end=5': time 10 min is not recorded", _one_line(capsys))


def test_a_file_without_cells_has_no_mean(tmp_path, monkeypatch, capsys):
    """A run refused at its first block leaves 0 cells; its mean read 0 molecules (the dataset's initial
    zeros), now NaN ("-" in the table), like its SD."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, run_with("variability: {cell_size: {distribution: gamma, cv: 1.0e6}}\n"))
    assert main(RUN_ARGS) == 2
    capsys.readouterr()
    with h5py.File("out.h5") as f:
        assert f["conditions/default"].attrs["cells_done"] == 0
        assert np.isnan(f["conditions/default/mean"][...]).all()
    assert main(["summarize", "out.h5"]) == 0
    row = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("default")][0]
    assert row[3:5] == ["-", "-"] and row[-1] == "0", row


def test_recording_only_observables(tmp_path, monkeypatch, capsys):
    """``record: [twice]`` (no species) divided by zero sizing the species' chunks: a traceback."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, run_with("method: ode\nrecord: [twice]\n",
                              MODEL.replace("reactions:", "expressions:\n  twice: 2 * X\nreactions:")))
    assert main(RUN_ARGS) == 0
    cond = stochins.open_results("out.h5")["default"]
    assert cond.species == [] and cond.observables == ["twice"]
    assert cond["twice"].shape == (3, 6) and np.all(cond["twice"][:, 0] == 40)
    with h5py.File("out.h5") as f:
        assert f["conditions/default/trajectories"].shape == (3, 6, 0)
    capsys.readouterr()
    assert main(["summarize", "out.h5"]) == 0 and "twice" in capsys.readouterr().out
    if importlib.util.find_spec("matplotlib"):  # the report took sp[0] of no species: IndexError
        assert main(["report", "out.h5", "-o", "r.html"]) == 2
        assert "records only observables (twice)" in _one_line(capsys)


def test_figure_format_matplotlib_cannot_write(sweep, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["plot", str(sweep), "-o", str(tmp_path / "fig.xyz")]) == 2
    assert re.search(r"fig\.xyz: cannot write a figure as '\.xyz' \(formats: .*png", _one_line(capsys))
    assert not (tmp_path / "fig.xyz").exists()
    assert main(["report", str(sweep), "-o", str(tmp_path), "--boot", "2"]) == 2
    assert "cannot write the report (Is a directory)" in _one_line(capsys)
