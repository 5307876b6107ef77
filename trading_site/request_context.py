"""Who and which request a log line belongs to: every request gets an id (the caller's ``X-Request-ID`` when it
is a sane token, else a new one), answered back in ``X-Request-ID`` and written on every JSON log line of that
request with the signed-in user's id (``trading_site.logging.JsonFormatter``). In a Celery task the line carries
the task's id and name instead."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import empty

REQUEST_ID: ContextVar[str | None] = ContextVar("trendy_request_id", default=None)
CURRENT_REQUEST: ContextVar[HttpRequest | None] = ContextVar("trendy_request", default=None)
_SANE = re.compile(r"[A-Za-z0-9._:-]{8,64}")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _SANE.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        id_token, request_token = REQUEST_ID.set(request_id), CURRENT_REQUEST.set(request)
        try:
            response = self.get_response(request)
        finally:
            REQUEST_ID.reset(id_token)
            CURRENT_REQUEST.reset(request_token)
        response.headers.setdefault("X-Request-ID", request_id)
        return response


def _user_id(request: HttpRequest) -> int | None:
    """The user's id when the request has already looked its user up (a log line never queries the database)."""
    user: Any = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is empty or not getattr(wrapped, "is_authenticated", False):
        return None
    return getattr(wrapped, "pk", None)


def log_context() -> dict[str, object]:
    context: dict[str, object] = {}
    request_id = REQUEST_ID.get()
    if request_id is not None:
        context["request_id"] = request_id
        request = CURRENT_REQUEST.get()
        user_id = _user_id(request) if request is not None else None
        if user_id is not None:
            context["user_id"] = user_id
        return context
    from celery import current_task

    task = current_task._get_current_object() if current_task else None
    request = getattr(task, "request", None)
    if task is not None and getattr(request, "id", None):
        context["task_id"] = request.id
        context["task"] = task.name
    return context
