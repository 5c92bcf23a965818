"""The ``notabene`` pipeline handler: on the memory broker, and on a real RabbitMQ."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

import notabene
from notabene.retry import Backoff
from stacktach.exceptions import ConfigError
from winchester.handlers.base import HandlerError
from winchester.handlers.notabene import NotabeneHandler

MEMORY = "memory://"
WHEN = datetime(2014, 5, 1, 0, 45, 0, 805827, tzinfo=UTC)


@pytest.fixture
def name() -> str:
    """A name no other test uses (the memory broker is shared by the process)."""
    return f"t{uuid.uuid4().hex[:10]}"


def get_all(url: str, queue: str) -> list[Any]:
    """Every message waiting in ``queue`` (consumed)."""
    messages = []
    with notabene.connect(url) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            messages.append(message)
    return messages


def bodies(url: str, queue: str) -> list[Any]:
    return [orjson.loads(m.body) for m in get_all(url, queue)]


def notification(n: int, **extra: Any) -> dict[str, Any]:
    return {"message_id": f"id-{n}", "event_type": "test.thing", "n": n, **extra}


def memory_handler(name: str, **params: Any) -> NotabeneHandler:
    params.setdefault("url", MEMORY)
    params.setdefault("exchange", name)
    params.setdefault("queue_name", f"{name}.q")
    return NotabeneHandler(**params)


def run(
    handler: NotabeneHandler, events: list[dict[str, Any]], env: dict[str, Any]
) -> list[dict[str, Any]]:
    """One successful pipeline run: handle_events then commit."""
    out = handler.handle_events(events, {"stream_id": 1, **env})
    handler.commit()
    return out


# ---------------------------------------------------------------- parameters


def test_original_broker_settings_become_an_amqp_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="winchester.handlers.notabene"):
        handler = NotabeneHandler(
            host="rabbit",
            port=5673,
            user="stv3",
            password="p@ss/word",
            vhost="cells",
            library="librabbitmq",
            exchange="nova",
            exchange_type="topic",
            queue_name="monitor.info",
            env_keys=["usage_notifications"],
        )
    assert handler.url == "amqp://stv3:p%40ss%2Fword@rabbit:5673/cells"
    assert handler.routing_key == "monitor.info"
    assert handler.env_keys == ("usage_notifications",)
    assert handler.publisher is None  # nothing connects before the first commit
    assert "library: librabbitmq" in caplog.text


def test_defaults_are_the_originals() -> None:
    handler = NotabeneHandler(exchange="nova", queue_name="monitor.info")
    assert handler.url == "amqp://guest:guest@localhost:5672//"
    assert handler.exchange_type == "topic"
    assert handler.declare_queue is True
    assert handler.env_keys == ()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"queue_name": "q"}, "'exchange' name is required"),
        ({"exchange": "x"}, "'queue_name' (or a 'routing_key') is required"),
        ({"exchange": "x", "routing_key": "k"}, "declare_queue needs a 'queue_name'"),
        ({"exchange": "x", "queue_name": "q", "exchange_type": "headers"}, "headers"),
        ({"exchange": "x", "queue_name": "q", "url": "redis://h"}, "redis"),
        (
            {"exchange": "x", "queue_name": "q", "url": MEMORY, "host": "h"},
            "either 'url' or host",
        ),
        ({"exchange": "x", "queue_name": "q", "port": "5672"}, "port number"),
        ({"exchange": "x", "queue_name": "q", "env_keys": [1]}, "env_keys"),
        ({"exchange": "x", "queue_name": "q.failed"}, "dead-letter"),
        ({"exchange": "x", "queue_name": "q", "declare_queue": "no"}, "true or false"),
    ],
)
def test_invalid_parameters_are_config_errors(
    params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match="notabene handler") as caught:
        NotabeneHandler(**params)
    assert message in str(caught.value)


def test_unknown_parameter_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="queue"):
        NotabeneHandler(exchange="x", queue="q")


def test_routing_key_without_queue_when_not_declaring() -> None:
    handler = NotabeneHandler(
        url=MEMORY, exchange="x", routing_key="a.b", declare_queue=False
    )
    assert handler.routing_key == "a.b"
    assert handler.queue_name is None


# ---------------------------------------------------------------- memory broker


def test_env_lists_are_published_in_commit_only(name: str) -> None:
    handler = memory_handler(name, env_keys=["first", "missing", "second"])
    events = [notification(0)]
    env = {
        "stream_id": 7,
        "first": [notification(1), notification(2)],
        "second": [notification(3)],
    }
    out = handler.handle_events(events, env)
    assert out is events
    assert [n["n"] for n in handler.pending] == [1, 2, 3]
    # Nothing happens before commit: no connection, nothing in the queue.
    assert handler.publisher is None
    assert get_all(MEMORY, f"{name}.q") == []
    handler.commit()
    messages = get_all(MEMORY, f"{name}.q")
    assert [orjson.loads(m.body)["n"] for m in messages] == [1, 2, 3]
    assert [m.properties["message_id"] for m in messages] == ["id-1", "id-2", "id-3"]
    assert {m.delivery_info["routing_key"] for m in messages} == {f"{name}.q"}
    assert messages[0].content_type == "application/json"
    assert handler.pending == []


def test_without_env_keys_the_stream_events_are_published(name: str) -> None:
    handler = memory_handler(name)
    event = notification(1, timestamp=WHEN, launched_at=WHEN)
    run(handler, [event], {"usage_notifications": [notification(9)]})
    [body] = bodies(MEMORY, f"{name}.q")
    assert body == {
        "message_id": "id-1",
        "event_type": "test.thing",
        "n": 1,
        "timestamp": "2014-05-01 00:45:00.805827",
        "launched_at": "2014-05-01 00:45:00.805827",
    }


def test_routing_key_overrides_the_queue_name_and_binds_the_queue(name: str) -> None:
    handler = memory_handler(name, routing_key="monitor.info", env_keys="n")
    run(handler, [], {"n": [notification(1)]})
    [message] = get_all(MEMORY, f"{name}.q")
    assert message.delivery_info["routing_key"] == "monitor.info"


def test_rollback_publishes_nothing(name: str) -> None:
    handler = memory_handler(name, env_keys=["n"])
    run(handler, [], {"n": [notification(0)]})  # declares the queue
    assert len(get_all(MEMORY, f"{name}.q")) == 1
    handler.handle_events([], {"stream_id": 2, "n": [notification(1)]})
    handler.rollback()
    handler.commit()  # a stray commit after a rollback has nothing to send
    assert get_all(MEMORY, f"{name}.q") == []


def test_nothing_to_publish_opens_no_connection(name: str) -> None:
    handler = memory_handler(name, env_keys=["n"])
    run(handler, [notification(1)], {})
    assert handler.publisher is None


def test_a_second_stream_reuses_the_publisher(name: str) -> None:
    handler = memory_handler(name, env_keys=["n"])
    run(handler, [], {"n": [notification(1)]})
    publisher = handler.publisher
    assert publisher is not None
    connection = publisher.connection
    run(handler, [], {"n": [notification(2), notification(3)]})
    assert handler.publisher is publisher
    assert publisher.connection is connection
    assert publisher.published == 3
    assert [b["n"] for b in bodies(MEMORY, f"{name}.q")] == [1, 2, 3]
    handler.close()
    assert publisher.connection is None


def test_what_is_published_is_frozen_at_handle_events(name: str) -> None:
    handler = memory_handler(name, env_keys=["n"])
    item = notification(1, payload={"state": "active"})
    handler.handle_events([], {"n": [item]})
    item["payload"]["state"] = "deleted"  # a later handler changes the dict
    handler.commit()
    [body] = bodies(MEMORY, f"{name}.q")
    assert body["payload"] == {"state": "active"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"n": {"message_id": "x"}}, "env['n'] is a dict"),
        ({"n": ["text"]}, "holds a str"),
        ({"n": [notification(1, bad=object())]}, "cannot publish notification 'id-1'"),
    ],
)
def test_bad_notifications_fail_handle_events(
    name: str, env: dict[str, Any], message: str
) -> None:
    handler = memory_handler(name, env_keys=["n"])
    with pytest.raises(HandlerError) as caught:
        handler.handle_events([], env)
    assert message in str(caught.value)
    assert handler.pending == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_failed_publish_raises_from_commit_and_the_next_commit_retries(
    name: str,
) -> None:
    handler = NotabeneHandler(
        url=f"amqp://guest:guest@127.0.0.1:{_closed_port()}//",
        exchange=name,
        queue_name=f"{name}.q",
        backoff=Backoff(initial=0.01, max_attempts=2, jitter=0),
    )
    handler.handle_events([notification(1)], {"stream_id": 3})
    with pytest.raises(notabene.BrokerUnavailable, match="unavailable after 2"):
        handler.commit()
    publisher = handler.publisher
    assert publisher is not None and publisher.connection is None
    # The stream is run again later: same publisher, same failure, raised again.
    handler.handle_events([notification(1)], {"stream_id": 3})
    with pytest.raises(notabene.BrokerUnavailable):
        handler.commit()
    assert handler.publisher is publisher


# ---------------------------------------------------------------- RabbitMQ


@pytest.fixture
def rabbit_names(rabbitmq_url: str) -> Iterator[tuple[str, str]]:
    """An exchange and a queue name for this test; deleted afterwards."""
    suffix = uuid.uuid4().hex[:10]
    exchange, queue = f"test-stv3-{suffix}", f"test-monitor.info-{suffix}"
    yield exchange, queue
    with notabene.connect(rabbitmq_url) as conn:
        channel = conn.channel()
        for name in (queue, notabene.failed_queue_name(queue)):
            channel.queue_delete(name)
        channel.exchange_delete(exchange)


@pytest.mark.rabbitmq
def test_rabbitmq_publish_with_confirms_and_reuse(
    rabbitmq_url: str, rabbit_names: tuple[str, str]
) -> None:
    exchange, queue = rabbit_names
    handler = NotabeneHandler(
        url=rabbitmq_url, exchange=exchange, queue_name=queue, env_keys=["n"]
    )
    try:
        run(handler, [], {"n": [notification(1, when=WHEN)]})
        publisher = handler.publisher
        assert publisher is not None and publisher.confirms
        connection = publisher.connection
        run(handler, [], {"n": [notification(2)]})
        assert handler.publisher is publisher
        assert publisher.connection is connection
    finally:
        handler.close()
    messages = get_all(rabbitmq_url, queue)
    assert [orjson.loads(m.body) for m in messages] == [
        {**notification(1), "when": "2014-05-01 00:45:00.805827"},
        notification(2),
    ]
    assert [m.properties["message_id"] for m in messages] == ["id-1", "id-2"]
    assert {m.delivery_info["routing_key"] for m in messages} == {queue}


@pytest.mark.rabbitmq
def test_rabbitmq_refusal_propagates_from_commit(
    rabbitmq_url: str, rabbit_names: tuple[str, str]
) -> None:
    exchange, queue = rabbit_names
    with notabene.connect(rabbitmq_url) as conn:
        conn.channel().exchange_declare(exchange, "direct", durable=True)
    handler = NotabeneHandler(url=rabbitmq_url, exchange=exchange, queue_name=queue)
    handler.handle_events([notification(1)], {"stream_id": 4})
    with pytest.raises(notabene.BrokerConfigError, match="refused"):
        handler.commit()
    handler.close()
