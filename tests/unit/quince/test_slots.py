"""quince.slots.RequestSlots on a real falcon app, driven from several threads."""

from __future__ import annotations

import threading
from typing import Any

import falcon
import falcon.testing
import pytest

from quince.slots import RequestSlots

WAIT = 10.0  # seconds: a bound for conditions that should hold at once


class Gate:
    """A responder that counts who is inside and waits for ``opened``."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.entered = threading.Semaphore(0)
        self.opened = threading.Event()
        self.lock = threading.Lock()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        self.entered.release()
        try:
            assert self.opened.wait(WAIT)
            if req.get_param("fail"):
                raise RuntimeError("boom")
            resp.media = {"ok": True}
        finally:
            with self.lock:
                self.inside -= 1


class Stream:
    long_lived = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"live": True}


def app_with(slots: int, gate: Gate) -> falcon.testing.TestClient:
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(
        middleware=[RequestSlots(slots)]
    )
    app.add_route("/gate", gate)
    app.add_route("/stream", Stream())

    def boom(req: Any, resp: Any, exc: Exception, params: Any) -> None:
        raise falcon.HTTPInternalServerError(title="Internal error")

    app.add_error_handler(RuntimeError, boom)
    return falcon.testing.TestClient(app)


def in_threads(client: falcon.testing.TestClient, paths: list[str]) -> list[Any]:
    results: list[Any] = [None] * len(paths)

    def get(k: int) -> None:
        path, _, query = paths[k].partition("?")
        results[k] = client.simulate_get(path, query_string=query).status_code

    threads = [threading.Thread(target=get, args=(k,)) for k in range(len(paths))]
    for thread in threads:
        thread.start()
    return [results, threads]


@pytest.mark.parametrize("slots", [1, 2])
def test_at_most_slots_requests_run_at_once(slots: int) -> None:
    gate = Gate()
    client = app_with(slots, gate)
    results, threads = in_threads(client, ["/gate"] * 5)
    for _ in range(slots):
        assert gate.entered.acquire(timeout=WAIT)
    # the others wait for a slot: nobody else gets in while the gate is shut
    assert not gate.entered.acquire(timeout=0.3)
    assert gate.inside == slots
    # a live stream takes no slot: answered while every slot is held
    assert client.simulate_get("/stream").json == {"live": True}
    gate.opened.set()
    for thread in threads:
        thread.join(WAIT)
    assert results == [200] * 5
    assert gate.most == slots


def test_a_failed_request_gives_its_slot_back() -> None:
    gate = Gate()
    gate.opened.set()
    client = app_with(1, gate)
    assert client.simulate_get("/gate", query_string="fail=1").status_code == 500
    assert client.simulate_get("/gate").status_code == 200  # not stuck
    assert client.simulate_get("/nowhere").status_code == 404
    assert client.simulate_get("/gate").status_code == 200
