"""The usage audit on realistic traffic: two notigen days, as the sandbox runs them.

notigen writes the notifications; the shared ``event_definitions.yaml`` distils
them; the sandbox trigger (``triggers.yaml``: one stream per instance per day,
the ``.exists`` filed under its ``audit_period_beginning``'s day) groups them.
Each stream is then audited once, as the worker would when it fires (an
end-of-day ``.exists`` arrived) or expires (none did).

Clean traffic: every stream that fires is verified. Streams that only expire
verify their ``.exists`` too (a deleted instance's last day), but get U0 in two
cases: the day after the simulated window (never audited), and the day of a
failed build - notigen sends no ``.exists`` at all for an instance that never
launched (not even after its delete), so the events of that day are never
closed by one.

What the original checks can and cannot see in notigen's injected anomalies:

* ``delete_without_exists`` (the ``.exists`` nova sends after a delete is
  dropped): the deleted instance gets no end-of-day ``.exists`` either, so its
  last stream never fires; when it expires the audit finds events after the
  last ``.exists``: **U0**.
* ``launched_at_mismatch`` (an ``.exists``'s ``launched_at`` shifted by hours to
  days): only compared when the block holds a ``rebuild.end`` /
  ``finish_resize.end`` / ``rescue.end`` (**U2**, "Conflicting 'launched_at'").
  Otherwise nothing in the original's checks looks at it (U8 needs an empty
  block, which an instance busy every day never has), and the ``.exists`` is
  verified.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from distiller import Distiller, Event
from notigen.cli import main as notigen
from winchester.config.triggers import load_triggers
from winchester.handlers.usage import ENV_KEY, FAILED, VERIFIED, WARNINGS, UsageHandler
from winchester.handlers.usage_checks import is_eod_exists

pytestmark = pytest.mark.slow

EXISTS = "compute.instance.exists"
RELAUNCH_ENDS = {
    "compute.instance.rebuild.end",
    "compute.instance.finish_resize.end",
    "compute.instance.rescue.end",
}
NOTIGEN = ["--seed", "5", "--duration", "2d", "--instances", "20", "--quiet"]
START = datetime(2024, 1, 1, tzinfo=UTC)  # notigen's default --start
WINDOW_END = START + timedelta(days=2)  # the last audited midnight


@dataclass
class Stream:
    """One sandbox stream, audited."""

    key: dict[str, Any]
    events: list[dict[str, Any]]
    fires: bool
    new: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    @property
    def launched(self) -> bool:
        """Some event of the stream carries a ``launched_at``."""
        return any(e.get("launched_at") for e in self.events)

    @property
    def day(self) -> datetime:
        begin: datetime = self.key["timestamp"].begin
        return begin

    def exists(self) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each ``.exists`` with its block (the events since the previous one)."""
        block: list[dict[str, Any]] = []
        for event in self.events:
            if event["event_type"] == EXISTS:
                yield event, block
                block = []
            else:
                block.append(event)

    def verdicts(self) -> dict[str, dict[str, Any]]:
        """``.exists`` message_id -> its verified/failed event (U0 left out)."""
        return {
            e["original_message_id"]: e
            for e in self.new
            if e["event_type"] in (VERIFIED, FAILED) and e.get("error_code") != "U0"
        }

    def u0(self) -> list[dict[str, Any]]:
        return [e for e in self.new if e.get("error_code") == "U0"]


def as_dict(event: Event) -> dict[str, Any]:
    return {
        **event.traits,
        "event_type": event.event_type,
        "message_id": event.message_id,
        "timestamp": event.timestamp,
    }


def audit(notifications: Path, config: Path) -> list[Stream]:
    """Distil, group by the sandbox trigger, and run the handler on each stream."""
    distiller = Distiller.from_file(config / "event_definitions.yaml")
    (trigger,) = load_triggers(config / "triggers.yaml")
    grouped: dict[tuple[tuple[str, object], ...], list[Event]] = {}
    with notifications.open("rb") as lines:
        for line in lines:
            event = distiller.distill_json(line)
            match = None if event is None else trigger.match(event)
            if event is not None and match is not None:
                grouped.setdefault(match.key, []).append(event)

    handler = UsageHandler()  # one handler, stream after stream, as the worker
    streams = []
    for number, (key, events) in enumerate(grouped.items(), 1):
        events.sort(key=lambda e: e.timestamp)
        fires = any(all(trigger.fire_hits(e)) for e in events)
        stream = Stream(dict(key), [as_dict(e) for e in events], fires)
        env: dict[str, Any] = {
            "stream_id": number,
            "stream_name": trigger.name,
            "stream_state": "firing" if fires else "expiring",
            "distinguishing_traits": dict(key),
        }
        out = handler.handle_events(stream.events, env)
        assert out[: len(stream.events)] == stream.events
        stream.new = out[len(stream.events) :]
        stream.notifications = env[ENV_KEY]
        streams.append(stream)
    return streams


def run_notigen(out: Path, *options: str) -> None:
    result = CliRunner().invoke(notigen, [*NOTIGEN, "--out", str(out), *options])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def clean(
    tmp_path_factory: pytest.TempPathFactory, corpus_config: Path
) -> list[Stream]:
    out = tmp_path_factory.mktemp("notigen") / "clean.jsonl"
    run_notigen(out)
    return audit(out, corpus_config)


@pytest.fixture(scope="module")
def anomalous(
    tmp_path_factory: pytest.TempPathFactory, corpus_config: Path
) -> tuple[list[Stream], list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("notigen")
    out, log = folder / "anomalies.jsonl", folder / "faults.jsonl"
    run_notigen(out, "--anomalies", "0.2", "--fault-log", str(log))
    faults = [json.loads(line) for line in log.read_text().splitlines()]
    return audit(out, corpus_config), faults


# --------------------------------------------------------------------- clean traffic


def test_every_fired_stream_is_verified(clean: list[Stream]) -> None:
    fired = [s for s in clean if s.fires]
    assert len(fired) >= 50
    for stream in fired:
        verdicts = stream.verdicts()
        eod = [e for e, _ in stream.exists() if is_eod_exists(e)]
        assert len(eod) == 1, stream.key
        for the_exists, _block in stream.exists():
            assert verdicts[the_exists["message_id"]]["event_type"] == VERIFIED
        assert not [e for e in stream.new if e["event_type"] == FAILED], stream.key


def test_clean_traffic_only_u0_where_no_exists_can_come(clean: list[Stream]) -> None:
    # Streams that expire (a deleted instance's last day) verify their delete's
    # .exists too. U0 only where notigen sends no .exists: the day after the
    # window, and failed builds (never launched).
    failed_builds = 0
    for stream in clean:
        for the_exists, _block in stream.exists():
            assert stream.verdicts()[the_exists["message_id"]]["event_type"] == VERIFIED
        if stream.u0():
            assert not stream.fires
            assert stream.day >= WINDOW_END or not stream.launched, stream.key
            failed_builds += stream.day < WINDOW_END
        else:
            assert not [e for e in stream.new if e["event_type"] == FAILED]
    assert any(not s.fires and s.verdicts() for s in clean)
    assert failed_builds  # the notigen/audit mismatch is still there


def test_warnings_only_for_non_eod_exists(clean: list[Stream]) -> None:
    warned = 0
    for stream in clean:
        non_eod = {e["message_id"] for e, _ in stream.exists() if not is_eod_exists(e)}
        for event in stream.new:
            if event["event_type"] == WARNINGS:
                assert event["original_message_id"] in non_eod
                warned += 1
    assert warned


def test_every_new_event_is_a_notification(clean: list[Stream]) -> None:
    for stream in clean:
        assert [n["message_id"] for n in stream.notifications] == [
            e["message_id"] for e in stream.new
        ]
    ids = [e["message_id"] for s in clean for e in s.new]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------- anomalies


def test_a_dropped_delete_exists_is_u0_when_the_stream_expires(
    anomalous: tuple[list[Stream], list[dict[str, Any]]],
) -> None:
    streams, faults = anomalous
    dropped = {f["instance_id"] for f in faults if f["kind"] == "delete_without_exists"}
    assert dropped
    u0_instances = set()
    for stream in streams:
        if stream.u0():
            assert not stream.fires
            if stream.day < WINDOW_END and stream.launched:  # see the clean case
                assert stream.key["instance_id"] in dropped, stream.key
            u0_instances.add(stream.key["instance_id"])
    assert dropped <= u0_instances


def test_a_wrong_launched_at_is_u2_when_a_relaunch_is_in_the_block(
    anomalous: tuple[list[Stream], list[dict[str, Any]]],
) -> None:
    streams, faults = anomalous
    spoiled = {f["message_id"] for f in faults if f["kind"] == "launched_at_mismatch"}
    caught = missed = 0
    fired_failures = []
    for stream in streams:
        verdicts = stream.verdicts()
        for the_exists, block in stream.exists():
            verdict = verdicts[the_exists["message_id"]]
            if the_exists["message_id"] not in spoiled:
                assert verdict["event_type"] == VERIFIED  # no false positive
            elif any(e["event_type"] in RELAUNCH_ENDS for e in block):
                assert verdict["event_type"] == FAILED
                assert verdict["error_code"] == "U2"
                assert verdict["error"].startswith("Conflicting 'launched_at'")
                caught += 1
                if stream.fires:
                    fired_failures.append(verdict)
            else:
                # The original's blind spot (see the module docstring).
                assert verdict["event_type"] == VERIFIED
                missed += 1
    assert caught + missed == len(spoiled)
    assert caught
    assert fired_failures  # end-of-day audits that fail, as billing will see them
