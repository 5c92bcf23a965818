"""Trigger definitions at run time: matching events, stream keys, fire and expiry.

A :class:`TriggerDefinition` is built by :mod:`winchester.config.triggers` from
``triggers.yaml``. The ingest path calls, per event:

* :meth:`~TriggerDefinition.match` - the first match criterion the event meets
  and its stream key (:class:`Match`), or None. On a miss nothing is allocated
  but loop iterators: each criterion tests the event type first.
* :meth:`~TriggerDefinition.fire_hits` - which fire criteria the event counts
  for (the caller counts hits and compares them with each ``number``).
* :meth:`~TriggerDefinition.expires_at` - the stream's expiry from its first and
  last event times, recomputed on each append.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from distiller.event import Event
from winchester import timex
from winchester.config.conditions import MISSING, event_getter
from winchester.config.criteria import Criterion

__all__ = ["KeyValue", "Match", "TriggerDefinition"]

KeyValue = str | int | float | datetime | timex.TimeRange
# (distinguishing name, event trait it is read from, getter, timex expression)
_Part = tuple[str, str, Callable[[Event], Any], timex.Expression | None]


@dataclass(frozen=True, slots=True)
class Match:
    """Which match criterion an event met, and the stream key it belongs to.

    ``key`` holds ``(name, value)`` in ``distinguished_by`` order; values are text,
    numbers, datetimes or :class:`~winchester.timex.TimeRange` (never pinned).
    """

    criterion_index: int
    key: tuple[tuple[str, object], ...]


class TriggerDefinition:
    """One compiled trigger; built by :func:`winchester.config.triggers.load_triggers`.

    The ingest path calls :meth:`match` (cheap; None on a miss),
    :meth:`fire_hits` and :meth:`expires_at`; :meth:`explain` is for debug level 2.
    ``lines`` maps the trigger's keys to their lines in ``source``.
    """

    __slots__ = (
        "_plans",
        "debug_level",
        "distinguished_by",
        "expiration",
        "expire_pipeline",
        "fire_criteria",
        "fire_delay",
        "fire_pipeline",
        "line",
        "lines",
        "load_criteria",
        "match_criteria",
        "name",
        "source",
    )

    def __init__(
        self,
        name: str,
        *,
        expiration: timex.Expression,
        match_criteria: tuple[Criterion, ...],
        fire_criteria: tuple[Criterion, ...],
        distinguished_by: tuple[tuple[str, timex.Expression | None], ...] = (),
        fire_pipeline: str | None = None,
        expire_pipeline: str | None = None,
        fire_delay: float = 0.0,
        debug_level: int = 0,
        load_criteria: tuple[Criterion, ...] = (),
        source: str | None = None,
        line: int | None = None,
        lines: Mapping[str, int] | None = None,
    ) -> None:
        self.name = name
        self.debug_level = debug_level
        self.distinguished_by = tuple(n for n, _ in distinguished_by)
        self.expiration = expiration
        self.fire_pipeline = fire_pipeline
        self.expire_pipeline = expire_pipeline
        self.fire_delay = float(fire_delay)
        self.match_criteria = match_criteria
        self.fire_criteria = fire_criteria
        self.load_criteria = load_criteria
        self.source = source
        self.line = line
        self.lines: Mapping[str, int] = dict(lines or {})
        # One key plan per match criterion: the getters after its mapping.
        plans: list[tuple[int, Criterion, tuple[_Part, ...]]] = []
        for index, criterion in enumerate(match_criteria):
            mapping = criterion.map_distinguished_by
            parts = tuple(
                (
                    dist,
                    mapping.get(dist, dist),
                    event_getter(mapping.get(dist, dist)),
                    expr,
                )
                for dist, expr in distinguished_by
            )
            plans.append((index, criterion, parts))
        self._plans = tuple(plans)

    def match(self, event: Event) -> Match | None:
        """The first match criterion ``event`` meets and its stream key, or None.

        None also when a distinguishing trait (after ``map_distinguished_by``) is
        missing, is not a datetime where a timex expression needs one, or its
        expression cannot be evaluated.
        """
        for index, criterion, parts in self._plans:
            if criterion.matches(event):
                key = _key(parts, event)
                return None if key is None else Match(index, key)
        return None

    def explain(self, event: Event) -> str:
        """Why ``event`` does not match, for debug level 2 ("matches" if it does).

        The reasons of the criteria are joined with "; ", each once.
        """
        reasons: list[str] = []
        for _index, criterion, parts in self._plans:
            reason = criterion.mismatch(event)
            if reason is None:
                return _key_problem(parts, event) or "matches"
            if reason not in reasons:
                reasons.append(reason)
        return "; ".join(reasons)

    def fire_hits(self, event: Event) -> tuple[bool, ...]:
        """One bool per fire criterion: does ``event`` satisfy it."""
        return tuple([criterion.matches(event) for criterion in self.fire_criteria])

    def explain_fire(self, event: Event) -> tuple[str | None, ...]:
        """Per fire criterion, why ``event`` does not count for it (None: it does).

        For the "Fire" group of debug level 2; not for the hot path.
        """
        return tuple(criterion.mismatch(event) for criterion in self.fire_criteria)

    def expires_at(self, first: datetime, last: datetime) -> datetime:
        """``expiration`` with ``$first``/``$last`` (``$timestamp`` = last).

        A range result gives its beginning (as the original). Raises
        :class:`~winchester.timex.TimexEvaluationError` when out of range.
        """
        variables = {"first": first, "last": last, "timestamp": last}
        return self.expiration.evaluate(variables).timestamp

    def __repr__(self) -> str:
        return f"TriggerDefinition({self.name!r})"


def _key(
    parts: tuple[_Part, ...], event: Event
) -> tuple[tuple[str, object], ...] | None:
    key: list[tuple[str, object]] = []
    for name, _trait, get, expr in parts:
        value = get(event)
        if value is MISSING:
            return None
        if expr is not None:
            if value.__class__ is not datetime:
                return None
            try:
                result = expr.evaluate({"timestamp": value})
            except timex.TimexError:
                return None
            if result.__class__ is timex.PinnedTimeRange:
                value = timex.TimeRange(result.begin, result.end)
            elif isinstance(result, timex.TimeRange):
                value = result
            else:
                value = result.timestamp
        key.append((name, value))
    return tuple(key)


def _key_problem(parts: tuple[_Part, ...], event: Event) -> str | None:
    for name, trait, get, expr in parts:
        value = get(event)
        via = "" if trait == name else f" (for {name!r})"
        if value is MISSING:
            return f"no distinguishing trait {trait!r}{via}"
        if expr is not None and value.__class__ is not datetime:
            return f"distinguishing trait {trait!r}{via} is not a datetime"
    if _key(parts, event) is None:
        return "distinguishing expression cannot be evaluated"
    return None
