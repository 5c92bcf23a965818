"""Plain-text tables that fit the terminal, and readable cell values.

Rules:

* A table is a header row and data rows of strings, columns separated by two
  spaces, no borders (easy to read and to ``grep``/``awk``). A column whose cells
  are all integers is right-aligned; the others are left-aligned; the last column
  has no trailing padding.
* Width: :func:`terminal_width` - ``$COLUMNS`` when set, else the terminal's width
  when stdout is a terminal, else no limit (a pipe gets whole cells). When the
  table is too wide, the widest of its *flexible* columns (free text: traits,
  names, paths - chosen by the caller) gives up one character at a time, then
  the widest of any column, never below its header nor :data:`MIN_WIDTH`, until
  it fits; a cut cell ends with an ellipsis ``…``. A table that cannot fit even
  then is printed at its minimum widths. Times and ids are thus cut last.
* Cells are one line: newlines and tabs become spaces.
* :func:`cell` renders values: datetimes as ``2026-12-01 00:00:00`` (UTC; with
  microseconds when ``precise`` and they are not zero), None as ``-``, booleans
  as ``true``/``false``, lists and dicts as compact JSON, typed values the client
  does not decode (``{"__type__": ...}``): a time range (``begin``/``end``) as
  ``BEGIN .. END``, others as ``tag(field=value, ...)``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["ELLIPSIS", "MIN_WIDTH", "cell", "properties", "table", "terminal_width"]

ELLIPSIS = "…"
#: No column is cut below this many characters (or its header's length).
MIN_WIDTH = 6
GAP = "  "


def terminal_width() -> int | None:
    """Characters per line for tables (None: no limit), as the module docstring says."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if sys.stdout.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


def time_text(value: datetime, precise: bool = False) -> str:
    """``2026-12-01 00:00:00`` in UTC (``.ffffff`` added when ``precise``)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if precise and value.microsecond:
        text += f".{value.microsecond:06d}"
    return text


def cell(value: Any, precise: bool = False) -> str:
    """``value`` as one line of text for a table."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return time_text(value, precise)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _one_line(value)
    if isinstance(value, dict) and "__type__" in value:
        if set(value) == {"__type__", "begin", "end"}:
            return f"{cell(value['begin'], precise)} .. {cell(value['end'], precise)}"
        fields = [
            f"{k}={cell(v, precise)}" for k, v in value.items() if k != "__type__"
        ]
        return f"{value['__type__']}({', '.join(fields)})"
    if isinstance(value, dict | list | tuple):
        return _one_line(json.dumps(value, default=lambda o: cell(o, precise)))
    return _one_line(str(value))


def _one_line(text: str) -> str:
    if "\n" in text or "\t" in text or "\r" in text:
        return " ".join(text.split())
    return text


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _shrink(widths: list[int], floor: list[int], excess: int, cols: list[int]) -> int:
    """Take up to ``excess`` characters from ``cols``, widest first; what is left."""
    while excess > 0:
        candidates = [i for i in cols if widths[i] > floor[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: (widths[i], i))
        widths[widest] -= 1
        excess -= 1
    return excess


def _fit(
    natural: list[int], minimum: list[int], budget: int, flexible: Sequence[int]
) -> list[int]:
    widths = list(natural)
    excess = sum(widths) - budget
    # The flexible columns (free text: traits, names, paths) give way first, so
    # that times and ids stay whole; then every column does.
    excess = _shrink(widths, minimum, excess, list(flexible))
    _shrink(widths, minimum, excess, list(range(len(widths))))
    return widths


def _cut(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    return text[: width - 1] + ELLIPSIS


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    width: int | None = None,
    flexible: Sequence[int] | None = None,
) -> str:
    """The rows under their headers, aligned, fitting ``width`` characters.

    ``flexible``: the indexes of the columns cut first (default: all alike).
    """
    body = [[_one_line(c) for c in row] for row in rows]
    heads = list(headers)
    count = len(heads)
    for row in body:
        if len(row) != count:
            raise ValueError(f"a row has {len(row)} cells for {count} columns")
    natural = [max([len(heads[i]), *(len(r[i]) for r in body)]) for i in range(count)]
    widths = natural
    if width is not None:
        minimum = [
            min(n, max(len(h), MIN_WIDTH)) for n, h in zip(natural, heads, strict=True)
        ]
        flex = range(count) if flexible is None else flexible
        widths = _fit(natural, minimum, width - len(GAP) * (count - 1), flex)
    right = [
        bool(body) and all(_is_int(r[i]) or r[i] == "-" for r in body)
        for i in range(count)
    ]
    lines = []
    for row in [heads, *body]:
        cells = []
        for i, whole in enumerate(row):
            text = _cut(whole, widths[i])
            if right[i]:
                cells.append(text.rjust(widths[i]))
            elif i == count - 1:
                cells.append(text)
            else:
                cells.append(text.ljust(widths[i]))
        lines.append(GAP.join(cells).rstrip())
    return "\n".join(lines)


def properties(
    pairs: Iterable[tuple[str, Any]], width: int | None = None, precise: bool = True
) -> str:
    """A Property/Value table of ``pairs`` (values rendered by :func:`cell`)."""
    return table(
        ["Property", "Value"],
        [(name, cell(value, precise)) for name, value in pairs],
        width,
        flexible=[1],
    )
