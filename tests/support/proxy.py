"""A TCP proxy on 127.0.0.1 that tests can cut, stall and restore (service outages).

:meth:`Proxy.cut` is a server gone (connections dropped, new ones refused);
:meth:`Proxy.stall` a server that hangs (connections stay open and new ones are
accepted, but nothing is forwarded until :meth:`Proxy.restore`);
:meth:`Proxy.trickle` a slow network (bytes forwarded in small pieces, with a
pause after each).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    """Forward ``127.0.0.1:<port>`` to ``target``; :meth:`cut` drops every
    connection and refuses new ones until :meth:`restore`; :meth:`stall` keeps
    them open but forwards nothing."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.flowing = threading.Event()
        self.flowing.set()
        #: Bytes received while stalled (held, not forwarded).
        self.held = 0
        #: While trickling: the largest piece forwarded at once, and the pause after.
        self.piece: int | None = None
        self.pause = 0.0
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # the timeout was for connecting only
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.flowing.is_set():
                    with self._lock:
                        self.held += len(data)
                    while not self.flowing.wait(0.1):
                        if self._closed:
                            return
                self._forward(sink, data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _forward(self, sink: socket.socket, data: bytes) -> None:
        piece = self.piece
        if piece is None:
            sink.sendall(data)
            return
        pause = threading.Event()
        for start in range(0, len(data), piece):
            sink.sendall(data[start : start + piece])
            pause.wait(self.pause)

    def trickle(self, piece: int, pause: float) -> None:
        """Forward at most ``piece`` bytes at a time, waiting ``pause`` s after each."""
        self.piece, self.pause = piece, pause

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.up.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def stall(self) -> None:
        """Keep connections open and accept new ones, but forward nothing."""
        self.flowing.clear()

    def restore(self) -> None:
        """Accept and forward again."""
        self.up.set()
        self.flowing.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()
