"""Real local servers the channels talk to in tests (127.0.0.1 only): an HTTP service that records every request and
answers, per path, with replies given in order (the last one repeats) — so it can fail on demand — and an SMTP
server (aiosmtpd) that records every message and can refuse a recipient."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON, str/bytes as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body if self.body is not None else {"ok": True}).encode()


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeService:
    def __init__(self) -> None:
        self.url = ""
        self.routes: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def route(self, path: str, *replies: Reply) -> str:
        self.routes[path] = list(replies)
        return self.url + path

    def hits(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def reply_for(self, path: str) -> Reply:
        with self._lock:
            replies = self.routes.get(path)
            if not replies:
                return Reply(404, {"error": "no route"})
            return replies.pop(0) if len(replies) > 1 else replies[0]


def serve() -> tuple[FakeService, ThreadingHTTPServer]:
    service = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            service.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = service.reply_for(self.path)
            if reply.delay:
                time.sleep(reply.delay)
            payload = reply.encoded()
            self.send_response(reply.status)
            for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return service, server


class SmtpRecorder:
    """aiosmtpd handler: keeps every message; refuses the recipients in ``refuse`` with a 550."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


def smtp_server() -> tuple[SmtpRecorder, Controller]:
    recorder = SmtpRecorder()
    with socket.socket() as probe:  # a free port (the controller checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    return recorder, controller
