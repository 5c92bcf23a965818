"""The yagi chain in one process, on memory:// and SQLite."""

from __future__ import annotations

import gc
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import notabene
import shoebox
from stacktach.batchtuning import GEN0_THRESHOLD, SWITCH_INTERVAL
from tests.support.waiting import wait_for
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade
from winchester.storage.values import decode_traits
from yagi import config as yagi_config
from yagi.worker import YagiWorker


def notification(n: int, event_type: str = "compute.instance.update") -> dict[str, Any]:
    return {
        "event_type": event_type,
        "message_id": f"m-{n}",
        "timestamp": f"2024-01-01 00:00:{n:02d}.000000",
        "publisher_id": "compute.h1",
        "payload": {"instance_id": "i-1", "memory_mb": 512},
    }


@pytest.fixture
def world(tmp_path: Path, corpus_config: Path) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = connect(url)
    upgrade(engine)
    engine.dispose()
    (tmp_path / "winchester.yaml").write_text(
        f"database: {{url: '{url}'}}\n"
        f"distiller_config: {corpus_config / 'event_definitions.yaml'}\n"
        f"trigger_definitions: {corpus_config / 'triggers.yaml'}\n"
    )
    queue = f"q{time.monotonic_ns()}"
    (tmp_path / "yagi.conf").write_text(
        f"[rabbit_broker]\nurl = memory://\n[consumers]\nqueues = {queue}\n"
        # winchester listed first: the archive must still run first
        f"[consumer:{queue}]\n"
        "apps = winchester.yagi_handler.WinchesterHandler, shoebox\n"
        f"exchange = {queue}\nrouting_key = {queue}\n"
        "max_wait = 0.05\ndeployment = cell-9\n"
        f"[winchester]\nconfig_file = {tmp_path / 'winchester.yaml'}\n"
        f"[shoebox]\ndestination_folder = {tmp_path / 'archive'}\n"
        f"working_directory = {tmp_path / 'work-<pid>'}\n"
        "[discard_filters]\nwinchester = compute.instance.exists*\n"
    )
    return {"url": url, "queue": queue, "conf": tmp_path / "yagi.conf", "tmp": tmp_path}


def run(
    world: dict[str, Any],
    bodies: list[bytes],
    thresholds: list[tuple[int, float]] | None = None,
) -> YagiWorker:
    """Run a worker until it has handled ``bodies``; ``thresholds`` gets the
    collector's first threshold and the switch interval as each batch is
    handled and finished."""
    worker = YagiWorker(yagi_config.load([world["conf"]]))
    handled: list[int] = []
    on_batch = worker.consumer.callback
    seen = thresholds if thresholds is not None else []

    def counting(batch: Any) -> Any:
        seen.append((gc.get_threshold()[0], sys.getswitchinterval()))
        finish = on_batch(batch)
        assert finish is not None  # yagi leaves its bookkeeping to the background

        def counted() -> None:
            finish()
            seen.append((gc.get_threshold()[0], sys.getswitchinterval()))
            handled.append(len(batch))

        return counted

    worker.consumer.callback = counting
    thread = threading.Thread(target=worker.run)
    thread.start()
    spec = notabene.QueueSpec(
        name=world["queue"], exchange=world["queue"], routing_key=world["queue"]
    )
    with notabene.Publisher(
        "memory://", exchange=world["queue"], queues=[spec]
    ) as publisher:
        publisher.publish_batch(bodies, routing_key=world["queue"])
    wait_for(lambda: sum(handled) >= len(bodies), 30, "every message handled")
    worker.stop()
    thread.join(10)
    return worker


def use_apps(world: dict[str, Any], apps: str) -> None:
    """Give the queue these ``apps`` instead of winchester and shoebox."""
    conf = world["conf"]
    conf.write_text(
        conf.read_text().replace(
            "apps = winchester.yagi_handler.WinchesterHandler, shoebox\n",
            f"apps = {apps}\n",
        )
    )


def archived(world: dict[str, Any], folder: str = "") -> list[shoebox.Record]:
    """The records of the finished archive files (``rejects``: the reject archive)."""
    return [
        record
        for path in sorted((world["tmp"] / "archive" / folder).glob("*.gz"))
        for record in shoebox.read(path)
    ]


def stored(world: dict[str, Any]) -> dict[str, dict[str, Any]]:
    engine = connect(world["url"])
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(schema.event.c.message_id, schema.event.c.traits)
        ).all()
    engine.dispose()
    return {mid: decode_traits(traits) for mid, traits in rows}


def test_archive_first_then_events_with_deployment_discards_and_envelopes(
    world: dict[str, Any],
) -> None:
    envelope = {"oslo.version": "2.0", "oslo.message": json.dumps(notification(2))}
    bodies = [
        json.dumps(notification(1)).encode(),
        json.dumps(envelope).encode(),
        json.dumps(notification(3, "compute.instance.exists")).encode(),  # discarded
        b"{broken",
    ]
    worker = run(world, bodies)
    events = stored(world)
    assert set(events) == {"m-1", "m-2"}
    assert events["m-1"]["deployment"] == "cell-9"
    assert [type(h).__name__ for h in worker.chains[world["queue"]].handlers] == [
        "ArchiveHandler",
        "WinchesterHandler",
    ]
    archived = [
        record
        for path in sorted((world["tmp"] / "archive").glob("*.gz"))
        for record in shoebox.read(path)
    ]
    assert sorted(r.body for r in archived) == sorted(
        bodies[:3]
    )  # poison: rejects only
    assert {r.metadata["deployment"] for r in archived} == {"cell-9"}
    rejects = [
        record
        for path in sorted((world["tmp"] / "archive" / "rejects").glob("*.gz"))
        for record in shoebox.read(path)
    ]
    assert [r.body for r in rejects] == [b"{broken"]
    assert rejects[0].metadata["reason"].startswith("not JSON")


def test_batches_are_handled_with_the_interpreter_tuned(world: dict[str, Any]) -> None:
    before, interval = gc.get_threshold(), sys.getswitchinterval()
    thresholds: list[tuple[int, float]] = []
    run(world, [json.dumps(notification(n)).encode() for n in range(1, 4)], thresholds)
    assert thresholds and set(thresholds) == {(GEN0_THRESHOLD, SWITCH_INTERVAL)}
    assert gc.get_threshold() == before  # back once the worker stopped
    assert sys.getswitchinterval() == interval
    assert set(stored(world)) == {"m-1", "m-2", "m-3"}


def test_max_messages_is_honoured_per_queue_and_statistics_say_what_is_totals(
    world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.yagi_handlers import Recorder

    conf = world["conf"]
    conf.write_text(
        conf.read_text().replace(
            "apps = winchester.yagi_handler.WinchesterHandler, shoebox\n",
            "apps = winchester, shoebox, tests.support.yagi_handlers:Recorder\n"
            "max_messages = 2\n",
        )
    )
    Recorder.sizes.clear()
    bodies = [json.dumps(notification(n)).encode() for n in range(1, 8)]
    with caplog.at_level(logging.INFO, logger="yagi.worker"):
        run(world, bodies)
    assert sum(Recorder.sizes) == 7 and max(Recorder.sizes) <= 2
    assert set(stored(world)) == {f"m-{n}" for n in range(1, 8)}
    [line] = [r.getMessage() for r in caplog.records if "since start" in r.getMessage()]
    period, _, totals = line.partition("; since start: ")
    assert "last " in period and "7 messages" in period and "7 saved" in period
    assert "7 messages" in totals and "7 archived" in totals


@pytest.mark.parametrize(
    "handler",
    ["Fussy", "LateFussy"],  # LateFussy raises in the work left to the background
)
def test_an_exception_of_one_notification_dead_letters_only_it(
    world: dict[str, Any], caplog: pytest.LogCaptureFixture, handler: str
) -> None:
    use_apps(world, f"tests.support.yagi_handlers:{handler}, winchester, shoebox")
    bad = notification(4)
    bad["payload"]["explode"] = "boom"
    bodies = [json.dumps(notification(n)).encode() for n in (1, 2, 3, 5, 6)]
    bodies.insert(3, json.dumps(bad).encode())
    with caplog.at_level(logging.INFO, logger="yagi.worker"):
        run(world, bodies)
    assert set(stored(world)) == {"m-1", "m-2", "m-3", "m-5", "m-6"}
    name = handler.lower()
    assert [r.metadata["reason"] for r in archived(world, "rejects")] == [
        f"{name}: ValueError: cannot take explode='boom'"
    ]
    assert any(
        f"message m-4 dead-lettered: {name}:" in r.getMessage() for r in caplog.records
    )


def test_working_folders_per_process_and_recovery_of_older_layouts(
    world: dict[str, Any],
) -> None:
    """A folder of a dead process of this host, and files an older version left
    directly in working_directory, are finished at start; live ones are not."""
    import os
    import socket
    import subprocess
    import sys

    tmp = world["tmp"]
    base = tmp / "work"
    conf = world["conf"]
    conf.write_text(conf.read_text().replace(f"{tmp / 'work-<pid>'}", str(base)))
    host = socket.gethostname()
    dead = base / f"{host}-999999999"
    other_host = base / "elsewhere-12"
    for folder, body in (
        (dead, b'{"n": 1}'),
        (base, b'{"n": 2}'),
        (other_host, b'{"n": 3}'),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "20240101T000000-1-abcd.json").write_bytes(
            b'{"metadata":{},"notification":' + body + b"}\n"
        )
    # a live process of this host holds its folder
    live = base / f"{host}-1"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib; from shoebox.recovery import "
            "lock_working_folder; p = pathlib.Path(sys.argv[1]); "
            "p.mkdir(parents=True); lock_working_folder(p); print('locked', "
            "flush=True); time.sleep(60)",
            str(live),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        (live / "20240101T000000-1-beef.json").write_bytes(
            b'{"metadata":{},"notification":{"n": 4}}\n'
        )
        worker = YagiWorker(yagi_config.load([conf]))
        ours = base / f"{host}-{os.getpid()}"
        assert ours.is_dir() and (base / f"{ours.name}-rejects").is_dir()
        recovered = sorted(
            record.body
            for path in (tmp / "archive").glob("*.gz")
            for record in shoebox.read(path)
        )
        assert recovered == [b'{"n": 1}', b'{"n": 2}']
        assert not dead.exists()
        assert (live / "20240101T000000-1-beef.json").exists()  # alive: left alone
        assert any(other_host.iterdir())  # another host's: its own business
        for chain in worker.chains.values():
            for handler in chain.handlers:
                handler.close()
    finally:
        holder.kill()
        holder.wait()


def test_a_sibling_folder_is_recovered_only_once_its_process_is_gone(
    world: dict[str, Any],
) -> None:
    # A sibling started a moment ago has made its folder but holds no lock yet:
    # taking and deleting that folder would kill it on its first write.
    with subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"]
    ) as live:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        young = world["tmp"] / f"work-{live.pid}"
        abandoned = world["tmp"] / f"work-{dead.pid}"
        young.mkdir()
        abandoned.mkdir()
        try:
            worker = YagiWorker(yagi_config.load([world["conf"]]))
            for chain in worker.chains.values():
                for handler in chain.handlers:
                    handler.close()
            assert young.is_dir() and not (young / ".lock").exists()
            assert not abandoned.exists()
        finally:
            live.kill()


def test_an_outage_in_the_background_work_reruns_only_that_work(
    world: dict[str, Any],
) -> None:
    from tests.support.yagi_handlers import Flaky

    use_apps(world, "tests.support.yagi_handlers:Flaky, winchester, shoebox")
    Flaky.begun.clear()
    Flaky.finished.clear()
    Flaky.outages = 1
    bodies = [json.dumps(notification(n)).encode() for n in range(1, 6)]
    run(world, bodies)
    assert set(stored(world)) == {f"m-{n}" for n in range(1, 6)}
    # Flaky's background work met the outage: it alone ran again (its begin
    # did not), then winchester, in the background after it, stored the batch;
    # nothing was archived twice.
    assert Flaky.outages == 0
    assert sum(Flaky.begun) == sum(Flaky.finished) == 5
    assert sorted(r.body for r in archived(world)) == sorted(bodies)
