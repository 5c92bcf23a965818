"""The cyclic garbage collector, tuned for ingest's batches.

A batch of 500 notifications allocates hundreds of thousands of containers
(decoded bodies, event rows, trait index tuples) that reference counting frees
on its own. With CPython's default first threshold (a collection every 700
container allocations) the cyclic collector runs about a thousand times per
batch, and each run walks the young objects, most of them the batch still being
built: 10% of the database thread's samples on PostgreSQL in a py-spy profile
of ``bench/ingest.py``.

:func:`batch_gc` raises the first threshold to :data:`GEN0_THRESHOLD` for the
work inside it, after one full collection and :func:`gc.freeze` of what is
alive then (modules, configuration, connections: never walked again), and puts
both back on the way out. The collector still runs, and still frees cycles:
only less often, so at most a few megabytes of cyclic garbage wait for it.
Process-wide, as the collector is; nested or concurrent uses share the outer
one's settings.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["GEN0_THRESHOLD", "batch_gc"]

#: Container allocations between two young collections inside :func:`batch_gc`.
GEN0_THRESHOLD = 50_000

_LOCK = threading.Lock()
_users = 0
_saved: tuple[int, int, int] = (700, 10, 10)


@contextlib.contextmanager
def batch_gc() -> Iterator[None]:
    """Collect less often inside (see the module's description)."""
    global _users, _saved
    with _LOCK:
        _users += 1
        if _users == 1:
            _saved = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(max(GEN0_THRESHOLD, _saved[0]), *_saved[1:])
    try:
        yield
    finally:
        with _LOCK:
            _users -= 1
            if _users == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
