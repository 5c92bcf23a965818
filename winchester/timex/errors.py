"""The errors of the timex language: one root, one branch per phase."""

from __future__ import annotations

from stacktach.exceptions import StackTachError

__all__ = ["TimexError", "TimexEvaluationError", "TimexSyntaxError"]


class TimexError(StackTachError, ValueError):
    """Root of every timex error (a ``ValueError``, like the original's)."""


class TimexSyntaxError(TimexError):
    """An expression cannot be compiled; the message shows where, with a caret.

    ``text`` is the expression, ``position`` the 0-based offset of the problem in
    it and ``reason`` the message without the excerpt.
    """

    def __init__(self, reason: str, text: str, position: int) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        super().__init__(_render(reason, text, position))


class TimexEvaluationError(TimexError):
    """A compiled expression cannot be evaluated with the given variables."""


def _render(reason: str, text: str, position: int) -> str:
    start = text.rfind("\n", 0, position) + 1
    stop = text.find("\n", position)
    if stop < 0:
        stop = len(text)
    line = text[start:stop]
    column = position - start
    where = f"column {column + 1}"
    if "\n" in text:
        where = f"line {text.count(chr(10), 0, position) + 1}, {where}"
    # Tabs keep their width in the caret line so the caret stays aligned.
    pad = "".join("\t" if ch == "\t" else " " for ch in line[:column])
    return f"{reason} at {where} of timex expression:\n    {line}\n    {pad}^"
