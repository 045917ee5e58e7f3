"""Registry of the kernels that are compiled once per model.

Model propensities are generated as straight-line code; for numba to inline them into the
simulation loop (and cache the result on disk), the loop must live in the same generated module.
Kernel modules mark those functions with ``@kernel``; ``compile.py`` copies their source,
together with the constants and numba helpers they use, into each model's module.
"""

from __future__ import annotations

import inspect
import sys
from typing import Callable

_REGISTRY: list[Callable] = []


def kernel(parallel: bool = False) -> Callable[[Callable], Callable]:
    """Mark a function for per-model compilation (``parallel=True`` for ``prange`` loops)."""

    def register(func: Callable) -> Callable:
        func.__stochins_parallel__ = parallel
        # read now: the text must match the code this process runs, even if the file changes later
        func.__stochins_source__ = inspect.getsource(func)
        _REGISTRY.append(func)
        return func

    return register


def kernel_source() -> str:
    """Source of every registered kernel plus the imports of what they read from their modules."""
    from numba.core.registry import CPUDispatcher

    imports: dict[str, set[str]] = {}
    bodies = []
    for func in _REGISTRY:
        module = sys.modules[func.__module__]
        names = imports.setdefault(func.__module__, set())
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) or (name.isupper() and isinstance(value, (int, float))):
                names.add(name)
        bodies.append(func.__stochins_source__)
    lines = [f"from {mod} import {', '.join(sorted(names))}" for mod, names in sorted(imports.items()) if names]
    return "\n".join(lines) + "\n\n\n" + "\n\n".join(bodies)
