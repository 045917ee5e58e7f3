"""The default executor: blocks simulated one after another in this process, cells of a block in
parallel on numba threads."""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Iterator

from ..simulation import Block, Plan


class LocalExecutor:
    def __init__(self, threads: int | None = None):
        self.threads = threads

    def map(self, plan: Plan, blocks: Iterable[tuple[int, int]],
            check: Callable[[], None] | None = None) -> Iterator[Block]:
        """Simulate ``(first_cell, n)`` blocks, yielding them in the order given; ``check()`` is called
        while a block runs and may raise to abandon it (see :func:`run_interruptibly`)."""
        for first, n in blocks:
            if check is None:
                yield plan.block(first, n, threads=self.threads)
            else:
                yield run_interruptibly(lambda: plan.block(first, n, threads=self.threads), check)

    def close(self) -> None:
        pass


def run_interruptibly(fn: Callable, check: Callable[[], None], poll: float = 0.05):
    """Run ``fn`` in a worker thread while this thread keeps calling ``check()``, which may raise to
    abandon it. Numba kernels release the GIL but cannot be interrupted, so this is how a signal
    stops a long (or runaway) block within ``poll`` seconds: the abandoned thread is a daemon that
    never keeps the process alive (within Python it finishes its block in the background)."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="stochins-block", daemon=True)
    worker.start()
    while worker.is_alive():
        check()
        worker.join(poll)
    if "error" in box:
        raise box["error"]
    return box["value"]
