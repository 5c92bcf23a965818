# mypy: disallow-untyped-calls=False
# (py-amqp and kombu are not annotated; every function here is.)
"""A py-amqp transport that reads the socket in large pieces.

py-amqp's ``TCPTransport`` reads every frame with three ``recv`` calls of
exactly the bytes it needs next (the header, the payload, the end byte), and
sets the socket's timeout before and after each frame: about fifteen system
calls per message, most of the consumer's cost of receiving. This transport
receives up to :data:`CHUNK` bytes at a time, cuts frames from its buffer, and
leaves the timeout alone while a whole frame is buffered already.

It overrides two private methods of py-amqp's ``TCPTransport`` (``_read`` and
``_setup_transport``) and two public ones (``read_frame``, which cuts a frame
that is wholly buffered in one step, and ``having_timeout``), and keeps its
``_read_buffer`` convention: bytes left
there by an interrupted frame are read first. ``pyproject.toml`` pins the
py-amqp version this was written against; ``tests/unit/notabene/
test_amqp_transport.py`` checks the behaviour, with frames cut at every byte
and timeouts in the middle of frames. TLS connections (``amqps://``,
``ssl=...``) keep py-amqp's own transport.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
from collections.abc import Iterator
from typing import Any

from amqp.exceptions import UnexpectedFrame
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

__all__ = ["CHUNK", "BufferedTCPTransport", "Transport"]

#: Largest single ``recv``.
CHUNK = 1 << 16

_HEADER = struct.Struct(">BHI")  # type, channel, size; then payload and end byte
_RETRY = (errno.EAGAIN, errno.EINTR)
_FRAME_END = 0xCE


class BufferedTCPTransport(TCPTransport):  # type: ignore[misc]
    """``TCPTransport`` with a receive buffer (see the module docstring)."""

    _read_buffer: bytes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._rx = bytearray()
        self._rx_pos = 0
        super().__init__(*args, **kwargs)

    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._rx = bytearray()
        self._rx_pos = 0

    def _buffered_end(self) -> int | None:
        """Where the end byte of the next frame is in the buffer, when the
        whole frame is there (None otherwise)."""
        position = self._rx_pos
        if self._read_buffer or len(self._rx) - position < _HEADER.size:
            return None
        end: int = position + _HEADER.size + _HEADER.unpack_from(self._rx, position)[2]
        return end if len(self._rx) > end else None

    def having_timeout(
        self, timeout: float | None
    ) -> contextlib.AbstractContextManager[socket.socket]:
        if timeout is None or self._buffered_end() is not None:
            # no read will wait: the timeout need not change
            return contextlib.nullcontext(self.sock)
        return self._timeout_set(timeout)

    @contextlib.contextmanager
    def _timeout_set(self, timeout: float) -> Iterator[socket.socket]:
        with super().having_timeout(timeout) as sock:
            yield sock

    def read_frame(self, unpack: Any = None) -> tuple[int, int, bytes]:
        """The next frame: ``(type, channel, payload)``.

        A frame wholly in the buffer is cut from it at once; any other goes
        through py-amqp's own ``read_frame`` (three ``_read`` calls, which wait
        for the socket and keep the bytes of a frame a timeout interrupts).
        """
        end = self._buffered_end()
        if end is None:
            frame: tuple[int, int, bytes] = super().read_frame()
            return frame
        buffer, position = self._rx, self._rx_pos
        kind, channel, _ = _HEADER.unpack_from(buffer, position)
        self._rx_pos = end + 1
        if buffer[end] != _FRAME_END:
            raise UnexpectedFrame(
                f"Received frame_end {buffer[end]:#04x} while expecting 0xce"
            )
        with memoryview(buffer) as view:
            return kind, channel, bytes(view[position + _HEADER.size : end])

    def _read(
        self, n: int, initial: bool = False, _errnos: tuple[int, ...] = _RETRY
    ) -> bytes:
        """Exactly ``n`` bytes, from the buffer, receiving more when it runs short."""
        buffer = self._rx
        if self._read_buffer:  # left by a frame a timeout interrupted: it comes first
            del buffer[: self._rx_pos]
            buffer[0:0] = self._read_buffer
            self._read_buffer = b""
            self._rx_pos = 0
        position = self._rx_pos
        while len(buffer) - position < n:
            try:
                received = self._quick_recv(CHUNK)
            except OSError as exc:
                if exc.errno in _errnos:
                    if not (initial and self.raise_on_initial_eintr):
                        continue
                    self._give_back(position)
                    raise TimeoutError() from exc
                self._give_back(position)
                raise
            if not received:
                self._give_back(position)
                raise OSError("Server unexpectedly closed connection")
            if position:
                del buffer[:position]
                position = 0
            buffer += received
        self._rx_pos = position + n
        with memoryview(buffer) as view:
            return bytes(view[position : position + n])

    def _give_back(self, position: int) -> None:
        """Leave the unread bytes where py-amqp looks after an interruption."""
        self._read_buffer = bytes(self._rx[position:])
        self._rx = bytearray()
        self._rx_pos = 0


class Connection(pyamqp.Connection):
    """kombu's py-amqp connection, on :class:`BufferedTCPTransport` (not TLS)."""

    def Transport(  # noqa: N802 - py-amqp's name for its transport factory
        self,
        host: str,
        connect_timeout: float | None,
        ssl: Any = False,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        socket_settings: Any = None,
        **kwargs: Any,
    ) -> Any:
        if ssl:
            return super().Transport(
                host,
                connect_timeout,
                ssl=ssl,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                socket_settings=socket_settings,
                **kwargs,
            )
        return BufferedTCPTransport(
            host,
            connect_timeout=connect_timeout,
            ssl=ssl,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            socket_settings=socket_settings,
            **kwargs,
        )


class Transport(pyamqp.Transport):
    """kombu's ``pyamqp`` transport on :class:`Connection`."""

    Connection = Connection
