"""The ``stochins`` command line: bad run files fail cleanly, good ones run, results can be inspected.

Every malformed run file must give exit status 2, exactly one line on stderr starting with
``stochins: error:`` that names the key or the problem, no traceback, and no output file. Most
tests call ``stochins.cli.main`` in-process (fast); one runs the installed command as a real
process. A tiny birth-death model with an input keeps every simulation well under a second.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import stochins
from stochins.cli import main
from stochins.engine.methods import method_names

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))

MODEL = """\
name: birth_death
description: tiny birth-death process driven by an input
species:
  X: 20
parameters:
  k: 0.1
  mu: 0.1
inputs:
  signal: 0.0
reactions:
  birth: {equation: "0 -> X", propensity: "20 * k * (1 + signal)"}
  death: {equation: "X -> 0", rate: mu}
"""

GOOD = """\
model: bd.yaml
cells: 3
seed: 7
method: ssa
time: {start: 0, end: 10, samples: 6}
inputs:
  signal: {protocol: step, dose: 1, start: 2}
record: [X]
"""


# ---------------------------------------------------------------------- helpers
@pytest.fixture
def work(tmp_path, monkeypatch):
    """A fresh working directory holding the tiny model (outputs land here too)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bd.yaml").write_text(MODEL)
    return tmp_path


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run the command in-process: (exit status, stdout, stderr)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: --help, usage errors
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_error(err: str, pattern: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("stochins: error:"), line
    assert re.search(pattern, line), f"{pattern!r} not found in {line!r}"
    return line


def assert_no_output(directory: Path) -> None:
    """No results file (nor a half-written one) was left behind; none claims to be complete."""
    leftovers = [p for p in directory.rglob("*") if p.suffix in (".h5", ".partial")]
    for p in leftovers:
        with h5py.File(p, "r") as f:
            assert not f.attrs.get("complete"), f"{p} claims to be complete"
    assert not leftovers, f"output files left behind: {leftovers}"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


STEP = "{protocol: step, dose: 1, start: 2}"

# (id, run-file text, regex the single error line must match)
MALFORMED = [
    ("unknown-top-level-key", sub(GOOD, "cells:", "cell:"), r"unknown key 'cell'.*did you mean 'cells'"),
    ("unknown-nested-key", sub(GOOD, "end: 10", "ends: 10"), r"unknown key 'time\.ends'.*did you mean 'end'"),
    ("wrong-type", sub(GOOD, "cells: 3", "cells: many"), r"'cells'.*integer.*many"),
    ("negative-cells", sub(GOOD, "cells: 3", "cells: -5"), r"'cells'.*greater than or equal to 1.*-5"),
    ("zero-samples", sub(GOOD, "samples: 6", "samples: 0"), r"'time\.samples'.*greater than or equal to 1"),
    ("end-before-start", sub(GOOD, "start: 0, end: 10", "start: 5, end: 1"), r"'time'.*(empty|decreasing)"),
    ("end-equals-start", sub(GOOD, "end: 10", "end: 0"), r"'time'.*(empty|decreasing)"),
    ("non-finite-end", sub(GOOD, "end: 10", "end: .inf"), r"'time'.*finite"),
    ("unknown-record-species", sub(GOOD, "record: [X]", "record: [X, Y]"), r"record: unknown species 'Y'"),
    ("record-not-a-list", sub(GOOD, "record: [X]", "record: X"), r"'record'.*list"),
    ("unknown-model-parameter", GOOD + "model_parameters: {kk: 1.0}\n",
     r"model_parameters.*unknown parameter 'kk'.*did you mean 'k'"),
    ("non-numeric-model-parameter", GOOD + "model_parameters: {k: fast}\n", r"'model_parameters\.k'.*number"),
    ("unknown-input", sub(GOOD, "signal:", "insulin:"), r"inputs\.insulin.*no input 'insulin'.*signal"),
    ("negative-pulse-dose", sub(GOOD, STEP, "{protocol: pulse, dose: -1, duration: 2}"),
     r"inputs\.signal.*non-negative.*-1"),
    ("zero-length-pulse", sub(GOOD, STEP, "{protocol: pulse, dose: 1, duration: 0}"),
     r"inputs\.signal\.duration.*positive"),
    ("unordered-piecewise", sub(GOOD, STEP, "{protocol: piecewise, table: [[0, 1], [5, 2], [3, 0]]}"),
     r"inputs\.signal\.table.*increasing"),
    ("unknown-protocol", sub(GOOD, "protocol: step", "protocol: stair"), r"inputs\.signal\.protocol.*'stair'"),
    ("unknown-protocol-key", sub(GOOD, "start: 2}", "begin: 2}"), r"inputs\.signal\.begin.*unknown key"),
    ("input-not-a-schedule", sub(GOOD, STEP, "lots"),
     r"'inputs\.signal'.*number, a table.*protocol mapping.*'lots'"),
    ("missing-model-file", sub(GOOD, "bd.yaml", "nothere.yaml"), r"nothere\.yaml.*(cannot read|no such)"),
    ("unknown-builtin-model", sub(GOOD, "bd.yaml", "sedaghat2003"),
     r"sedaghat2003.*no built-in model.*sedaghat2002"),
    ("malformed-model-file", sub(GOOD, "bd.yaml", "broken_model.yaml"), r"broken_model\.yaml.*'Q Q'"),
    ("invalid-yaml", GOOD + "output: {path: [unclosed\n", r"not valid YAML at line \d+"),
    ("not-a-mapping", "- model\n- time\n", r"must be a mapping"),
    ("empty-file", "", r"must be a mapping"),
    ("missing-time", sub(GOOD, "time: {start: 0, end: 10, samples: 6}\n", ""), r"missing required key 'time'"),
    ("missing-model", sub(GOOD, "model: bd.yaml\n", ""), r"missing required key 'model'"),
    ("method-foo", sub(GOOD, "method: ssa", "method: foo"), r"'method'.*'ssa'.*'ode'.*'foo'"),
    ("method-tau-leaping", sub(GOOD, "method: ssa", "method: tau-leaping"), r"'method'.*'tau'.*'tau-leaping'"),
    ("tau-unknown-option", sub(GOOD, "method: ssa", "method: tau\ntau: {epsilonn: 0.03}"),
     r"tau\.epsilonn.*unknown option.*epsilon"),
    ("tau-bad-epsilon", sub(GOOD, "method: ssa", "method: tau\ntau: {epsilon: 2}"), r"tau\.epsilon.*2"),
    ("negative-seed", sub(GOOD, "seed: 7", "seed: -1"), r"'seed'.*greater than or equal to 0"),
    ("bad-compression", GOOD + "output: {compression: zip}\n", r"'output\.compression'.*'zip'"),
    ("bad-trajectories", GOOD + "output: {trajectories: some}\n",
     r"'output\.trajectories'.*'all', 'none' or a non-negative number"),
    ("internal-key-base-dir", GOOD + "base_dir: /tmp\n", r"unknown key 'base_dir'"),
    ("sweep-through-number", sub(GOOD, STEP, "2") + "sweep: {inputs.signal.dose: [1, 2]}\n",
     r"sweep key 'inputs\.signal\.dose'.*'inputs\.signal' is not a mapping"),
    ("sweep-through-scalar-key", GOOD + "sweep: {time.end.value: [1, 2]}\n",
     r"sweep key 'time\.end\.value'.*'time\.end' is not a mapping"),
    ("sweep-shared-key", GOOD + "sweep: {cells: [1, 2]}\n", r"'cells' cannot be swept"),
    ("sweep-no-values", GOOD + "sweep: {inputs.signal.dose: []}\n", r"'inputs\.signal\.dose' has no values"),
    ("sweep-not-a-list", GOOD + "sweep: {model_parameters.k: 0.1}\n", r"'sweep\.model_parameters\.k'.*list"),
    ("sweep-bad-value", GOOD + "sweep: {inputs.signal.dose: [1, -1]}\n",
     r"condition dose=-1.*inputs\.signal.*non-negative"),
    ("sweep-unknown-parameter", GOOD + "sweep: {model_parameters.kk: [1, 2]}\n", r"unknown parameter 'kk'"),
    ("sweep-typo-top-level", GOOD + "sweep: {modle_parameters.k: [1, 2]}\n",
     r"unknown key 'modle_parameters'.*did you mean 'model_parameters'"),
    ("sweep-zip-unequal", GOOD + "sweep: {inputs.signal.dose: [1, 2], model_parameters.k: [0.1]}\nsweep_mode: zip\n",
     r"zip.*equal length"),
    ("sweep-mode-bad", GOOD + "sweep: {inputs.signal.dose: [1, 2]}\nsweep_mode: cross\n", r"'sweep_mode'.*'cross'"),
]
assert len(MALFORMED) >= 14
#: errors found while loading the model: the line names the model (file), not yet the run file
NAMED_BY_MODEL = {"missing-model-file", "unknown-builtin-model", "malformed-model-file"}


# ---------------------------------------------------------------------- malformed run files
@pytest.mark.parametrize("verb", ["run", "validate"])
@pytest.mark.parametrize("case,text,pattern", [pytest.param(i, t, p, id=i) for i, t, p in MALFORMED])
def test_malformed_run_file(work, capsys, verb, case, text, pattern):
    (work / "broken_model.yaml").write_text("name: broken\nspecies: {X: 1}\nreactions:\n"
                                            "  r: {equation: 'X -> Q Q', rate: 1}\n")
    (work / "bad.yaml").write_text(text)
    status, out, err = cli(capsys, verb, "bad.yaml")
    assert status == 2, (out, err)
    assert out == ""
    line = assert_one_error(err, pattern)
    if case not in NAMED_BY_MODEL:  # the line names the run file it is about
        assert "bad.yaml" in line, line
    assert_no_output(work)


def test_malformed_model_error_names_the_model_file(work, capsys):
    (work / "m.yaml").write_text(MODEL.replace("rate: mu", "rate: nu"))
    (work / "bad.yaml").write_text(sub(GOOD, "bd.yaml", "m.yaml"))
    status, _, err = cli(capsys, "run", "bad.yaml")
    assert status == 2
    assert_one_error(err, r"m\.yaml.*'nu'")
    assert_no_output(work)


@pytest.mark.parametrize("args,pattern", [
    (["--cells", "0"], r"'cells'.*greater than or equal to 1"),
    (["--seed", "-3"], r"'seed'.*greater than or equal to 0"),
    (["--threads", "0"], r"'threads'.*greater than or equal to 1"),
])
def test_bad_command_line_overrides(work, capsys, args, pattern):
    (work / "good.yaml").write_text(GOOD)
    status, out, err = cli(capsys, "run", "good.yaml", *args)
    assert status == 2 and out == ""
    assert_one_error(err, pattern)
    assert_no_output(work)


def test_missing_run_file(work, capsys):
    status, _, err = cli(capsys, "run", "nope.yaml")
    assert status == 2
    assert_one_error(err, r"nope\.yaml.*cannot read")
    assert_no_output(work)


def test_usage_error_is_one_line(work, capsys):
    (work / "good.yaml").write_text(GOOD)
    status, _, err = cli(capsys, "run", "good.yaml", "--cells", "lots")
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--cells" in lines[0] and "Traceback" not in err
    status, _, err = cli(capsys, "frobnicate")
    assert status == 2 and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------- existing outputs, resume
def test_complete_output_is_not_replaced_without_overwrite(work, capsys):
    (work / "good.yaml").write_text(GOOD)
    status, out, _ = cli(capsys, "run", "good.yaml", "-q")
    assert status == 0
    path = work / "results" / "good.h5"  # default output.path: results/{name}.h5
    assert path.exists()
    before = digest(path)

    for extra in ([], ["--seed", "8"], ["--cells", "4"]):
        status, out, err = cli(capsys, "run", "good.yaml", "-q", *extra)
        assert status == 2 and out == ""
        assert_one_error(err, r"good\.h5.*exists and is complete.*--overwrite")
        assert digest(path) == before

    status, _, err = cli(capsys, "run", "good.yaml", "-q", "--resume")
    assert status == 2
    assert_one_error(err, r"good\.h5.*already complete.*nothing to resume")
    assert digest(path) == before

    status, _, _ = cli(capsys, "run", "good.yaml", "-q", "--overwrite", "--cells", "4")
    assert status == 0
    assert stochins.open_results(path)["default"].trajectories.shape == (4, 6, 1)


def test_resume_with_nothing_to_resume(work, capsys):
    (work / "good.yaml").write_text(GOOD)
    status, out, err = cli(capsys, "run", "good.yaml", "-q", "--resume", "-o", "fresh.h5")
    assert status == 2 and out == ""
    assert_one_error(err, r"fresh\.h5.*nothing to resume")
    assert_no_output(work)


def test_interrupted_run_needs_resume_and_resume_finishes_it(work, capsys, monkeypatch):
    from stochins.executors.local import LocalExecutor

    (work / "good.yaml").write_text(GOOD + "block_size: 1\n")
    real_map = LocalExecutor.map

    def interrupted_map(self, plan, blocks, check=None):  # Ctrl-C after the first block of cells
        it = real_map(self, plan, blocks, check)
        yield next(it)
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalExecutor, "map", interrupted_map)
    status, _, err = cli(capsys, "run", "good.yaml", "-q", "-o", "out.h5")
    assert status == 130
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "--resume" in err
    r = stochins.open_results("out.h5")
    assert not r.complete and r["default"].cells_done == 1
    monkeypatch.setattr(LocalExecutor, "map", real_map)

    status, _, err = cli(capsys, "run", "good.yaml", "-q", "-o", "out.h5")
    assert status == 2
    assert_one_error(err, r"out\.h5.*incomplete.*--resume")
    status, _, err = cli(capsys, "run", "good.yaml", "-q", "-o", "out.h5", "--resume")
    assert status == 0, err
    r = stochins.open_results("out.h5")
    assert r.complete and r["default"].cells_done == 3
    ref = stochins.simulate("bd.yaml", cells=3, t_end=10, samples=6, seed=7, record=["X"],
                            inputs={"signal": {"protocol": "step", "dose": 1, "start": 2}})
    np.testing.assert_array_equal(r["default"].trajectories, ref.trajectories)


def test_simulation_failure_exits_1_with_one_line(work, capsys):
    # the birth propensity turns negative mid-run (a negative one at the start is refused before the run)
    (work / "neg.yaml").write_text(GOOD + 'events: {flip: {trigger: "t >= 5", assign: {k: -1}}}\n')
    assert cli(capsys, "validate", "neg.yaml")[0] == 0  # valid as a file; fails only when simulated
    status, out, err = cli(capsys, "run", "neg.yaml", "-q", "-o", "neg.h5")
    assert status == 1 and out == ""
    assert_one_error(err, r"cell \d+.*'birth'.*negative")
    assert not stochins.open_results("neg.h5").complete


METHODS = method_names()


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_from_a_run_file(work, capsys, method):
    (work / "m.yaml").write_text(sub(GOOD, "method: ssa", f"method: {method}"))
    status, out, err = cli(capsys, "run", "m.yaml", "-q", "-o", "m.h5")
    assert status == 0, err
    r = stochins.open_results("m.h5")
    assert r.complete and r.attrs["method"] == method
    traj = r["default"].trajectories
    assert traj.shape == (3, 6, 1) and np.isfinite(traj).all() and (traj >= 0).all()


# ---------------------------------------------------------------------- validate, models, help, info
def test_validate_good_run_file(work, capsys):
    (work / "good.yaml").write_text(GOOD)
    status, out, err = cli(capsys, "validate", "good.yaml")
    assert status == 0 and err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert re.match(r"good\.yaml: ok\b", lines[0]), lines[0]
    assert "birth_death" in lines[0] and "3 cells" in lines[0] and "results/good.h5" in lines[0]
    assert_no_output(work)  # validating never simulates or writes


def test_models_lists_builtins_with_descriptions(capsys):
    status, out, err = cli(capsys, "models")
    assert status == 0 and err == ""
    rows = {line.split()[0]: line.split(None, 1)[1] if len(line.split()) > 1 else ""
            for line in out.strip().splitlines()}
    for name in ("sedaghat2002", "sedaghat2002_feedback"):
        assert name in rows
        assert len(rows[name].strip()) > 10, f"{name} has no description"
        assert rows[name].strip() == stochins.builtin_models()[name]


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["validate", "--help"], ["info", "--help"],
                                  ["models", "--help"], ["--version"]])
def test_help_exits_zero(capsys, argv):
    status, out, _ = cli(capsys, *argv)
    assert status == 0
    assert out.strip()
    if argv == ["--help"]:
        for verb in ("run", "validate", "info", "models"):
            assert verb in out
    if argv == ["run", "--help"]:
        for option in ("--output", "--cells", "--seed", "--resume", "--overwrite"):
            assert option in out


def test_info_on_a_finished_run(work, capsys):
    (work / "good.yaml").write_text(GOOD.replace("record: [X]\n", ""))
    assert cli(capsys, "run", "good.yaml", "-q", "-o", "out.h5")[0] == 0
    status, out, err = cli(capsys, "info", "out.h5")
    assert status == 0 and err == ""
    assert re.search(r"out\.h5: complete", out)
    assert "birth_death" in out and "ssa" in out and "seed 7" in out
    assert re.search(r"condition default: 3/3 cells", out)
    assert re.search(r"species: X\b", out)


def test_info_shows_sweep_conditions(work, capsys):
    (work / "s.yaml").write_text(GOOD + "sweep: {inputs.signal.dose: [1, 2]}\n")
    assert cli(capsys, "run", "s.yaml", "-q", "-o", "s.h5")[0] == 0
    status, out, _ = cli(capsys, "info", "s.h5")
    assert status == 0
    assert re.search(r"condition dose=1: 3/3 cells.*inputs\.signal\.dose=1", out)
    assert re.search(r"condition dose=2: 3/3 cells.*inputs\.signal\.dose=2", out)


@pytest.mark.parametrize("content", [b"this is not HDF5\n", b""], ids=["text", "empty"])
def test_info_on_a_non_hdf5_file(work, capsys, content):
    (work / "x.h5").write_bytes(content)
    status, out, err = cli(capsys, "info", "x.h5")
    assert status == 2 and out == ""
    assert_one_error(err, r"x\.h5")


def test_info_on_foreign_hdf5_and_missing_file(work, capsys):
    with h5py.File(work / "foreign.h5", "w") as f:
        f["data"] = np.arange(3)
    status, _, err = cli(capsys, "info", "foreign.h5")
    assert status == 2
    assert_one_error(err, r"foreign\.h5.*not a stochins results file")
    status, _, err = cli(capsys, "info", "missing.h5")
    assert status == 2
    assert_one_error(err, r"missing\.h5.*no such")


# ---------------------------------------------------------------------- shipped configs
@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_shipped_config_validates_and_runs_small(config, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err = cli(capsys, "validate", config)
    assert status == 0, err
    assert len(out.strip().splitlines()) == 1 and ": ok" in out

    status, out, err = cli(capsys, "run", config, "--cells", "3", "-o", tmp_path / "small.h5", "-q")
    assert status == 0, err
    r = stochins.open_results(tmp_path / "small.h5")
    assert r.complete
    assert r.conditions
    for cond in r:
        assert cond.cells_done == 3
        assert cond.trajectories.shape[0] in (0, 3)
        assert np.isfinite(cond.mean).all()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / "small.h5"]


def test_there_are_shipped_configs():
    assert any(c.name == "quickstart.yaml" for c in CONFIGS)


# ---------------------------------------------------------------------- sweeps
SWEEP = GOOD.replace("cells: 3", "cells: 8") + textwrap.dedent("""\
    sweep:
      inputs.signal.dose: [1, 2]
      model_parameters.k: [0.1, 0.2]
    """)


def _check_conditions_match_simulate(path: Path, expected: dict[str, tuple[float, float]]) -> None:
    r = stochins.open_results(path)
    assert r.complete
    assert r.conditions == list(expected)
    seed = int(r.attrs["seed"])
    assert seed == 7
    distinct = set()
    for name, (dose, k) in expected.items():
        cond = r[name]
        assert cond.settings["inputs.signal.dose"] == dose
        assert cond.settings["model_parameters.k"] == k
        assert cond.cells_done == 8
        ref = stochins.simulate("bd.yaml", cells=8, t_start=0, t_end=10, samples=6, seed=seed,
                                inputs={"signal": {"protocol": "step", "dose": dose, "start": 2}},
                                record=["X"], model_parameters={"k": k})
        np.testing.assert_array_equal(cond.time, ref.time)
        assert cond.species == ref.species
        traj = cond.trajectories
        assert traj.dtype == ref.trajectories.dtype
        np.testing.assert_array_equal(traj, ref.trajectories, err_msg=name)
        distinct.add(traj.tobytes())
    assert len(distinct) == len(expected)  # each condition has its own cells


def test_sweep_product(work, capsys):
    (work / "sweep.yaml").write_text(SWEEP)
    status, out, err = cli(capsys, "validate", "sweep.yaml")
    assert status == 0 and "4 condition(s)" in out
    status, _, err = cli(capsys, "run", "sweep.yaml", "-q", "-o", "sweep.h5")
    assert status == 0, err
    _check_conditions_match_simulate(work / "sweep.h5", {
        "dose=1,k=0.1": (1, 0.1), "dose=1,k=0.2": (1, 0.2), "dose=2,k=0.1": (2, 0.1), "dose=2,k=0.2": (2, 0.2)})


def test_sweep_zip(work, capsys):
    (work / "zip.yaml").write_text(SWEEP + "sweep_mode: zip\n")
    status, out, err = cli(capsys, "validate", "zip.yaml")
    assert status == 0 and "2 condition(s)" in out
    status, _, err = cli(capsys, "run", "zip.yaml", "-q", "-o", "zip.h5")
    assert status == 0, err
    _check_conditions_match_simulate(work / "zip.h5", {"dose=1,k=0.1": (1, 0.1), "dose=2,k=0.2": (2, 0.2)})


def test_unswept_run_matches_simulate(work, capsys):
    (work / "one.yaml").write_text(GOOD)
    assert cli(capsys, "run", "one.yaml", "-q", "-o", "one.h5")[0] == 0
    ref = stochins.simulate("bd.yaml", cells=3, t_end=10, samples=6, seed=7, record=["X"],
                            inputs={"signal": {"protocol": "step", "dose": 1, "start": 2}})
    np.testing.assert_array_equal(stochins.open_results("one.h5")["default"].trajectories, ref.trajectories)


# ---------------------------------------------------------------------- the installed command
def _command() -> list[str]:
    script = Path(sys.executable).with_name("stochins")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stochins.cli"]


def test_installed_command_runs_in_a_real_process(work):
    (work / "good.yaml").write_text(GOOD)
    p = subprocess.run(_command() + ["run", "good.yaml", "-q", "-o", "proc.h5"], cwd=work,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r = stochins.open_results(work / "proc.h5")
    assert r.complete and r["default"].trajectories.shape == (3, 6, 1)

    (work / "bad.yaml").write_text(sub(GOOD, "cells:", "cell:"))
    p = subprocess.run(_command() + ["run", "bad.yaml"], cwd=work, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert_one_error(p.stderr, r"unknown key 'cell'.*did you mean 'cells'")
