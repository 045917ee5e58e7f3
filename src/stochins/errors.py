"""The errors stochins raises for bad input, so every layer can raise them without importing the one above."""


class ModelError(ValueError):
    """A model definition is invalid; the message names the file and the offending item."""


class ArgumentError(ValueError):
    """An argument of a simulation (method, its options, cells, seed, record, ...) is invalid."""


class SimulationError(RuntimeError):
    """A cell reached a state the model does not allow (negative propensity or count, overflow)."""
