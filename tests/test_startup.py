"""Start-up: a model's first run says it is compiling (once per method); a cached run says nothing."""

from __future__ import annotations

import stochins
from stochins.compile import compile_notices

TINY = """
name: tiny_start
species: {X: 5}
parameters: {k: 1.0}
reactions:
  decay: {equation: "X -> 0", rate: k}
"""


def test_compile_notice_only_when_numba_has_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCHINS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    lines: list[str] = []
    with compile_notices(lines.append):
        stochins.simulate(stochins.load_model(path), cells=2, t_end=1.0, samples=2, seed=1, method="direct")
    assert len(lines) == 1 and lines[0].startswith("compiling tiny_start for direct (first run of this model"), lines
    lines.clear()
    with compile_notices(lines.append):  # a new model object of the same model: numba's cache holds it now
        stochins.simulate(stochins.load_model(path), cells=2, t_end=1.0, samples=2, seed=1, method="direct")
    assert lines == []
