"""The record and the contract every archive format implements."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

__all__ = ["Record", "RecordFormat", "check_metadata"]


@dataclass(frozen=True, slots=True)
class Record:
    """One archived notification: its exact bytes and string metadata."""

    body: bytes
    metadata: dict[str, str] = field(default_factory=dict)


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Return ``metadata`` as a plain dict; ``TypeError`` unless all str -> str."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"metadata must map str to str, got {key!r}: {value!r} "
                f"({type(key).__name__}: {type(value).__name__})"
            )
    return dict(metadata)


class RecordFormat(Protocol):
    """How records are laid out in a file.

    ``name`` is the ``fmt`` option value, ``suffix`` the working file's
    extension, ``default_template`` the finished file's name template and
    ``compress`` whether a finished file is gzipped (``.gz`` appended).
    """

    name: str
    suffix: str
    default_template: str
    compress: bool

    def encode(self, record: Record, *, parsed: bool = False) -> bytes:
        """The bytes of one record, ready to append to a file.

        ``parsed``: the body is known to be JSON that orjson parses (a format
        may then skip checking it).
        """
        ...

    def decode(self, stream: BinaryIO, path: str) -> Iterator[Record]:
        """Records of ``stream`` in order; ``CorruptArchive`` names where it breaks."""
        ...

    def valid_length(self, stream: BinaryIO) -> tuple[int, int]:
        """``(records, bytes)`` of the longest intact prefix (for crash recovery)."""
        ...
