"""A real HTTP webhook receiver on loopback, for notification and Alertmanager tests.

It records every POST (path, headers, parsed JSON body) and answers 200. ``stop`` closes the
socket, so senders see "connection refused" exactly as with a receiver that is down; ``start``
binds the same port again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One POST as received; ``at`` is ``time.time()`` on arrival."""

    path: str
    headers: dict[str, str]
    body: Any
    at: float


class WebhookReceiver:
    """Records POSTs to ``http://127.0.0.1:<port>/...``; thread-safe reads via ``received``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                item = Received(self.path, dict(self.headers.items()), body, time.time())
                with receiver._lock:
                    receiver._received.append(item)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self, path_prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self._received if r.path.startswith(path_prefix)]

    def wait_for(self, condition: Callable[[list[Received]], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.received()):
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; got {self.received()}")

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[WebhookReceiver]:
        receiver = cls()
        receiver.start()
        try:
            yield receiver
        finally:
            receiver.stop()
