from typing import Any

import orjson
import pytest

import notabene
from notabene.sender import PERSISTENT

from .conftest import MEMORY


def get_all(queue: str) -> list[Any]:
    """Every message waiting in ``queue`` on the memory broker (consumed)."""
    messages = []
    with notabene.connect(MEMORY) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            messages.append(message)
    return messages


def spec(name: str, routing_key: str) -> notabene.QueueSpec:
    return notabene.QueueSpec(name=f"{name}.q", exchange=name, routing_key=routing_key)


def test_publish_batch_sends_json_persistent_messages(name: str) -> None:
    items = [{"message_id": "m1", "n": 1}, b'{"n": 2}']
    with notabene.Publisher(MEMORY, exchange=name, queues=[spec(name, "a.b")]) as pub:
        assert pub.publish_batch(items, routing_key="a.b", headers={"h": "v"}) == 2
        assert pub.published == 2
        assert pub.confirms is False  # nothing to confirm on memory://
    messages = get_all(f"{name}.q")
    assert [orjson.loads(m.body) for m in messages] == [
        {"message_id": "m1", "n": 1},
        {"n": 2},
    ]
    first = messages[0]
    assert first.content_type == "application/json"
    assert first.content_encoding == "utf-8"
    assert first.properties["delivery_mode"] == PERSISTENT
    assert first.properties["message_id"] == "m1"
    assert first.headers == {"h": "v"}
    assert first.delivery_info["routing_key"] == "a.b"


def test_topic_routing_follows_binding_keys(name: str) -> None:
    queues = [spec(f"{name}-all", "#"), spec(f"{name}-info", "*.info")]
    queues = [
        notabene.QueueSpec(name=q.name, exchange=name, routing_key=q.binding_key)
        for q in queues
    ]
    with notabene.Publisher(MEMORY, exchange=name, queues=queues) as pub:
        pub.publish_batch([{"n": 1}], routing_key="monitor.info")
        pub.publish_batch([{"n": 2}], routing_key="monitor.error")
    assert [orjson.loads(m.body)["n"] for m in get_all(f"{name}-all.q")] == [1, 2]
    assert [orjson.loads(m.body)["n"] for m in get_all(f"{name}-info.q")] == [1]


def test_empty_batch_publishes_nothing_and_does_not_connect(name: str) -> None:
    pub = notabene.Publisher(MEMORY, exchange=name)
    assert pub.publish_batch([], routing_key="x") == 0
    assert pub.connection is None


def test_bad_item_fails_before_anything_is_sent(name: str) -> None:
    pub = notabene.Publisher(MEMORY, exchange=name, queues=[spec(name, "k")])
    with pub, pytest.raises(TypeError):
        pub.publish_batch([{"n": 1}, "not bytes"], routing_key="k")
    assert get_all(f"{name}.q") == []


def test_close_is_idempotent_and_publisher_reopens(name: str) -> None:
    pub = notabene.Publisher(MEMORY, exchange=name, queues=[spec(name, "k")])
    pub.close()
    pub.publish({"n": 1}, routing_key="k")  # opens on demand
    pub.close()
    pub.close()
    assert len(get_all(f"{name}.q")) == 1
