"""A fake HTTP server on 127.0.0.1 for the clients under test (never the internet): replies per path, given in
order (the last one repeats), so it can fail on demand; every request recorded. Started and stopped by
``serving()``::

    with serving(methods={"POST"}) as fake:
        url = fake.route("/v1/messages", Reply(500), Reply(200, {"ok": True}))
        ...
        (seen,) = fake.hits("/v1/messages")
        assert seen.headers["authorization"] == "Bearer …" and seen.json()["model"] == "m"
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list | None = None  # dict/list → JSON, str → UTF-8, bytes as is, None → empty
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the answer's headers
    trickle: float = 0.0  # between the body's bytes

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class Headers(Mapping[str, str]):
    """A request's headers under the names it sent them with, looked up whatever the case."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items: dict[str, tuple[str, str]] = {name.lower(): (name, value) for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _value in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class Seen:
    method: str
    path: str  # without the query
    query: dict[str, str]  # the last value of each name
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeHTTP:
    """Replies per path, in order (the last one repeats); every request is recorded. ``headers`` go with every
    reply (a reply's own win), ``not_found`` answers an unrouted path, a method not in ``methods`` gets a 501 and
    is not recorded."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str] | None = None,
        not_found: Reply | None = None,
        methods: Iterable[str] = METHODS,
    ) -> None:
        self.url = ""
        self.headers = dict(headers or {})
        self.not_found = not_found or Reply(404, {"error": "no route"})
        self.methods = frozenset(methods)
        self.routes: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def route(self, path: str, *replies: Reply) -> str:
        with self._lock:
            self.routes[path] = list(replies)
        return self.url + path

    def reply_for(self, path: str) -> Reply:
        with self._lock:
            replies = self.routes.get(path)
            if not replies:
                return self.not_found
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        fake = self.server.fake
        if self.command not in fake.methods:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake.record(Seen(self.command, parts.path, query, Headers(self.headers.items()), body))
        reply = fake.reply_for(parts.path)
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.encoded()
        try:
            self.send_response(reply.status)
            for name, value in {**fake.headers, **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if reply.trickle:
                for byte in payload:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(reply.trickle)
            else:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeHTTP) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def serving(**options: Any) -> Iterator[FakeHTTP]:
    """A ``FakeHTTP(**options)`` answering on 127.0.0.1 (its ``url``) until the block ends."""
    fake = FakeHTTP(**options)
    httpd = _Server(fake)
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(2)
