"""Reading archive files of either format, compressed or not.

::

    for record in shoebox.read("20240310-1710028800.0-stv3-<sha>.json.gz"):
        record.body, record.metadata

The format comes from the name (``.json``/``.dat`` under an optional ``.gz``),
else from the content. Every problem - a bad or truncated gzip stream, a bad
record - raises :class:`~shoebox.exceptions.CorruptArchive` naming the file and
the line or byte offset.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from shoebox.exceptions import CorruptArchive
from shoebox.formats import FORMATS, Record, RecordFormat, sniff

__all__ = [
    "GZIP_MAGIC",
    "HashingReader",
    "content",
    "decode_stream",
    "format_of",
    "read",
]

GZIP_MAGIC = b"\x1f\x8b"


class HashingReader(io.RawIOBase):
    """A readable stream that hashes (SHA-256) and counts what passes through."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self.inner = inner
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        count = len(data)
        buffer[:count] = data
        self.digest.update(data)
        self.size += count
        return count


@contextmanager
def content(path: str | Path) -> Iterator[BinaryIO]:
    """The file's uncompressed content as a binary stream."""
    file_path = Path(path)
    with file_path.open("rb") as raw:
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            raw.seek(0)
            yield raw


def format_of(path: str | Path, head: bytes) -> RecordFormat:
    """The format of a file from its name, else from its first bytes."""
    name = Path(path).name
    name = name.removesuffix(".gz")
    for fmt in FORMATS.values():
        if name.endswith(fmt.suffix):
            return fmt
    return sniff(head)


def read(path: str | Path) -> Iterator[Record]:
    """The records of the archive file ``path``, in order."""
    with content(path) as stream:
        yield from decode_stream(path, stream)


def decode_stream(path: str | Path, stream: BinaryIO) -> Iterator[Record]:
    """Records of an uncompressed ``stream``, gzip errors turned into CorruptArchive."""
    name = str(path)
    try:
        head = _peek(stream)
        yield from format_of(path, head).decode(stream, name)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise CorruptArchive(name, f"gzip: {exc or type(exc).__name__}") from None


def _peek(stream: BinaryIO) -> bytes:
    """The first bytes of ``stream`` without consuming them."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        head: bytes = peek(8)[:8]
        return head
    position = stream.tell()
    head = stream.read(8)
    stream.seek(position)
    return head
