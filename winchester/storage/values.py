"""How trait values are written to, and read from, the database.

* :func:`encode_traits` / :func:`decode_traits`: the ``event.traits`` column, a JSON
  object whose datetimes are tagged exactly as the API shows them
  (``{"__type__": "datetime", "datetime": "...+00:00"}``), so the API can pass it
  through.
* :func:`value_hash`: the 64-bit hash of a typed value stored in ``trait_index``
  and ``stream_dist_trait``. The type is part of the hash: the int ``512`` and the
  text ``"512"`` hash differently, so filters are type-aware.
* :func:`readings`: every typed value a query-string value could mean, for filters.
* :func:`distinguishing_key`: the SHA-256 that identifies a stream's key.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from stacktach import jsonutil
from stacktach.exceptions import TimestampError
from stacktach.timeutils import format_timestamp, parse_timestamp

__all__ = [
    "decode_some_traits",
    "decode_traits",
    "distinguishing_key",
    "encode_key",
    "encode_traits",
    "readings",
    "value_hash",
]

_DATETIME = "datetime"


def encode_traits(traits: Mapping[str, Any]) -> str:
    """The ``event.traits`` JSON text of a trait mapping."""
    plain: dict[str, Any] = {}
    for name, value in traits.items():
        if value.__class__ is datetime:
            plain[name] = {"__type__": _DATETIME, _DATETIME: format_timestamp(value)}
        else:
            plain[name] = value
    return orjson.dumps(plain).decode()


def decode_traits(text: str | bytes) -> dict[str, Any]:
    """Trait mapping from ``event.traits`` JSON text (datetimes restored)."""
    traits: dict[str, Any] = orjson.loads(text)
    for name, value in traits.items():
        if value.__class__ is dict and value.get("__type__") == _DATETIME:
            traits[name] = parse_timestamp(value[_DATETIME])
    return traits


def decode_some_traits(text: str | bytes, names: Iterable[str]) -> dict[str, Any]:
    """The traits ``names`` of ``event.traits`` JSON text (datetimes restored),
    without restoring the others: what a filter needs to check a row."""
    loaded: dict[str, Any] = orjson.loads(text)
    found: dict[str, Any] = {}
    for name in names:
        if name in loaded:
            value = loaded[name]
            if value.__class__ is dict and value.get("__type__") == _DATETIME:
                value = parse_timestamp(value[_DATETIME])
            found[name] = value
    return found


def _canonical(value: Any) -> bytes:
    cls = value.__class__
    if cls is str:
        return b"s" + str(value).encode("utf-8", "surrogatepass")
    if cls is int:
        return b"i%d" % value
    if cls is float:
        return b"f" + repr(value).encode()
    if cls is datetime:
        return b"d" + format_timestamp(value).encode()
    typed = getattr(value, "to_typed_json", None)
    if typed is not None:  # a timex range or timestamp
        data = typed()
        parts = [str(data["__type__"])]
        parts.extend(
            format_timestamp(v) if isinstance(v, datetime) else str(v)
            for k, v in sorted(data.items())
            if k != "__type__"
        )
        return b"r" + "|".join(parts).encode()
    raise TypeError(f"cannot store a value of type {cls.__name__}: {value!r}")


#: ``(class, value) -> value_hash``. Emptied when full: about 210 bytes an
#: entry with the value it keeps alive (a 36-character id), so at most about
#: 2 MB; the values that repeat (tenants, hosts, flavors, live instances) come
#: back at once, while one-off ones (request ids) are what fills it. (200,000
#: held 54 MB, which took a long ingest run or a yagi-event daemon over the
#: 100 MB it must stay under.)
_HASHES: dict[tuple[type, Any], int] = {}
_HASH_CACHE_SIZE = 10_000


def value_hash(value: Any) -> int:
    """Signed 64-bit hash of a typed value (str, int, float, datetime, time range).

    Memoised: trait values repeat a lot (tenants, hosts, flavors, instance ids).
    """
    key = (value.__class__, value)
    try:
        return _HASHES[key]
    except KeyError:
        pass
    except TypeError:  # unhashable: compute without caching
        key = None  # type: ignore[assignment]
    digest = hashlib.blake2b(_canonical(value), digest_size=8).digest()
    hashed = int.from_bytes(digest, "big", signed=True)
    if key is not None:
        if len(_HASHES) >= _HASH_CACHE_SIZE:
            _HASHES.clear()
        _HASHES[key] = hashed
    return hashed


def readings(text: str) -> list[Any]:
    """Every typed value the query-string ``text`` may stand for.

    ``"512"`` may be the text ``"512"``, the int ``512`` or the float ``512.0``;
    ``"2014-05-01T00:00:00"`` may be text or a datetime.
    """
    values: list[Any] = [text]
    with contextlib.suppress(ValueError):
        values.append(int(text))
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            values.append(number)
    with contextlib.suppress(TimestampError):
        values.append(parse_timestamp(text))
    return values


def distinguishing_key(trigger_name: str, key: Iterable[tuple[str, Any]]) -> str:
    """The hex SHA-256 naming a stream: trigger plus typed distinguishing values."""
    digest = hashlib.sha256(trigger_name.encode())
    for name, value in key:
        digest.update(b"\x00" + name.encode() + b"\x00" + _canonical(value))
    return digest.hexdigest()


def encode_key(key: Iterable[tuple[str, Any]]) -> str:
    """JSON of the distinguishing values, shown by the API."""
    return jsonutil.dumps(dict(key), separators=(",", ":"))
