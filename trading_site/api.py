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
from django.http import Http404, QueryDict
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
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


# The answer of every refused call (trading_site.exceptions' shape), for the schema.
ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description='{"error": {"code", "message", "fields"}}')


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false`` in a JSON body (not 0, 1 or "yes": the schema says boolean); a form post keeps
    DRF's usual spellings."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        root = self.root if self.parent is not None else None
        if root is not None and isinstance(getattr(root, "initial_data", None), QueryDict):
            return super().to_internal_value(data)
        self.fail("invalid", input=data)
        raise AssertionError  # pragma: no cover - fail() raises


class StrictCharField(serializers.CharField):
    """A text in a JSON body (not a number or a boolean turned into one: the schema says string)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class QuerySerializer(serializers.Serializer):
    """Query-string filters: a filter sent empty (``?status=``) is refused rather than silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        empty = [name for name in self.fields if name in data and data.get(name) == ""]
        if empty:
            raise serializers.ValidationError(
                {name: [_("Leave the filter out rather than send it empty.")] for name in empty}
            )
        return super().to_internal_value(data)


class Pagination(PageNumberPagination):
    """``page`` from 1 and ``page_size`` from 1 to 500 (50 by default); any other value is a 400 that says so,
    not a silent default. A page past the last one is a 404."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [_("Send a whole number from 1 to %(max)d.") % {"max": self.max_page_size}]}
            )
        return int(raw)

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and (not raw.isdigit() or int(raw) < 1):
            raise exceptions.ValidationError({"page": [_("Send a whole number from 1.")]})
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = "The page, from 1. A page past the last one is a 404."
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = f"Results per page, 1 to {self.max_page_size} ({self.page_size} by default)."
        return parameters


class TradePagination(Pagination):
    """Page numbers as everywhere, or a cursor when the request sends ``cursor`` (empty for the first page): keyset
    pages by (time, id), newest first, that stay put while new rows arrive and cost the same deep in a long
    history. A cursor answer has ``next`` and ``previous`` but no ``count``."""

    cursor_query_param = "cursor"

    class Cursor(CursorPagination):
        ordering = ("-time", "-id")
        page_size_query_param = "page_size"
        max_page_size = 500
        page_size = 50

    def _cursor(self, request: Request) -> bool:
        return self.cursor_query_param in request.query_params

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        if not self._cursor(request):
            self.cursor_pager = None
            return super().paginate_queryset(queryset, request, view)
        self.cursor_pager = self.Cursor()
        self.cursor_pager.page_size = self.get_page_size(request)  # validated as for pages
        try:
            return self.cursor_pager.paginate_queryset(queryset, request, view)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": [_("This cursor is not one an answer gave.")]}) from None

    def get_paginated_response(self, data: Any) -> Response:
        if self.cursor_pager is None:
            return super().get_paginated_response(data)
        return Response(
            {
                "next": self.cursor_pager.get_next_link(),
                "previous": self.cursor_pager.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_paginated_response_schema(schema)
        answer["required"] = [name for name in answer.get("required", []) if name != "count"]
        answer["properties"]["count"]["description"] = "With page numbers only."
        return answer

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Cursor pages: empty for the first page, then the previous answer's next or previous.",
                "schema": {"type": "string"},
            },
        ]


class NotFoundApi(APIView):
    """Any other path under /api/v1/ (a malformed id, a typo): the API's JSON 404, never an HTML page."""

    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []
    throttle_classes: list[Any] = []
    schema = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.args, self.kwargs, self.request = args, kwargs, self.initialize_request(request, *args, **kwargs)
        self.headers = self.default_response_headers
        response = self.handle_exception(exceptions.NotFound())
        self.response = self.finalize_response(self.request, response, *args, **kwargs)
        return self.response


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
