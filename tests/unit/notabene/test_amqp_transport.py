"""notabene.amqp_transport on a real socket: a server thread sends AMQP frames
cut at awkward places, with pauses longer than the reader's timeout."""

from __future__ import annotations

import random
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest
from amqp.exceptions import UnexpectedFrame

from notabene.amqp_transport import CHUNK, BufferedTCPTransport

Frame = tuple[int, int, bytes]


def encode(frame: Frame) -> bytes:
    kind, channel, payload = frame
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"


class Server:
    """Accepts one connection, reads the protocol header, then runs ``script``."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.header = b""
        self.go = threading.Event()
        self._script: Callable[[socket.socket], None] | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def run(self, script: Callable[[socket.socket], None]) -> None:
        self._script = script
        self.go.set()

    def _serve(self) -> None:
        client, _ = self.listener.accept()
        with client:
            while len(self.header) < 8:
                self.header += client.recv(8 - len(self.header))
            self.go.wait(10)
            assert self._script is not None
            self._script(client)

    def close(self) -> None:
        self._thread.join(10)
        self.listener.close()


@pytest.fixture
def server() -> Iterator[Server]:
    started = Server()
    yield started
    started.close()


def connected(server: Server) -> BufferedTCPTransport:
    transport = BufferedTCPTransport(f"127.0.0.1:{server.port}", connect_timeout=5)
    transport.connect()  # sends the protocol header
    return transport


def read(transport: BufferedTCPTransport, timeout: float) -> Frame:
    """One frame the way py-amqp's blocking_read reads it."""
    with transport.having_timeout(timeout):
        kind, channel, payload = transport.read_frame()
    return int(kind), int(channel), bytes(payload)


def frames(seed: int, count: int) -> list[Frame]:
    rng = random.Random(seed)
    sizes = [0, 1, 6, 7, 8, CHUNK - 8, CHUNK, CHUNK + 1, 3 * CHUNK + 5]
    sizes += [rng.randrange(0, 3000) for _ in range(count - len(sizes))]
    return [
        (rng.choice((1, 2, 3, 8)), rng.randrange(0, 3), rng.randbytes(size))
        for size in sizes
    ]


def test_frames_cut_anywhere_come_back_whole(server: Server) -> None:
    sent = frames(1, 300)
    data = b"".join(map(encode, sent))
    rng = random.Random(2)

    def script(client: socket.socket) -> None:
        position = 0
        while position < len(data):
            piece = rng.choice((1, 2, 7, 8, 100, 4096, CHUNK + 3))
            client.sendall(data[position : position + piece])
            position += piece

    transport = connected(server)
    server.run(script)
    assert [read(transport, 5) for _ in sent] == sent
    assert server.header == b"AMQP\x00\x00\x09\x01"
    transport.close()


def test_a_timeout_in_the_middle_of_a_frame_loses_no_byte(server: Server) -> None:
    sent = frames(3, 40)
    data = b"".join(map(encode, sent))
    cuts = sorted(random.Random(4).sample(range(1, len(data)), 30))
    resume = threading.Event()

    def script(client: socket.socket) -> None:
        start = 0
        for cut in cuts:
            client.sendall(data[start:cut])
            start = cut
            resume.wait(5)  # the reader times out at least once per piece
            resume.clear()
        client.sendall(data[start:])

    transport = connected(server)
    server.run(script)
    received: list[Frame] = []
    timeouts = 0
    while len(received) < len(sent):
        try:
            received.append(read(transport, 0.02))
        except TimeoutError:
            timeouts += 1
            resume.set()
    assert received == sent
    assert timeouts >= len(cuts)
    transport.close()


def test_a_whole_buffered_frame_is_read_without_touching_the_timeout(
    server: Server,
) -> None:
    sent = [(1, 1, b"a" * 100), (1, 1, b"b" * 200), (1, 1, b"c")]

    def script(client: socket.socket) -> None:
        client.sendall(b"".join(map(encode, sent)))

    transport = connected(server)
    server.run(script)
    before = transport.sock.gettimeout()
    assert read(transport, 5) == sent[0]  # one recv took all three
    with transport.having_timeout(0.5) as sock:
        assert sock.gettimeout() == before  # the next frame is buffered already
    assert read(transport, 5) == sent[1]
    assert read(transport, 5) == sent[2]
    with transport.having_timeout(0.5) as sock:
        assert sock.gettimeout() == 0.5  # nothing buffered: it waits with a timeout
    transport.close()


def test_a_server_gone_in_the_middle_of_a_frame_is_an_error(server: Server) -> None:
    whole = encode((1, 1, b"x" * 5000))

    def script(client: socket.socket) -> None:
        client.sendall(whole[:2500])

    transport = connected(server)
    server.run(script)
    with pytest.raises(OSError, match="unexpectedly closed"):
        read(transport, 5)
    transport.close()


def test_a_bad_frame_end_is_refused_whether_or_not_the_frame_was_buffered(
    server: Server,
) -> None:
    good = encode((1, 1, b"ok"))
    bad = encode((1, 1, b"bad"))[:-1] + b"\x00"
    late = encode((1, 1, b"late"))[:-1] + b"\x01"
    start_late, end_late = threading.Event(), threading.Event()

    def script(client: socket.socket) -> None:
        client.sendall(good + bad)  # the bad frame arrives whole, with the good
        start_late.wait(10)
        client.sendall(late[:-1])  # this one's end byte comes after a timeout
        end_late.wait(10)
        client.sendall(late[-1:])

    transport = connected(server)
    server.run(script)
    assert read(transport, 5) == (1, 1, b"ok")
    with pytest.raises(UnexpectedFrame, match="0x00"):
        read(transport, 5)
    start_late.set()
    while not transport._read_buffer:  # until a timeout left the frame unfinished
        with pytest.raises(TimeoutError):
            read(transport, 0.05)
    end_late.set()
    with pytest.raises(UnexpectedFrame, match="0x01"):
        read(transport, 5)
    transport.close()
