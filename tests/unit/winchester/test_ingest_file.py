"""winchester.ingest_file: files and pipes, line numbers, idle ticks, memory."""

from __future__ import annotations

import gc
import io
import os
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from distiller import Distiller
from stacktach.batchtuning import GEN0_THRESHOLD, SWITCH_INTERVAL
from winchester.clock import EventClock
from winchester.config.triggers import load_triggers
from winchester.ingest import IngestResult, TriggerManager
from winchester.ingest_file import FileIngestSummary, ingest_lines, read_lines
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade


def test_files_and_stdin_keep_their_own_line_numbers(tmp_path: Path) -> None:
    first = tmp_path / "a.jsonl"
    first.write_bytes(b"one\n\ntwo\n")
    stdin = io.BytesIO(b"three\nfour")
    assert list(read_lines([str(first), "-"], stdin, idle=0.1)) == [
        (str(first), 1, b"one\n"),
        (str(first), 3, b"two\n"),
        ("<stdin>", 1, b"three\n"),
        ("<stdin>", 2, b"four"),
    ]


def test_a_pipe_is_read_as_it_arrives_with_long_lines_and_idle_ticks() -> None:
    read_end, write_end = os.pipe()
    long_line = b"x" * 200_000 + b"\n"  # several reads
    quiet = threading.Event()

    def writer() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(b"first\n\n" + long_line[:1000])
            pipe.flush()
            pipe.write(long_line[1000:])
            pipe.flush()
            quiet.wait(10)  # until the reader has seen an idle tick
            pipe.write(b"last")

    thread = threading.Thread(target=writer)
    thread.start()
    got = []
    with os.fdopen(read_end, "rb") as stdin:
        for item in read_lines(["-"], stdin, idle=0.05):
            if item is None:
                quiet.set()
            got.append(item)
    thread.join(10)
    assert [item for item in got if item is not None] == [
        ("<stdin>", 1, b"first\n"),
        ("<stdin>", 3, long_line),
        ("<stdin>", 4, b"last"),
    ]
    assert got[-2] is None  # "last" came only after the pipe went quiet


class _Discarding:
    """Stands in for the trigger manager: counts each batch, keeps nothing."""

    engine = sa.create_engine("sqlite://")  # never connected: its dialect only

    def start_notifications(self, bodies: list[bytes]) -> _Discarded:
        return _Discarded(len(bodies))


class _Discarded:
    def __init__(self, count: int) -> None:
        self.count = count

    def store(self) -> IngestResult:
        return IngestResult(received=self.count, saved=self.count)


def _peak_bytes(path: Path) -> int:
    tracemalloc.start()
    try:
        summary = ingest_lines(
            cast(TriggerManager, _Discarding()),
            read_lines([str(path)], io.BytesIO()),
            batch_size=100,
            on_reject=lambda *_: None,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.lines == summary.saved > 0
    return peak


def test_memory_stays_flat_in_the_file_size(tmp_path: Path) -> None:
    line = b'{"event_type": "x", "payload": "' + b"p" * 1000 + b'"}\n'
    small, large = tmp_path / "2k.jsonl", tmp_path / "20k.jsonl"
    small.write_bytes(line * 2_000)  # 2 MB
    large.write_bytes(line * 20_000)  # 20 MB: reading it whole would show
    assert _peak_bytes(large) < 2 * _peak_bytes(small) + 256_000


def _manager(url: str, corpus_config: Path) -> TriggerManager:
    engine = connect(url)
    upgrade(engine)
    return TriggerManager(
        engine,
        load_triggers(corpus_config / "triggers.yaml"),
        EventClock(engine),
        distiller=Distiller.from_file(corpus_config / "event_definitions.yaml"),
    )


def _stored(manager: TriggerManager) -> set[str]:
    with manager.engine.connect() as conn:
        return set(conn.execute(sa.select(schema.event.c.message_id)).scalars())


def _distilled(manager: TriggerManager, bodies: list[bytes]) -> set[str]:
    """The message ids of the bodies that make an event."""
    assert manager.distiller is not None
    events = (manager.distiller.distill_json(body) for body in bodies)
    return {event.message_id for event in events if event is not None}


def _corpus_lines(corpus: Path) -> list[tuple[str, int, bytes]]:
    path = corpus / "notigen-nova.jsonl"
    return [
        (path.name, number, line)
        for number, line in enumerate(path.read_bytes().splitlines(), 1)
        if line.strip()
    ]


def test_a_batch_is_distilled_while_the_one_before_it_is_stored(
    mysql_url: str, corpus: Path, corpus_config: Path
) -> None:
    manager = _manager(mysql_url, corpus_config)
    lines = _corpus_lines(corpus)
    lines.insert(57, ("bad.jsonl", 9, b'{"event_type": "compute.instance.update"}'))
    started = manager.start_notifications
    begun: list[int] = []
    next_begun = threading.Event()
    log: list[str] = []

    def start(bodies: list[bytes]) -> Any:
        begun.append(len(bodies))
        log.append(f"start {len(begun)}")
        next_begun.set()
        pending = started(bodies)
        store = pending.store
        batch = len(begun)

        def slow_store() -> IngestResult:
            if batch == 1:  # the next batch is distilled before this one commits
                assert next_begun.wait(10)
            result = store()
            log.append(f"stored {batch}")
            return result

        next_begun.clear()
        pending.store = slow_store
        return pending

    manager.start_notifications = start  # type: ignore[method-assign]
    rejected: list[tuple[str, int]] = []
    summary = ingest_lines(
        manager,
        lines,
        batch_size=50,
        on_reject=lambda name, number, reason: rejected.append((name, number)),
    )
    assert log[:3] == ["start 1", "start 2", "stored 1"]
    stores = [entry for entry in log if entry.startswith("stored")]
    assert stores == [f"stored {n}" for n in range(1, len(begun) + 1)]
    assert rejected == [("bad.jsonl", 9)]  # the right line, though stored later
    assert summary.lines == len(lines) and summary.rejected == 1
    expected = _distilled(
        manager, [line for name, _, line in lines if name != "bad.jsonl"]
    )
    assert _stored(manager) == expected
    manager.engine.dispose()


def test_an_interruption_lets_the_batch_being_stored_commit(
    mysql_url: str, corpus: Path, corpus_config: Path
) -> None:
    manager = _manager(mysql_url, corpus_config)
    lines = _corpus_lines(corpus)[:130]

    def interrupted() -> Iterator[tuple[str, int, bytes]]:
        for number, line in enumerate(lines):
            if number == 125:  # batch 3 is being read, batch 2 being stored
                raise KeyboardInterrupt
            yield line

    summary = FileIngestSummary()
    with pytest.raises(KeyboardInterrupt):
        ingest_lines(
            manager,
            interrupted(),
            batch_size=50,
            on_reject=lambda *_: None,
            summary=summary,
        )
    assert summary.lines == 100
    assert _stored(manager) == _distilled(manager, [line for *_, line in lines[:100]])
    manager.engine.dispose()


def test_sqlite_is_ingested_in_one_thread(
    tmp_path: Path, corpus: Path, corpus_config: Path
) -> None:
    manager = _manager(f"sqlite:///{tmp_path / 'w.db'}", corpus_config)
    threads: set[str] = set()
    started = manager.start_notifications

    def start(bodies: list[bytes]) -> Any:
        pending = started(bodies)
        store = pending.store

        def store_here() -> IngestResult:
            threads.add(threading.current_thread().name)
            return store()

        pending.store = store_here
        return pending

    manager.start_notifications = start  # type: ignore[method-assign]
    lines = _corpus_lines(corpus)
    summary = ingest_lines(manager, lines, batch_size=50, on_reject=lambda *_: None)
    assert threads == {threading.current_thread().name}
    assert summary.lines == len(lines)
    assert _stored(manager) == _distilled(manager, [line for *_, line in lines])
    manager.engine.dispose()


def test_batches_are_distilled_and_stored_with_the_interpreter_tuned(
    tmp_path: Path, corpus: Path, corpus_config: Path
) -> None:
    manager = _manager(f"sqlite:///{tmp_path / 'w.db'}", corpus_config)
    before, interval = gc.get_threshold(), sys.getswitchinterval()
    seen: list[tuple[int, float]] = []
    lines = _corpus_lines(corpus)[:120]
    ingest_lines(
        manager,
        lines,
        batch_size=50,
        on_reject=lambda *_: None,
        on_batch=lambda summary: seen.append(
            (gc.get_threshold()[0], sys.getswitchinterval())
        ),
    )
    assert seen == [(GEN0_THRESHOLD, SWITCH_INTERVAL)] * 3
    assert gc.get_threshold() == before
    assert sys.getswitchinterval() == interval
    manager.engine.dispose()
