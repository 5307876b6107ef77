"""Sentry, when SENTRY_DSN is set: a worker's or the web's error reaches the Sentry server (here a fake one on
127.0.0.1 reading the SDK's real envelope), with secrets masked as in the logs and no personal data."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whs_" + "Q" * 40  # a webhook secret's shape
KEY = "a1" * 32  # 64 characters: an exchange key's shape

SCRIPT = f"""
import django
django.setup()
import sentry_sdk

def place_order(api_key, note):
    raise RuntimeError("exchange refused the order: api_key={KEY} note=" + note)

try:
    place_order("{KEY}", "secret={SECRET}")
except RuntimeError:
    sentry_sdk.capture_exception()
sentry_sdk.flush(10)
"""


class _Sentry(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        type(self).received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _events(envelopes: list[bytes]) -> list[dict]:
    found = []
    for envelope in envelopes:
        lines = envelope.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                found.append(json.loads(payload))
    return found


def test_an_error_reaches_sentry_masked():
    _Sentry.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sentry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "trading_site.settings",
               "SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_port}/1"}  # fmt: skip
        done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    finally:
        server.shutdown()
    events = _events(_Sentry.received)
    assert len(events) == 1, _Sentry.received
    text = json.dumps(events[0])
    assert "exchange refused the order" in text  # the report arrived, with its message
    assert KEY not in text and SECRET not in text  # in the message and in the stack's local variables
    frames = events[0]["exception"]["values"][0]["stacktrace"]["frames"]
    assert any(frame.get("function") == "place_order" for frame in frames)
    assert events[0].get("user") in (None, {}) and "ip_address" not in text
