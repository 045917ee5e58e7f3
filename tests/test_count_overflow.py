"""Counts beyond int32 (issue 14): predicted from conservation laws where they allow it (the run then
records int64 and says so), reported with cell, species and time where they do not."""

from __future__ import annotations

import textwrap

import h5py
import numpy as np
import pytest

import stochins
from stochins.cli import main
from stochins.conservation import INT32_MAX, _unbounded, count_bounds, wide_species

# A <-> B conserve A + B (bounded by the initial A); C is fed by a source (no bound)
MODEL = """
name: wide_counts
species: {A: n0, B: 0, C: c0}
parameters: {n0: 10, c0: 0, k: 1.0e-6, s: 1000.0}
reactions:
  convert: {equation: "A -> B", rate: k}
  back: {equation: "B -> A", rate: k}
  source: {equation: "0 -> C", rate: s}
"""

RUN = """
model: model.yaml
model_parameters: {overrides}
cells: 3
seed: 1
time: {{end: 2, samples: 5}}
threads: 1
"""


def test_conservation_bounds_on_a_small_network():
    # A + B -> C, C -> A + B, 2 D -> E, 0 -> F: A+C and B+C are conserved, D+2E too, F is unbounded
    change = np.array([[-1, -1, 1, 0, 0, 0], [1, 1, -1, 0, 0, 0], [0, 0, 0, -2, 1, 0], [0, 0, 0, 0, 0, 1]])
    x0 = np.array([5, 3, 1, 7, 0, 2])
    assert count_bounds(change, x0, np.arange(6)).tolist() == [6, 4, 4, 7, 3, np.inf]


def test_the_fast_analysis_agrees_with_one_programme_per_species(tmp_path, monkeypatch):
    """wide_species (two programmes, usually, whose certificate is cached per network) against count_bounds
    (one per species) on random networks whose bounds fall on both sides of int32: each network twice, the
    second time at other initial counts, answered from the first call's cached certificate."""
    monkeypatch.setenv("STOCHINS_CACHE_DIR", str(tmp_path))  # a cold cache: the first call proves, the second reads
    rng = np.random.default_rng(7)
    wide_seen = unbounded_seen = 0
    for _ in range(150):
        s, m = rng.integers(2, 7), rng.integers(1, 8)
        change = rng.integers(-2, 3, size=(m, s)) * (rng.random((m, s)) < 0.5)
        species = np.arange(s)
        for _ in range(2):
            x0 = rng.integers(0, 3, size=s) * rng.choice([10, 10**9], size=s)
            naive = count_bounds(change, x0, species)
            assert np.array_equal(_unbounded(change, species), ~np.isfinite(naive))
            expected = [(f"S{i}", b) for i, b in enumerate(naive) if np.isfinite(b) and b > INT32_MAX]
            assert wide_species(change, x0, species, [f"S{i}" for i in range(s)]) == expected
            wide_seen += bool(expected)
            unbounded_seen += bool(np.isinf(naive).any())
    assert wide_seen >= 10 and unbounded_seen >= 10  # both branches were exercised


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("overflow")
    (d / "model.yaml").write_text(textwrap.dedent(MODEL), encoding="utf-8")
    return d


def test_an_unforeseeable_overflow_names_cell_species_and_time(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    (workdir / "over.yaml").write_text(RUN.format(overrides="{c0: 2147483000}"), encoding="utf-8")
    assert main(["run", "over.yaml", "-q", "-o", "over.h5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert "cell 0" in err[0] and "species 'C' exceeded the int32 range" in err[0] and "at time 1" in err[0], err
    assert not stochins.open_results("over.h5").complete


def test_a_conservation_bound_beyond_int32_runs_in_int64_and_says_so(workdir):
    (workdir / "wide.yaml").write_text(RUN.format(overrides="{n0: 3000000000}"), encoding="utf-8")
    lines = []
    out = stochins.run(workdir / "wide.yaml", output=workdir / "wide.h5", progress=False, log=lines.append)
    notices = [line for line in lines if "int64" in line]
    assert len(notices) == 1 and "'A' (up to 3,000,000,000)" in notices[0], lines
    with h5py.File(out, "r") as f:
        g = f["conditions/default"]
        assert g.attrs["counts"] == "int64" and "'B'" in g.attrs["counts_reason"]
        traj = g["trajectories"][...]
    assert traj.dtype == np.int64 and (traj[:, :, 0] + traj[:, :, 1] == 3_000_000_000).all()
    assert traj[:, -1, 1].min() > 0  # B was made from A


def test_counts_within_int32_stay_int32(workdir):
    (workdir / "small.yaml").write_text(RUN.format(overrides="{n0: 100}"), encoding="utf-8")
    out = stochins.run(workdir / "small.yaml", output=workdir / "small.h5", progress=False)
    with h5py.File(out, "r") as f:
        assert f["conditions/default/trajectories"].dtype == np.int32
        assert "counts" not in f["conditions/default"].attrs
