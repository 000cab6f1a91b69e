"""A real HTTP subscriber for tests and bench/: ``ThreadingHTTPServer`` on 127.0.0.1 in a
thread, answering from a script of status codes and recording every request it receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    received_at: float  # time.time()


class RecordingSubscriber:
    """Answers ``statuses`` in order (the last one repeats); ``hang_seconds`` delays every
    answer, to look like a subscriber past its timeout."""

    def __init__(self, statuses: Sequence[int] = (200,), hang_seconds: float = 0.0):
        self.statuses = list(statuses)
        self.hang_seconds = hang_seconds
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with subscriber._lock:
                    subscriber.requests.append(
                        ReceivedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                    )
                    status = subscriber.statuses[min(len(subscriber.requests) - 1, len(subscriber.statuses) - 1)]
                if subscriber.hang_seconds:
                    subscriber._stopping.wait(subscriber.hang_seconds)
                answer = b'{"ok": true}' if status < 300 else b'{"error": "scripted"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (its timeout): that is the point of hanging

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def received(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self.requests)

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[Callable[..., RecordingSubscriber]]:
    """Start subscribers with ``servers(statuses, hang_seconds=...)``; all stopped at the end."""
    started: list[RecordingSubscriber] = []

    def start(*args: Any, **kwargs: Any) -> RecordingSubscriber:
        server = RecordingSubscriber(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
