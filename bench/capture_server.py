"""A local HTTP capture server on 127.0.0.1 that records every POST (headers, JSON body, arrival time) and answers
scripted statuses: the stand-in for a webhook receiver or a notification endpoint."""

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
class Captured:
    """One request received: path, lower-cased headers, the decoded JSON body, and when (`time.time()`)."""

    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = 0.0


class CaptureServer:
    """Records POSTs; `statuses` are answered in order (then 200 for every further request)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[Captured] = []
        self._statuses = list(statuses or [])
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                with capture._lock:
                    capture.requests.append(
                        Captured(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            json.loads(raw),
                            time.time(),
                        )
                    )
                    status = capture._statuses.pop(0) if capture._statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                return

        return Handler

    def snapshot(self) -> list[Captured]:
        """The requests so far."""
        with self._lock:
            return list(self.requests)

    def wait_for(self, predicate: Callable[[list[Captured]], bool], timeout: float = 20.0) -> list[Captured]:
        """Wait until the requests so far satisfy `predicate`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(captured := self.snapshot()):
            assert time.monotonic() < deadline, f"capture server: condition not met; got {captured}"
            time.sleep(0.02)
        return captured


@contextmanager
def capture_server(statuses: list[int] | None = None) -> Iterator[CaptureServer]:
    """A running `CaptureServer`, shut down afterwards."""
    server = CaptureServer(statuses)
    thread = threading.Thread(target=server._server.serve_forever, daemon=True, name="capture-server")
    thread.start()
    try:
        yield server
    finally:
        server._server.shutdown()
        server._server.server_close()
