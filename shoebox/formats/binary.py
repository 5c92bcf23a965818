"""The binary record format, version 2: portable, checksummed, versioned.

Every record stands alone (a file is records back to back) and every integer
is little-endian, whatever the machine::

    offset  size  field
    0       4     magic, the bytes b"EVNT"
    4       2     format version (uint16) = 2
    6       2     flags (uint16) = 0, reserved
    8       4     metadata block length M (uint32)
    12      4     body length B (uint32)
    16      4     CRC-32 of the metadata block followed by the body (uint32)
    20      M     metadata block: pair count (uint32), then per pair the key
                  length (uint32), the key, the value length (uint32), the value
                  (UTF-8)
    20+M    B     the body, byte for byte

Version 1 was the original StackTach's layout in native byte order; it is not
written. A reader stops with :class:`~shoebox.exceptions.CorruptArchive` giving
the byte offset of the record at fault: bad magic, unknown version or flags,
a truncated record, a checksum mismatch or a malformed metadata block.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from shoebox.exceptions import CorruptArchive
from shoebox.formats.base import Record

__all__ = ["HEADER", "MAGIC", "VERSION", "BinaryFormat"]

MAGIC = b"EVNT"
VERSION = 2
HEADER = struct.Struct("<4sHHIII")
_U32 = struct.Struct("<I")


def _encode_metadata(metadata: dict[str, str]) -> bytes:
    parts = [_U32.pack(len(metadata))]
    for key, value in metadata.items():
        for text in (key, value):
            data = text.encode("utf-8")
            parts.append(_U32.pack(len(data)))
            parts.append(data)
    return b"".join(parts)


def _decode_metadata(block: bytes) -> dict[str, str]:
    """Parse a metadata block; ``ValueError`` describing what is wrong."""
    if len(block) < _U32.size:
        raise ValueError("metadata block shorter than its pair count")
    (count,) = _U32.unpack_from(block, 0)
    position = _U32.size
    texts: list[str] = []
    for _ in range(count * 2):
        if position + _U32.size > len(block):
            raise ValueError("metadata block ends inside a length")
        (size,) = _U32.unpack_from(block, position)
        position += _U32.size
        if position + size > len(block):
            raise ValueError("metadata block ends inside a string")
        texts.append(block[position : position + size].decode("utf-8"))
        position += size
    if position != len(block):
        raise ValueError(f"{len(block) - position} stray bytes after the metadata")
    return dict(zip(texts[::2], texts[1::2], strict=True))


class BinaryFormat:
    """Binary records, version 2 (see the module docstring)."""

    name = "binary"
    suffix = ".dat"
    default_template = "events_%Y_%m_%d_%H_%M_%S_%f.dat"
    compress = False

    def encode(self, record: Record, *, parsed: bool = False) -> bytes:
        """The record's bytes: header, metadata block, body."""
        block = _encode_metadata(record.metadata)
        checksum = zlib.crc32(record.body, zlib.crc32(block))
        header = HEADER.pack(MAGIC, VERSION, 0, len(block), len(record.body), checksum)
        return header + block + record.body

    def decode(self, stream: BinaryIO, path: str) -> Iterator[Record]:
        """Records of ``stream``; ``CorruptArchive`` with the record's byte offset."""
        offset = 0
        while True:
            header = stream.read(HEADER.size)
            if not header:
                return
            if len(header) < HEADER.size:
                raise CorruptArchive(
                    path,
                    f"truncated record: {len(header)} of {HEADER.size} header bytes",
                    offset=offset,
                )
            magic, version, flags, meta_len, body_len, checksum = HEADER.unpack(header)
            if magic != MAGIC:
                raise CorruptArchive(
                    path, f"bad magic {magic!r} (expected {MAGIC!r})", offset=offset
                )
            if version != VERSION:
                raise CorruptArchive(
                    path,
                    f"unsupported format version {version} (expected {VERSION})",
                    offset=offset,
                )
            if flags:
                raise CorruptArchive(path, f"unknown flags {flags:#x}", offset=offset)
            need = meta_len + body_len
            payload = stream.read(need)
            if len(payload) < need:
                raise CorruptArchive(
                    path,
                    f"truncated record: {len(payload)} of {need} bytes after "
                    "the header",
                    offset=offset,
                )
            if zlib.crc32(payload) != checksum:
                raise CorruptArchive(path, "checksum mismatch", offset=offset)
            try:
                metadata = _decode_metadata(payload[:meta_len])
            except ValueError as exc:
                raise CorruptArchive(
                    path, f"bad metadata block: {exc}", offset=offset
                ) from None
            yield Record(payload[meta_len:], metadata)
            offset += HEADER.size + need

    def valid_length(self, stream: BinaryIO) -> tuple[int, int]:
        """Records and bytes before the first record that is not intact."""
        records = size = 0
        try:
            for record in self.decode(stream, "<recovery>"):
                records += 1
                size += len(self.encode(record))
        except CorruptArchive:
            pass
        return records, size
