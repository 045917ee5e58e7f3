"""Run a condition's blocks on a Dask cluster; the driver alone writes the output file.

Blocks are pure functions of (plan, first cell, count), so workers return exactly the arrays the
local executor would: the same run gives the same bits on a laptop or a cluster, and a block whose
worker died is recomputed elsewhere with the same result. At most ``in_flight`` blocks are
outstanding, so the driver's memory stays bounded by the block size. A bad or unreachable scheduler
is a :class:`SchedulerError` within ``connect_timeout`` seconds (before any file exists); a cluster
without workers for ``lost_after`` seconds, or one that keeps killing a block, ends the run with
an :class:`ExecutorError`, leaving the output resumable.
"""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Callable, Iterable, Iterator

from ..simulation import Block, Plan
from . import ExecutorError, SchedulerError

_ADDRESS = re.compile(r"^(?:(tcp|tls|ucx|inproc|ws|wss)://)?[\w.\-\[\]:]+:\d+$")


def _simulate(plan: Plan, first: int, n: int, threads: int | None) -> Block:
    return plan.block(first, n, threads=threads)


class DaskExecutor:
    """``address``: a scheduler address (``tcp://host:8786``) or ``local[:N]`` for a local cluster of N
    single-threaded worker processes (default: one per core)."""

    def __init__(self, address: str, threads: int | None = 1, in_flight: int | None = None,
                 connect_timeout: float = 5.0, lost_after: float = 30.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - depends on the environment
            raise SchedulerError("the Dask executor needs dask.distributed: pip install 'stochins[dask]'") from None
        self._cluster = None
        self.lost_after = lost_after
        address = str(address).strip()
        if address == "local" or address.startswith("local:"):
            n_text = address.partition(":")[2]
            if n_text and (not n_text.isdigit() or int(n_text) < 1):
                raise SchedulerError(f"--scheduler {address}: expected local or local:N with N >= 1 workers")
            n = int(n_text) if n_text else None
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            if not _ADDRESS.match(address):
                raise SchedulerError(f"--scheduler {address}: expected a scheduler address like tcp://host:8786, "
                                     f"or local[:N]")
            try:
                self.client = Client(address, timeout=f"{connect_timeout}s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise SchedulerError(f"--scheduler {address}: no Dask scheduler answered within "
                                     f"{connect_timeout:g} s ({type(exc).__name__})") from None
        self.threads = threads
        workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        self.in_flight = in_flight or 2 * workers

    def map(self, plan: Plan, blocks: Iterable[tuple[int, int]],
            check: Callable[[], None] | None = None) -> Iterator[Block]:
        """Submit blocks, keeping a bounded window in flight; yield them in order. ``check()`` is
        called while waiting and may raise to stop (the outstanding blocks are cancelled)."""
        pending: deque = deque()
        try:
            remote_plan = self.client.scatter(plan, broadcast=True, hash=False)
            for first, n in blocks:
                pending.append(self.client.submit(_simulate, remote_plan, first, n, self.threads, pure=False))
                if len(pending) >= self.in_flight:
                    yield self._result(pending.popleft(), check)
            while pending:
                yield self._result(pending.popleft(), check)
        finally:
            if pending:
                self.client.cancel(list(pending))

    def _result(self, future, check: Callable[[], None] | None) -> Block:
        from distributed import wait

        alone_since = None
        while True:
            if check is not None:
                check()
            try:
                wait(future, timeout=0.2)
            except TimeoutError:
                pass
            except Exception as exc:  # noqa: BLE001 - wait raises for a future the cluster cancelled (lost workers)
                if not _is_cluster_failure(exc):
                    raise
                break
            if future.done():
                break
            if len(self.client.scheduler_info().get("workers", {})) == 0:
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > self.lost_after:
                    raise ExecutorError(f"the Dask cluster has had no workers for {self.lost_after:g} s; the output "
                                        f"is left incomplete: continue with --resume when workers are back")
            else:
                alone_since = None
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - sorted below: our own errors pass through unchanged
            if _is_cluster_failure(exc):
                raise ExecutorError(f"the Dask cluster failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                    f"); the output is left incomplete: continue with --resume") from None
            raise

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def _is_cluster_failure(exc: BaseException) -> bool:
    """Lost workers, lost data or a broken connection (as opposed to an error of the simulation)."""
    from distributed.scheduler import KilledWorker

    names = {"CancelledError", "FutureCancelledError", "FuturesCancelledError", "CommClosedError", "FutureLost"}
    return isinstance(exc, (KilledWorker, OSError, TimeoutError)) or type(exc).__name__ in names
