"""The TradingView receiver: ``POST /webhooks/tv/<token>/``. No session, no CSRF (TradingView cannot send
one); the token and the secret in the body authenticate the request.

Served in production by ``webhooks.receiver_app`` in front of Django (this view with only the middleware an
API answer needs); Django's URL routes it here too (the test client, ``runserver``)."""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks.services import alert_receive
from webhooks.validation import MAX_BODY_BYTES


@csrf_exempt
@require_POST
def receive(request: HttpRequest, token: str) -> HttpResponse:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        body = b"x" * (MAX_BODY_BYTES + 1)  # not read: refused by its declared size
    else:
        body = request.read(MAX_BODY_BYTES + 1)
    answer = alert_receive(
        token=token,
        body=body,
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
    )
    response = HttpResponse(orjson.dumps(answer.payload), status=answer.status, content_type="application/json")
    for name, value in answer.extra_headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response
