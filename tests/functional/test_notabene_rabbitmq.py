"""notabene against a real RabbitMQ: publish, consume, dead-letter, reconnect."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import notabene
from notabene.retry import Backoff
from tests.conftest import require

pytestmark = pytest.mark.rabbitmq

FAST = Backoff(initial=0.05, maximum=0.5, max_attempts=None, jitter=0)


class Names:
    """Exchange and queue names unique to one test, deleted afterwards."""

    def __init__(self) -> None:
        self.suffix = uuid.uuid4().hex[:10]
        self.exchanges: list[str] = []
        self.queues: list[str] = []

    def exchange(self, base: str = "nova") -> str:
        name = f"test-{base}-{self.suffix}"
        self.exchanges.append(name)
        return name

    def queue(self, base: str = "monitor.info") -> str:
        name = f"test-{base}-{self.suffix}"
        self.queues += [name, notabene.failed_queue_name(name)]
        return name


@pytest.fixture
def names(rabbitmq_url: str) -> Iterator[Names]:
    created = Names()
    yield created
    with notabene.connect(rabbitmq_url) as conn:
        for queue in created.queues:
            conn.channel().queue_delete(queue)
        for exchange in created.exchanges:
            conn.channel().exchange_delete(exchange)


def message_count(url: str, queue: str) -> int:
    with notabene.connect(url) as conn:
        return int(conn.channel().queue_declare(queue, passive=True).message_count)


def run_until(
    consumer: notabene.BatchConsumer, done: Callable[[], bool], timeout: float = 30
) -> None:
    """Run ``consumer`` in a thread until ``done()``; fail if it takes ``timeout``."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            consumer.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    finished = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if done() or not thread.is_alive():
            finished.set()
            break
        finished.wait(0.02)
    consumer.stop()
    thread.join(10)
    assert not errors, errors
    assert not thread.is_alive(), "consumer did not stop"
    assert done(), "consumer did not finish its work in time"


def test_every_published_message_is_consumed_exactly_once(
    rabbitmq_url: str, names: Names
) -> None:
    exchange = names.exchange()
    spec = notabene.QueueSpec(
        name=names.queue(), exchange=exchange, routing_key="monitor.*"
    )
    total = 2000
    with notabene.Publisher(rabbitmq_url, exchange=exchange, queues=[spec]) as pub:
        assert pub.confirms is True
        for start in (0, total // 2):
            items = [
                {"message_id": f"m{n}", "n": n} for n in range(start, start + 1000)
            ]
            assert pub.publish_batch(items, routing_key="monitor.info") == 1000

    counts: Counter[int] = Counter()
    sizes: list[int] = []
    properties: list[dict[str, Any]] = []

    def handle(batch: list[notabene.Delivery]) -> None:
        sizes.append(len(batch))
        for delivery in batch:
            counts[delivery.json()["n"]] += 1
            properties.append(delivery.message.properties)
            delivery.ack()

    consumer = notabene.BatchConsumer(
        rabbitmq_url, [spec], handle, max_messages=100, max_wait=0.2
    )
    run_until(consumer, lambda: sum(counts.values()) >= total)
    assert counts == Counter(range(total))
    assert max(sizes) == 100
    assert message_count(rabbitmq_url, spec.name) == 0
    assert {p["delivery_mode"] for p in properties} == {2}
    assert {p["content_type"] for p in properties} == {"application/json"}
    assert properties[0]["message_id"] == "m0"


def test_rejected_messages_reach_the_failed_queue_with_their_reason(
    rabbitmq_url: str, names: Names
) -> None:
    exchange = names.exchange()
    spec = notabene.QueueSpec(
        name=names.queue(), exchange=exchange, routing_key="monitor.info"
    )
    with notabene.Publisher(rabbitmq_url, exchange=exchange, queues=[spec]) as pub:
        pub.publish_batch([{"n": n} for n in range(10)], routing_key="monitor.info")
    handled: list[int] = []

    def handle(batch: list[notabene.Delivery]) -> None:
        for delivery in batch:
            n = delivery.json()["n"]
            handled.append(n)
            if n % 2:
                delivery.reject(f"odd {n}")
            else:
                delivery.ack()

    consumer = notabene.BatchConsumer(rabbitmq_url, [spec], handle, max_wait=0.1)
    run_until(consumer, lambda: len(handled) >= 10)

    failed_spec = notabene.QueueSpec(
        name=spec.failed_name, exchange="", dead_letter=False
    )
    failed: list[notabene.Delivery] = []

    def collect(batch: list[notabene.Delivery]) -> None:
        failed.extend(batch)

    run_until(
        notabene.BatchConsumer(rabbitmq_url, [failed_spec], collect, max_wait=0.1),
        lambda: len(failed) >= 5,
    )
    assert sorted(d.json()["n"] for d in failed) == [1, 3, 5, 7, 9]
    first = min(failed, key=lambda d: d.json()["n"])
    assert first.headers["x-reject-reason"] == "odd 1"
    assert first.headers["x-original-queue"] == spec.name
    assert first.headers["x-original-exchange"] == exchange
    assert first.headers["x-original-routing-key"] == "monitor.info"
    assert message_count(rabbitmq_url, spec.name) == 0


def test_broker_side_dead_lettering_uses_the_same_failed_queue(
    rabbitmq_url: str, names: Names
) -> None:
    exchange = names.exchange()
    spec = notabene.QueueSpec(name=names.queue(), exchange=exchange, routing_key="k")
    with notabene.Publisher(rabbitmq_url, exchange=exchange, queues=[spec]) as pub:
        pub.publish({"n": 1}, routing_key="k")
    with notabene.connect(rabbitmq_url) as conn:
        channel = conn.channel()
        message = channel.basic_get(spec.name)
        # As another tool would, or the broker at a quorum queue's delivery limit.
        channel.basic_reject(message.delivery_tag, requeue=False)
        for _ in range(100):
            raw = channel.basic_get(spec.failed_name, no_ack=True)
            if raw is not None:
                break
            threading.Event().wait(0.05)
        assert raw is not None
        dead = channel.message_to_python(raw)
    assert dead.headers["x-death"][0]["reason"] == "rejected"
    assert dead.headers["x-death"][0]["queue"] == spec.name


def test_quorum_queues_are_declared_with_their_type(
    rabbitmq_url: str, names: Names
) -> None:
    exchange = names.exchange()
    spec = notabene.QueueSpec(
        name=names.queue(),
        exchange=exchange,
        routing_key="k",
        arguments={"x-queue-type": "quorum"},
    )
    with notabene.Publisher(rabbitmq_url, exchange=exchange, queues=[spec]) as pub:
        pub.publish_batch([{"n": n} for n in range(5)], routing_key="k")
    got: list[int] = []

    def handle(batch: list[notabene.Delivery]) -> None:
        got.extend(d.json()["n"] for d in batch)

    run_until(
        notabene.BatchConsumer(rabbitmq_url, [spec], handle, max_wait=0.1),
        lambda: len(got) >= 5,
    )
    assert sorted(got) == [0, 1, 2, 3, 4]
    # The broker refuses to see the queue (or its dead-letter queue) as classic.
    dead_letter_args = spec.queue_arguments(native_dead_letter=True)
    for name, arguments in (
        (spec.name, {**dead_letter_args, "x-queue-type": "classic"}),
        (spec.failed_name, {"x-queue-type": "classic"}),
    ):
        classic = notabene.QueueSpec(
            name=name, exchange="", arguments=arguments, dead_letter=False
        )
        pub = notabene.Publisher(rabbitmq_url, exchange=exchange, queues=[classic])
        with pytest.raises(notabene.BrokerConfigError, match="x-queue-type"):
            pub.open()


def _cut_socket(conn: Any) -> None:
    """Simulate a network failure under the consumer."""
    conn.connection.sock.shutdown(socket.SHUT_RDWR)


def _close_from_broker(conn: Any) -> None:
    """Have RabbitMQ close the connection (as on a node restart)."""
    port = conn.connection.sock.getsockname()[1]
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "peer_port"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    pid = next(
        line.split()[0]
        for line in listing.splitlines()
        if line.split()[-1:] == [str(port)]
    )
    subprocess.run(
        ["rabbitmqctl", "-q", "close_connection", pid, "notabene test"],
        capture_output=True,
        timeout=30,
        check=True,
    )


@pytest.mark.parametrize(
    "cut", [_cut_socket, _close_from_broker], ids=["socket", "broker"]
)
def test_consumer_reconnects_and_loses_nothing(
    rabbitmq_url: str, names: Names, cut: Callable[[Any], None]
) -> None:
    if cut is _close_from_broker:
        require(shutil.which("rabbitmqctl") is not None, "rabbitmqctl not on PATH")
    exchange = names.exchange()
    spec = notabene.QueueSpec(name=names.queue(), exchange=exchange, routing_key="k")
    total = 300
    with notabene.Publisher(rabbitmq_url, exchange=exchange, queues=[spec]) as pub:
        pub.publish_batch([{"n": n} for n in range(total)], routing_key="k")

    first_batch: list[int] = []
    redelivered: set[int] = set()
    acked: Counter[int] = Counter()
    consumer: notabene.BatchConsumer

    def handle(batch: list[notabene.Delivery]) -> None:
        ns = [d.json()["n"] for d in batch]
        redelivered.update(n for n, d in zip(ns, batch, strict=True) if d.redelivered)
        if not first_batch:
            first_batch.extend(ns)
            assert consumer.connection is not None
            cut(consumer.connection)  # the acks of this batch cannot reach the broker
            return
        for n, delivery in zip(ns, batch, strict=True):
            delivery.ack()
            acked[n] += 1

    consumer = notabene.BatchConsumer(
        rabbitmq_url, [spec], handle, max_messages=50, max_wait=0.1, backoff=FAST
    )
    run_until(consumer, lambda: len(acked) >= total)
    assert set(acked) == set(range(total))
    assert set(first_batch) <= redelivered  # they came back, flagged
    assert consumer.stats.reconnects >= 1
    assert message_count(rabbitmq_url, spec.name) == 0


def test_publisher_reconnects_and_finishes_the_batch(
    rabbitmq_url: str, names: Names
) -> None:
    exchange = names.exchange()
    spec = notabene.QueueSpec(name=names.queue(), exchange=exchange, routing_key="k")
    with notabene.Publisher(
        rabbitmq_url, exchange=exchange, queues=[spec], backoff=FAST
    ) as pub:
        pub.publish_batch([{"n": n} for n in range(100)], routing_key="k")
        _cut_socket(pub.connection)
        pub.publish_batch([{"n": n} for n in range(100, 200)], routing_key="k")
        assert pub.reconnects >= 1
    assert message_count(rabbitmq_url, spec.name) >= 200  # at least once
    got: set[int] = set()

    def handle(batch: list[notabene.Delivery]) -> None:
        got.update(d.json()["n"] for d in batch)

    run_until(
        notabene.BatchConsumer(rabbitmq_url, [spec], handle, max_wait=0.1),
        lambda: len(got) >= 200,
    )
    assert got == set(range(200))


def test_wrong_password_is_a_config_error_that_hides_it(rabbitmq_url: str) -> None:
    parts = rabbitmq_url.split("@", 1)
    url = parts[0].rsplit(":", 1)[0] + ":not-the-password@" + parts[1]
    with pytest.raises(notabene.BrokerConfigError) as info:
        notabene.Publisher(url, exchange="unused").open()
    assert "not-the-password" not in str(info.value)
    assert "ACCESS_REFUSED" in str(info.value)


def test_failover_url_skips_a_dead_node(rabbitmq_url: str, names: Names) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    url = f"amqp://guest:guest@127.0.0.1:{dead_port}//;{rabbitmq_url}"
    exchange = names.exchange()
    spec = notabene.QueueSpec(name=names.queue(), exchange=exchange, routing_key="k")
    with notabene.Publisher(url, exchange=exchange, queues=[spec], backoff=FAST) as pub:
        pub.publish({"n": 1}, routing_key="k")
    assert message_count(rabbitmq_url, spec.name) == 1


def test_confirm_publish_in_the_url_is_honoured_without_per_message_waits(
    rabbitmq_url: str, names: Names
) -> None:
    exchange = names.exchange()
    spec = notabene.QueueSpec(name=names.queue(), exchange=exchange, routing_key="k")
    for flag, expected in (("true", True), ("false", False)):
        url = f"{rabbitmq_url}?confirm_publish={flag}"
        with notabene.Publisher(url, exchange=exchange, queues=[spec]) as pub:
            assert pub.publish_batch([{"n": 1}] * 10, routing_key="k") == 10
            assert pub.confirms is expected
    assert message_count(rabbitmq_url, spec.name) == 20


def test_batches_finished_in_the_background_ack_exactly_themselves(
    rabbitmq_url: str, names: Names
) -> None:
    """One ``basic.ack`` with ``multiple`` per batch acks that batch, no more:
    the batch handled meanwhile (newer tags) is redelivered when its finish
    fails, and plain rejects of a queue without dead-lettering are not acked."""
    exchange = names.exchange()
    spec = notabene.QueueSpec(
        name=names.queue(), exchange=exchange, routing_key="k", dead_letter=False
    )
    with notabene.Publisher(rabbitmq_url, exchange=exchange, queues=[spec]) as pub:
        pub.publish_batch([{"n": n} for n in range(300)], routing_key="k")
    started: list[int] = []
    second_handled = threading.Event()

    def handle(batch: list[notabene.Delivery]) -> Callable[[], None]:
        first = batch[0].json()["n"]
        started.append(first)
        for delivery in batch:
            if delivery.json()["n"] % 10 == 7:
                delivery.reject("sevens are dropped")
        if first == 100:
            second_handled.set()

        def finish() -> None:
            if first == 0:
                assert second_handled.wait(10)  # batch 2 is unacked meanwhile
            if first == 200:
                raise ZeroDivisionError("a bug in the third batch's finish")

        return finish

    consumer = notabene.BatchConsumer(
        rabbitmq_url, [spec], handle, max_messages=100, max_wait=0.2
    )
    with pytest.raises(ZeroDivisionError):
        consumer.run()
    assert started == [0, 100, 200]
    assert consumer.stats.acked == 180 and consumer.stats.rejected == 20
    # the third batch's 100 messages came back; nothing else did
    assert message_count(rabbitmq_url, spec.name) == 100
    back: list[int] = []

    def collect(batch: list[notabene.Delivery]) -> None:
        back.extend(d.json()["n"] for d in batch)

    run_until(
        notabene.BatchConsumer(rabbitmq_url, [spec], collect, max_wait=0.1),
        lambda: len(back) >= 100,
    )
    assert sorted(back) == list(range(200, 300))


def test_bodies_of_every_size_arrive_whole_over_a_slow_network(
    rabbitmq_url: str, names: Names
) -> None:
    """The buffered transport (notabene.amqp_transport) against the real broker,
    through a proxy that forwards a few bytes at a time: frames arrive cut
    everywhere and reads time out in the middle of them."""
    from urllib.parse import urlsplit, urlunsplit

    from tests.support.proxy import Proxy

    exchange = names.exchange()
    spec = notabene.QueueSpec(name=names.queue(), exchange=exchange, routing_key="k")
    rng = random.Random(5)
    sizes = [0, 1, 7, 8, 65535, 65536, 131072, 300_000, *rng.sample(range(9000), 40)]
    bodies = [rng.randbytes(size) for size in sizes]
    with notabene.Publisher(rabbitmq_url, exchange=exchange, queues=[spec]) as pub:
        pub.publish_batch(bodies, routing_key="k")
    parts = urlsplit(rabbitmq_url)
    proxy = Proxy(parts.port or 5672, parts.hostname or "127.0.0.1")
    credentials = parts.netloc.rpartition("@")[0]
    proxied = urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))
    received: list[bytes] = []

    def handle(batch: list[notabene.Delivery]) -> None:
        received.extend(d.body for d in batch)
        if len(received) == 1:
            proxy.trickle(997, 0.0005)  # after the handshake, frames cut anywhere

    try:
        consumer = notabene.BatchConsumer(
            proxied, [spec], handle, max_messages=1, max_wait=0.005
        )
        run_until(consumer, lambda: len(received) >= len(bodies), timeout=60)
    finally:
        proxy.close()
    assert sorted(received) == sorted(bodies)
    assert message_count(rabbitmq_url, spec.name) == 0
