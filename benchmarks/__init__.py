"""Benchmarks of stochins against gillespy2, run with ``python -m benchmarks`` from the repository root.

Everything is measured in one process run (plus short subprocesses for compile time and peak memory),
so ratios within one run are comparable; absolute numbers depend on the machine and its load.
This package must not import stochins at import time: the subprocess probes time ``import stochins``.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODELS = HERE / "models"
RESULTS = HERE / "results"
