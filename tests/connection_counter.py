"""A TCP listener on 127.0.0.1 that counts the connections it accepts: a
stand-in for a cloud metadata server, to show it is (or is not) asked."""

from __future__ import annotations

import socket
import threading
from typing import Self


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that accepts, counts and closes connections."""

    def __init__(self):
        self.count = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="connection-counter")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.count += 1
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
