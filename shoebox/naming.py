"""Finished-file names from a template, and the checksum they may carry.

A template is ``strftime``-formatted with the roll time (UTC), then
``[[TIMESTAMP]]`` becomes the roll time in decimal epoch seconds
(``1710028800.123456``) and ``[[CRC]]`` the SHA-256 of the file's content
(uncompressed) in hex. As in the original, spaces, ``/`` and ``:`` in the result
become ``_``.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["CRC", "TIMESTAMP", "digest_in_name", "render_name", "unique_names"]

CRC = "[[CRC]]"
TIMESTAMP = "[[TIMESTAMP]]"
_DIGEST = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])")
_UNSAFE = str.maketrans({" ": "_", "/": "_", ":": "_"})


def render_name(template: str, when: datetime, digest: str) -> str:
    """The file name ``template`` gives for a roll at ``when`` of content ``digest``."""
    name = when.strftime(template)
    name = name.replace(TIMESTAMP, f"{when.timestamp():.6f}")
    name = name.replace(CRC, digest)
    return name.translate(_UNSAFE)


def digest_in_name(name: str) -> str | None:
    """The SHA-256 hex digest a file name carries (``[[CRC]]``), if exactly one."""
    found = _DIGEST.findall(name)
    return found[0] if len(found) == 1 else None


def unique_names(name: str) -> list[str]:
    """``name`` then variants ``stem-1.ext``... to use when ``name`` is taken."""
    stem, dot, rest = name.partition(".")
    return [name] + [f"{stem}-{n}{dot}{rest}" for n in range(1, 100)]
