"""The tutorial notebook runs end to end (at a small size: 100 cells per dose)."""

from __future__ import annotations

import os
from pathlib import Path

import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "single_cell_analysis.ipynb"


def test_single_cell_tutorial_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCHINS_NOTEBOOK_CELLS", "100")
    src = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH"))
                          if p)
    monkeypatch.setenv("PYTHONPATH", src)   # the kernel imports this checkout's stochins
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    # capacity, dose-response, distributions, noise, cells
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 5
    assert (tmp_path / "single_cell_tutorial" / "report.html").stat().st_size > 10_000
