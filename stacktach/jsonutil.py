"""Typed JSON: values JSON has no type for are tagged with ``__type__``.

The encoding is the original StackTach API's, so its clients keep working::

    datetime -> {"__type__": "datetime",
                 "datetime": "2014-05-01T00:45:00.000000+00:00"}

Other components add their own tagged types (time ranges, for instance) by giving
the class a ``to_typed_json()`` method for encoding and registering a decoder for
the tag with :func:`register_decoder`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from stacktach.timeutils import format_timestamp, parse_timestamp

__all__ = ["dumps", "encode_default", "loads", "object_hook", "register_decoder"]

_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "datetime": lambda d: parse_timestamp(d["datetime"]),
}


def register_decoder(tag: str, decoder: Callable[[dict[str, Any]], Any]) -> None:
    """Decode objects tagged ``{"__type__": tag, ...}`` with ``decoder``."""
    _DECODERS[tag] = decoder


def encode_default(obj: Any) -> Any:
    """``default=`` hook for :func:`json.dumps`: tag datetimes and typed objects."""
    if isinstance(obj, datetime):
        return {"__type__": "datetime", "datetime": format_timestamp(obj)}
    to_typed = getattr(obj, "to_typed_json", None)
    if to_typed is not None:
        return to_typed()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def object_hook(obj: dict[str, Any]) -> Any:
    """``object_hook=`` for :func:`json.loads`: turn tagged objects back into values."""
    tag = obj.get("__type__")
    if not isinstance(tag, str):  # absent, or data that is not a tag
        return obj
    decoder = _DECODERS.get(tag)
    return obj if decoder is None else decoder(obj)


def dumps(obj: Any, **kwargs: Any) -> str:
    """Serialise ``obj`` to typed JSON text."""
    return json.dumps(obj, default=encode_default, **kwargs)


def loads(text: str | bytes) -> Any:
    """Parse typed JSON text back into Python values."""
    return json.loads(text, object_hook=object_hook)
