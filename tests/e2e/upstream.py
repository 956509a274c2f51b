"""A stand-in for an API replica behind the nginx edge: `GET /stall` waits until released,
`GET /busy` answers 503, any other GET 200 with the replica's address as its body.

In this process (`Upstream(...)` and `serve_forever` in a thread), or as a process of its own,
which a test can kill like a replica: `python -m tests.e2e.upstream ADDRESS PORT`.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Upstream(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: nginx opens one connection per request

    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        super().__init__(address, _Handler)
        self.stalled = 0
        self.changed = threading.Condition()
        self.release = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # nginx hung up: expected
            super().handle_error(request, client_address)

    def wait_for_stalled(self, count: int, timeout_s: float) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.stalled >= count, timeout_s), self.stalled


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def do_GET(self) -> None:
        if self.path == "/stall":
            with self.server.changed:
                self.server.stalled += 1
                self.server.changed.notify_all()
            self.server.release.wait(30)
        body = str(self.server.server_address[0]).encode()
        self.send_response(503 if self.path == "/busy" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


if __name__ == "__main__":
    Upstream((sys.argv[1], int(sys.argv[2]))).serve_forever()
