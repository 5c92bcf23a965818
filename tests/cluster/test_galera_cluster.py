"""A 3-node MariaDB Galera cluster written by several processes on different nodes.

Locks are local to a Galera node: ``SELECT ... FOR UPDATE SKIP LOCKED`` on node 2
does not see node 1's lock, so two workers may both *select* the same stream.
Both then UPDATE it; the second writeset to be certified conflicts with the
first and its COMMIT fails with 1213 (deadlock), so exactly one claim commits,
the loser's transaction is run again from the start (it then sees the stream
``firing``) and nothing it selected is ever run. The first test shows this on
two connections; the second runs 2 ``yagi-event`` and 4 ``pipeline-worker``
processes spread over the nodes, then kills one node mid-run.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import notabene
from tests.cluster.nodes import GaleraCluster
from tests.cluster.world import World
from winchester.storage import lifecycle
from winchester.storage.engine import connect, run_transaction

pytestmark = [pytest.mark.cluster, pytest.mark.rabbitmq, pytest.mark.slow]

STREAMS = int(os.environ.get("STACKTACH_CLUSTER_STREAMS", "2000"))
LIVE = int(os.environ.get("STACKTACH_CLUSTER_LIVE", "2000"))
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def claim(conn: sa.Connection, owner: str) -> list[lifecycle.Claimed]:
    return lifecycle.claim(
        conn,
        lifecycle.FIRE,
        now=NOW,
        wall=NOW,
        owner=owner,
        lease=timedelta(minutes=5),
        limit=10,
    )


def test_a_claim_that_loses_certification_is_never_run(
    tmp_path: Path,
    corpus_config: Path,
    galera_cluster: GaleraCluster,
    galera_database: str,
) -> None:
    urls = [galera_cluster.url(n, galera_database) for n in (1, 2)]
    world = World(tmp_path, corpus_config, urls, [])
    ids = world.prepare_streams(3)
    one, two = connect(urls[0]), connect(urls[1])
    try:
        with one.connect() as a, two.connect() as b:
            ta, tb = a.begin(), b.begin()
            first = claim(a, "node1")
            second = claim(b, "node2")  # node 1's row locks are invisible here
            assert sorted(s.id for s in first) == sorted(ids)
            assert sorted(s.id for s in second) == sorted(ids)
            ta.commit()
            with pytest.raises(DBAPIError) as lost:
                tb.commit()  # certification fails: the claim never happened
            assert lost.value.orig is not None and lost.value.orig.args[0] == 1213
        # run_transaction runs the loser again from the start: it finds nothing.
        assert run_transaction(two, lambda c: claim(c, "node2"), what="claim") == []
        with two.connect() as b:
            owners = b.execute(sa.text("SELECT DISTINCT lease_owner FROM stream"))
            assert owners.scalars().all() == ["node1"]
    finally:
        one.dispose()
        two.dispose()


@pytest.fixture
def world(
    tmp_path: Path,
    corpus_config: Path,
    rabbitmq_url: str,
    galera_cluster: GaleraCluster,
    galera_database: str,
) -> Iterator[World]:
    urls = [galera_cluster.url(n, galera_database) for n in (1, 2, 3)]
    found = World(tmp_path, corpus_config, urls, [rabbitmq_url])
    found.migrate()
    yield found
    found.kill_all()
    if galera_cluster.state(3) == "down":
        galera_cluster.restart(3)
    with notabene.connect(rabbitmq_url) as conn:
        channel = conn.channel()
        for queue in (found.name, f"{found.name}.failed"):
            channel.queue_delete(queue)
        channel.exchange_delete(found.name)


def check(world: World, ready: list[int], want: set[str], victims: set[int]) -> None:
    """Every stream fired exactly once, counted in the handler's own table.

    ``commit`` is at-least-once: a worker whose node dies between a handler's
    commit and the stream's completion leaves the stream to be run again, so
    the attempts log may show a victim's last batch twice - and the handler's
    effect, idempotent on the run's key, is still there once per stream.
    """
    stored = world.stored_ids()
    assert len(stored) == len(set(stored))  # every event once
    assert want <= set(stored)
    assert world.unfinished() == {}  # nothing left firing, ready or in error
    effects = Counter(world.effects())
    assert set(ready) <= set(effects)  # every ready stream fired
    assert set(effects.values()) == {1}  # each exactly once
    runs = world.runs()
    attempts = Counter(stream for stream, _ in runs)
    assert set(attempts) == set(effects)  # no effect without its commit
    repeated = {s for s, n in attempts.items() if n > 1}
    assert all(attempts[s] == 2 for s in repeated)
    by_victims = {s for s, pid in runs if pid in victims}
    assert repeated <= by_victims  # only a killed node's worker's last batch
    assert len(repeated) <= 20  # pipeline_worker_batch_size


def test_yagi_and_workers_on_every_node_fire_each_stream_once_even_losing_a_node(
    world: World, galera_cluster: GaleraCluster
) -> None:
    cluster = galera_cluster
    broker = world.broker_urls[0]
    ready = world.prepare_streams(STREAMS)
    lines = world.lines(LIVE)
    want = world.expected(lines)
    for db in (1, 2):
        world.yagi(broker, db)
    workers = [world.worker(db) for db in (0, 1, 2, 0)]
    # yagi-event declared the queue before notigen publishes into it
    world.wait(lambda: _queue_exists(broker, world.name), 60, "the queue")
    publisher = world.notigen(LIVE, broker)
    assert publisher.wait(timeout=300) == 0, world.log_tail(publisher)
    world.wait(lambda: want <= set(world.stored_ids()), 600, "every live event")
    world.wait(lambda: not world.unfinished(), 600, "every stream fired")
    check(world, ready, want, victims=set())

    # Again with node 3 killed mid-run (the 2nd yagi-event and the 3rd worker use it).
    for process in workers:  # idle now; paused so the new streams can be listed
        process.send_signal(signal.SIGSTOP)
    more = world.prepare_streams(STREAMS, phase=1)
    for process in workers:
        process.send_signal(signal.SIGCONT)
    world.seed = 11
    lines = world.lines(LIVE)
    want |= world.expected(lines)
    publisher = world.notigen(LIVE, broker)
    done = set(s for s, _ in world.runs())
    world.wait(
        lambda: len({s for s, _ in world.runs()} - done) >= STREAMS // 4,
        600,
        "a quarter of the new streams fired",
    )
    cluster.kill(3)
    before = len(world.runs())
    world.wait(
        lambda: len(world.runs()) >= before + STREAMS // 4, 600, "progress on 2 nodes"
    )
    cluster.restart(3)
    assert publisher.wait(timeout=300) == 0, world.log_tail(publisher)
    world.wait(lambda: want <= set(world.stored_ids()), 600, "every live event")
    world.wait(lambda: not world.unfinished(), 600, "every stream fired")
    for process in world.daemons:
        world.stop(process)  # the ones on node 3 too: they carried on
    check(world, ready + more, want, victims={workers[2].pid})


def _queue_exists(url: str, name: str) -> bool:
    with notabene.connect(url) as conn:
        try:
            conn.channel().queue_declare(name, passive=True)
        except Exception:
            return False
    return True
