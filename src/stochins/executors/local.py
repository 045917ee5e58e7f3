"""The default executor: blocks simulated one after another in this process, cells of a block in
parallel on numba threads."""

from __future__ import annotations

from typing import Iterable, Iterator

from ..simulation import Block, Plan


class LocalExecutor:
    def __init__(self, threads: int | None = None):
        self.threads = threads

    def map(self, plan: Plan, blocks: Iterable[tuple[int, int]]) -> Iterator[Block]:
        """Simulate ``(first_cell, n)`` blocks, yielding them in the order given."""
        for first, n in blocks:
            yield plan.block(first, n, threads=self.threads)

    def close(self) -> None:
        pass
