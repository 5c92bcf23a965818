"""Cursors of ``GET /v1/stream``: which rows a watcher has examined.

Rows are found by id, but ids are handed out at insert time and transactions
commit out of order: when id 200 is visible, 150 may still commit later. So a
position is not one id but the set of ids **not examined yet**
(:class:`Unseen`): every id above ``top``, plus *holes* below it - ranges that
were empty when read and that another transaction may still fill. The poller
re-reads its holes on every poll until they fill or are older than the settle
time (:class:`Tracker`), so a row that commits late is delivered all the same.

A cursor (the SSE ``id:``) holds one :class:`Unseen` for events and one for
stream changes: ``<events>:<changes>``, each ``top`` followed by
``,lo-hi`` holes, e.g. ``1234,1200-1210:57``. Resuming from it reads exactly the
rows the client has not examined: nothing missed (that is still in the
database), nothing sent twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Cursor", "Tracker", "Unseen", "parse_cursor"]

#: Holes kept at most (the oldest are dropped first).
MAX_HOLES = 64
_INF = 2**63


@dataclass(frozen=True, slots=True)
class Unseen:
    """Ids not examined: ``holes`` (sorted, disjoint, below ``top``) and all
    ids above ``top``."""

    top: int
    holes: tuple[tuple[int, int], ...] = ()

    def contains(self, row_id: int) -> bool:
        """True when ``row_id`` was not examined."""
        return row_id > self.top or any(lo <= row_id <= hi for lo, hi in self.holes)

    def ranges(self) -> list[tuple[int, int | None]]:
        """The id ranges to read (``hi`` None: no bound)."""
        found: list[tuple[int, int | None]] = list(self.holes)
        found.append((self.top + 1, None))
        return found

    def upto(self, row_id: int) -> Unseen:
        """This set plus every id above ``row_id`` (what is left unexamined when
        only the ids up to ``row_id`` of the examined ones have been)."""
        if row_id >= self.top:
            return self
        holes = tuple((lo, min(hi, row_id)) for lo, hi in self.holes if lo <= row_id)
        return Unseen(row_id, holes)

    def intersect(self, other: Unseen) -> Unseen:
        """The ids neither has examined."""
        mine = [*self.holes, (self.top + 1, _INF)]
        theirs = [*other.holes, (other.top + 1, _INF)]
        found: list[tuple[int, int]] = []
        i = j = 0
        while i < len(mine) and j < len(theirs):
            lo = max(mine[i][0], theirs[j][0])
            hi = min(mine[i][1], theirs[j][1])
            if lo <= hi:
                found.append((lo, hi))
            if mine[i][1] < theirs[j][1]:
                i += 1
            else:
                j += 1
        last_lo = found.pop()[0]  # both end at _INF
        return Unseen(last_lo - 1, tuple(found))

    def text(self) -> str:
        """The cursor text of this part."""
        return ",".join([str(self.top), *(f"{lo}-{hi}" for lo, hi in self.holes)])

    @classmethod
    def parse(cls, text: str) -> Unseen:
        """Read :meth:`text`; ``ValueError`` when it is not one."""
        top_text, *hole_texts = text.split(",")
        top = _number(top_text)
        holes: list[tuple[int, int]] = []
        for item in hole_texts:
            lo_text, sep, hi_text = item.partition("-")
            lo, hi = _number(lo_text), _number(hi_text if sep else lo_text)
            if hi < lo or hi >= top or (holes and lo <= holes[-1][1]):
                raise ValueError(item)
            holes.append((lo, hi))
        if len(holes) > MAX_HOLES:
            raise ValueError("too many holes")
        return cls(top, tuple(holes))


def _number(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise ValueError(text)
    return int(text)


@dataclass(frozen=True, slots=True)
class Cursor:
    """A watcher's position: what it has not examined of events and of changes."""

    events: Unseen
    changes: Unseen

    def text(self) -> str:
        """The SSE ``id:`` of this position."""
        return f"{self.events.text()}:{self.changes.text()}"

    def intersect(self, other: Cursor) -> Cursor:
        """Neither has examined."""
        return Cursor(
            self.events.intersect(other.events), self.changes.intersect(other.changes)
        )


def parse_cursor(text: str) -> Cursor:
    """A cursor from its text; ``ValueError`` when it is not one."""
    if len(text) > 4096:
        raise ValueError("too long")
    events, sep, changes = text.strip().partition(":")
    if not sep:
        raise ValueError(text)
    return Cursor(Unseen.parse(events), Unseen.parse(changes))


class Tracker:
    """The poller's :class:`Unseen` for one table, with the age of each hole.

    Not thread-safe: the poller thread alone changes it.
    """

    def __init__(self, top: int, holes: Sequence[tuple[int, int, float]] = ()):
        self.top = top
        self._holes: list[list[float]] = [[lo, hi, t] for lo, hi, t in holes]

    @classmethod
    def from_ids(cls, ids: Sequence[int], now: float) -> Tracker:
        """Start from the newest ids present (ascending): the gaps between them
        are holes (a transaction may still fill them)."""
        if not ids:
            return cls(0)
        tracker = cls(ids[0])
        for row_id in ids[1:]:
            tracker.mark(row_id, now)
        return tracker

    def unseen(self) -> Unseen:
        """What is not examined, now."""
        return Unseen(self.top, tuple((int(h[0]), int(h[1])) for h in self._holes))

    def mark(self, row_id: int, now: float) -> None:
        """``row_id`` was examined (rows must come in id order within a read)."""
        if row_id > self.top:
            if row_id > self.top + 1:
                self._holes.append([self.top + 1, row_id - 1, now])
            self.top = row_id
            return
        for index, (lo, hi, since) in enumerate(self._holes):
            if lo <= row_id <= hi:
                pieces = []
                if lo < row_id:
                    pieces.append([lo, row_id - 1, since])
                if row_id < hi:
                    pieces.append([row_id + 1, hi, since])
                self._holes[index : index + 1] = pieces
                return

    def settle(self, now: float, settle_seconds: float) -> None:
        """Forget holes older than ``settle_seconds`` (no transaction stays open
        that long), and the oldest beyond :data:`MAX_HOLES`."""
        self._holes = [h for h in self._holes if now - h[2] <= settle_seconds]
        if len(self._holes) > MAX_HOLES:
            keep = sorted(self._holes, key=lambda h: h[2])[-MAX_HOLES:]
            self._holes = sorted(keep, key=lambda h: h[0])
