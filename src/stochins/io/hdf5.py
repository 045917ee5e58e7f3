"""HDF5 results: the streaming writer and the reader (layout: format_version 1, see README).

The writer appends each finished block of cells along a resizable cell axis and flushes, so
memory is bounded by the block and an interrupted run leaves a valid file with ``complete =
False`` and each condition's ``cells_done``. Population means and SDs are merged block by block
(Chan et al.'s parallel update of mean and M2), so they are exact even when trajectories are
not kept; quantiles are computed at the end from the kept cells (see ``quantiles_cells``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

from .. import __version__

FORMAT = "stochins"
FORMAT_VERSION = 1
QUANTILES = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
#: cells kept for quantiles when the run keeps fewer trajectories than this (deleted at the end)
QUANTILE_SAMPLE = 10_000
CHUNK_BYTES = 1 << 20
_STR = h5py.string_dtype("utf-8")


class ResultsError(RuntimeError):
    """An output file cannot be written, resumed or read as asked."""


@dataclass
class ConditionSpec:
    name: str
    index: int
    settings: dict          # attributes of the condition group (e.g. {"inputs.insulin.dose": 1.0})
    cells: int
    time: np.ndarray
    species: list[str]
    parameter_names: list[str]
    dtype: type             # np.int32 counts, np.float64 for the ODE
    keep: int               # trajectories kept for the first `keep` cells
    observables: list[str] = field(default_factory=list)  # recorded named expressions (float64)


class TrajectoryWriter:
    """Writes one run: create (or reopen to resume), append blocks, finish."""

    def __init__(self, path: Path, *, attrs: dict, conditions: Sequence[ConditionSpec], compression: str = "gzip",
                 compression_level: int = 4, resume: bool = False, fingerprint: str = ""):
        self.path = Path(path)
        self.conditions = {c.name: c for c in conditions}
        self._comp = {} if compression == "none" else (
            {"compression": "gzip", "compression_opts": compression_level, "shuffle": True}
            if compression == "gzip" else {"compression": "lzf", "shuffle": True})
        if resume:
            self.file = self._reopen(fingerprint)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".partial")
            self.file = h5py.File(tmp, "w")
            self._create(attrs, fingerprint)
            self.file.close()
            tmp.replace(self.path)  # the file appears only once its layout is complete
            self.file = h5py.File(self.path, "a")

    # ------------------------------------------------------------------ layout
    def _create(self, attrs: dict, fingerprint: str) -> None:
        f = self.file
        f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "stochins_version": __version__,
                        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        "complete": False, "run_fingerprint": fingerprint})
        f.attrs.update({k: _plain(v) for k, v in attrs.items()})
        top = f.create_group("conditions")
        for c in self.conditions.values():
            g = top.create_group(c.name)
            g.attrs.update({k: _plain(v) for k, v in c.settings.items()})
            g.attrs.update({"index": c.index, "cells": c.cells, "cells_done": 0, "trajectories_kept": c.keep})
            n_t, n_s, n_p = c.time.size, len(c.species), len(c.parameter_names)
            time = g.create_dataset("time", data=c.time)
            time.attrs["units"] = "min"
            species = g.create_dataset("species", data=np.array(c.species, dtype=object), dtype=_STR)
            quantile = g.create_dataset("quantile", data=QUANTILES)
            cell = g.create_dataset("cell", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(65536,))
            parameter = g.create_dataset("parameter", data=np.array(c.parameter_names, dtype=object), dtype=_STR)
            for scale in (time, species, quantile, cell, parameter):
                scale.make_scale(scale.name.rsplit("/", 1)[-1])
            itemsize = np.dtype(c.dtype).itemsize
            rows = int(max(1, min(max(c.keep, 1), CHUNK_BYTES // (n_t * n_s * itemsize))))
            traj = g.create_dataset("trajectories", shape=(0, n_t, n_s), maxshape=(None, n_t, n_s), dtype=c.dtype,
                                    chunks=(rows, n_t, n_s), **self._comp)
            params = g.create_dataset("parameters", shape=(0, n_p), maxshape=(None, n_p), dtype=np.float64,
                                      chunks=(4096, max(n_p, 1)) if n_p else None, **(self._comp if n_p else {}))
            mean = g.create_dataset("mean", data=np.zeros((n_t, n_s)))
            std = g.create_dataset("std", data=np.full((n_t, n_s), np.nan))
            g.create_dataset("_m2", data=np.zeros((n_t, n_s)))  # running sum of squares; removed when done
            quantiles = g.create_dataset("quantiles", data=np.full((QUANTILES.size, n_t, n_s), np.nan))
            _attach(traj, cell, time, species)
            _attach(params, cell, parameter)
            _attach(mean, time, species)
            _attach(std, time, species)
            _attach(quantiles, quantile, time, species)
            if c.observables:
                _create_observables(g, c, self._comp)

    def _reopen(self, fingerprint: str) -> h5py.File:
        if not self.path.exists():
            raise ResultsError(f"{self.path}: nothing to resume (the file does not exist)")
        try:
            f = h5py.File(self.path, "a")
        except OSError as exc:
            raise ResultsError(f"{self.path}: cannot be reopened to resume ({exc}); run again without --resume") from None
        if f.attrs.get("format") != FORMAT:
            f.close()
            raise ResultsError(f"{self.path}: not a stochins results file")
        if f.attrs.get("complete"):
            f.close()
            raise ResultsError(f"{self.path}: the run is already complete; nothing to resume")
        if f.attrs.get("run_fingerprint") != fingerprint:
            f.close()
            raise ResultsError(f"{self.path}: the run file changed since this output was started; "
                               f"refusing to resume (use --overwrite to start again)")
        for c in self.conditions.values():  # drop whatever a killed block left beyond cells_done
            g = f["conditions"][c.name]
            done = int(g.attrs["cells_done"])
            g["cell"].resize((done,))
            g["trajectories"].resize((min(done, g["trajectories"].shape[0]),) + g["trajectories"].shape[1:])
            g["parameters"].resize((done, g["parameters"].shape[1]))
            _reopen_observables(g)
        return f

    def cells_done(self, condition: str) -> int:
        return int(self.file["conditions"][condition].attrs["cells_done"])

    # ------------------------------------------------------------------ streaming
    def append(self, condition: str, first_cell: int, trajectories: np.ndarray,
               parameters: np.ndarray | None = None, observables: np.ndarray | None = None) -> None:
        c = self.conditions[condition]
        g = self.file["conditions"][condition]
        done = int(g.attrs["cells_done"])
        if first_cell != done:
            raise ResultsError(f"block of cells from {first_cell} appended to {condition!r} at {done}")
        n = trajectories.shape[0]
        stored = max(c.keep, min(c.cells, QUANTILE_SAMPLE))
        k = max(0, min(n, stored - done))
        if k:
            traj = g["trajectories"]
            traj.resize((done + k,) + traj.shape[1:])
            traj[done:done + k] = trajectories[:k]
        g["cell"].resize((done + n,))
        g["cell"][done:] = np.arange(done, done + n)
        p = g["parameters"]
        p.resize((done + n, p.shape[1]))
        if p.shape[1]:
            p[done:] = parameters
        _merge_moments(g, done, trajectories)
        if c.observables:
            _append_observables(g, done, observables)
        g.attrs["cells_done"] = done + n
        self.file.flush()

    def finish(self) -> None:
        for c in self.conditions.values():
            g = self.file["conditions"][c.name]
            if c.observables:
                _finish_observables(g, c.keep)
            traj = g["trajectories"]
            n = traj.shape[0]
            if n:
                g["quantiles"][...] = _quantiles(traj)
            g.attrs["quantiles_cells"] = n
            if n > c.keep:  # cells stored only for the quantiles
                traj.resize((c.keep,) + traj.shape[1:])
            del g["_m2"]
        self.file.attrs["complete"] = True
        self.file.attrs["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.close()

    def close(self) -> None:
        if self.file.id.valid:
            self.file.flush()
            self.file.close()


def _attach(dataset: h5py.Dataset, *scales: h5py.Dataset) -> None:
    for axis, scale in enumerate(scales):
        dataset.dims[axis].attach_scale(scale)


_OBS = "observable_"  # prefix of the observables' datasets, beside the species' ones


class _Prefixed:
    """A group seen through a name prefix, so the species' moment update serves the observables."""

    def __init__(self, group: h5py.Group, prefix: str):
        self.group, self.prefix = group, prefix

    def __getitem__(self, key: str):  # "mean" -> "observable_mean", "_m2" -> "_observable_m2"
        return self.group[f"_{self.prefix}{key[1:]}" if key.startswith("_") else self.prefix + key]


def _create_observables(g: h5py.Group, c: ConditionSpec, comp: dict) -> None:
    """``observable`` scale, ``observable_trajectories`` (cell, time, observable) float64 and their
    summaries (``observable_mean``, ``_std``, ``_quantiles``), mirroring the species' datasets."""
    n_t, n_o = c.time.size, len(c.observables)
    scale = g.create_dataset("observable", data=np.array(c.observables, dtype=object), dtype=_STR)
    scale.make_scale("observable")
    rows = int(max(1, min(max(c.keep, 1), CHUNK_BYTES // (n_t * n_o * 8))))
    traj = g.create_dataset(_OBS + "trajectories", shape=(0, n_t, n_o), maxshape=(None, n_t, n_o),
                            dtype=np.float64, chunks=(rows, n_t, n_o), **comp)
    mean = g.create_dataset(_OBS + "mean", data=np.zeros((n_t, n_o)))
    std = g.create_dataset(_OBS + "std", data=np.full((n_t, n_o), np.nan))
    g.create_dataset("_" + _OBS + "m2", data=np.zeros((n_t, n_o)))
    quantiles = g.create_dataset(_OBS + "quantiles", data=np.full((QUANTILES.size, n_t, n_o), np.nan))
    _attach(traj, g["cell"], g["time"], scale)
    _attach(mean, g["time"], scale)
    _attach(std, g["time"], scale)
    _attach(quantiles, g["quantile"], g["time"], scale)


def _append_observables(g: h5py.Group, done: int, values: np.ndarray) -> None:
    """Store the observables of the cells whose species trajectories were stored (call after them)."""
    traj = g[_OBS + "trajectories"]
    stored = g["trajectories"].shape[0]
    if stored > traj.shape[0]:
        traj.resize((stored,) + traj.shape[1:])
        traj[done:stored] = values[:stored - done]
    _merge_moments(_Prefixed(g, _OBS), done, values)


def _reopen_observables(g: h5py.Group) -> None:
    if _OBS + "trajectories" in g:
        traj = g[_OBS + "trajectories"]
        traj.resize((g["trajectories"].shape[0],) + traj.shape[1:])


def _finish_observables(g: h5py.Group, keep: int) -> None:
    traj = g[_OBS + "trajectories"]
    if traj.shape[0]:
        g[_OBS + "quantiles"][...] = _quantiles(traj)
    if traj.shape[0] > keep:
        traj.resize((keep,) + traj.shape[1:])
    del g["_" + _OBS + "m2"]


def _plain(value):
    """HDF5 attributes are plain numbers and strings, never pickles."""
    if isinstance(value, (bool, int, float, str, np.integer, np.floating, np.bool_)):
        return value
    if value is None:
        return "none"
    return str(value)


def _merge_moments(g: h5py.Group, n_a: int, block: np.ndarray) -> None:
    """Chan, Golub & LeVeque's pairwise update of the running mean and M2 with a new block."""
    x = block.astype(np.float64)
    n_b = x.shape[0]
    mean_b = x.mean(axis=0)
    m2_b = ((x - mean_b) ** 2).sum(axis=0)
    mean_a, m2_a = g["mean"][...], g["_m2"][...]
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + delta**2 * (n_a * n_b / n)
    g["mean"][...] = mean
    g["_m2"][...] = m2
    g["std"][...] = np.sqrt(m2 / (n - 1)) if n > 1 else np.full_like(m2, np.nan)


def _quantiles(traj: h5py.Dataset, max_bytes: int = 512 << 20) -> np.ndarray:
    """Quantiles over cells at each (time, species), reading as many time points at a time as fit in
    ``max_bytes`` of float64 (each pass decompresses the whole dataset, so fewer passes are faster)."""
    n, n_t, n_s = traj.shape
    out = np.empty((QUANTILES.size, n_t, n_s))
    step = max(1, max_bytes // max(1, n * n_s * 8))
    for t0 in range(0, n_t, step):
        out[:, t0:t0 + step] = np.quantile(traj[:, t0:t0 + step, :].astype(np.float64), QUANTILES, axis=0)
    return out


# ---------------------------------------------------------------------- reading
class Condition:
    """One condition of a results file, read lazily."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        with h5py.File(path, "r") as f:
            g = f["conditions"][name]
            self.settings = {k: _decode(v) for k, v in g.attrs.items()}
            self.time = g["time"][...]
            self.species = [s.decode() if isinstance(s, bytes) else s for s in g["species"][...]]
            self.parameter_names = [s.decode() if isinstance(s, bytes) else s for s in g["parameter"][...]]
            self.cells_done = int(g.attrs["cells_done"])
            self.observables = [s.decode() if isinstance(s, bytes) else s
                                for s in (g["observable"][...] if "observable" in g else [])]
            self.kept = int(g["trajectories"].shape[0])  # cells whose trajectories the file holds

    def _read(self, key: str) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            return f["conditions"][self.name][key][...]

    @property
    def trajectories(self) -> np.ndarray:
        return self._read("trajectories")

    @property
    def parameters(self) -> np.ndarray:
        return self._read("parameters")

    @property
    def mean(self) -> np.ndarray:
        return self._read("mean")

    @property
    def std(self) -> np.ndarray:
        return self._read("std")

    @property
    def quantiles(self) -> np.ndarray:
        return self._read("quantiles")

    @property
    def observable_trajectories(self) -> np.ndarray:
        return self._read(_OBS + "trajectories")

    @property
    def quantities(self) -> list[str]:
        """Species then observables: the names summaries and plots accept."""
        return self.species + [o for o in self.observables if o not in self.species]

    def __getitem__(self, name: str) -> np.ndarray:
        """(cells, time) trajectories of one species or observable."""
        if name not in self.species and name in self.observables:
            with h5py.File(self.path, "r") as f:
                return f["conditions"][self.name][_OBS + "trajectories"][:, :, self.observables.index(name)]
        return self.trajectories[:, :, self.species.index(name)]

    def iter_cells(self, chunk_bytes: int = 4 << 20, parameters: bool = False) -> Iterator[tuple]:
        """Kept trajectories in blocks of whole cells, ``(first, block)`` with block (n, T, S), or
        ``(first, block, drawn)`` with ``parameters``; about ``chunk_bytes`` per block, so a file of
        millions of cells is read in bounded memory. Blocks are multiples of the dataset's chunk rows."""
        with h5py.File(self.path, "r") as f:
            g = f["conditions"][self.name]
            traj = g["trajectories"]
            n, n_t, n_s = traj.shape
            rows = traj.chunks[0] if traj.chunks else 1
            step = max(rows, chunk_bytes // max(1, n_t * n_s * traj.dtype.itemsize) // rows * rows)
            for first in range(0, n, step):
                block = traj[first:first + step]
                yield (first, block, g["parameters"][first:first + step]) if parameters else (first, block)

    def iter_parameters(self, rows: int, every: int = 1, stop: int | None = None) -> Iterator[np.ndarray]:
        """Per-cell drawn values of every ``every``-th cell below ``stop``, ``rows`` cells at a time."""
        with h5py.File(self.path, "r") as f:
            drawn = f["conditions"][self.name]["parameters"]
            stop = drawn.shape[0] if stop is None else min(stop, drawn.shape[0])
            step = max(every, rows // every * every)
            for first in range(0, stop, step):
                yield drawn[first:min(first + step, stop):every]

    def to_xarray(self):
        import xarray as xr

        return xr.open_dataset(self.path, group=f"conditions/{self.name}", engine="h5netcdf")


class Results:
    """A stochins results file: ``r.conditions``, ``r[name]``, ``r.attrs``, ``r.complete``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ResultsError(f"{self.path}: no such results file")
        try:
            with h5py.File(self.path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise ResultsError(f"{self.path}: not a stochins results file")
                self.attrs = {k: _decode(v) for k, v in f.attrs.items()}
                order = sorted(f["conditions"], key=lambda n: int(f["conditions"][n].attrs["index"]))
        except OSError as exc:
            raise ResultsError(f"{self.path}: cannot open as HDF5 ({exc})") from None
        self.conditions: list[str] = order

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete"))

    def __getitem__(self, name: str) -> Condition:
        if name not in self.conditions:
            raise KeyError(f"no condition {name!r}; conditions: {', '.join(self.conditions)}")
        return Condition(self.path, name)

    def __iter__(self) -> Iterator[Condition]:
        return (self[n] for n in self.conditions)


def _decode(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def open_results(path: str | Path) -> Results:
    return Results(path)
