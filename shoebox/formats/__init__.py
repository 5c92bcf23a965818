"""Archive formats by name, and telling them apart by content.

``json`` (:mod:`shoebox.formats.json_format`) and ``binary``
(:mod:`shoebox.formats.binary`).
"""

from __future__ import annotations

from shoebox.exceptions import ShoeboxConfigError
from shoebox.formats.base import Record, RecordFormat, check_metadata
from shoebox.formats.binary import MAGIC, BinaryFormat
from shoebox.formats.json_format import JsonFormat

__all__ = [
    "FORMATS",
    "BinaryFormat",
    "JsonFormat",
    "Record",
    "RecordFormat",
    "by_suffix",
    "check_metadata",
    "get_format",
    "sniff",
]

_JSON_START = frozenset(b'{["-0123456789tfn')
FORMATS: dict[str, RecordFormat] = {"json": JsonFormat(), "binary": BinaryFormat()}


def get_format(name: str) -> RecordFormat:
    """The format called ``name``; ``ShoeboxConfigError`` if there is none."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ShoeboxConfigError(
            f"unknown archive format {name!r}; expected one of: {known}", key="fmt"
        ) from None


def by_suffix(filename: str) -> RecordFormat | None:
    """The format whose working-file suffix ``filename`` ends with, if any."""
    for fmt in FORMATS.values():
        if filename.endswith(fmt.suffix):
            return fmt
    return None


def sniff(head: bytes) -> RecordFormat:
    """The format of (uncompressed) content starting with ``head``.

    Content that starts like JSON text (or is empty) is ``json``; anything else
    is ``binary``, whose reader then reports a bad magic at offset 0.
    """
    if head.startswith(MAGIC):
        return FORMATS["binary"]
    text = head.lstrip()
    if not text or text[0] in _JSON_START:
        return FORMATS["json"]
    return FORMATS["binary"]
