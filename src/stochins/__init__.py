"""stochins: stochastic single-cell simulation of insulin signal transduction."""

import importlib as _importlib
import os as _os

from ._version import __version__

# numba's OpenMP threading layer busy-waits between parallel regions by default, which doubles the
# CPU time of a run on a machine where another process holds a core; wait passively instead
# (read when the layer loads, so before numba's first parallel launch; the environment wins).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("KMP_BLOCKTIME", "0")

# The public names, imported on first use (PEP 562): ``import stochins`` and the CLI's start stay
# light, and a command loads only the packages (numba, scipy, h5py, pydantic) it needs.
_EXPORTS = {"simulate": "api", "load_model": "api", "builtin_models": "api", "Result": "api",
            "run": "runner", "open_results": "io.hdf5", "Results": "io.hdf5", "ResultsError": "io.hdf5",
            "CompiledModel": "compile", "Network": "network", "ModelError": "errors", "ArgumentError": "errors",
            "ConfigError": "config", "SimulationError": "simulation"}

__all__ = ["simulate", "load_model", "builtin_models", "run", "open_results", "Result", "Results", "CompiledModel",
           "Network", "ModelError", "ArgumentError", "ConfigError", "ResultsError", "SimulationError", "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    try:  # a submodule, e.g. stochins.config after only ``import stochins``
        return _importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
