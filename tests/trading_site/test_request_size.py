"""Bodies above the limit get 413 with the limit in the message, on every endpoint, chunked ones too
(issue 13): the webhook receiver (16 KB), the API and HTML form posts (DATA_UPLOAD_MAX_MEMORY_SIZE)."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
from urllib.parse import urlparse

import pytest
from django.conf import settings as django_settings

from tests.webhooks import conftest as webhook_fixtures
from tests.webhooks.conftest import alert
from webhooks.models import WebhookEvent

# The webhook fixtures (an endpoint on a paper account with listed markets, pinned prices).
listed, paper, endpoint, prices = (
    webhook_fixtures.listed,
    webhook_fixtures.paper,
    webhook_fixtures.endpoint,
    webhook_fixtures.prices,
)

FIVE_MB = 5 * 1024 * 1024


def chunked_environ(data: bytes, content_type: str = "application/json") -> dict:
    """What gunicorn hands Django for a chunked request: no Content-Length, the body already de-chunked."""
    return {
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(data),
        "wsgi.input_terminated": True,
    }


# --- the test client --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_declared_size_above_the_limit_is_413_at_the_api(client):
    body = b"x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.generic("POST", "/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and f"{django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}" in error["message"]


@pytest.mark.django_db
def test_a_chunked_body_above_the_limit_is_413_at_the_api(client):
    response = client.generic(
        "POST", "/api/v1/auth/token/", b"", content_type="application/json", **chunked_environ(b"x" * FIVE_MB)
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


@pytest.mark.django_db
def test_a_chunked_body_above_the_limit_is_413_at_an_html_form(client):
    response = client.generic(
        "POST", "/accounts/login/", b"", content_type="application/x-www-form-urlencoded",
        **chunked_environ(b"login=" + b"x" * FIVE_MB),
    )  # fmt: skip
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html") and b"bytes" in response.content


@pytest.mark.django_db
def test_a_small_chunked_form_post_is_read(client, alice, password):
    data = f"login={alice.email}&password={password}".encode()
    response = client.generic(
        "POST", "/accounts/login/", b"", **chunked_environ(data, "application/x-www-form-urlencoded")
    )
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(alice.pk)


def test_a_chunked_webhook_above_16_kb_is_413_and_logged(endpoint, prices, client):
    response = client.generic(
        "POST", endpoint.endpoint.path, b"", content_type="application/json", **chunked_environ(b"x" * FIVE_MB)
    )
    assert response.status_code == 413 and "16 KB" in response.json()["message"]
    assert WebhookEvent.objects.get().reason == "too_large"


def test_a_small_chunked_webhook_alert_is_accepted(endpoint, prices, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic(
            "POST", endpoint.endpoint.path, b"", content_type="application/json",
            **chunked_environ(json.dumps(alert(endpoint.secret)).encode()),
        )  # fmt: skip
    assert response.status_code == 200 and response.json()["status"] == "accepted"


# --- a live server, real chunked requests -----------------------------------------------------------


def send_chunked(base_url: str, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """POST ``body`` with Transfer-Encoding: chunked (64 KB chunks, no Content-Length) over a real socket."""
    url = urlparse(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    # The server may answer before it has read everything: the answer is still there to read.
    with contextlib.suppress(TimeoutError, BrokenPipeError, ConnectionResetError):
        conn.request(
            "POST", path, body=chunks, headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )  # fmt: skip
    response = conn.getresponse()
    try:
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_live_chunked_five_megabytes_get_413_everywhere(live_server, endpoint):
    status, content = send_chunked(live_server.url, endpoint.endpoint.path, b"x" * FIVE_MB, "application/json")
    assert status == 413 and "16 KB" in json.loads(content)["message"]
    status, content = send_chunked(live_server.url, "/api/v1/auth/token/", b"x" * FIVE_MB, "application/json")
    assert status == 413 and json.loads(content)["error"]["code"] == "too_large"
    status, content = send_chunked(
        live_server.url, "/accounts/login/", b"login=" + b"x" * FIVE_MB, "application/x-www-form-urlencoded"
    )
    assert status == 413 and b"bytes" in content


@pytest.mark.django_db(transaction=True)
def test_live_chunked_alert_is_accepted(live_server, endpoint, prices):
    status, content = send_chunked(
        live_server.url, endpoint.endpoint.path, json.dumps(alert(endpoint.secret)).encode(), "application/json"
    )
    assert status == 200 and json.loads(content)["status"] == "accepted", content
