"""Engine modules compiled from a copy written for them: once per model, or once per installation.

A kernel that simulates a model calls the model's generated functions. In an engine module that imports
them from ``.model_code`` (directly, or through another such module) the kernels call them by name, so
that numba can inline them into its loops; such a module is *per-model*: ``instantiate`` writes its text
once per model with each relative import pointed at that model's generated code or at the model's
instance of the imported per-model module. Kernels that reach the model through a table of addresses
instead (``model_abi.py``) are *shared*: their module's copy is written once for every model. In the
package itself ``@kernel`` leaves a function as plain Python; in a copy it becomes ``njit(cache=True)``,
and numba's disk cache keys the compiled code to the copy's file, whose name is a hash of everything it
contains and of every engine module it reaches (numba's cache alone would not notice a change of a
function the cached code calls from another module).

Loading from that cache is the whole of a warm start, so it skips what numba does first for any cached
function (``quick_load``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import re
import sys
from typing import Callable

import numba
from numba.core import sigutils
from numba.core.caching import FunctionCache
from numba.core.ccallback import CFunc
from numba.core.registry import CPUDispatcher
from numba.core.runtime import nrt

from .._version import __version__

#: set to the model's code hash in every generated module (SHARED in a shared copy); ``kernel`` compiles only there
INSTANCE_MARK = "__stochins_instance__"
SHARED = "shared"
_SOURCES: dict[str, str] = {}  # engine module name -> its text when first imported


def kernel(parallel: bool = False) -> Callable[[Callable], Callable]:
    """Mark a function for per-model compilation (``parallel=True`` for ``prange`` loops)."""

    def decorate(func: Callable) -> Callable:
        if INSTANCE_MARK in func.__globals__:
            return quick_load(numba.njit(cache=True, parallel=parallel, error_model="numpy", nogil=True)(func))
        # read now: the text an instance gets must match the code this process runs
        _SOURCES.setdefault(func.__module__, inspect.getsource(sys.modules[func.__module__]))
        return func

    return decorate


class _QuickLoadCache(FunctionCache):
    """numba's disk cache without the context refresh before a load.

    numba refreshes its target context before loading a cached function: it imports every
    implementation module it has (and, through its BLAS check, scipy.linalg), ~0.9 s of a 1.6 s warm
    start, to be ready to compile. Loaded machine code needs none of that, only the runtime (NRT) its
    allocations link against; a compile still refreshes first (numba's compiler does so itself).
    """

    def load_overload(self, sig, target_context):
        nrt.rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


def quick_load(dispatcher):
    """Load ``dispatcher``'s cached code as ``_QuickLoadCache`` does (an ``njit(cache=True)`` function that a
    run calls from Python; the functions it calls are linked into its cached code)."""
    if isinstance(dispatcher._cache, FunctionCache) and not isinstance(dispatcher._cache, _QuickLoadCache):
        dispatcher._cache = _QuickLoadCache(dispatcher.py_func)
    return dispatcher


def c_function(func: Callable, sig):
    """``func`` compiled as a C callback of signature ``sig`` (``numba.cfunc(sig, cache=True)``), loaded from
    numba's cache as ``quick_load`` loads (``CFunc``'s cache attribute, as numba 0.68 names it)."""
    compiled = CFunc(func, sigutils.normalize_signature(sig), locals={}, options={"error_model": "numpy"})
    compiled._cache = _QuickLoadCache(func)
    compiled.compile()
    return compiled


def quick_load_module(module):
    """``quick_load`` for every cached function a module defines (a model-independent engine module)."""
    for value in vars(module).values():
        if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module.__name__:
            quick_load(value)
    return module


def engine_source(module: str) -> str:
    """The text of an engine module (``stochins.engine.X``) as this process imported it."""
    if module not in _SOURCES:
        __import__(module)
        _SOURCES.setdefault(module, inspect.getsource(sys.modules[module]))
    return _SOURCES[module]


_RELATIVE = re.compile(r"^from \.(\w+) import ", re.M)
_PACKAGE = __name__.rsplit(".", 1)[0]  # stochins.engine


@functools.lru_cache(maxsize=None)
def relative_imports(module: str) -> tuple[str, ...]:
    """Engine modules that ``module`` imports relatively (``from .X import``), in order (parsed once per
    process: block dispatch asks for every block)."""
    tree = ast.parse(engine_source(module))
    return tuple(f"{_PACKAGE}.{n.module}" for n in tree.body
                 if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module)


@functools.lru_cache(maxsize=None)
def per_model(module: str) -> bool:
    """True if the module's kernels call model code, directly or through another engine module."""
    deps = relative_imports(module)
    return any(d == f"{_PACKAGE}.model_code" or per_model(d) for d in deps)


@functools.lru_cache(maxsize=None)
def instanced(module: str) -> bool:
    """True if the module defines kernels or imports a module that does: it runs from a written copy."""
    return "\n@kernel(" in engine_source(module) or any(instanced(d) for d in relative_imports(module))


def instance_name(module: str, model_hash: str) -> str:
    """Module name of ``module``'s copy for the model whose generated code has ``model_hash`` (SHARED for
    a shared module): a hash of that, this module's text and that of every engine module it reaches."""
    h = hashlib.sha256(f"{model_hash} {numba.__version__} {__version__}".encode())
    for name in _closure(module):
        h.update(engine_source(name).encode())
    return f"stochins_{module.rsplit('.', 1)[-1]}_{h.hexdigest()[:20]}"


def instantiate(module: str, model_hash: str, model_module: str | None) -> str:
    """The text of ``module``'s copy for one model, or for every model (``model_hash`` SHARED and
    ``model_module`` None; see the module docstring)."""

    def target(match: re.Match) -> str:
        name = f"{_PACKAGE}.{match.group(1)}"
        if name == f"{_PACKAGE}.model_code":
            if model_module is None:
                raise ImportError(f"{module}: a shared engine module may not import .model_code")
            return f"from {model_module} import "
        if instanced(name):
            return f"from {instance_name(name, model_hash if per_model(name) else SHARED)} import "
        return f"from {name} import "

    text = _RELATIVE.sub(target, engine_source(module))
    whom = "one model" if model_module else "every model"
    mark = f"# generated by stochins from {module} for {whom}: do not edit\n{INSTANCE_MARK} = {model_hash!r}\n"
    if re.search(r"^from \.", text, re.M):
        raise ImportError(f"{module}: an instanced engine module may import engine modules only as 'from .X import'")
    future = re.search(r"^from __future__ import .*\n", text, re.M)  # must stay the first statement
    at = future.end() if future else 0
    return text[:at] + mark + text[at:]


def _closure(module: str) -> list[str]:
    """``module`` and every engine module it imports, directly or not (each once, sorted)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += relative_imports(name)
    return sorted(seen)
