"""A local fake of the part of Stripe's API Trendy calls (Checkout sessions, subscription updates, refunds), on
127.0.0.1, with Stripe's form-encoded requests, bearer key and idempotency keys; and Stripe's webhook signing scheme
(``t=<unix time>,v1=<HMAC-SHA256 of "t.payload" with the endpoint secret>``), written out here from Stripe's
documentation rather than taken from the SDK, so the SDK's verification is checked against it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_trendy_fake"
WEBHOOK_SECRET = "whsec_trendy_fake_secret"


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}  # by idempotency key
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                status, answer = fake.answer(self.path, dict(self.headers), dict(parse_qsl(body)))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, headers: dict[str, str], params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
        key = headers.get("Idempotency-Key", "")
        if key and key in self._answers:
            return self._answers[key]
        self.requests.append({"path": path, "params": params, "idempotency_key": key})
        if path == "/v1/checkout/sessions":
            session = f"cs_test_{uuid.uuid4().hex}"
            answer = {"id": session, "object": "checkout.session", "url": f"https://checkout.stripe.test/{session}"}
        elif path.startswith("/v1/subscriptions/"):
            answer = {"id": path.rsplit("/", 1)[1], "object": "subscription", "cancel_at_period_end": True}
        elif path == "/v1/refunds":
            answer = {"id": f"re_{uuid.uuid4().hex}", "object": "refund", "amount": int(params["amount"]),
                      "status": "succeeded"}  # fmt: skip
        else:
            return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}
        if key:
            self._answers[key] = (200, answer)
        return 200, answer

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
