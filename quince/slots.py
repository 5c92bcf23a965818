"""How many ordinary requests a worker process runs at once (falcon middleware).

A ``gthread`` worker has many threads (``api.threads``) so that live streams,
each holding one, are cheap. Ordinary requests are mostly Python: run 30 of
them at once under one GIL and each is slowed by all the others, every thread
switch costs the lot, and the biggest pages wait longest. So at most
``api.request_slots`` of them run at once in a process, the others waiting
(blocked, off the GIL) for a slot; a live stream (a resource with
``long_lived = True``) takes none. With 8 clients on 2 workers of a 2-core
machine, ``bench/api.py`` measured a worst route p99 of 38-55 ms with all 32
threads running requests, 27-35 ms with 2 slots.
"""

from __future__ import annotations

import threading
from typing import Any

import falcon

__all__ = ["RequestSlots"]


class RequestSlots:
    """At most ``slots`` ordinary requests of this process at once."""

    def __init__(self, slots: int) -> None:
        self._free = threading.BoundedSemaphore(slots)

    def process_resource(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        resource: Any,
        params: dict[str, Any],
    ) -> None:
        if resource is None or getattr(resource, "long_lived", False):
            return
        self._free.acquire()
        req.context.request_slot = True

    def process_response(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        resource: Any,
        req_succeeded: bool,
    ) -> None:
        if req.context.get("request_slot"):
            req.context.request_slot = False
            self._free.release()
