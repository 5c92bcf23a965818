"""Ingest with real processes on MariaDB: concurrency and SIGKILL mid-batch.

Expected results are computed in this process from the same notifications, with
the same definitions: which events are stored, and which events each stream
(one per trigger and key) must hold.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from distiller import Distiller, NotificationRejected
from winchester.config.triggers import load_triggers
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade
from winchester.storage.values import distinguishing_key

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOW = "2024-01-01T00:00:00Z"  # before every event: nothing expires during the test


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("traffic") / "notifications.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "notigen.cli",
            "--seed",
            "7",
            "--count",
            "20000",
            "--instances",
            "50",
            "--out",
            str(path),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return path


@pytest.fixture(scope="module")
def expected(
    traffic: Path, corpus_config: Path
) -> tuple[set[str], dict[str, set[str]]]:
    """(message ids stored, dist key -> message ids of its stream)."""
    distiller = Distiller.from_file(corpus_config / "event_definitions.yaml")
    triggers = load_triggers(corpus_config / "triggers.yaml")
    stored: set[str] = set()
    streams: dict[str, set[str]] = defaultdict(set)
    for line in traffic.read_bytes().splitlines():
        try:
            event = distiller.distill_json(line)
        except NotificationRejected:
            continue
        if event is None or event.message_id in stored:
            continue
        stored.add(event.message_id)
        for trigger in triggers:
            match = trigger.match(event)
            if match is not None:
                streams[distinguishing_key(trigger.name, match.key)].add(
                    event.message_id
                )
    assert len(stored) > 15000 and len(streams) > 50
    return stored, streams


def worker(
    url: str, traffic: Path, corpus_config: Path, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "winchester.ingest_file",
            "--db",
            url,
            "--definitions",
            str(corpus_config / "event_definitions.yaml"),
            "--triggers",
            str(corpus_config / "triggers.yaml"),
            "--now",
            NOW,
            *extra,
            str(traffic),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def database_state(url: str) -> tuple[set[str], dict[str, list[set[str]]], list[str]]:
    """(stored message ids, dist key -> message-id sets of its streams, problems)."""
    engine = connect(url)
    event, link, stream = schema.event, schema.stream_event, schema.stream
    problems: list[str] = []
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.select(event.c.id, event.c.message_id)).all())
        members: dict[int, set[str]] = defaultdict(set)
        for stream_id, event_id in conn.execute(
            sa.select(link.c.stream_id, link.c.event_id)
        ):
            if event_id not in ids:
                problems.append(f"stream {stream_id} links missing event {event_id}")
            else:
                members[stream_id].add(ids[event_id])
        orphans = conn.execute(
            sa.select(sa.func.count())
            .select_from(schema.trait_index)
            .where(~schema.trait_index.c.event_id.in_(sa.select(event.c.id)))
        ).scalar_one()
        if orphans:
            problems.append(f"{orphans} trait index rows without their event")
        by_key: dict[str, list[set[str]]] = defaultdict(list)
        for row in conn.execute(
            sa.select(stream.c.id, stream.c.dist_key, stream.c.event_count)
        ):
            links = len(members[row.id])
            if row.event_count != links:
                problems.append(f"stream {row.id}: {row.event_count} != {links}")
            by_key[row.dist_key].append(members[row.id])
    engine.dispose()
    return set(ids.values()), by_key, problems


def test_four_processes_ingest_overlapping_shares(
    mysql_url: str,
    traffic: Path,
    corpus_config: Path,
    expected: tuple[set[str], dict[str, set[str]]],
) -> None:
    upgrade(connect(mysql_url))
    processes = [
        worker(
            mysql_url,
            traffic,
            corpus_config,
            "--share",
            f"{k}/4",
            "--shuffle",
            str(k),
            "--batch",
            "200",
        )
        for k in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, (out[-1000:], err[-2000:])
        assert json.loads(out.splitlines()[-1])["done"]
    stored_ids, by_key, problems = database_state(mysql_url)
    want_ids, want_streams = expected
    assert problems == []
    assert stored_ids == want_ids  # every message_id once (the key is unique)
    assert {
        k: len(v) for k, v in by_key.items() if len(v) != 1
    } == {}  # one stream per key
    assert {k: v[0] for k, v in by_key.items()} == want_streams  # each stream complete


def test_sigkill_mid_batch_leaves_no_partial_batch(
    mysql_url: str,
    traffic: Path,
    corpus_config: Path,
    expected: tuple[set[str], dict[str, set[str]]],
) -> None:
    upgrade(connect(mysql_url))
    want_ids, want_streams = expected
    member_of = {mid: key for key, mids in want_streams.items() for mid in mids}
    for attempt in range(3):
        process = worker(
            mysql_url,
            traffic,
            corpus_config,
            "--batch",
            "2000",
            "--shuffle",
            str(attempt),
        )
        assert process.stdout is not None
        assert "batch_done" in process.stdout.readline()  # a batch committed ...
        time.sleep(0.05 + 0.1 * attempt)  # ... and the next is under way
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        stored, by_key, problems = database_state(mysql_url)
        assert problems == []
        assert 0 < len(stored) < len(want_ids)
        # every stored event that belongs in a stream is in it, and only stored ones are
        linked = {
            mid for sets in by_key.values() for members in sets for mid in members
        }
        assert linked == {mid for mid in stored if mid in member_of}
    finish = worker(mysql_url, traffic, corpus_config, "--batch", "1000")
    _, err = finish.communicate(timeout=600)
    assert finish.returncode == 0, err[-2000:]
    stored, by_key, problems = database_state(mysql_url)
    assert problems == []
    assert stored == want_ids
    assert {k: len(v) for k, v in by_key.items() if len(v) != 1} == {}
    assert {k: v[0] for k, v in by_key.items()} == want_streams
