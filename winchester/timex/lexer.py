"""The timex tokenizer: text to a list of tokens with their offsets.

Tokens: ``number`` (digits), ``name`` (``[A-Za-z_][A-Za-z0-9_]*``: ``to``, unit
spellings and function names are told apart by the parser), ``var`` (``$`` and a
name, no space between), the one-character operators ``+ - @ ( )``, and a final
``end``. Whitespace (spaces, tabs, newlines) separates tokens and is dropped.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from winchester.timex.errors import TimexSyntaxError

__all__ = ["Token", "tokenize"]


class Token(NamedTuple):
    """One token: its kind, its text and its 0-based offset in the expression."""

    kind: str
    text: str
    position: int


_SPACE = re.compile(r"\s*")
_NUMBER = re.compile(r"[0-9]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = frozenset("+-@()")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; a bad character raises TimexSyntaxError."""
    tokens: list[Token] = []
    position = 0
    length = len(text)
    while True:
        space = _SPACE.match(text, position)
        position = space.end() if space else position
        if position >= length:
            tokens.append(Token("end", "", position))
            return tokens
        char = text[position]
        if char in _OPERATORS:
            tokens.append(Token(char, char, position))
            position += 1
        elif char == "$":
            name = _NAME.match(text, position + 1)
            if name is None:
                raise TimexSyntaxError(
                    "expected a variable name right after '$'", text, position
                )
            tokens.append(Token("var", name.group(), position))
            position = name.end()
        elif (number := _NUMBER.match(text, position)) is not None:
            tokens.append(Token("number", number.group(), position))
            position = number.end()
        elif (name := _NAME.match(text, position)) is not None:
            tokens.append(Token("name", name.group(), position))
            position = name.end()
        else:
            raise TimexSyntaxError(f"unexpected character {char!r}", text, position)
