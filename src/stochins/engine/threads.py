"""Cells of a block shared among threads that call a serial, GIL-free kernel.

Used instead of a ``prange`` loop: numba's parallel compilation of a block kernel costs seconds on
every model's first run, and a shared queue of small chunks balances cells of unequal cost. Each
cell reads and writes only its own rows, so the result does not depend on the threads or chunks.
"""

from __future__ import annotations

import itertools
import threading
from typing import Callable

import numba

#: chunks per thread: small enough to balance cells of unequal cost, large enough that the
#: per-call overhead (a few µs) is negligible
CHUNKS_PER_THREAD = 16


def run_cells(kernel: Callable, n: int, *args) -> None:
    """``kernel(first, last, *args)`` over cells 0..n-1 on ``numba.get_num_threads()`` threads."""
    threads = min(numba.get_num_threads(), n)
    if threads <= 1:
        kernel(0, n, *args)
        return
    size = max(1, n // (threads * CHUNKS_PER_THREAD))
    starts = itertools.count(0, size)  # next() on a count is atomic under the GIL
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for first in starts:
                if first >= n or errors:
                    return
                kernel(first, min(n, first + size), *args)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the calling thread)
            errors.append(exc)

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads - 1)]
    for t in pool:
        t.start()
    work()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
