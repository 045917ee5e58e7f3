"""stochins: stochastic single-cell simulation of insulin signal transduction."""

import os as _os

from ._version import __version__

# numba's OpenMP threading layer busy-waits between parallel regions by default, which doubles the
# CPU time of a run on a machine where another process holds a core; wait passively instead
# (read when the layer loads, so before numba's first parallel launch; the environment wins).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("KMP_BLOCKTIME", "0")

from .api import Result, builtin_models, load_model, simulate  # noqa: E402
from .compile import CompiledModel  # noqa: E402
from .config import ConfigError  # noqa: E402
from .errors import ArgumentError, ModelError  # noqa: E402
from .io.hdf5 import Results, ResultsError, open_results  # noqa: E402
from .network import Network  # noqa: E402
from .runner import run  # noqa: E402
from .simulation import SimulationError  # noqa: E402

__all__ = ["simulate", "load_model", "builtin_models", "run", "open_results", "Result", "Results", "CompiledModel",
           "Network", "ModelError", "ArgumentError", "ConfigError", "ResultsError", "SimulationError", "__version__"]
