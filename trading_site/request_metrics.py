"""``trendy_http_request_duration_seconds``: every answer's time by method, route and status class. The route is
the URL pattern's name (``webhooks:receive``, ``dashboard``, …), never the path, so a token or an id in the URL
makes no new series; a request that matched no pattern is ``unmatched``. First in ``settings.MIDDLEWARE`` and in
the TradingView receiver's own chain (``webhooks.receiver_app``), so it times what the other middleware cost."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from trading_site.metrics import HTTP_DURATION

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    named = getattr(request, "metrics_route", None)
    if named:
        return named
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or "unnamed"


class RequestDurationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        HTTP_DURATION.labels(method, route_of(request), f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response
