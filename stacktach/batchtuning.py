"""The interpreter tuned for ingest's batches: the cyclic garbage collector,
and how long a thread keeps Python's lock.

The garbage collector
---------------------

A batch of 500 notifications allocates hundreds of thousands of containers
(decoded bodies, event rows, trait index tuples) that reference counting frees
on its own. With CPython's default first threshold (a collection every 700
container allocations) the cyclic collector runs about a thousand times per
batch, and each run walks the young objects, most of them the batch still being
built: 10% of the database thread's samples on PostgreSQL in a py-spy profile
of ``bench/ingest.py``.

:func:`batch_tuning` raises the first threshold to :data:`GEN0_THRESHOLD` for the
work inside it, after one full collection and :func:`gc.freeze` of what is
alive then (modules, configuration, connections: never walked again), and puts
both back on the way out. The collector still runs, and still frees cycles:
only less often, so at most a few megabytes of cyclic garbage wait for it.

The switch interval
-------------------
Ingest distils a batch on one thread while the batch before it is stored on
another, whose transaction is a string of short statements, each a wait on the
server with Python's lock released. Each time the server answers, that thread
must get the lock back from the distilling thread, which keeps it up to
``sys.getswitchinterval()`` (5 ms by default) before it hands it over: some
twenty times per batch, the database thread idles for the lock more than for
the server. Inside, the interval is :data:`SWITCH_INTERVAL`: +20% notifications
per second on PostgreSQL and +5-9% on MariaDB in ``bench/ingest.py``
(interleaved runs), for a few more switches per second on the CPU-bound thread.

Both are process-wide, as the interpreter's settings are; nested or concurrent
uses share the outer one's settings, and the last to leave puts them back.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterator

__all__ = ["GEN0_THRESHOLD", "SWITCH_INTERVAL", "batch_tuning"]

#: Container allocations between two young collections inside :func:`batch_tuning`.
GEN0_THRESHOLD = 50_000
#: Seconds a thread may keep Python's lock while another waits, inside.
SWITCH_INTERVAL = 0.0005

_LOCK = threading.Lock()
_users = 0
_saved: tuple[int, int, int] = (700, 10, 10)
_saved_interval = 0.005


@contextlib.contextmanager
def batch_tuning() -> Iterator[None]:
    """Collect less often and switch threads sooner inside (see the module's
    description)."""
    global _users, _saved, _saved_interval
    with _LOCK:
        _users += 1
        if _users == 1:
            _saved = gc.get_threshold()
            _saved_interval = sys.getswitchinterval()
            gc.collect()
            gc.freeze()
            gc.set_threshold(max(GEN0_THRESHOLD, _saved[0]), *_saved[1:])
            sys.setswitchinterval(min(SWITCH_INTERVAL, _saved_interval))
    try:
        yield
    finally:
        with _LOCK:
            _users -= 1
            if _users == 0:
                gc.set_threshold(*_saved)
                sys.setswitchinterval(_saved_interval)
                gc.unfreeze()
