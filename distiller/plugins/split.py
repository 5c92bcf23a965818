"""``split``: one piece of a string field, e.g. the host out of ``compute.host1``."""

from __future__ import annotations

from typing import Any

from distiller.traitplugin import MatchList, TraitPlugin

_PIECES_SIZE = 5_000
#: The piece caches, one per ``(separator, segment, max_split)``: the same
#: ``split`` on the host of twelve definitions is twelve plugins, and one cache
#: (about 220 bytes a text, so at most about 1.1 MB each).
_SHARED: dict[tuple[str, int, int], dict[str, str | None]] = {}


class SplitPlugin(TraitPlugin):
    """Split a matched value on ``separator`` and return piece ``segment``.

        ``max_split`` limits the number of splits (``None``: no limit), so
        ``compute.host.example.com`` with ``segment: 1, max_split: 1`` gives
        ``host.example.com``. Matches are tried in order and the first that has the
    segment wins; when none has it there is no trait.
    """

    def __init__(
        self, separator: str = ".", segment: int = 0, max_split: int | None = None
    ) -> None:
        if not isinstance(separator, str) or not separator:
            raise ValueError(f"separator must be a non-empty string, got {separator!r}")
        if not isinstance(segment, int) or isinstance(segment, bool):
            raise ValueError(f"segment must be an integer, got {segment!r}")
        if max_split is not None and (
            not isinstance(max_split, int) or isinstance(max_split, bool)
        ):
            raise ValueError(f"max_split must be an integer, got {max_split!r}")
        self.separator = separator
        self.segment = segment
        self.max_split = -1 if max_split is None else max_split
        # The piece of each string seen (publisher ids repeat in every
        # notification of a host); bounded, emptied when full, and shared by
        # the plugins that split alike.
        self._pieces = _SHARED.setdefault((separator, segment, self.max_split), {})

    def trait_value(self, match_list: MatchList) -> Any:
        for _path, value in match_list:
            piece = self._piece(str(value))
            if piece is not None:
                return piece
        return None

    def _piece(self, text: str) -> str | None:
        """Piece ``segment`` of ``text``, None when it has no such piece."""
        try:
            return self._pieces[text]
        except KeyError:
            pass
        pieces = text.split(self.separator, self.max_split)
        piece = (
            pieces[self.segment] if -len(pieces) <= self.segment < len(pieces) else None
        )
        if len(self._pieces) >= _PIECES_SIZE:
            self._pieces.clear()
        self._pieces[text] = piece
        return piece
