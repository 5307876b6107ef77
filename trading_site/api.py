"""Shared DRF pieces: one error shape and the default pagination.

Every API error answers ``{"error": {"code": …, "message": …, "fields": {…}}}``: ``code`` is a
stable machine word, ``message`` is translated for the user, ``fields`` maps a field name to its
messages (present only for validation errors).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


class MarketDateTimeField(serializers.DateTimeField):
    """A date-time for market data: UTC when no zone is given, between 2000 and 2100 (no overflow)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> Any:
        parsed = super().to_internal_value(value)
        if not EARLIEST_YEAR <= parsed.year < LATEST_YEAR:
            raise serializers.ValidationError(
                _("Choose a time between %(first)d and %(last)d.") % {"first": EARLIEST_YEAR, "last": LATEST_YEAR}
            )
        return parsed


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [str(item) for item in detail]
        return [_flatten(item) for item in detail]
    return [str(detail)]


def _first_message(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    values = detail.values() if isinstance(detail, dict) else detail
    for value in values:
        found = _first_message(value)
        if found:
            return found
    return ""


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    error: dict[str, Any] = {"code": "error", "message": ""}
    if isinstance(exc, exceptions.ValidationError):
        error["code"] = "invalid"
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        error["fields"] = fields
        error["message"] = _first_message(fields) or _("The input is not valid.")
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        error["code"] = codes if isinstance(codes, str) else "error"
        error["message"] = str(exc.detail)
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        error["code"] = "throttled"
    response.data = {"error": error}
    return response
