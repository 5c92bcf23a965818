"""Deliberate faults, for testing consumers and the usage audit.

Three kinds, each asked for as a share (0 to 1):

``duplicates``
    a share of the output lines are redeliveries: the exact bytes of one of the
    last 64 real lines again (same ``message_id``), as a broker redelivers after a
    lost ack. Each real line is duplicated at most once.
``malformed``
    a share of the output lines are broken: half are not JSON at all (a real line
    cut short), half are JSON without ``event_type`` (with a fresh
    ``message_id``). They come in addition to the real lines, which all still
    arrive.
``anomalies``
    a share of the ``compute.instance.exists`` notifications are wrong for the
    usage audit: an end-of-day or mid-day ``.exists`` gets a ``launched_at`` that
    disagrees with the instance's launch (shifted by hours to days), and a
    delete's closing ``.exists`` is dropped (a delete without its ``.exists``).

Faults draw from their own generator (seeded from the run's seed), so turning
them on changes nothing else: every real notification is still produced, byte
for byte, with the same ``message_id``. Every injected fault is recorded (see
:class:`FaultLog`) with its output line number (1-based; ``None`` for a dropped
message), its kind and the ``message_id`` concerned.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from notigen.clock import HOUR, from_datetime, nova_str
from notigen.render import Line, Renderer
from stacktach.timeutils import parse_timestamp

__all__ = ["FaultConfig", "FaultInjector", "FaultLog"]

_WINDOW = 64


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Shares of faulty output; all zero means a clean stream.

    Raises ``ValueError`` when a share is outside [0, 1) or the line faults
    (duplicates plus malformed) add up to 1 or more.
    """

    duplicates: float = 0.0
    malformed: float = 0.0
    anomalies: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicates", "malformed", "anomalies"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be a share in [0, 1), got {value}")
        if self.duplicates + self.malformed >= 1.0:
            raise ValueError("duplicates + malformed must stay below 1")

    @property
    def any(self) -> bool:
        """At least one kind of fault is asked for."""
        return bool(self.duplicates or self.malformed or self.anomalies)


class FaultLog:
    """Keeps count of injected faults and writes them as JSON lines if asked."""

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self.stream = stream
        self.counts: Counter[str] = Counter()

    def record(self, entry: dict[str, Any]) -> None:
        """Count ``entry`` (keys ``fault`` and ``kind``) and write it out."""
        self.counts[f"{entry['fault']}:{entry['kind']}"] += 1
        if self.stream is not None:
            self.stream.write(orjson.dumps(entry) + b"\n")


class FaultInjector:
    """Applies a :class:`FaultConfig` to the message and line streams."""

    def __init__(self, config: FaultConfig, seed: int, log: FaultLog) -> None:
        self.config = config
        self.rng = random.Random(f"notigen-faults:{seed}")
        self.log = log
        # Spoiled messages waiting for their output line number.
        self._pending: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ anomalies

    def anomaly(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Maybe spoil an ``.exists``: returns the message to send, or ``None``."""
        if (
            not self.config.anomalies
            or message["event_type"] != "compute.instance.exists"
            or self.rng.random() >= self.config.anomalies
        ):
            return message
        payload = message["payload"]
        entry: dict[str, Any] = {
            "line": None,
            "fault": "anomaly",
            "kind": "",
            "message_id": message["message_id"],
            "instance_id": payload["instance_id"],
        }
        if payload.get("state") == "deleted":
            entry["kind"] = "delete_without_exists"
            self.log.record(entry)
            return None
        launched = payload.get("launched_at")
        if not launched:
            return message
        true_us = from_datetime(parse_timestamp(launched))
        shift = self.rng.randrange(HOUR, 72 * HOUR) * self.rng.choice((-1, 1))
        wrong = nova_str(true_us + shift)
        spoiled = message.copy()
        spoiled["payload"] = {**payload, "launched_at": wrong}
        entry.update(kind="launched_at_mismatch", launched_at=wrong, expected=launched)
        self._pending[message["message_id"]] = entry
        return spoiled

    # ------------------------------------------------------------------ lines

    def lines(self, lines: Iterator[Line], renderer: Renderer) -> Iterator[Line]:
        """Pass ``lines`` through, inserting duplicates and malformed lines.

        Records every fault in the log with its 1-based output line number.
        """
        rng = self.rng
        duplicates = self.config.duplicates
        malformed = self.config.malformed
        threshold = duplicates + malformed
        recent: deque[tuple[int, Line]] = deque(maxlen=_WINDOW)
        number = 0
        pending = self._pending
        log = self.log
        for line in lines:
            while threshold and rng.random() < threshold:
                if rng.random() * threshold < malformed:
                    extra = self._malformed(line, renderer)
                elif recent:
                    index = rng.randrange(len(recent))
                    original_number, original = recent[index]
                    del recent[index]
                    extra = Line(
                        original.data,
                        original.body,
                        original.event_type,
                        original.message_id,
                        line.time,
                    )
                    extra.fault = {
                        "fault": "duplicate",
                        "kind": "redelivery",
                        "message_id": original.message_id,
                        "event_type": original.event_type,
                        "original_line": original_number,
                    }
                else:
                    break
                number += 1
                assert extra.fault is not None
                log.record({"line": number, **extra.fault})
                yield extra
            number += 1
            if pending and line.message_id in pending:
                entry = pending.pop(line.message_id)
                entry["line"] = number
                log.record(entry)
            if duplicates:
                recent.append((number, line))
            yield line

    def _malformed(self, line: Line, renderer: Renderer) -> Line:
        if self.rng.random() < 0.5 or line.body is None:
            cut = self.rng.randrange(1, max(2, len(line.data) - 1))
            data = line.data[:cut]
            fault = {"fault": "malformed", "kind": "not_json", "message_id": None}
            return Line(data, None, "", None, line.time, fault)
        body = {k: v for k, v in line.body.items() if k != "event_type"}
        message_id = f"{self.rng.getrandbits(128):032x}"
        message_id = "-".join(
            (
                message_id[:8],
                message_id[8:12],
                "4" + message_id[13:16],
                "8" + message_id[17:20],
                message_id[20:],
            )
        )
        body["message_id"] = message_id
        fault = {
            "fault": "malformed",
            "kind": "no_event_type",
            "message_id": message_id,
        }
        return Line(renderer.encode(body), body, "", message_id, line.time, fault)
