"""Request ids and user ids on JSON log lines: the caller's X-Request-ID when it is a sane token (else a new one),
answered back; the signed-in user's id once the request has looked it up (a log line never queries)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from trading_site.logging import JsonFormatter
from trading_site.request_context import RequestIdMiddleware

log = logging.getLogger("trendy.test.request_context")


@pytest.fixture
def lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    log.removeHandler(handler)


def view(request):
    log.info("before the user is known")
    request.user.is_authenticated  # noqa: B018 - the lookup a view does
    log.info("after")
    return HttpResponse("ok")


@pytest.mark.django_db
def test_log_lines_carry_the_request_id_and_the_user(lines, alice, client):
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    client.force_login(alice)
    request = RequestFactory().get("/x", HTTP_X_REQUEST_ID="req-0123456789abcdef")
    request.COOKIES = client.cookies and {k: v.value for k, v in client.cookies.items()}
    chain = SessionMiddleware(AuthenticationMiddleware(view))
    response = RequestIdMiddleware(chain)(request)
    assert response["X-Request-ID"] == "req-0123456789abcdef"
    before, after = lines()
    assert before["request_id"] == after["request_id"] == "req-0123456789abcdef"
    assert "user_id" not in before  # not looked up yet: the log line did not query for it
    assert after["user_id"] == alice.pk
    log.info("outside any request")
    assert "request_id" not in lines()[-1]


@pytest.mark.parametrize("given", ["", "short", "has spaces in it", "x" * 65, "<script>alert(1)</script>"])
def test_an_insane_request_id_is_replaced(given, lines):
    response = RequestIdMiddleware(lambda request: (log.info("hi"), HttpResponse("ok"))[1])(
        RequestFactory().get("/", HTTP_X_REQUEST_ID=given)
    )
    assert response["X-Request-ID"] != given and len(response["X-Request-ID"]) == 32
    assert lines()[-1]["request_id"] == response["X-Request-ID"]


@pytest.mark.django_db
def test_every_answer_has_a_request_id(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first["X-Request-ID"] and first["X-Request-ID"] != second["X-Request-ID"]
