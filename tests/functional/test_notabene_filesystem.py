"""The embedded filesystem:// broker between real, separate processes."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import notabene

ROOT = Path(notabene.__file__).resolve().parents[1]
TIMEOUT = 60

CONSUMER = """
import json, sys, time
import notabene

url, exchange, expect, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
spec = notabene.QueueSpec(
    name="monitor.info", exchange=exchange, routing_key="monitor.*"
)
with notabene.Publisher(url, exchange=exchange, queues=[spec]):
    pass  # declare the exchange, the queue and its binding now
print("READY", flush=True)
seen = 0

def handle(batch):
    global seen
    for delivery in batch:
        record = {"n": delivery.json()["n"], "key": delivery.routing_key}
        print(json.dumps(record), flush=True)
    if mode == "hold":
        print("HOLDING", flush=True)
        time.sleep(3600)  # never acks: killed with SIGKILL by the test
    for delivery in batch:
        delivery.ack()
    seen += len(batch)
    if seen >= expect:
        consumer.stop()

consumer = notabene.BatchConsumer(url, [spec], handle, max_messages=50, max_wait=0.1)
consumer.install_signal_handlers()
consumer.run()
print("DONE", flush=True)
"""

PUBLISHER = """
import sys
import threading
import notabene

url, exchange, key, start, count = sys.argv[1:6]
start, count = int(start), int(count)
with notabene.Publisher(url, exchange=exchange) as pub:
    items = [{"n": n} for n in range(start, start + count)]
    pub.publish_batch(items, routing_key=key)
"""


class Child:
    """A Python child process whose output lines are read with a timeout."""

    def __init__(self, code: str, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def read_line(self) -> str:
        """The next line of output; fail if it does not come in time."""
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail("child process said nothing in time")
        if line is None:
            pytest.fail(f"child process ended early (exit code {self.proc.wait()})")
        return line

    def wait(self) -> int:
        return self.proc.wait(TIMEOUT)

    def terminate(self) -> None:
        self.proc.terminate()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def read_until(child: Child, marker: str) -> list[dict[str, Any]]:
    records = []
    while (line := child.read_line()) != marker:
        records.append(json.loads(line))
    return records


def publish(url: str, key: str, start: int, count: int) -> None:
    assert Child(PUBLISHER, url, "nova", key, str(start), str(count)).wait() == 0


def queue_files(root: Path) -> list[str]:
    return [n for n in os.listdir(root / "data") if n.endswith(".monitor.info.msg")]


def test_topic_routing_between_two_processes(tmp_path: Path) -> None:
    url = f"filesystem://{tmp_path}/broker"
    consumer = Child(CONSUMER, url, "nova", "500", "ack")
    try:
        assert consumer.read_line() == "READY"
        publish(url, "audit.info", 1000, 50)  # matches no binding
        publish(url, "monitor.info", 0, 300)
        publish(url, "monitor.error", 300, 200)
        records = read_until(consumer, "DONE")
        assert consumer.wait() == 0
    finally:
        consumer.kill()
    assert Counter(r["n"] for r in records) == Counter(range(500))
    assert {r["key"] for r in records} == {"monitor.info", "monitor.error"}
    assert queue_files(tmp_path / "broker") == []
    assert os.listdir(tmp_path / "broker" / "inflight") == []


def test_messages_held_by_a_killed_consumer_are_redelivered(tmp_path: Path) -> None:
    url = f"filesystem://{tmp_path}/broker"
    doomed = Child(CONSUMER, url, "nova", "100", "hold")
    try:
        assert doomed.read_line() == "READY"
        publish(url, "monitor.info", 0, 100)
        held = [r["n"] for r in read_until(doomed, "HOLDING")]
    finally:
        doomed.kill()  # SIGKILL: no chance to put anything back
    assert held
    assert len(queue_files(tmp_path / "broker")) == 100 - len(held)

    got: Counter[int] = Counter()
    redelivered: set[int] = set()
    consumer: notabene.BatchConsumer

    def handle(batch: list[notabene.Delivery]) -> None:
        for delivery in batch:
            n = delivery.json()["n"]
            got[n] += 1
            if delivery.redelivered:
                redelivered.add(n)
        if sum(got.values()) >= 100:
            consumer.stop()

    spec = notabene.QueueSpec(
        name="monitor.info", exchange="nova", routing_key="monitor.*"
    )
    consumer = notabene.BatchConsumer(url, [spec], handle, max_wait=0.1)
    safety_net = threading.Timer(TIMEOUT, consumer.stop)
    safety_net.start()
    try:
        consumer.run()
    finally:
        safety_net.cancel()
    assert got == Counter(range(100))
    assert redelivered == set(held)
    assert queue_files(tmp_path / "broker") == []


def test_sigterm_stops_a_consumer_process_cleanly(tmp_path: Path) -> None:
    url = f"filesystem://{tmp_path}/broker"
    consumer = Child(CONSUMER, url, "nova", "1000000", "ack")
    try:
        assert consumer.read_line() == "READY"
        publish(url, "monitor.info", 0, 10)
        records = [json.loads(consumer.read_line()) for _ in range(10)]
        consumer.terminate()  # SIGTERM
        assert read_until(consumer, "DONE") == []
        assert consumer.wait() == 0
    finally:
        consumer.kill()
    assert sorted(r["n"] for r in records) == list(range(10))
    assert queue_files(tmp_path / "broker") == []
    assert os.listdir(tmp_path / "broker" / "inflight") == []
