"""Loopback helpers: free ports, waiting for a listener, a TCP proxy the tests can cut."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (servers here cannot be told to pick one)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


class Proxy:
    """A TCP forwarder on 127.0.0.1 that counts bytes and can drop every connection.

    Tests use it to cut a connection in the middle of a sync; the benchmark uses it to count
    the bytes a client receives.
    """

    def __init__(self, target: tuple[str, int], *, source_ip: str | None = None):
        self.target = target
        self.source_ip = source_ip  # upstream connections come from this loopback address
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.bytes_down = 0  # server -> client
        self.bytes_up = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._closed = False
        self.record = False  # keep a copy of the traffic (tests look for what crossed)
        self.recorded = bytearray()  # server -> client
        self.recorded_up = bytearray()
        # Called with the running byte count after each chunk sent to the client.
        self.on_down: list = []
        self._cut_requests = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            source = (self.source_ip, 0) if self.source_ip else None
            upstream = socket.create_connection(self.target, source_address=source)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if not down and self._take_cut():
                    self.drop_connections()  # the request never reaches the server
                    return
                dst.sendall(chunk)
                with self._lock:
                    if down:
                        self.bytes_down += len(chunk)
                    else:
                        self.bytes_up += len(chunk)
                    if self.record:
                        (self.recorded if down else self.recorded_up).extend(chunk)
                    count = self.bytes_down
                if down:
                    for hook in list(self.on_down):
                        hook(count)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut_next_requests(self, n: int = 1) -> None:
        """Drop every connection when the client next sends something, ``n`` times: the
        client has written a request and gets no answer, as when a network goes away."""
        with self._lock:
            self._cut_requests = n

    def _take_cut(self) -> bool:
        with self._lock:
            if self._cut_requests <= 0:
                return False
            self._cut_requests -= 1
            return True

    def drop_connections(self) -> None:
        """Cut every open connection at once (new ones are still accepted)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.drop_connections()
