"""Models from wherever users keep them: built-in names, model YAML, SBML files, gillespy2 models."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Mapping, Union

from ..compile import CompiledModel, compile_network
from ..errors import ModelError
from ..network import Network

__all__ = ["ModelLike", "builtin_models", "load_model", "load_network"]

ModelLike = Union[str, os.PathLike, Network, CompiledModel]


def builtin_models() -> dict[str, str]:
    """Built-in model names with their one-line descriptions."""
    import yaml

    out = {}
    for entry in sorted(resources.files("stochins.models").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out[entry.name[:-5]] = str((yaml.safe_load(entry.read_text(encoding="utf-8")) or {}).get("description", ""))
    return out


def _builtin_names() -> set[str]:
    """Built-in model names, without parsing every model file as ``builtin_models`` does for the descriptions."""
    return {e.name[:-5] for e in resources.files("stochins.models").iterdir() if e.name.endswith(".yaml")}


def load_model(model: ModelLike, *, sbml: Mapping[str, object] | None = None) -> CompiledModel:
    """A built-in name, a model YAML or SBML (.xml, .sbml) path, a :class:`Network`, a compiled model or a
    ``gillespy2.Model``. ``sbml``: import options for SBML files (``substance_scale``, ``inputs``,
    ``ignore_events``; see :func:`stochins.models.sbml.from_sbml`)."""
    if isinstance(model, CompiledModel):
        return model
    return compile_network(load_network(model, sbml=sbml))


def load_network(model: ModelLike, *, sbml: Mapping[str, object] | None = None) -> Network:
    """As :func:`load_model`, but the validated :class:`Network` without compiling it (e.g. to export it)."""
    if isinstance(model, CompiledModel):
        return model.network
    if isinstance(model, Network):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.suffix and str(model) in _builtin_names():
            with resources.as_file(resources.files("stochins.models") / f"{model}.yaml") as p:
                return Network.from_yaml(p)
        if path.suffix.lower() in (".yaml", ".yml"):
            return Network.from_yaml(path)
        if path.suffix.lower() in (".xml", ".sbml"):
            from .sbml import from_sbml

            options = dict(sbml or {})
            unknown = set(options) - {"substance_scale", "inputs", "ignore_events"}
            if unknown:
                raise ModelError(f"sbml.{sorted(unknown)[0]}: unknown SBML import option "
                                 f"(expected substance_scale, inputs, ignore_events)")
            return from_sbml(path, **options)
        if not path.exists():
            names = ", ".join(builtin_models()) or "none"
            raise ModelError(f"{model}: no such model file and no built-in model of that name (built-ins: {names})")
        raise ModelError(f"{model}: unsupported model file type {path.suffix!r} (expected .yaml, .xml or .sbml)")
    try:  # a gillespy2.Model, without importing gillespy2 unless one is passed
        from .gillespy2_interop import from_gillespy2, is_gillespy2_model
    except ImportError:
        is_gillespy2_model = None
    if is_gillespy2_model is not None and is_gillespy2_model(model):
        return from_gillespy2(model)
    raise ModelError(f"cannot load a model from {type(model).__name__}")
