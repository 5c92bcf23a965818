"""klugman: the command-line client of quince, StackTach's REST API.

Two layers, importable separately:

* :mod:`klugman.client` - :class:`~klugman.client.Client`, one method per endpoint,
  for scripts too. It speaks HTTP with the standard library only
  (:mod:`klugman.transport`) and raises the typed errors of :mod:`klugman.errors`.
* :mod:`klugman.cli` - the ``klugman`` command (click; its options in
  :mod:`klugman.options`, its output and failures in :mod:`klugman.output`),
  which prints tables for people (:mod:`klugman.tables`, :mod:`klugman.views`)
  or JSON for scripts.

klugman imports nothing of ours but :mod:`stacktach` (DESIGN.md §2): it knows the
server only through its HTTP contract.
"""

from klugman.client import Client
from klugman.errors import (
    ApiError,
    BadRequest,
    Conflict,
    NotFound,
    ServerError,
    Unauthorized,
    Unreachable,
)

__all__ = [
    "ApiError",
    "BadRequest",
    "Client",
    "Conflict",
    "NotFound",
    "ServerError",
    "Unauthorized",
    "Unreachable",
]
