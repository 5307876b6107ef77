"""Real local servers the channels talk to in tests (127.0.0.1 only): an HTTP service that records every request and
answers, per path, with replies given in order (the last one repeats) — so it can fail on demand — and an SMTP
server (aiosmtpd) that records every message and can refuse a recipient."""

from __future__ import annotations

import json
import socket
from contextlib import AbstractContextManager
from email import message_from_bytes
from email.message import Message as EmailMessage

from aiosmtpd.controller import Controller

from tests import fake_http


class Reply(fake_http.Reply):
    """A reply without a body answers ``{"ok": true}``."""

    def encoded(self) -> bytes:
        return super().encoded() if self.body is not None else json.dumps({"ok": True}).encode()


FakeService = fake_http.FakeHTTP


def serve() -> AbstractContextManager[FakeService]:
    """The recording HTTP service (POST only, JSON replies), on 127.0.0.1 until the ``with`` block ends."""
    return fake_http.serving(
        headers={"Content-Type": "application/json"}, not_found=Reply(404, {"error": "no route"}), methods={"POST"}
    )


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
