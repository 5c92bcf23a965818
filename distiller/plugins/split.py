"""``split``: one piece of a string field, e.g. the host out of ``compute.host1``."""

from __future__ import annotations

from typing import Any

from distiller.traitplugin import MatchList, TraitPlugin


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

    def trait_value(self, match_list: MatchList) -> Any:
        for _path, value in match_list:
            pieces = str(value).split(self.separator, self.max_split)
            try:
                return pieces[self.segment]
            except IndexError:
                continue
        return None
