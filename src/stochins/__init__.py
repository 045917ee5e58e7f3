"""stochins: stochastic single-cell simulation of insulin signal transduction."""

from ._version import __version__

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
