import os
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import notabene


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"filesystem://{tmp_path}/broker"


def declare_and_publish(
    url: str, name: str, count: int, key: str = "monitor.info"
) -> None:
    spec = notabene.QueueSpec(name=name, exchange=f"{name}-x", routing_key="monitor.*")
    with notabene.Publisher(url, exchange=spec.exchange, queues=[spec]) as pub:
        pub.publish_batch([{"n": n} for n in range(count)], routing_key=key)


def get(channel: Any, queue: str, no_ack: bool = False) -> Any:
    return channel.basic_get(queue, no_ack=no_ack)


def test_layout_under_the_root_folder(url: str, tmp_path: Path) -> None:
    declare_and_publish(url, "q", 2)
    root = tmp_path / "broker"
    assert sorted(p.name for p in root.iterdir()) == ["control", "data"]
    assert (root / "control" / "q-x.exchange").exists()
    assert (root / "control" / "q-x.type").read_text() == "topic"
    names = sorted(os.listdir(root / "data"))
    assert len(names) == 2
    assert all(n.endswith(".q.msg") for n in names)


def test_competing_channels_never_get_the_same_message(url: str) -> None:
    declare_and_publish(url, "q", 50)
    seen: Counter[int] = Counter()
    with notabene.connect(url) as one, notabene.connect(url) as two:
        channels = [one.channel(), two.channel()]
        done = [False, False]
        turn = 0
        while not all(done):
            message = get(channels[turn], "q", no_ack=True)
            if message is None:
                done[turn] = True
            else:
                seen[orjson.loads(message.body)["n"]] += 1
            turn = 1 - turn
    assert seen == Counter(range(50))


def test_unacked_messages_return_in_place_when_the_channel_closes(url: str) -> None:
    declare_and_publish(url, "q", 3)
    with notabene.connect(url) as conn:
        first = get(conn.channel(), "q")
        assert orjson.loads(first.body) == {"n": 0}
        assert not first.delivery_info.get("redelivered")
    with notabene.connect(url) as conn:
        channel = conn.channel()
        again = [get(channel, "q", no_ack=True) for _ in range(3)]
    assert [orjson.loads(m.body)["n"] for m in again] == [0, 1, 2]
    assert [bool(m.delivery_info.get("redelivered")) for m in again] == [
        True,
        False,
        False,
    ]


def test_acked_messages_are_gone_for_good(url: str, tmp_path: Path) -> None:
    declare_and_publish(url, "q", 1)
    with notabene.connect(url) as conn:
        message = get(conn.channel(), "q")
        message.ack()
    with notabene.connect(url) as conn:
        assert get(conn.channel(), "q") is None
    assert os.listdir(tmp_path / "broker" / "inflight") == []


def test_in_flight_messages_of_a_dead_consumer_are_recovered(
    url: str, tmp_path: Path
) -> None:
    declare_and_publish(url, "q", 2)
    root = tmp_path / "broker"
    # What `kill -9` leaves behind: an owner folder holding a claimed message
    # and its lock file, with nobody holding the lock.
    dead = root / "inflight" / "otherhost-4242-deadbeef"
    dead.mkdir(parents=True)
    (root / "inflight" / "otherhost-4242-deadbeef.lock").touch()
    claimed = sorted(os.listdir(root / "data"))[0]
    os.rename(root / "data" / claimed, dead / claimed)
    with notabene.connect(url) as conn:
        channel = conn.channel()
        messages = [get(channel, "q", no_ack=True) for _ in range(3)]
    assert messages[2] is None
    assert sorted(orjson.loads(m.body)["n"] for m in messages[:2]) == [0, 1]
    recovered = next(m for m in messages[:2] if orjson.loads(m.body)["n"] == 0)
    assert recovered.delivery_info["redelivered"] is True
    assert os.listdir(root / "inflight") == []


def test_a_live_consumer_keeps_its_in_flight_messages(url: str) -> None:
    declare_and_publish(url, "q", 1)
    with notabene.connect(url) as holder, notabene.connect(url) as other:
        held = get(holder.channel(), "q")
        assert held is not None
        channel = other.channel()
        assert channel.recover() == 0
        assert get(channel, "q") is None


def test_unreadable_files_are_quarantined(url: str, tmp_path: Path) -> None:
    declare_and_publish(url, "q", 1)
    data = tmp_path / "broker" / "data"
    (data / "00000000000000000001_bad.q.msg").write_bytes(b"\x00 not json")
    with notabene.connect(url) as conn:
        channel = conn.channel()
        message = get(channel, "q", no_ack=True)
        assert orjson.loads(message.body) == {"n": 0}
    assert os.listdir(tmp_path / "broker" / "corrupt") == [
        "00000000000000000001_bad.q.msg"
    ]


def test_a_connection_that_did_not_declare_routes_by_the_types_on_disk(
    url: str,
) -> None:
    declare_and_publish(url, "q", 0)
    with notabene.connect(url) as conn:  # knows nothing of exchange q-x
        channel = conn.channel()
        message = channel.prepare_message(b'{"n": 7}', 0, "application/json", "utf-8")
        channel.basic_publish(message, "q-x", "monitor.error")  # matches monitor.*
        got = get(channel, "q", no_ack=True)
    assert got is not None
    assert orjson.loads(got.body) == {"n": 7}


def test_routing_key_that_matches_no_binding_stores_nothing(
    url: str, tmp_path: Path
) -> None:
    declare_and_publish(url, "q", 3, key="other.info")
    assert os.listdir(tmp_path / "broker" / "data") == []
