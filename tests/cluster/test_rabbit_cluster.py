"""A 3-node RabbitMQ cluster losing the node that leads the queue, mid-run.

Two ``yagi-event`` processes consume through different nodes (each with the
whole ``;``-separated failover list, its own node first), ``notigen`` publishes
20,000 notifications through the third. The quorum queue's leader is killed
with SIGKILL mid-run and brought back later: every notification must be stored
exactly once in MariaDB and be in the archive.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.nodes import RabbitCluster
from tests.cluster.world import World

pytestmark = [pytest.mark.cluster, pytest.mark.mysql, pytest.mark.slow]

COUNT = int(os.environ.get("STACKTACH_CLUSTER_RABBIT_COUNT", "20000"))


@pytest.fixture
def world(
    tmp_path: Path,
    corpus_config: Path,
    mysql_url: str,
    rabbit_cluster: RabbitCluster,
) -> Iterator[World]:
    found = World(tmp_path, corpus_config, [mysql_url], [])
    found.migrate()
    yield found
    found.kill_all()
    for n in (1, 2, 3):
        if rabbit_cluster.running(n):
            for queue in (found.name, f"{found.name}.failed"):
                with contextlib.suppress(Exception):
                    rabbit_cluster.ctl(n, "delete_queue", queue)
            break


def queues(cluster: RabbitCluster, node: int) -> dict[str, dict[str, object]]:
    rows = json.loads(
        cluster.ctl(
            node, "list_queues", "name", "type", "members", "--formatter", "json"
        )
    )
    return {str(row["name"]): row for row in rows}


def test_leader_killed_mid_run_loses_nothing_and_stores_nothing_twice(
    world: World, rabbit_cluster: RabbitCluster
) -> None:
    cluster = rabbit_cluster
    lines = world.lines(COUNT)
    want = world.expected(lines)
    assert len(want) > COUNT * 0.9

    first = world.yagi(cluster.urls((1, 2, 3)))
    # The first consumer declares the queue, so node 1 leads it.
    world.wait(lambda: world.name in queues(cluster, 1), 60, "the quorum queue")
    world.yagi(cluster.urls((2, 3, 1)))
    declared = queues(cluster, 1)
    for name in (world.name, f"{world.name}.failed"):
        assert declared[name]["type"] == "quorum", declared[name]
        assert sorted(declared[name]["members"]) == sorted(  # type: ignore[arg-type]
            cluster.name(n) for n in (1, 2, 3)
        )
    leader = cluster.leader(world.name)
    assert first.poll() is None

    # Publish through the third node (failing over elsewhere if it is the leader).
    order = (3, 1, 2) if leader != 3 else (3, 2, 1)
    publisher = world.notigen(COUNT, cluster.urls(order))

    world.wait(lambda: world.event_count() >= len(want) // 4, 300, "a quarter stored")
    cluster.kill(leader)
    before = world.event_count()
    assert before < len(want), "the run ended before the leader was killed"
    world.wait(
        lambda: world.event_count() >= min(before + len(want) // 4, len(want)),
        300,
        "progress without the old leader",
    )
    cluster.start_node(leader)  # back; it rejoins as a follower
    assert publisher.wait(timeout=600) == 0, world.log_tail(publisher)
    world.wait(lambda: world.event_count() >= len(want), 600, "every event stored")
    for process in list(world.processes):
        if process.poll() is None:
            world.stop(process)

    stored = world.stored_ids()
    assert len(stored) == len(set(stored))
    assert set(stored) == want  # nothing lost, nothing twice
    assert cluster.leader(world.name) in (1, 2, 3)
    archived = world.archived()
    assert archived == set(lines)  # the archive has every notification
