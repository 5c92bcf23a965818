"""``--metrics-port``: yagi-event and pipeline-worker serve their own counters.

The real processes, the real broker and MariaDB; the scraped values are
compared exactly with what was published, stored, dead-lettered and fired.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from distiller import Distiller, NotificationRejected
from tests.functional.test_pipeline_workers import prepare, runs, states, worker
from tests.functional.test_pipeline_workers import write_config as worker_config
from tests.functional.test_yagi_processes import (  # noqa: F401 - the fixture
    Setup,
    _is_poison,
    _queued,
    setup,
    stop,
)
from tests.support.waiting import wait_for
from winchester.states import StreamState

pytestmark = [pytest.mark.mysql, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(port: int) -> Samples:
    """Every sample of ``/metrics``: name -> {sorted labels: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    found: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return found


def answers(port: int) -> Samples | None:
    try:
        return scrape(port)
    except OSError:
        return None


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


@pytest.mark.rabbitmq
def test_yagi_event_counts_what_it_stored_and_dead_lettered(setup: Setup) -> None:  # noqa: F811
    lines = setup.notifications(1500, "--malformed", "0.02")
    want = setup.expected(lines)
    poison = [line for line in lines if _is_poison(line)]
    undecodable = [line for line in poison if not _is_object(line)]
    distiller = Distiller.from_file(setup.corpus_config / "event_definitions.yaml")
    again = [line for line in lines if _distils(distiller, line)][:40]
    assert poison and undecodable and len(again) == 40
    setup.publish(lines)
    port = free_port()
    config = setup.write_config()
    consumer = setup.start(config, "--metrics-port", str(port))
    total = len(lines)
    queue = setup.name
    wait_for(
        lambda: (
            value(answers(port) or {}, "yagi_notifications_total", queue=queue) >= total
        ),
        180,
        "every notification to be counted",
    )
    setup.publish(again)  # redelivered copies: duplicates
    total += len(again)
    got = wait_for(
        lambda: (
            (s := answers(port))
            and value(s, "yagi_notifications_total", queue=queue) >= total
            and s
        ),
        120,
        "the duplicates to be counted",
    )
    assert value(got, "yagi_notifications_total", queue=queue) == total
    assert value(got, "yagi_saved_total", queue=queue) == len(want)
    assert len(setup.stored()) == len(want)
    assert value(got, "yagi_duplicates_total", queue=queue) == len(again)
    assert value(got, "yagi_archived_total", queue=queue) == total - len(undecodable)
    dead = {
        dict(labels)["reason"]: count
        for labels, count in got["yagi_dead_lettered_total"].items()
        if dict(labels)["queue"] == queue
    }
    assert sum(dead.values()) == len(poison)
    assert set(dead) <= {"not JSON", "not a JSON object but list", "distiller"}
    assert dead["not JSON"] >= 1
    assert value(got, "yagi_held_batches_total") == 0
    batches = value(got, "yagi_batch_latency_seconds_count", queue=queue)
    assert batches >= total / 200  # max_messages = 200
    wait_for(lambda: _queued(setup, ".failed") == len(poison), 60, "the dead letters")
    stop(consumer)


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _distils(distiller: Distiller, line: bytes) -> bool:
    try:
        return distiller.distill_json(line) is not None
    except NotificationRejected:
        return False


def test_pipeline_worker_counts_fired_streams_and_lease_takeovers(
    mysql_url: str, tmp_path: Path
) -> None:
    ids = prepare(mysql_url, 40)
    config = worker_config(tmp_path, mysql_url, batch=10, lease=2, sleep=0.1)
    victim = worker(config, "victim")
    wait_for(lambda: len(runs(mysql_url)) >= 15, 120, "the victim's first pipelines")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    left = states(mysql_url)  # the streams the victim did not complete
    firing = [s for s, state in left.items() if state == StreamState.FIRING]
    assert firing and len(left) < len(ids)
    port = free_port()
    rescuer = worker(config, "rescuer", "--metrics-port", str(port))
    wait_for(lambda: not states(mysql_url), 120, "the rescuer to complete every stream")
    got = wait_for(
        lambda: (
            (s := answers(port))
            and value(s, "pipeline_worker_fired_total", worker="rescuer") >= len(left)
            and s
        ),
        60,
        "the fired streams to be counted",
    )
    assert value(got, "pipeline_worker_fired_total", worker="rescuer") == len(left)
    assert value(got, "pipeline_worker_lease_takeovers_total", worker="rescuer") == len(
        firing
    )
    for key in ("expired", "errors", "retries", "lost_leases", "commits_skipped"):
        assert value(got, f"pipeline_worker_{key}_total", worker="rescuer") == 0, key
    runs_timed = value(
        got,
        "pipeline_worker_pipeline_duration_seconds_count",
        worker="rescuer",
        kind="fire",
    )
    assert runs_timed == len(left)
    rescuer.send_signal(signal.SIGTERM)
    _, err = rescuer.communicate(timeout=60)
    assert rescuer.returncode == 0, err[-2000:]
