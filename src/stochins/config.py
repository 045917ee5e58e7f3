"""Run files (YAML) -> a validated :class:`RunConfig`.

Validation happens in two steps: the file's shape (keys, types, ranges) with pydantic, then its
meaning against the model (species in ``record``, parameters, inputs). Every problem becomes a
:class:`ConfigError` with one line naming the file and the key path, which the CLI prints and
turns into exit status 2.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import math
import os
import string
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, create_model, field_validator,
                      model_validator)

from .engine.methods import METHODS, method_names
from .errors import ArgumentError, ModelError
from .yamlio import load_yaml

__all__ = ["RunConfig", "ConfigError", "load_run_config", "TimeConfig", "OutputConfig"]


#: longest file name (one path component) most file systems accept
NAME_MAX = 255
#: most conditions a sweep may expand to (each is a group in the output and a plan in memory)
MAX_CONDITIONS = 100_000
#: the keys of a run file's ``sbml:`` mapping (``models.sbml.from_sbml``'s options)
SBML_OPTIONS = ("substance_scale", "inputs", "ignore_events")
#: run-file sections that hold booleans (SBML's ignore_events; events' persistent, initial_value, ...)
_BOOLEAN_SECTIONS = ("sbml", "events", "sweep")


class ConfigError(ValueError):
    """A run file is invalid; the message is one line naming the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TimeConfig(_Strict):
    start: float = 0.0
    end: float
    samples: int = Field(61, ge=1, le=1_000_000)  # a guard: each sample is a row of every cell's record

    @model_validator(mode="after")
    def _grid(self) -> "TimeConfig":
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError("start and end must be finite numbers")
        if self.end < self.start or (self.end == self.start and self.samples > 1):
            raise ValueError(f"the time grid is empty or decreasing (start {self.start}, end {self.end})")
        return self


class OutputConfig(_Strict):
    path: str = "results/{name}.h5"

    @field_validator("path")
    @classmethod
    def _template(cls, v):
        """Only the documented field: ``str.format`` would also evaluate ``{name.__class__}`` or ``{0}``."""
        if not v.strip():
            raise ValueError("expected a file path")
        if "\x00" in v:
            raise ValueError("a path cannot hold a NUL byte")
        try:
            fields = [f for _, f, spec, conv in string.Formatter().parse(v) if f is not None or spec or conv]
            extra = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(v) if spec or conv]
        except ValueError as exc:  # e.g. a single '{' or '}'
            raise ValueError(f"bad template ({exc}); the only field is {{name}} (write {{{{ for a brace)") from None
        for f in fields:
            if f != "name":
                hint = difflib.get_close_matches(str(f), ["name"], n=1)
                raise ValueError(f"unknown field {{{f}}} in the template; the only field is {{name}}"
                                 f"{' (did you mean {name}?)' if hint else ''}")
        if extra:
            raise ValueError("the template field {name} takes no format spec or conversion")
        return v
    compression: Literal["gzip", "lzf", "none"] = "gzip"
    compression_level: int = Field(4, ge=0, le=9)
    trajectories: Union[Literal["all", "none"], int] = "all"

    @field_validator("trajectories")
    @classmethod
    def _keep(cls, v):
        if isinstance(v, int) and (isinstance(v, bool) or v < 0):
            raise ValueError("expected 'all', 'none' or a non-negative number of cells")
        return v


InputValue = Union[float, list[list[float]], dict[str, Any]]


class _RunFields(_Strict):
    """Everything that defines a run; see the README's run-file reference. The keys holding method
    options (one per method that has options, e.g. ``tau``) are added from the method registry."""

    model: str
    model_parameters: dict[str, float] = {}
    cells: int = Field(1000, ge=1)
    # cells come in groups of `sisters` sharing their per-cell draws; when cells is not a multiple, the
    # last group is smaller (analyses of sister cells use whole groups only)
    sisters: int = Field(1, ge=1)
    # events added to the model for this run (the model file's events: form), e.g. a knock-down at t = 30
    events: dict[str, Any] = {}
    seed: int | None = Field(None, ge=0, lt=2**64)
    method: str = "ssa"
    sbml: dict[str, Any] = {}
    variability: dict[str, dict[str, Any]] = {}
    time: TimeConfig
    inputs: dict[str, InputValue] = {}
    record: list[str] | None = None
    output: OutputConfig = OutputConfig()
    block_size: int | None = Field(None, ge=1)
    threads: int | None = Field(None, ge=1)
    name: str | None = None
    sweep: dict[str, list[Any]] = {}
    sweep_mode: Literal["product", "zip"] = "product"

    # where relative paths (model file, output) are resolved; not a run-file key
    base_dir: Path = Field(Path("."), exclude=True)
    # the run file (and condition) that errors found later, against the model, are reported in
    _source: str | None = PrivateAttr(None)

    @field_validator("method")
    @classmethod
    def _method(cls, v):
        if v not in method_names():
            raise ValueError(f"expected one of {', '.join(map(repr, method_names()))}")
        return v

    @model_validator(mode="after")
    def _options(self) -> "_RunFields":
        for name in METHODS:
            if name in type(self).model_fields:
                METHODS[name].option_vector(getattr(self, name))  # ArgumentError names the key
        return self

    def method_options(self) -> dict[str, dict[str, float]]:
        """Options per method name, as the run file gives them."""
        return {name: dict(getattr(self, name)) for name in METHODS if name in type(self).model_fields}

    @field_validator("sweep")
    @classmethod
    def _sweep(cls, v):
        for key, values in v.items():
            if not values:
                raise ValueError(f"sweep key {key!r} has no values")
            if key.split(".")[0] in ("sweep", "sweep_mode", "name", "output", "threads", "block_size", "cells", "seed",
                                     "sisters"):
                raise ValueError(f"{key!r} cannot be swept (each condition shares it)")
        return v

    @model_validator(mode="after")
    def _zip(self) -> "RunConfig":
        if self.sweep_mode == "zip" and len({len(v) for v in self.sweep.values()}) > 1:
            lengths = ", ".join(f"{k}: {len(v)}" for k, v in self.sweep.items())
            raise ValueError(f"sweep_mode zip needs value lists of equal length (got {lengths})")
        return self

    @field_validator("sbml")
    @classmethod
    def _sbml(cls, v):
        """Checked here too, not only when an SBML file is read: with a YAML model a typo would pass unseen."""
        for key in v:
            if key not in SBML_OPTIONS:
                hint = difflib.get_close_matches(str(key), SBML_OPTIONS, n=1)
                raise ValueError(f"unknown SBML import option {key!r}"
                                 f"{f' (did you mean {hint[0]!r}?)' if hint else ''} (expected {', '.join(SBML_OPTIONS)})")
        inputs, ignore = v.get("inputs", []), v.get("ignore_events", False)
        if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):  # "x1" is not ["x", "1"]
            raise ValueError(f"sbml.inputs: expected a list of SBML ids, got {inputs!r}")
        if not isinstance(ignore, bool):
            raise ValueError(f"sbml.ignore_events: expected true or false, got {ignore!r}")
        return v

    @field_validator("record")
    @classmethod
    def _record(cls, v):
        if v is not None and not v:
            raise ValueError("record at least one species, or leave the key out to record all")
        return v

    @property
    def run_name(self) -> str:
        return self.name or "run"

    def model_reference(self) -> str | Path:
        """A built-in name stays a name; a relative model path is looked up beside the run file first."""
        ref = self.model
        if "/" in ref or "\\" in ref or ref.lower().endswith((".yaml", ".yml", ".xml", ".sbml")):
            p = Path(ref)
            return p if p.is_absolute() or not (self.base_dir / p).exists() else self.base_dir / p
        return ref

    def output_path(self) -> Path:
        """Relative output paths are taken from the working directory, like any command's output."""
        path = Path(self.output.path.format(name=self.run_name))
        for part in path.parts:
            if len(os.fsencode(part)) > NAME_MAX:
                raise ConfigError(f"{self._source or '<run>'}: output.path: the name {part[:40]!r}... is longer "
                                  f"than file systems allow ({NAME_MAX} bytes)")
        return path

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)

    def fingerprint(self) -> str:
        """Hash of everything that determines the output (not threads, block size or file location)."""
        data = self.model_dump(mode="json", exclude={"threads", "block_size", "base_dir"})
        data["output"].pop("path", None)
        return hashlib.sha256(yaml.safe_dump(data, sort_keys=True).encode()).hexdigest()


RunConfig = create_model(
    "RunConfig", __base__=_RunFields, __module__=__name__,
    **{name: (dict[str, float], {}) for name, m in METHODS.items() if m.options})
RunConfig.__doc__ = _RunFields.__doc__


class Condition:
    """One condition of a run: its name, the swept settings and its own complete config."""

    def __init__(self, name: str, index: int, settings: dict[str, Any], config: RunConfig):
        self.name, self.index, self.settings, self.config = name, index, settings, config


def expand_conditions(config: RunConfig, source: str = "<run>") -> list[Condition]:
    """The sweep's conditions (cartesian product, or zipped lists), each validated as a run."""
    if not config.sweep:
        return [Condition("default", 0, {}, config)]
    keys = list(config.sweep)
    lists = [config.sweep[k] for k in keys]
    count = len(lists[0]) if config.sweep_mode == "zip" else math.prod(len(v) for v in lists)
    if count > MAX_CONDITIONS:
        raise ConfigError(f"{source}: sweep: {count:,} conditions (at most {MAX_CONDITIONS:,}); "
                          f"split the sweep into several runs")
    combos = list(zip(*lists)) if config.sweep_mode == "zip" else list(itertools.product(*lists))
    short = _short_names(keys)
    base = config.model_dump(mode="python", exclude={"sweep", "sweep_mode", "base_dir"})
    out, names = [], set()
    for index, values in enumerate(combos):
        data = copy.deepcopy(base)
        for key, value in zip(keys, values):
            _set_path(data, key, value, source)
        settings = dict(zip(keys, values))
        name = ",".join(f"{short[k]}={_fmt(v)}" for k, v in settings.items()).replace("/", "_")
        if name in names:
            name = f"{name}#{index}"
        names.add(name)
        try:
            cond = parse_run_config(data, source=f"{source} (condition {name})", base_dir=config.base_dir)
        except ConfigError as exc:
            raise ConfigError(f"sweep: {exc}") from None
        out.append(Condition(name, index, settings, cond))
    return out


def _short_names(keys: list[str]) -> dict[str, str]:
    """The shortest dotted suffix of each key that is still unique (``inputs.insulin.dose`` -> ``dose``)."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for k in range(1, len(parts) + 1):
            cand = ".".join(parts[-k:])
            if sum(1 for other in keys if other == cand or other.endswith("." + cand)) == 1:
                out[key] = cand
                break
        else:
            out[key] = key
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, dict):  # e.g. a swept model_parameters scenario
        return "+".join(f"{k}={_fmt(x)}" for k, x in v.items()) or "default"
    text = repr(v) if isinstance(v, float) else str(v)
    return text[:-2] if text.endswith(".0") else text


def _set_path(data: dict, key: str, value: Any, source: str) -> None:
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part) if isinstance(node, dict) else None
        if nxt is None and isinstance(node, dict):
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"{source}: sweep key {key!r}: {'.'.join(parts[:i + 1])!r} is not a mapping "
                              f"(write it as a protocol mapping to sweep inside it)")
        node = nxt
    node[parts[-1]] = value


def load_run_config(path: str | Path, **overrides: Any) -> RunConfig:
    """Read and validate a run file; ``overrides`` are top-level keys (e.g. cells, seed) from the CLI."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read run file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start}); a run file is YAML text") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text file (it holds NUL bytes); a run file is YAML text")
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)  # e.g. "duplicate key 'seed'"
        raise ConfigError(f"{path}: not valid YAML{f' at line {mark.line + 1}' if mark else ''}"
                          f"{f' ({problem})' if problem else ''}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a run file must be a mapping of keys (model, cells, time, ...)")
    data.update({k: v for k, v in overrides.items() if v is not None})
    data.setdefault("name", path.stem)
    return parse_run_config(data, source=str(path), base_dir=path.parent)


def parse_run_config(data: dict, source: str = "<run>", base_dir: Path = Path(".")) -> RunConfig:
    if "base_dir" in data:  # an internal field, never a run-file key
        raise ConfigError(f"{source}: unknown key 'base_dir'")
    where = _boolean_number(data)
    if where:  # pydantic reads true as 1 (cells: true would be one cell); sweeps are checked per condition
        raise ConfigError(f"{source}: key {where[0]!r}: expected a number, got {where[1]!r}")
    try:
        config = RunConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None
    config._source = source
    return config


def _boolean_number(data: Any, path: str = "") -> tuple[str, bool] | None:
    """The first true/false (YAML also reads yes/no/on/off so) where a run file takes numbers."""
    if isinstance(data, bool):
        return path, data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        if not path and key in _BOOLEAN_SECTIONS:
            continue
        found = _boolean_number(value, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


#: what a key that accepts several forms expects (pydantic reports one error per form)
_UNION_FORMS = {"inputs": "expected a number, a table [[time, value], ...] or a protocol mapping {protocol: ...}",
                "output.trajectories": "expected 'all', 'none' or a non-negative number of cells"}


def _key_path(loc: tuple) -> tuple[tuple, bool]:
    """An error's key path without pydantic's union-member tags (``inputs.x.float`` -> ``inputs.x``),
    and whether the key accepts several forms (a union)."""
    tp: Any = RunConfig
    out: list = []
    for part in loc:
        if tp is not None and _is_union(tp):
            return tuple(out), True
        out.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            tp = field.annotation if field is not None else None
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            tp = None
        if tp is not None and _is_union(tp, optional=True):  # X | None: no member tags
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = members[0] if len(members) == 1 else tp
    return tuple(out), False


def _is_union(tp, optional: bool = False) -> bool:
    if typing.get_origin(tp) not in (Union, types.UnionType):
        return False
    members = [a for a in typing.get_args(tp) if a is not type(None)]
    return len(members) == 1 if optional else len(members) > 1


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    # an unknown key (with its did-you-mean) explains a "missing" sibling better than the reverse
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    path, union = _key_path(err["loc"])
    loc = ".".join(str(p) for p in path)
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        parent = RunConfig
        for part in err["loc"][:-1]:
            field = parent.model_fields.get(str(part)) if isinstance(parent, type) else None
            ann = getattr(field, "annotation", None)
            parent = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        choices = list(parent.model_fields) if parent else []
        choices = [c for c in choices if c != "base_dir"]
        match = difflib.get_close_matches(key, choices, n=1)
        hint = f" (did you mean {match[0]!r}?)" if match else (f" (expected one of: {', '.join(choices)})" if choices else "")
        return f"unknown key {loc!r}{hint}"
    if kind == "missing":
        return f"missing required key {loc!r}"
    if union:
        msg = _UNION_FORMS.get(loc) or _UNION_FORMS.get(str(path[0]), "not one of the accepted forms")
    else:
        msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    got = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"key {loc!r}: {msg}{got}" if loc else f"{msg}{got}"


def check_against_model(config: RunConfig, model) -> None:
    """The run file's model-dependent keys: parameters, inputs, record."""
    from .schedule import build_schedule

    where = f"{config._source}: " if config._source else ""
    try:
        model.parameter_vector(config.model_parameters)
    except (ModelError, ArgumentError) as exc:
        raise ConfigError(f"{where}model_parameters: {exc}") from None
    for name in config.record or []:
        if name not in model.species and name not in model.network.expressions:  # species or observable
            match = difflib.get_close_matches(name, model.declared_species + list(model.network.expressions), n=1)
            hint = f" (did you mean {match[0]!r}?)" if match else f" (model species: {', '.join(model.declared_species)})"
            raise ConfigError(f"{where}record: unknown species {name!r}{hint}")
    try:
        schedule = build_schedule(model.inputs, model.network.inputs, config.inputs).from_time(config.time.start)
    except ArgumentError as exc:
        raise ConfigError(f"{where}{exc}") from None
    if config.model_parameters or config.inputs:  # the model's own values were checked when it was loaded
        try:
            model.network.check_initial_rates(config.model_parameters, dict(zip(model.inputs, schedule.values[0])),
                                              context=" with this run's model_parameters and inputs")
        except ModelError as exc:
            raise ConfigError(f"{where}{exc}") from None
