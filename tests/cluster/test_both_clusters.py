"""Both clusters at once: notigen -> 3 RabbitMQ nodes -> yagi-event -> 3 Galera nodes.

Two ``yagi-event`` (each on its own broker node and its own database node) and
three ``pipeline-worker`` (one per database node) run while notigen publishes
through the third broker node. Checks what the other cluster tests check
(every event once, every ready stream fired once, none left firing) and prints
the figures: notifications/s end to end, streams fired/s::

    STACKTACH_CLUSTER_NOTIFICATIONS=50000 .venv/bin/python -m pytest -s \\
        tests/cluster/test_both_clusters.py

(CI runs a smaller count; the figures come from a 50,000 run by hand.)
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.nodes import GaleraCluster, RabbitCluster
from tests.cluster.world import World, figures

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

COUNT = int(os.environ.get("STACKTACH_CLUSTER_NOTIFICATIONS", "5000"))


@pytest.fixture
def world(
    tmp_path: Path,
    corpus_config: Path,
    rabbit_cluster: RabbitCluster,
    galera_cluster: GaleraCluster,
    galera_database: str,
) -> Iterator[World]:
    urls = [galera_cluster.url(n, galera_database) for n in (1, 2, 3)]
    found = World(tmp_path, corpus_config, urls, [])
    found.migrate()
    yield found
    found.kill_all()
    for n in (1, 2, 3):
        if rabbit_cluster.running(n):
            for queue in (found.name, f"{found.name}.failed"):
                rabbit_cluster.ctl(n, "delete_queue", queue)
            break


def test_notifications_through_both_clusters(
    world: World, rabbit_cluster: RabbitCluster
) -> None:
    lines = world.lines(COUNT)
    want = world.expected(lines)
    world.yagi(rabbit_cluster.urls((1, 2, 3)), db=0)
    world.wait(
        lambda: world.name in rabbit_cluster.ctl(1, "list_queues", "name"),
        60,
        "the quorum queue",
    )
    world.yagi(rabbit_cluster.urls((2, 3, 1)), db=1)
    for db in (0, 1, 2):
        world.worker(db)
    started = time.monotonic()
    publisher = world.notigen(COUNT, rabbit_cluster.urls((3, 1, 2)))
    world.wait(lambda: world.event_count() >= len(want), 1800, "every event stored")
    stored_at = time.monotonic()
    assert publisher.wait(timeout=60) == 0, world.log_tail(publisher)
    world.wait(lambda: not world.unfinished(), 1800, "every stream fired")
    fired_at = time.monotonic()
    for process in world.daemons:
        world.stop(process)

    stored = world.stored_ids()
    assert len(stored) == len(set(stored))
    assert want <= set(stored)
    assert world.unfinished() == {}
    counts = Counter(stream for stream, _ in world.runs())
    assert counts and set(counts.values()) == {1}  # every fired stream once
    assert Counter(world.effects()) == counts  # and its effect once
    assert world.archived() == set(lines)
    figures(
        notifications=len(lines),
        events=len(want),
        streams_fired=len(counts),
        notifications_per_s=round(len(lines) / (stored_at - started), 1),
        streams_per_s=round(len(counts) / (fired_at - started), 1),
        seconds_to_store=round(stored_at - started, 1),
        seconds_to_fire=round(fired_at - started, 1),
    )
