"""HDF5 results: the streaming writer, the reader and the run's output lock (layout: format_version 1,
see README). The only module that opens HDF5 files.

The writer appends each finished block of cells along a resizable cell axis, so memory is bounded by
the block. Population means and SDs are merged block by block (Chan et al.'s parallel update of mean
and M2), so they are exact even when trajectories are not kept; quantiles are computed at the end
from the kept cells (see ``quantiles_cells``).

A file marked complete is exactly the uninterrupted run's file. A block is committed in two steps:
(1) its data, the running moments it leads to — written into the oldest of three moment slots, each
tagged with the cell count it describes — and a journal row with the block's checksum; a flush and an
fsync; (2) the condition's ``cells_done``; a flush and an fsync. Blocks of different conditions finished within
``COMMIT_SECONDS`` share one commit (a sweep of thousands of one-block conditions would otherwise
spend its time flushing), while a condition's next block always waits for its previous one to be
committed. Whenever the process dies, the ``cells_done`` on disk names a block boundary whose data
were flushed and whose moments sit in a slot not overwritten since (the slots of the last two
counts are never the oldest); ``--resume`` cuts whatever lies beyond it, checks every journaled
block against its checksum and restores mean and SD from that slot. The end-of-run pass records
every condition's quantiles (``quantiles_cells``) and flushes before it shrinks anything, so it
resumes too. Chunks of the cell axis never straddle two blocks, so writing a block never rewrites
an earlier block's chunk.

Observables (recorded named expressions, float64) are written beside the species in the same block
commit: ``observable_trajectories`` for the same stored cells (in the block's checksum), their running
moments in ``_observable_moments``, whose slots are tagged by ``_moments``' ``cells`` (the same slot index
is written by the same block), and their quantiles in the same resumable end-of-run pass.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import errno
import fcntl
import functools
import os
import signal
import sys
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

from .._version import __version__

FORMAT = "stochins"
FORMAT_VERSION = 1
QUANTILES = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
#: cells kept for quantiles when the run keeps fewer trajectories than this (deleted at the end)
QUANTILE_SAMPLE = 10_000
CHUNK_BYTES = 1 << 20
_STR = h5py.string_dtype("utf-8")
#: working datasets of an incomplete condition (removed when the condition is finished)
_WORKING = ("_moments", "_observable_moments", "_journal")
#: prefix of the observables' datasets, beside the species' ones
_OBS = "observable_"
_SLOTS = 3
#: blocks finished within this many seconds are committed with one flush
COMMIT_SECONDS = 0.5

#: ``STOCHINS_FAULT=POINT[#N][=kill|enospc]`` stops the writer at the N-th pass through POINT (tests)
FAULT_ENV = "STOCHINS_FAULT"
FAULT_POINTS = ("block.data", "block.cells", "block.moments", "block.journal", "commit.flushed",
                "commit.counted", "finish.start", "finish.quantiles", "finish.recorded", "finish.shrunk",
                "finish.cleaned", "finish.complete")


class ResultsError(RuntimeError):
    """An output file cannot be written, resumed or read as asked."""


class OutputWriteError(ResultsError):
    """Writing the output failed (disk full, I/O error); the file is left incomplete and resumable."""


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
    block: int = 0          # cells per block (chunks of the cell axis divide it); 0: not known
    observables: list[str] = field(default_factory=list)  # recorded named expressions (float64)


class _Faults:
    """The test hook: kill the process (as ``kill -9`` would) or raise ENOSPC at a named point."""

    def __init__(self):
        spec = os.environ.get(FAULT_ENV, "")
        spec, _, self.action = spec.partition("=")
        self.point, _, nth = spec.partition("#")
        self.nth = int(nth or 1)
        self.seen = 0
        if self.point and self.point not in FAULT_POINTS:
            raise ValueError(f"{FAULT_ENV}: unknown point {self.point!r} (points: {', '.join(FAULT_POINTS)})")

    def __call__(self, point: str) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen != self.nth:
            return
        if self.action == "enospc":
            raise OSError(errno.ENOSPC, f"No space left on device (injected at {point})")
        os.kill(os.getpid(), signal.SIGKILL)


class TrajectoryWriter:
    """Writes one run: create (or reopen to resume), append blocks, finish."""

    def __init__(self, path: Path, *, attrs: dict, conditions: Sequence[ConditionSpec], compression: str = "gzip",
                 compression_level: int = 4, resume: bool = False, fingerprint: str = ""):
        self.path = Path(path)
        self.conditions = {c.name: c for c in conditions}
        self._fault = _Faults()
        self._comp = {} if compression == "none" else (
            {"compression": "gzip", "compression_opts": compression_level, "shuffle": True}
            if compression == "gzip" else {"compression": "lzf", "shuffle": True})
        self.file = None
        self._open: dict[str, _Open] = {}   # condition -> its datasets, open while a block is pending
        self._pending: dict[str, int] = {}  # condition -> cells done, written but not yet counted on disk
        self._last_commit = time.monotonic()
        if resume:
            self.file = self._reopen(fingerprint, attrs)
            self._done = {c: int(self.file["conditions"][c].attrs["cells_done"]) for c in self.conditions}
            return
        self._done = {c: 0 for c in self.conditions}
        tmp = self.path.with_name(self.path.name + ".partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = h5py.File(tmp, "w", libver=("v108", "latest"))
            _compact_objects(self.file)
            self._create(attrs, fingerprint)
            self._sync()
            self.file.close()
            tmp.replace(self.path)  # the file appears only once its layout is complete (and on disk)
            _sync_directory(self.path.parent)
            self.file = h5py.File(self.path, "a")
        except OSError as exc:
            if self.file is not None and self.file.id.valid:
                self.file.close()
            tmp.unlink(missing_ok=True)
            raise OutputWriteError(f"{self.path}: cannot create the output ({_reason(exc)})") from None

    # ------------------------------------------------------------------ layout
    def _create(self, attrs: dict, fingerprint: str) -> None:
        f = self.file
        f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "stochins_version": __version__,
                        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        "complete": False, "run_fingerprint": fingerprint})
        f.attrs.update({k: _plain(v) for k, v in attrs.items()})
        top = f.create_group("conditions")
        for c in self.conditions.values():
            g = _compact_group(top, c.name)
            g.attrs.update({k: _plain(v) for k, v in c.settings.items()})
            g.attrs.update({"index": c.index, "cells": c.cells, "cells_done": 0, "trajectories_kept": c.keep})
            n_t, n_s, n_p = c.time.size, len(c.species), len(c.parameter_names)
            block = min(c.block or c.cells, c.cells)
            time = g.create_dataset("time", data=c.time)
            time.attrs["units"] = "min"
            species = g.create_dataset("species", data=np.array(c.species, dtype=object), dtype=_STR)
            quantile = g.create_dataset("quantile", data=QUANTILES)
            cell = g.create_dataset("cell", shape=(0,), maxshape=(None,), dtype=np.int64,
                                    chunks=(_rows(block, 1 << 16),), **self._comp)
            parameter = g.create_dataset("parameter", data=np.array(c.parameter_names, dtype=object), dtype=_STR)
            for scale in (time, species, quantile, cell, parameter):
                scale.make_scale(scale.name.rsplit("/", 1)[-1])
            itemsize = np.dtype(c.dtype).itemsize
            stored = max(c.keep, min(c.cells, QUANTILE_SAMPLE), 1)
            rows = _rows(min(block, stored), max(1, CHUNK_BYTES // max(1, n_t * n_s * itemsize)))
            # no species recorded (only observables): HDF5 cannot chunk a zero-length axis, h5py picks a layout
            traj = g.create_dataset("trajectories", shape=(0, n_t, n_s), maxshape=(None, n_t, n_s), dtype=c.dtype,
                                    chunks=(rows, n_t, n_s) if n_s else None, **(self._comp if n_s else {}),
                                    **_fill(c, c.dtype))
            params = g.create_dataset("parameters", shape=(0, n_p), maxshape=(None, n_p), dtype=np.float64,
                                      chunks=(_rows(block, 1 << 16), n_p) if n_p else None,
                                      **(self._comp if n_p else {}))
            mean = g.create_dataset("mean", data=np.full((n_t, n_s), np.nan))  # no cells yet: no mean, not 0
            std = g.create_dataset("std", data=np.full((n_t, n_s), np.nan))
            quantiles = g.create_dataset("quantiles", data=np.full((QUANTILES.size, n_t, n_s), np.nan))
            # slots of (mean, M2), each tagged (attribute "cells") with the cell count it describes
            moments = g.create_dataset("_moments", data=np.zeros((_SLOTS, 2, n_t, n_s)))
            moments.attrs["cells"] = np.array([0] + [-1] * (_SLOTS - 1), dtype=np.int64)
            blocks = -(-c.cells // block)
            g.create_dataset("_journal", shape=(0, 3), maxshape=(None, 3), dtype=np.int64, chunks=(min(16, blocks), 3))
            _attach(traj, cell, time, species)
            _mark_fill(traj)
            _attach(params, cell, parameter)
            _attach(mean, time, species)
            _attach(std, time, species)
            _attach(quantiles, quantile, time, species)
            if c.observables:
                self._create_observables(g, c, min(block, stored))

    def _create_observables(self, g: h5py.Group, c: ConditionSpec, block: int) -> None:
        """``observable`` scale, ``observable_trajectories`` (cell, time, observable) float64, their
        summaries and moment slots, mirroring the species' datasets."""
        n_t, n_o = c.time.size, len(c.observables)
        scale = g.create_dataset("observable", data=np.array(c.observables, dtype=object), dtype=_STR)
        scale.make_scale("observable")
        rows = _rows(block, max(1, CHUNK_BYTES // (n_t * n_o * 8)))
        traj = g.create_dataset(_OBS + "trajectories", shape=(0, n_t, n_o), maxshape=(None, n_t, n_o),
                                dtype=np.float64, chunks=(rows, n_t, n_o), **self._comp, **_fill(c, np.float64))
        mean = g.create_dataset(_OBS + "mean", data=np.full((n_t, n_o), np.nan))
        std = g.create_dataset(_OBS + "std", data=np.full((n_t, n_o), np.nan))
        quantiles = g.create_dataset(_OBS + "quantiles", data=np.full((QUANTILES.size, n_t, n_o), np.nan))
        g.create_dataset("_observable_moments", data=np.zeros((_SLOTS, 2, n_t, n_o)))
        _attach(traj, g["cell"], g["time"], scale)
        _attach(mean, g["time"], scale)
        _attach(std, g["time"], scale)
        _attach(quantiles, g["quantile"], g["time"], scale)
        _mark_fill(traj)

    def _reopen(self, fingerprint: str, attrs: dict) -> h5py.File:
        if not self.path.exists():
            raise ResultsError(f"{self.path}: nothing to resume (the file does not exist)")
        try:
            f = h5py.File(self.path, "a")
        except OSError as exc:
            raise ResultsError(f"{self.path}: cannot be reopened to resume ({_reason(exc)}); "
                               f"run again with --overwrite") from None
        try:
            _check_identity(self.path, f, fingerprint, attrs, self.conditions)
            for c in self.conditions.values():
                self._restore(f["conditions"][c.name], c)
            _sync(f)
        except ResultsError:
            f.close()
            raise
        except (OSError, KeyError, ValueError) as exc:
            f.close()
            raise ResultsError(f"{self.path}: cannot be resumed ({_reason(exc)}); run again with --overwrite") from None
        return f

    def _restore(self, g: h5py.Group, c: ConditionSpec) -> None:
        """Cut what a killed block left beyond ``cells_done``, verify the journaled blocks and put mean
        and SD back to the moments of exactly ``cells_done`` cells."""
        done = int(g.attrs["cells_done"])
        if "quantiles_cells" in g.attrs:  # finished by an interrupted end-of-run pass
            return
        journal = g["_journal"][...]
        journal = journal[journal[:, 0] + journal[:, 1] <= done]
        if int(journal[:, 1].sum()) != done or (journal.size and journal[-1, 0] + journal[-1, 1] != done):
            raise ResultsError(f"{self.path}: condition {c.name!r}: the journal does not account for its "
                               f"{done} finished cells; the file cannot be resumed, run with --overwrite")
        self._truncate(g, done)
        for first, n, crc in journal:
            if self._checksum(g, c, int(first), int(n)) != crc:
                raise ResultsError(f"{self.path}: condition {c.name!r}: cells {first}-{first + n - 1} do not match "
                                   f"their checksum (the data never reached the disk?); the file cannot be "
                                   f"resumed, run with --overwrite")
        g["_journal"].resize((len(journal), 3))
        slots = g["_moments"].attrs["cells"]
        if done not in slots:
            raise ResultsError(f"{self.path}: condition {c.name!r}: no running moments for {done} cells; "
                               f"the file cannot be resumed, run with --overwrite")
        slot = int(np.flatnonzero(slots == done)[0])
        g["_moments"].attrs["cells"] = np.where(np.arange(_SLOTS) == slot, done, -1)
        mean, m2 = g["_moments"][slot]
        _write_summary(g, mean, m2, done)
        if c.observables:
            mean, m2 = g["_observable_moments"][slot]
            _write_summary(g, mean, m2, done, _OBS)

    @staticmethod
    def _truncate(g: h5py.Group, done: int) -> None:
        g["cell"].resize((done,))
        g["trajectories"].resize((min(done, g["trajectories"].shape[0]),) + g["trajectories"].shape[1:])
        g["parameters"].resize((done, g["parameters"].shape[1]))
        if _OBS + "trajectories" in g:
            obs = g[_OBS + "trajectories"]
            obs.resize((min(done, obs.shape[0]),) + obs.shape[1:])

    def _stored(self, c: ConditionSpec) -> int:
        """Cells whose trajectories are stored while the run goes (kept, or sampled for quantiles)."""
        return max(c.keep, min(c.cells, QUANTILE_SAMPLE))

    def _checksum(self, g: h5py.Group, c: ConditionSpec, first: int, n: int) -> int:
        k = max(0, min(n, self._stored(c) - first))
        crc = zlib.crc32(np.ascontiguousarray(g["cell"][first:first + n]).tobytes())
        crc = zlib.crc32(np.ascontiguousarray(g["parameters"][first:first + n]).tobytes(), crc)
        if k:
            crc = zlib.crc32(np.ascontiguousarray(g["trajectories"][first:first + k]).tobytes(), crc)
            if c.observables:
                crc = zlib.crc32(np.ascontiguousarray(g[_OBS + "trajectories"][first:first + k]).tobytes(), crc)
        return crc

    def cells_done(self, condition: str) -> int:
        """Cells appended to a condition so far (committed, or about to be)."""
        return self._done[condition]

    # ------------------------------------------------------------------ streaming
    def append(self, condition: str, first_cell: int, trajectories: np.ndarray,
               parameters: np.ndarray | None = None, observables: np.ndarray | None = None) -> None:
        self._guarded(self._append, condition, first_cell, trajectories, parameters, observables)

    def _append(self, condition: str, first_cell: int, trajectories: np.ndarray,
                parameters: np.ndarray | None, observables: np.ndarray | None) -> None:
        c = self.conditions[condition]
        if condition in self._pending:  # its previous block must be counted before the slots turn again
            self._commit()
        g = self._open.setdefault(condition, _Open(self.file["conditions"][condition]))
        done = self._done[condition]
        if first_cell != done:
            raise ResultsError(f"block of cells from {first_cell} appended to {condition!r} at {done}")
        n = trajectories.shape[0]
        k = max(0, min(n, self._stored(c) - done))
        if k:
            traj = g["trajectories"]
            traj.resize((done + k,) + traj.shape[1:])
            traj[done:done + k] = trajectories[:k]
            if c.observables:
                obs = g[_OBS + "trajectories"]
                obs.resize((done + k,) + obs.shape[1:])
                obs[done:done + k] = observables[:k]
        self._fault("block.data")
        cells = np.arange(done, done + n, dtype=np.int64)
        g["cell"].resize((done + n,))
        g["cell"][done:] = cells
        p = g["parameters"]
        p.resize((done + n, p.shape[1]))
        params = np.zeros((n, p.shape[1])) if parameters is None else np.asarray(parameters, dtype=np.float64)
        if p.shape[1]:
            p[done:] = params
        self._fault("block.cells")
        moments = g["_moments"]
        slots = moments.attrs["cells"]
        mean_a, m2_a = moments[int(np.flatnonzero(slots == done)[0])]
        mean, m2 = _merge_moments(mean_a, m2_a, done, trajectories)
        oldest = int(np.argmin(slots))  # never the slot of cells_done nor of the count before it
        if c.observables:  # same slot index, written before the tag that claims it
            obs_moments = g["_observable_moments"]
            obs_mean, obs_m2 = _merge_moments(*obs_moments[int(np.flatnonzero(slots == done)[0])], done,
                                              observables)
            obs_moments[oldest] = np.stack([obs_mean, obs_m2])
            _write_summary(g, obs_mean, obs_m2, done + n, _OBS)
        moments[oldest] = np.stack([mean, m2])
        moments.attrs["cells"] = np.where(np.arange(_SLOTS) == oldest, done + n, slots)
        _write_summary(g, mean, m2, done + n)
        self._fault("block.moments")
        crc = zlib.crc32(cells.tobytes())
        crc = zlib.crc32(np.ascontiguousarray(params).tobytes(), crc)
        if k:
            crc = zlib.crc32(np.ascontiguousarray(trajectories[:k], dtype=c.dtype).tobytes(), crc)
            if c.observables:
                crc = zlib.crc32(np.ascontiguousarray(observables[:k], dtype=np.float64).tobytes(), crc)
        journal = g["_journal"]
        rows = journal.shape[0]
        journal.resize((rows + 1, 3))
        journal[rows] = (done, n, crc)
        self._fault("block.journal")
        self._done[condition] = self._pending[condition] = done + n
        if time.monotonic() - self._last_commit >= COMMIT_SECONDS:
            self._commit()

    # The datasets a pending block wrote to stay open until the flush that commits it: closing a
    # dataset writes its cached chunks, and h5py drops any error from that write (a full disk would
    # then be noticed by nobody, and cells_done would claim chunks that are not on disk).

    def commit(self) -> None:
        """Flush the pending blocks, then count them and flush again: on return they are on disk."""
        self._guarded(self._commit)

    def _guarded(self, step, *args):
        try:
            return step(*args)
        except ResultsError:
            raise
        except (OSError, RuntimeError) as exc:  # h5py reports some failed writes as RuntimeError
            with _quiet_unraisable():
                raise self._write_error(exc) from None

    def _commit(self) -> None:
        if not self._pending:
            return
        self._sync()  # the blocks, their moments and journal rows are on disk ...
        self._fault("commit.flushed")
        for condition, done in self._pending.items():  # ... before the counts that claim them
            self.file["conditions"][condition].attrs["cells_done"] = done
            self._open.pop(condition, None)  # flushed: closing writes nothing
        self._pending.clear()
        self._fault("commit.counted")
        self._sync()
        self._last_commit = time.monotonic()

    def finish(self, interrupted=lambda: False) -> bool:
        """Quantiles, then drop the working datasets and mark the file complete. ``interrupted()`` is
        asked between steps; when it turns true the file stays incomplete (and resumable) and the
        result is False."""
        try:
            self._commit()
            self._fault("finish.start")
            for c in self.conditions.values():
                g = self.file["conditions"][c.name]
                if "quantiles_cells" not in g.attrs:
                    n = g["trajectories"].shape[0]
                    if n:
                        g["quantiles"][...] = _quantiles(g["trajectories"], interrupted)
                        if c.observables:
                            g[_OBS + "quantiles"][...] = _quantiles(g[_OBS + "trajectories"], interrupted)
                    self._fault("finish.quantiles")
                    g.attrs["quantiles_cells"] = n
                if interrupted():
                    self._sync()
                    return False
            self._sync()  # every condition's quantiles are on disk before anything shrinks
            self._fault("finish.recorded")
            for c in self.conditions.values():
                g = self.file["conditions"][c.name]
                for key in ("trajectories", _OBS + "trajectories") if c.observables else ("trajectories",):
                    traj = g[key]
                    if traj.shape[0] > c.keep:  # cells stored only for the quantiles
                        traj.resize((c.keep,) + traj.shape[1:])
                self._fault("finish.shrunk")
                for key in _WORKING:
                    if key in g:
                        del g[key]
                self._fault("finish.cleaned")
            if interrupted():
                return False
            self.file.attrs["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            self._sync()
            self._fault("finish.complete")
            self.file.attrs["complete"] = True
            self._sync()  # a failure here still raises: close() below would swallow it
            self.close()
            return True
        except _Stop:
            return False
        except ResultsError:
            raise
        except (OSError, RuntimeError) as exc:
            with _quiet_unraisable():
                raise self._write_error(exc) from None

    def _sync(self) -> None:
        _sync(self.file)

    def _write_error(self, exc: BaseException) -> OutputWriteError:
        self._pending.clear()  # never count blocks whose flush failed
        with _quiet_unraisable():
            traceback.clear_frames(exc.__traceback__)  # let the failed writes' dataset handles go now
            self.close()
        return OutputWriteError(f"{self.path}: cannot write the output ({_reason(exc)}); the file is left "
                                f"incomplete: free space (or fix the disk) and continue with --resume")

    def close(self) -> None:
        if self.file is None or not self.file.id.valid:
            return
        with _quiet_unraisable():
            try:
                self._commit()
                self.file.flush()
            except (OSError, RuntimeError):
                pass  # e.g. still no space: what reached the disk is cut back to cells_done on resume
            finally:
                self._open.clear()
                try:
                    self.file.close()
                except (OSError, RuntimeError):
                    pass


class _quiet_unraisable:
    """From the first failed write on, drop h5py's reports of that failure: HDF5 repeats it (already
    reported in one line) for every handle it flushes on the way out, whenever Python frees the handle,
    and h5py prints each through ``sys.excepthook`` (Cython's handler of errors in ``__dealloc__``) or
    ``sys.unraisablehook``. Every other report passes through unchanged."""

    @staticmethod
    def _echo(value) -> bool:
        text = str(value)
        return not ("file write failed" in text or "decrement id ref count" in text)

    def __enter__(self):
        if not getattr(sys.unraisablehook, "_stochins", False):
            unraisable, excepthook = sys.unraisablehook, sys.excepthook

            def on_unraisable(u):
                if self._echo(u.exc_value):
                    unraisable(u)

            def on_exception(kind, value, tb):
                if self._echo(value):
                    excepthook(kind, value, tb)

            on_unraisable._stochins = True
            sys.unraisablehook, sys.excepthook = on_unraisable, on_exception

    def __exit__(self, *exc):
        pass


class _Open:
    """A condition group whose datasets, once opened, stay open (see TrajectoryWriter.commit)."""

    def __init__(self, group: h5py.Group):
        self.group, self.datasets = group, {}

    def __getitem__(self, name: str) -> h5py.Dataset:
        if name not in self.datasets:
            self.datasets[name] = self.group[name]
        return self.datasets[name]


def _compact_group(parent: h5py.Group, name: str) -> h5py.Group:
    """A group whose (small, often rewritten) attributes stay in its object header, a single checksummed
    block, instead of moving to dense storage (a heap and a B-tree) past 8 attributes: rewriting
    ``cells_done`` there touches several blocks, which a crash between flushes can leave disagreeing."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_attr_phase_change(_COMPACT_ATTRS, _COMPACT_ATTRS - 1)
    gcpl.set_link_creation_order(0)
    gcpl.set_obj_track_times(False)
    native = _native_hdf5()
    if native is not None:  # links too: past 8, a heap and two B-trees would add ~0.7 kB per condition
        native.H5Pset_link_phase_change(gcpl.id, _COMPACT_LINKS, _COMPACT_LINKS - 1)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode("utf-8"), gcpl=gcpl))


#: attributes kept in a condition group's object header (sweeps of many keys add one each)
_COMPACT_ATTRS = 256
#: links kept in a condition group's object header (a condition has at most 21 datasets)
_COMPACT_LINKS = 32


def _compact_objects(f: h5py.File) -> None:
    """Create the objects of a new file in the HDF5 1.10 format, whose index of a dataset with few chunks
    is a few bytes instead of a 2-3 kB B-tree node, while the superblock stays at version 2: a version 3
    superblock (h5py's ``libver="v110"``) marks the file open for writing, and after a crash no program
    could open it until ``h5clear`` cleared the mark."""
    native = _native_hdf5()
    if native is not None:
        native.H5Fset_libver_bounds(f.id.id, h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_LATEST)


@functools.lru_cache(maxsize=None)
def _native_hdf5():
    """The HDF5 library h5py itself loaded, through ctypes, for the two settings h5py does not expose
    (``H5Pset_link_phase_change``, ``H5Fset_libver_bounds`` after the file exists); None where it cannot
    be found for certain (then files are larger, with the same content)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "/libhdf5" in line and "libhdf5_hl" not in line}
    except OSError:
        return None
    if len(paths) != 1:
        return None
    try:
        lib = ctypes.CDLL(paths.pop())
        major, minor, release = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
        lib.H5get_libversion(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(release))
        if (major.value, minor.value, release.value) != h5py.version.hdf5_version_tuple[:3]:
            return None
        lib.H5Pset_link_phase_change.argtypes = [ctypes.c_int64, ctypes.c_uint, ctypes.c_uint]
        lib.H5Pset_link_phase_change.restype = ctypes.c_int
        lib.H5Fset_libver_bounds.argtypes = [ctypes.c_int64, ctypes.c_int, ctypes.c_int]
        lib.H5Fset_libver_bounds.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return lib


def _rows(block: int, limit: int) -> int:
    """Rows per chunk: the largest divisor of the block size within ``limit``, so that no chunk holds
    cells of two blocks (then a failed write never touches an earlier, committed block)."""
    block = max(1, block)
    if block <= limit:
        return block
    for r in range(limit, 0, -1):
        if block % r == 0 and r * 8 >= limit:
            return r
    return limit  # no divisor near the limit (e.g. a prime block size): plain chunks


def _check_identity(path: Path, f: h5py.File, fingerprint: str, attrs: dict, conditions) -> None:
    """Refuse to resume a file started by another run file, model or stochins version."""
    if f.attrs.get("format") != FORMAT:
        raise ResultsError(f"{path}: not a stochins results file")
    if f.attrs.get("complete"):
        raise ResultsError(f"{path}: the run is already complete; nothing to resume")
    if f.attrs.get("run_fingerprint") != fingerprint:
        raise ResultsError(f"{path}: the run file changed since this output was started; "
                           f"refusing to resume (use --overwrite to start again)")
    if str(_decode(f.attrs.get("stochins_version"))) != __version__:
        raise ResultsError(f"{path}: started by stochins {_decode(f.attrs.get('stochins_version'))}, this is "
                           f"{__version__}; refusing to resume (use --overwrite to start again)")
    if "model_hash" in attrs and _decode(f.attrs.get("model_hash")) != attrs["model_hash"]:
        raise ResultsError(f"{path}: the model changed since this output was started (model_hash differs); "
                           f"refusing to resume (use --overwrite to start again)")
    names = set(f["conditions"])
    for c in conditions.values():
        if c.name not in names:
            raise ResultsError(f"{path}: has no condition {c.name!r}; refusing to resume")
        theirs = _decode(f["conditions"][c.name].attrs.get("model_hash"))
        if "model_hash" in c.settings and theirs != c.settings["model_hash"]:
            raise ResultsError(f"{path}: condition {c.name!r}: the model changed since this output was started; "
                               f"refusing to resume (use --overwrite to start again)")


def _sync(f: h5py.File) -> None:
    """Flush HDF5's caches to the operating system and the system's to the disk: a commit point must
    survive a power cut or a crash of the node, not only of the process."""
    f.flush()
    os.fsync(f.id.get_vfd_handle())


def _sync_directory(path: Path) -> None:
    """Make a rename in ``path`` durable (where the system allows opening a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(exc: BaseException) -> str:
    """An OS error in a few words: HDF5 buries errno in a long message."""
    text = str(exc)
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in text or "errno = 28" in text:
        return "no space left on device"
    if getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS) or "Permission denied" in text:
        return "permission denied"
    if getattr(exc, "strerror", None):
        return exc.strerror
    return text.splitlines()[0] if text else type(exc).__name__


def _fill(c: ConditionSpec, dtype) -> dict:
    """When only the first cells' trajectories are kept, the dataset is shorter than its ``cell`` scale and
    netCDF readers (xarray) pad it with the fill value: -1 (no count) or NaN, never h5py's default 0."""
    if c.keep >= c.cells:
        return {}
    return {"fillvalue": np.nan if np.dtype(dtype).kind == "f" else -1}


def _mark_fill(dataset: h5py.Dataset) -> None:
    """``_FillValue`` tells xarray to read the -1 padding of counts as missing (NaN); a NaN fill needs no
    attribute (and one would make the file's attributes unequal to themselves)."""
    if dataset.dtype.kind in "iu" and dataset.fillvalue != 0:  # only set when fewer cells are kept
        dataset.attrs["_FillValue"] = np.array(dataset.fillvalue, dtype=dataset.dtype)


def _attach(dataset: h5py.Dataset, *scales: h5py.Dataset) -> None:
    for axis, scale in enumerate(scales):
        dataset.dims[axis].attach_scale(scale)


def _plain(value):
    """HDF5 attributes are plain numbers and strings, never pickles."""
    if isinstance(value, (bool, int, float, str, np.integer, np.floating, np.bool_)):
        return value
    if value is None:
        return "none"
    return str(value)


def _merge_moments(mean_a: np.ndarray, m2_a: np.ndarray, n_a: int, block: np.ndarray):
    """Chan, Golub & LeVeque's pairwise update of the running mean and M2 with a new block."""
    x = block.astype(np.float64)
    n_b = x.shape[0]
    mean_b = x.mean(axis=0)
    m2_b = ((x - mean_b) ** 2).sum(axis=0)
    n = n_a + n_b
    delta = mean_b - mean_a
    return mean_a + delta * (n_b / n), m2_a + m2_b + delta**2 * (n_a * n_b / n)


def _write_summary(g: h5py.Group, mean: np.ndarray, m2: np.ndarray, n: int, prefix: str = "") -> None:
    g[prefix + "mean"][...] = mean if n > 0 else np.full_like(mean, np.nan)
    g[prefix + "std"][...] = np.sqrt(m2 / (n - 1)) if n > 1 else np.full_like(m2, np.nan)


def _quantiles(traj: h5py.Dataset, interrupted=lambda: False, max_bytes: int = 512 << 20) -> np.ndarray:
    """Quantiles over cells at each (time, species), reading as many time points at a time as fit in
    ``max_bytes`` of float64 (each pass decompresses the whole dataset, so fewer passes are faster)."""
    n, n_t, n_s = traj.shape
    out = np.empty((QUANTILES.size, n_t, n_s))
    step = max(1, max_bytes // max(1, n * n_s * 8))
    for t0 in range(0, n_t, step):
        if interrupted():
            raise _Stop
        out[:, t0:t0 + step] = np.quantile(traj[:, t0:t0 + step, :].astype(np.float64), QUANTILES, axis=0)
    return out


class _Stop(Exception):
    """The quantile pass was asked to stop (the caller's ``interrupted()``)."""


# ---------------------------------------------------------------------- the run's lock
class OutputLock:
    """An exclusive lock on an output path for the whole run (``fcntl.flock`` on a hidden sidecar file
    ``.NAME.lock``), so a second run — ``--overwrite`` included — cannot write the same file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self.fd: int | None = None

    def __enter__(self) -> "OutputLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError(f"{self.path}: cannot create the output directory ({_reason(exc)})") from None
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ResultsError(f"{self.path}: cannot write in {self.path.parent} ({_reason(exc)})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ResultsError(f"{self.path}: another stochins run (pid {holder}) is writing this output; "
                                   f"refusing to touch it until that run ends") from None
            try:  # the holder before us may have removed the file we opened: lock the current one
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.lock_path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None


def output_state(path: Path) -> dict | None:
    """``{"complete": bool, "seed": str | None}`` of an existing output file, or None if it is not a
    readable stochins file."""
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                return None
            seed = f.attrs.get("seed")
            return {"complete": bool(f.attrs.get("complete")), "seed": None if seed is None else str(_decode(seed))}
    except (OSError, KeyError):
        return None


# ---------------------------------------------------------------------- reading
class Condition:
    """One condition of a results file, read lazily."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        try:
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
        except (KeyError, OSError) as exc:
            raise ResultsError(f"{path}: condition {name!r} is not readable ({_reason(exc)})") from None

    def _read(self, key: str, rows: int | None = None) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            d = f["conditions"][self.name][key]
            return d[...] if rows is None else d[:rows]

    @property
    def trajectories(self) -> np.ndarray:
        return self._read("trajectories")

    def first_cells(self, n: int) -> np.ndarray:
        """Trajectories of the first ``n`` stored cells (only those are read); observables follow the
        species on the last axis, as in ``summaries`` (``quantities``)."""
        with h5py.File(self.path, "r") as f:
            g = f["conditions"][self.name]
            few = g["trajectories"][:max(0, n)]
            if "observable" in g:
                few = np.concatenate([few, g[_OBS + "trajectories"][:max(0, n)]], axis=-1)
            return few

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

    def summaries(self) -> dict:
        """The stored summaries in one file open (never the trajectories); observables follow the
        species on the last axis (``quantities``)."""
        with h5py.File(self.path, "r") as f:
            g = f["conditions"][self.name]
            out = {"mean": g["mean"][...], "std": g["std"][...], "quantiles": g["quantiles"][...],
                   "quantile": g["quantile"][...], "cells": int(g.attrs["cells_done"])}
            if "observable" in g:
                for key in ("mean", "std", "quantiles"):
                    out[key] = np.concatenate([out[key], g[_OBS + key][...]], axis=-1)
            return out

    def __getitem__(self, name: str) -> np.ndarray:
        """(cells, time) trajectories of one species or observable (only its column is read)."""
        if name in self.species:
            dataset, column = "trajectories", self.species.index(name)
        elif name in self.observables:
            dataset, column = _OBS + "trajectories", self.observables.index(name)
        else:
            raise KeyError(f"{self.path}: condition {self.name!r} recorded no {name!r} "
                           f"(recorded: {', '.join(self.quantities)})")
        with h5py.File(self.path, "r") as f:
            return f["conditions"][self.name][dataset][:, :, column]

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
                if not isinstance(f.get("conditions"), h5py.Group):
                    raise ResultsError(f"{self.path}: a stochins file without its 'conditions' group (damaged?)")
                groups = f["conditions"]
                order = sorted(groups, key=lambda n: int(groups[n].attrs.get("index", 0)))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise ResultsError(f"{self.path}: cannot open as HDF5 ({_reason(exc)})") from None
        if not order:
            raise ResultsError(f"{self.path}: a stochins file without conditions (damaged?)")
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
