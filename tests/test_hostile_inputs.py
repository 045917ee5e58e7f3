"""Malformed and hostile inputs through the command line (issue 14): every one is exit status 2, one
line on stderr, no traceback, within seconds, and no output file that claims to be complete.

Each case is a few files written into a fresh directory and a command line. The cases are the ones
an adversary (or an unlucky user) found: names that collide with generated code, output templates
that ``str.format`` would evaluate, constant folding that never ends, schedules and grids that fill
the memory before anything runs, files that are not text, outputs that would overwrite the inputs,
and scheduler addresses that are wrong or unreachable. Everything runs in-process except nothing:
no case may simulate.
"""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import pytest

import stochins
from stochins.cli import main

MODEL = """\
name: birth_death
species:
  X: 20
parameters:
  k: 2.0
  mu: 0.1
inputs:
  signal: 0.0
reactions:
  birth: {equation: "0 -> X", propensity: "k * (1 + signal)"}
  death: {equation: "X -> 0", rate: mu}
"""

RUN = """\
model: bd.yaml
cells: 3
seed: 7
time: {start: 0, end: 10, samples: 6}
"""

SBML_1E30 = (Path(__file__).parent / "data" / "sbml" / "00001-sbml-l3v1.xml").read_text(encoding="utf-8").replace(
    'initialAmount="100"', 'initialAmount="1e30"')


def model_with(extra: str = "", species: str = "", parameters: str = "") -> str:
    """The model with extra lines in its species, parameters or reactions sections."""
    text = MODEL
    if species:
        text = text.replace("  X: 20\n", f"  X: 20\n{species}\n")
    if parameters:
        text = text.replace("  mu: 0.1\n", f"  mu: 0.1\n{parameters}\n")
    return text + extra


def run_with(extra: str) -> dict:
    return {"bd.yaml": MODEL, "run.yaml": RUN + extra}


def model_case(**kw) -> dict:
    return {"bd.yaml": model_with(**kw), "run.yaml": RUN}


def stochins_file_without_groups(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "stochins"
        f.attrs["format_version"] = 1


RUN_ARGS = ["run", "run.yaml", "-q", "-o", "out.h5"]

# id: (files, argv, pattern the one line must match)
CASES = {
    # files that are not text
    "binary_run_file": ({"bd.yaml": MODEL, "run.yaml": b"\x89HDF\r\n\x1a\n\xff\xfe\x00\x01"}, RUN_ARGS, r"UTF-8|text"),
    "nul_bytes_in_run_file": ({"bd.yaml": MODEL, "run.yaml": RUN + "\x00\n"}, RUN_ARGS, r"NUL|text"),
    "latin1_model_file": ({"bd.yaml": ("# caf\xe9\n" + MODEL).encode("latin-1"), "run.yaml": RUN}, RUN_ARGS,
                          r"bd\.yaml.*UTF-8"),
    "run_file_is_a_directory": ({"bd.yaml": MODEL, "run.yaml/x": "x"}, RUN_ARGS, r"run\.yaml"),
    # output templates: only {name}
    "template_positional": (run_with('output: {path: "{0}.h5"}\n'), ["run", "run.yaml", "-q"], r"output\.path.*\{0\}"),
    "template_typo": (run_with('output: {path: "{nam}.h5"}\n'), ["run", "run.yaml", "-q"], r"\{nam\}.*did you mean"),
    "template_unclosed": (run_with('output: {path: "{name.h5"}\n'), ["run", "run.yaml", "-q"], r"output\.path"),
    "template_attribute": (run_with('output: {path: "{name.__class__}.h5"}\n'), ["run", "run.yaml", "-q"],
                           r"output\.path.*__class__"),
    "template_conversion": (run_with('output: {path: "{name!r}.h5"}\n'), ["run", "run.yaml", "-q"], r"output\.path"),
    "template_lone_brace": (run_with('output: {path: "out}.h5"}\n'), ["run", "run.yaml", "-q"], r"output\.path"),
    "template_in_validate": (run_with('output: {path: "{0}.h5"}\n'), ["validate", "run.yaml"], r"output\.path"),
    "name_too_long": (run_with(f'output: {{path: "{"n" * 300}.h5"}}\n'), ["run", "run.yaml", "-q"],
                      r"longer than file systems allow"),
    "name_too_long_in_validate": (run_with(f'name: {"n" * 300}\n'), ["validate", "run.yaml"], r"longer than"),
    "empty_output_path": (run_with('output: {path: " "}\n'), ["run", "run.yaml", "-q"], r"output\.path"),
    # outputs that would replace an input, or cannot be written
    "output_is_a_directory": ({"bd.yaml": MODEL, "run.yaml": RUN, "outdir/keep": "x"},
                              ["run", "run.yaml", "-q", "-o", "outdir", "--overwrite"], r"is a directory"),
    "output_is_the_run_file": ({"bd.yaml": MODEL, "run.yaml": RUN},
                               ["run", "run.yaml", "-q", "-o", "run.yaml", "--overwrite"], r"run file"),
    "output_is_the_model_file": ({"bd.yaml": MODEL, "run.yaml": RUN},
                                 ["run", "run.yaml", "-q", "-o", "bd.yaml", "--overwrite"], r"model file"),
    "output_directory_not_creatable": ({"bd.yaml": MODEL, "run.yaml": RUN, "blocker": "a file"},
                                       ["run", "run.yaml", "-q", "-o", "blocker/out.h5"], r"blocker"),
    # names that collide with Python or with the generated code
    "species_class": (model_case(species="  class: 5"), RUN_ARGS, r"'class' is reserved.*keyword"),
    "species_lambda": (model_case(species="  lambda: 5"), RUN_ARGS, r"'lambda' is reserved"),
    "species_def": (model_case(species="  def: 5"), RUN_ARGS, r"'def' is reserved"),
    "species_inv": (model_case(species="  __inv__: 5"), RUN_ARGS, r"'__inv__' is reserved.*internal"),
    "parameter_size": (model_case(parameters="  __size__: 1.0"), RUN_ARGS, r"'__size__' is reserved"),
    "parameter_hoisted_name": (model_case(parameters="  __d0: 1.0"), RUN_ARGS, r"'__d0' is reserved"),
    "parameter_none": (model_case(parameters="  None: 1.0"), RUN_ARGS, r"'None' is reserved"),
    # expressions that never finish folding, or overflow
    "tower_of_tens": (model_case(extra='  p: {equation: "0 -> X", propensity: "10 ** 10 ** 10"}\n'), RUN_ARGS,
                      r"overflows"),
    "tower_of_nines": (model_case(extra='  p: {equation: "0 -> X", propensity: "k * 9 ** 9 ** 9"}\n'), RUN_ARGS,
                       r"overflows"),
    "infinite_propensity": (model_case(extra='  p: {equation: "0 -> X", propensity: "1e308 * 10 * k"}\n'), RUN_ARGS,
                            r"'p'.*inf"),
    "expression_too_long": (model_case(extra='  p: {equation: "0 -> X", propensity: "' + "+".join(["k"] * 60000)
                                             + '"}\n'), RUN_ARGS, r"characters"),
    "nested_too_deeply": (model_case(extra='  p: {equation: "0 -> X", propensity: "' + "(" * 500 + "k"
                                           + ")" * 500 + '"}\n'), RUN_ARGS, r"'p'"),
    "initial_count_1e30": (model_case(species="  Y: 1.0e30"), RUN_ARGS, r"'Y'.*more than stochins counts"),
    "sbml_amount_1e30": ({"m.xml": SBML_1E30, "run.yaml": RUN.replace("bd.yaml", "m.xml")}, RUN_ARGS,
                         r"'X'.*more than stochins counts"),
    # sizes that would fill the memory or the disk before anything runs
    "ramp_steps_1e8": (run_with("inputs: {signal: {protocol: ramp, from: 0, to: 1, start: 0, duration: 5, "
                                "steps: 1.0e8}}\n"), RUN_ARGS, r"steps"),
    "pulse_count_1e8": (run_with("inputs: {signal: {protocol: pulses, dose: 1, period: 1, width: 0.5, "
                                 "count: 1.0e8}}\n"), RUN_ARGS, r"count"),
    "samples_1e7": ({"bd.yaml": MODEL, "run.yaml": RUN.replace("samples: 6", "samples: 1.0e7")}, RUN_ARGS,
                    r"time\.samples"),
    "sweep_of_a_million": (run_with("sweep:\n  model_parameters.k: [" + ", ".join(str(i + 1.0) for i in range(1000))
                                    + "]\n  model_parameters.mu: [" + ", ".join(str(i + 1.0) for i in range(1000))
                                    + "]\n"), RUN_ARGS, r"1,000,000 conditions"),
    # cell sizes that can be 0
    "cell_size_uniform_from_0": (run_with("variability: {cell_size: {distribution: uniform, low: 0, high: 2}}\n"),
                                 RUN_ARGS, r"cell_size.*positive"),
    "cell_size_list_with_0": (run_with("variability: {cell_size: {distribution: list, values: [1, 0]}}\n"),
                              RUN_ARGS, r"cell_size.*positive"),
    "cell_size_mean_0": (run_with("variability: {cell_size: {distribution: lognormal, mean: 0, cv: 0.2}}\n"),
                         RUN_ARGS, r"cell_size.*positive"),
    # results files that are not what they claim
    "info_without_groups": ({"f.h5": stochins_file_without_groups}, ["info", "f.h5"], r"conditions"),
    "summarize_without_groups": ({"f.h5": stochins_file_without_groups}, ["summarize", "f.h5"], r"conditions"),
    "info_on_garbage": ({"f.h5": b"\x00" * 64}, ["info", "f.h5"], r"f\.h5"),
    "plot_on_garbage": ({"f.h5": b"not hdf5 at all"}, ["plot", "f.h5", "-o", "fig.png"], r"f\.h5"),
    # bad schedulers: one line within seconds, and no file left behind
    "scheduler_local_abc": ({"bd.yaml": MODEL, "run.yaml": RUN}, RUN_ARGS + ["--scheduler", "local:abc"], r"local:N"),
    "scheduler_local_0": ({"bd.yaml": MODEL, "run.yaml": RUN}, RUN_ARGS + ["--scheduler", "local:0"], r"N >= 1"),
    "scheduler_bogus": ({"bd.yaml": MODEL, "run.yaml": RUN}, RUN_ARGS + ["--scheduler", "bogus"], r"address"),
    "block_of_gigabytes": ({"bd.yaml": MODEL, "run.yaml": RUN.replace("cells: 3", "cells: 400000000")
                            + "block_size: 400000000\n"}, RUN_ARGS, r"block_size.*GiB"),
    "scheduler_unreachable": ({"bd.yaml": MODEL, "run.yaml": RUN},
                              RUN_ARGS + ["--scheduler", "tcp://127.0.0.1:9"], r"no Dask scheduler answered"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_line_and_status_2(case, tmp_path, monkeypatch, capsys):
    files, argv, pattern = CASES[case]
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    t0 = time.perf_counter()
    status = main(argv)
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, (status, err)
    assert len(lines) == 1 and lines[0].startswith("stochins: error:") and "Traceback" not in err, err
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert elapsed < 20, f"{case} took {elapsed:.1f} s"
    after = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert after == set(before), f"files appeared or vanished: {sorted(map(str, after ^ set(before)))}"
    for path, content in before.items():  # inputs untouched (-o pointing at them included)
        assert path.read_bytes() == content, path


def test_at_least_forty_cases():
    assert len(CASES) >= 40


def test_a_refused_run_leaves_no_complete_file(tmp_path, monkeypatch, capsys):
    """A run refused at block time (a drawn cell size underflows to 0) leaves at most an incomplete file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bd.yaml").write_text(MODEL, encoding="utf-8")
    (tmp_path / "run.yaml").write_text(RUN + "variability: {cell_size: {distribution: gamma, cv: 1.0e6}}\n",
                                       encoding="utf-8")
    status = main(RUN_ARGS)
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "cell size" in err, err
    assert not stochins.open_results(tmp_path / "out.h5").complete


def test_a_c_locale_reads_and_writes_utf_8(tmp_path):
    """In a process whose locale is C (e.g. after ``import COPASI``) a model with non-ASCII text still loads."""
    import subprocess
    import sys

    (tmp_path / "bd.yaml").write_text("# Ω: cell size, µm, ±\n" + MODEL, encoding="utf-8")
    (tmp_path / "run.yaml").write_text(RUN, encoding="utf-8")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("LC_", "LANG", "PYTHONUTF8"))}
    env.update({"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"})
    proc = subprocess.run([sys.executable, "-m", "stochins.cli", "validate", "run.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert proc.returncode == 0, proc.stderr
