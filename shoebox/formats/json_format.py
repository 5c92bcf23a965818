"""Newline-delimited JSON records (the production format, gzipped on roll).

One record per line, always one of three shapes, ``metadata`` first::

    {"metadata":{"k":"v"},"notification":<the body, byte for byte>}
    {"metadata":{"k":"v"},"body":"<the body as a JSON string>"}
    {"metadata":{"k":"v"},"body_b64":"<the body in base64>"}

* ``notification`` is used when the body is UTF-8, valid JSON (no ``NaN``) and
  holds no line break: the body's own bytes are copied into the line, so a
  reader gets them back exactly and ``jq`` sees the parsed notification.
* ``body`` is used for other UTF-8 text (not JSON, pretty-printed JSON over
  several lines, or JSON nested too deep for Python's parser to check).
* ``body_b64`` is used for bytes that are not UTF-8.

Metadata is written compactly (``","`` and ``":"`` separators, ASCII escapes)
so a reader can find where the embedded body starts. Lines written by the
original StackTach (a bare notification per line) are read as records with
empty metadata.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import orjson

from shoebox.exceptions import CorruptArchive
from shoebox.formats.base import Record

__all__ = ["JsonFormat"]

_BODY_KEYS = ("notification", "body", "body_b64")


#: A body with fewer opening brackets than this cannot nest deep enough for
#: the line's extra level to reach orjson's limit of 1,024.
_SHALLOW = 1000


def _is_embeddable(body: bytes, parsed: bool = False) -> bool:
    """True when ``body`` can be copied verbatim into a JSON line.

    Checked by orjson (a quarter of the standard parser's time), the parser
    that reads the line back: it refuses what is not strict JSON (``NaN``,
    numbers out of range, lone surrogate escapes, bytes that are not UTF-8)
    and nesting over its 1,024 levels, counted here with the one level the
    line adds around the body. A body the caller already ``parsed`` with
    orjson is not parsed again unless it holds enough brackets to nest near
    that limit (yagi-event decodes every message before archiving it).
    """
    if b"\n" in body or b"\r" in body or not body or body.isspace():
        return False
    if parsed and body.count(b"[") + body.count(b"{") < _SHALLOW:
        return True
    try:
        orjson.loads(b"[" + body + b"]")
    except orjson.JSONDecodeError:
        return False
    return True


def _metadata_prefix(metadata: Mapping[str, str]) -> bytes:
    # orjson writes what the standard library's compact, ASCII-escaping form is
    # for ASCII text without DEL (control characters escaped alike), in a
    # twentieth of the time; other text is left to the standard library.
    meta = orjson.dumps(metadata)
    if not meta.isascii() or b"\x7f" in meta:
        meta = json.dumps(metadata, ensure_ascii=True, separators=(",", ":")).encode(
            "ascii"
        )
    return b'{"metadata":' + meta + b","


class JsonFormat:
    """Newline-delimited JSON, one record per line (see the module docstring)."""

    name = "json"
    suffix = ".json"
    default_template = "%Y%m%d-[[TIMESTAMP]]-stv3-[[CRC]].json"
    compress = True

    def encode(self, record: Record, *, parsed: bool = False) -> bytes:
        """The record's line, newline included (``parsed``: see ``RecordFormat``)."""
        return (
            _metadata_prefix(record.metadata)
            + self.encode_body(record.body, parsed=parsed)
            + b"}\n"
        )

    def encode_body(self, body: bytes, *, parsed: bool = False) -> bytes:
        """The body's member of a line: ``"notification":...``, ``"body":...`` or
        ``"body_b64":...`` (see the module docstring)."""
        if _is_embeddable(body, parsed):
            return b'"notification":' + body
        try:
            member = {"body": body.decode("utf-8")}
        except UnicodeDecodeError:
            member = {"body_b64": base64.b64encode(body).decode("ascii")}
        text = json.dumps(member, ensure_ascii=True, separators=(",", ":"))
        return text[1:-1].encode("ascii")

    def decode(self, stream: BinaryIO, path: str) -> Iterator[Record]:
        """Records of ``stream``; ``CorruptArchive`` with the line number if bad."""
        number = 0
        for line in stream:
            number += 1
            if not line.endswith(b"\n"):
                raise CorruptArchive(
                    path, "truncated record (no newline at the end)", line=number
                )
            if not line.strip():
                continue
            yield self.decode_line(line, path, number)

    def decode_line(self, line: bytes, path: str, number: int) -> Record:
        """Decode one line (newline optional)."""
        try:
            obj = orjson.loads(line)  # what the writer checked embedded bodies with
        except orjson.JSONDecodeError:
            # Older writers embedded what Python's parser takes (1e400, lone
            # surrogate escapes); it reads their lines.
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise CorruptArchive(path, f"not JSON: {exc}", line=number) from None
            except RecursionError:
                # Only a line of another writer can be this deep (ours keep deep
                # bodies as a string): the notification alone, as the original
                # wrote.
                return Record(line.rstrip(b"\r\n"), {})
        keys = set(obj) if isinstance(obj, dict) else set()
        found = [key for key in _BODY_KEYS if key in keys]
        if "metadata" not in keys or len(found) != 1 or len(keys) != 2:
            # A line of the original's format: the notification alone.
            return Record(line.rstrip(b"\r\n"), {})
        metadata = obj["metadata"]
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise CorruptArchive(
                path, "metadata is not an object of strings", line=number
            )
        key = found[0]
        value = obj[key]
        if key == "notification":
            return Record(_embedded_body(line, metadata, value), metadata)
        if not isinstance(value, str):
            raise CorruptArchive(path, f"{key!r} is not a string", line=number)
        if key == "body":
            try:
                return Record(value.encode("utf-8"), metadata)
            except UnicodeEncodeError as exc:
                raise CorruptArchive(path, f"body: {exc}", line=number) from None
        try:
            return Record(base64.b64decode(value, validate=True), metadata)
        except binascii.Error as exc:
            raise CorruptArchive(path, f"body_b64: {exc}", line=number) from None

    def valid_length(self, stream: BinaryIO) -> tuple[int, int]:
        """Complete lines and their size: a torn last line is not counted."""
        records = size = 0
        for line in stream:
            if not line.endswith(b"\n"):
                break
            size += len(line)
            if line.strip():
                records += 1
        return records, size


def _embedded_body(line: bytes, metadata: dict[str, str], value: Any) -> bytes:
    """The body bytes as written; re-encoded only for lines from another writer."""
    prefix = _metadata_prefix(metadata) + b'"notification":'
    end = line.rstrip(b"\r\n")
    if line.startswith(prefix) and end.endswith(b"}"):
        return end[len(prefix) : -1]
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
