"""Shared helpers: small models written as YAML text, as a user would write them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import stochins

DATA = Path(__file__).parent / "data"


@pytest.fixture
def model_from_text(tmp_path):
    """Compile a model from YAML text (written to a file, so errors name a real path)."""
    counter = iter(range(10**6))

    def make(text: str):
        path = tmp_path / f"model_{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text))
        return stochins.load_model(path)

    return make
