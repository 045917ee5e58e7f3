"""Analysis: summaries equal numpy on the stored cells, EC50s are recovered, Sedaghat's dose-response
ordering holds (ODE and stochastic), and ``stochins summarize`` / ``stochins plot`` work and fail cleanly.

Two small runs are shared by the module: an ODE dose sweep of the built-in model at full size
(deterministic, ~2 s) and a tau-leaping sweep at scale 0.01 with 50 cells (~3 s).
"""

from __future__ import annotations

import importlib
import math
import textwrap

import h5py
import numpy as np
import pytest

import stochins
from stochins.analysis import AnalysisError, cv, dose_response, ec50, fano, format_table, summary_table, time_index
from stochins.cli import main
from stochins.io.hdf5 import Condition

DOSES = [0.001, 0.00316, 0.01, 0.0316, 0.1, 0.316, 1.0, 3.16, 10.0, 100.0]  # nM, held from t = 0
RECORD = ["IR_ins2_p", "IR_ins1_p", "Akt_active", "GLUT4_surface"]

SWEEP = """\
model: sedaghat2002
seed: 2002
time: {{start: 0, end: 15, samples: {samples}}}
inputs:
  insulin: {{protocol: step, dose: 1.0, start: 0}}
sweep:
  inputs.insulin.dose: {doses}
record: {record}
{extra}
"""


def _run(tmp_path_factory, name: str, **fmt) -> str:
    d = tmp_path_factory.mktemp(name)
    path = d / f"{name}.yaml"
    path.write_text(SWEEP.format(doses=DOSES, record=RECORD, **fmt))
    return str(stochins.run(path, output=d / f"{name}.h5", progress=False))


@pytest.fixture(scope="module")
def ode_sweep(tmp_path_factory) -> str:
    return _run(tmp_path_factory, "ode", samples=16, extra="method: ode\ncells: 1")


@pytest.fixture(scope="module")
def tau_sweep(tmp_path_factory) -> str:
    return _run(tmp_path_factory, "tau", samples=4,
                extra="method: tau\ncells: 50\nmodel_parameters: {scale: 0.01}")


def hill_data(doses, ec, n, bottom=40.0, top=1000.0):
    d = np.asarray(doses, dtype=float)
    return bottom + (top - bottom) / (1.0 + (ec / d) ** n)


# ---------------------------------------------------------------------- summaries
def test_summary_equals_numpy_on_the_stored_cells(tau_sweep, monkeypatch):
    r = stochins.open_results(tau_sweep)
    expected = {}
    for cond in r:
        x = cond.trajectories.astype(np.float64)  # all 50 cells are kept
        assert x.shape[0] == 50
        expected[cond.name] = (cond.species, cond.time, x)

    # the table is made from the stored summaries alone: reading trajectories would fail here
    monkeypatch.setattr(Condition, "trajectories", property(lambda self: pytest.fail("trajectories were read")))
    rows = summary_table(r)
    assert len(rows) == len(DOSES) * len(RECORD) * 4
    for row in rows:
        species, time, x = expected[row.condition]
        j, i = species.index(row.species), int(np.flatnonzero(time == row.time)[0])
        v = x[:, i, j]
        m, sd = v.mean(), v.std(ddof=1)
        assert row.cells == 50
        assert row.mean == pytest.approx(m, rel=1e-12, abs=1e-12)
        assert row.sd == pytest.approx(sd, rel=1e-9, abs=1e-12)
        q05, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95])
        assert (row.q05, row.q50, row.q95) == pytest.approx((q05, q50, q95), rel=1e-12, abs=1e-12)
        if m > 0:
            assert row.cv == pytest.approx(sd / m, rel=1e-9)
            assert row.fano == pytest.approx(sd**2 / m, rel=1e-9)
        else:
            assert math.isnan(row.cv) and math.isnan(row.fano)

    # chosen times are read at the nearest recorded time (samples every 5 min); others are refused
    some = summary_table(r, times=[14.0, 5], species=["Akt_active"])
    assert [row.time for row in some[:2]] == [15.0, 5.0] and {row.species for row in some} == {"Akt_active"}
    with pytest.raises(AnalysisError, match="not recorded"):
        summary_table(r, times=[30])
    with pytest.raises(AnalysisError, match="unknown species 'Akt'"):
        summary_table(r, species=["Akt"])
    assert "Akt_active" in format_table(some)


def test_cv_fano_and_time_lookup():
    assert cv(10.0, 2.0) == pytest.approx(0.2) and fano(10.0, 2.0) == pytest.approx(0.4)
    assert math.isnan(cv(0.0, 1.0)) and math.isnan(fano(0.0, 0.0))
    np.testing.assert_allclose(fano(np.array([4.0, 9.0]), np.array([2.0, 3.0])), [1.0, 1.0])
    grid = np.linspace(0, 120, 25)  # every 5 min
    assert time_index(grid, 15) == 3 and time_index(grid, 17.4) == 3 and time_index(grid, 17.6) == 4
    with pytest.raises(AnalysisError, match="not recorded"):
        time_index(grid, 123)


# ---------------------------------------------------------------------- EC50
@pytest.mark.parametrize("ec, n", [(0.67, 1.3), (5.0, 2.5), (0.3, 1.0)])
def test_ec50_recovers_synthetic_hill_data(ec, n):
    doses = np.logspace(-3, 3, 10)
    fit = ec50(doses, hill_data(doses, ec, n))
    assert fit.method == "hill"
    assert fit.ec50 == pytest.approx(ec, rel=0.02) and fit.hill == pytest.approx(n, rel=0.02)
    # with 1 % noise of the range on every dose, and the doses in any order
    rng = np.random.default_rng(7)
    noisy = hill_data(doses, ec, n) + rng.normal(0, 0.01 * 960, doses.size)
    order = rng.permutation(doses.size)
    e, h = ec50(doses[order], noisy[order])
    assert e == pytest.approx(ec, rel=0.2) and h == pytest.approx(n, rel=0.2)  # holds for 50 seeds out of 50


def test_ec50_conventions_and_fallback(monkeypatch):
    doses = np.logspace(-3, 2, 10)
    # normalised to the top dose when the response has not saturated (as the reference EC50s are);
    # the fitted curve's own midpoint is still available
    fit = ec50(doses, hill_data(doses, 20.0, 1.0))
    assert fit.ec50 < 20.0 * 0.8 and fit.hill_ec50 == pytest.approx(20.0, rel=0.02)
    # a falling response (e.g. surface receptor) is normalised to its minimum
    assert ec50(doses, 1000.0 - hill_data(doses, 0.67, 1.3, 0.0, 960.0)).ec50 == pytest.approx(0.67, rel=0.02)
    # baseline given explicitly (e.g. a known basal level)
    assert ec50(doses, hill_data(doses, 0.67, 1.3), baseline=40.0).ec50 == pytest.approx(0.67, rel=0.02)
    # when the fit fails: log-linear interpolation of the half-maximal crossing, no Hill coefficient
    module = importlib.import_module("stochins.analysis.dose_response")
    monkeypatch.setattr(module, "curve_fit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no convergence")))
    e, h = ec50(doses, hill_data(doses, 0.67, 1.3))
    assert ec50(doses, hill_data(doses, 0.67, 1.3)).method == "interpolation"
    assert e == pytest.approx(0.67, rel=0.05) and math.isnan(h)
    with pytest.raises(AnalysisError, match="does not change"):
        ec50(doses, np.full(doses.size, 5.0))


# ---------------------------------------------------------------------- Sedaghat dose-response
def test_sedaghat_ode_downstream_components_are_more_sensitive(ode_sweep):
    """Sedaghat 2002: EC50s shift left down the cascade (reference notes, 15 min, constant insulin:
    x4 IR_ins2_p 40 nM, x5 IR_ins1_p 1.9 nM, Akt 0.67 nM, GLUT4 0.50 nM)."""
    r = stochins.open_results(ode_sweep)
    fits = {sp: ec50(*dose_response(r, sp, 15)) for sp in RECORD + ["IR_ins1_p+IR_ins2_p"]}
    e = {sp: f.ec50 for sp, f in fits.items()}
    assert all(f.method == "hill" for f in fits.values())
    assert e["GLUT4_surface"] < e["Akt_active"] < e["IR_ins1_p"] < e["IR_ins2_p"]
    assert e["Akt_active"] < e["IR_ins1_p+IR_ins2_p"] < e["IR_ins2_p"]
    reference = {"IR_ins2_p": 40.0, "IR_ins1_p": 1.9, "Akt_active": 0.67, "GLUT4_surface": 0.50}
    for sp, value in reference.items():
        assert e[sp] == pytest.approx(value, rel=0.1), (sp, e[sp])
    dr = dose_response(r, "Akt_active", 15.2)
    assert dr.time == 15.0 and list(dr.doses) == DOSES and np.all(np.diff(dr.response) > 0)


def test_sedaghat_stochastic_small_cells_keep_the_ordering(tau_sweep):
    r = stochins.open_results(tau_sweep)
    e = {sp: ec50(*dose_response(r, sp, 15)).ec50 for sp in RECORD}
    assert e["Akt_active"] < e["IR_ins1_p"] < e["IR_ins2_p"]
    assert e["GLUT4_surface"] < e["IR_ins1_p"]
    dr = dose_response(r, "Akt_active", 15)
    assert np.all(dr.sd > 0) and np.all(dr.q05 <= dr.response) and np.all(dr.response <= dr.q95)


def test_dose_response_errors(tau_sweep, tmp_path):
    with pytest.raises(AnalysisError, match="not recorded"):
        dose_response(tau_sweep, "Akt_active", 40)
    with pytest.raises(AnalysisError, match="unknown species"):
        dose_response(tau_sweep, "Akt", 15)
    with pytest.raises(AnalysisError, match="no condition sets inputs.glucose.dose"):
        dose_response(tau_sweep, "Akt_active", 15, dose_key="inputs.glucose.dose")


# ---------------------------------------------------------------------- plots and command line
def cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_png(path) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    with Image.open(path) as im:
        assert im.size[0] >= 600 and im.size[1] >= 400
        assert len(np.unique(np.asarray(im.convert("L")))) > 20  # something was drawn


def test_summarize_and_plot_commands(tau_sweep, ode_sweep, tmp_path, capsys):
    status, out, err = cli(capsys, "summarize", tau_sweep, "--times", "15", "--species", "Akt_active,IR_ins1_p",
                           "--dose-response")
    assert status == 0, err
    assert "Akt_active" in out and "q95" in out and "dose=100" in out and "EC50 (nM)" in out
    assert len([line for line in out.splitlines() if line.startswith("dose=")]) == 2 * len(DOSES)

    fig = tmp_path / "fig" / "cells.png"
    status, out, err = cli(capsys, "plot", tau_sweep, "-o", fig, "--species", "Akt_active,GLUT4_surface")
    assert status == 0, err
    assert_png(fig)
    fig2 = tmp_path / "dose.png"
    status, out, err = cli(capsys, "plot", tau_sweep, "-o", fig2, "--dose-response", "--times", "5,15")
    assert status == 0, err
    assert_png(fig2)
    from stochins.analysis import plot_results

    assert_png(plot_results(ode_sweep, tmp_path / "ode.png", species=["Akt_active"], conditions=["dose=1"]))


def test_commands_fail_with_one_line(tau_sweep, tmp_path, capsys):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=[1, 2, 3])
    fig = tmp_path / "x.png"
    cases = [
        (("summarize", tmp_path / "missing.h5"), "no such results file"),
        (("summarize", text), "cannot open as HDF5"),
        (("summarize", other), "not a stochins results file"),
        (("summarize", tau_sweep, "--species", "Akt"), "unknown species 'Akt'"),
        (("summarize", tau_sweep, "--times", "60"), "not recorded"),
        (("summarize", tau_sweep, "--times", "soon"), "--times"),
        (("plot", tmp_path / "missing.h5", "-o", fig), "no such results file"),
        (("plot", other, "-o", fig), "not a stochins results file"),
        (("plot", tau_sweep, "-o", fig, "--species", "GLUT4"), "unknown species 'GLUT4'"),
        (("plot", tau_sweep, "-o", fig, "--conditions", "dose=7"), "unknown condition"),
    ]
    for argv, message in cases:
        status, out, err = cli(capsys, *argv)
        assert status == 2, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("stochins: error:") and message in lines[0], (argv, err)
        assert "Traceback" not in err
    assert not fig.exists()


def test_summarize_dose_response_needs_a_dose_sweep(tmp_path, capsys):
    (tmp_path / "run.yaml").write_text(textwrap.dedent("""\
        model: sedaghat2002
        method: ode
        cells: 1
        time: {end: 5, samples: 6}
        inputs: {insulin: 1.0}
        record: [Akt_active]
        """))
    out = stochins.run(tmp_path / "run.yaml", output=tmp_path / "one.h5", progress=False)
    status, _, err = cli(capsys, "summarize", out, "--dose-response")
    assert status == 2 and "not a dose sweep" in err
    status, text, err = cli(capsys, "summarize", out)
    assert status == 0 and "Akt_active" in text
