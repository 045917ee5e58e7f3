"""Where blocks of cells are simulated: in this process (local) or on a Dask cluster."""


class SchedulerError(ValueError):
    """A Dask scheduler address that is malformed or cannot be reached (bad input: nothing was run)."""


class ExecutorError(RuntimeError):
    """The cluster failed during the run (e.g. every worker lost); the output is left resumable."""
