"""Run a condition's blocks on a Dask cluster; the driver alone writes the output file.

Blocks are pure functions of (plan, first cell, count), so workers return exactly the arrays the
local executor would: the same run gives the same bits on a laptop or a cluster. At most
``in_flight`` blocks are outstanding, so the driver's memory stays bounded by the block size.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator

from ..simulation import Block, Plan


def _simulate(plan: Plan, first: int, n: int, threads: int | None) -> Block:
    return plan.block(first, n, threads=threads)


class DaskExecutor:
    """``address``: a scheduler address (``tcp://host:8786``) or ``local[:N]`` for a local cluster of N
    single-threaded worker processes (default: one per core)."""

    def __init__(self, address: str, threads: int | None = 1, in_flight: int | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("the Dask executor needs dask.distributed: pip install 'stochins[dask]'") from exc
        self._cluster = None
        if address.startswith("local"):
            n = int(address.split(":", 1)[1]) if ":" in address else None
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            self.client = Client(address)
        self.threads = threads
        workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        self.in_flight = in_flight or 2 * workers

    def map(self, plan: Plan, blocks: Iterable[tuple[int, int]]) -> Iterator[Block]:
        """Submit blocks, keeping a bounded window in flight; yield them in order."""
        remote_plan = self.client.scatter(plan, broadcast=True)
        pending: deque = deque()
        for first, n in blocks:
            pending.append(self.client.submit(_simulate, remote_plan, first, n, self.threads, pure=False))
            if len(pending) >= self.in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
