"""The OpenAPI schema says every answer an operation can give: a drf-spectacular postprocessing hook.

Every error answer of the API has one shape (``trading_site.api.exception_handler``; the ``Error`` component
here). The hook adds the answers that do not depend on the operation's own logic to every operation that can
give them, so each view declares only its own:

* 400 where there is a query, a header parameter or a body to refuse;
* 401 and 403 everywhere (no or a bad token; session sign-in without the CSRF token, or not allowed);
* 404 where the path names a row (and for lists: a page past the last one);
* 409 and 422 where ``Idempotency-Key`` is honoured (the key still in flight; reused for another request);
* 413 everywhere (a body over the size limit), 415 where there is a body (not JSON);
* 429 everywhere (rate limits), with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer of the API.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "A stable machine word: invalid, not_found, throttled…"},
                "message": {"type": "string", "description": "For the user, in their language."},
                "fields": {
                    "type": "object",
                    "description": "Validation errors only: each field's messages (nested for nested fields).",
                    "additionalProperties": {},
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}

COMMON: dict[str, str] = {
    "400": "The request is not valid: `error.fields` says what to change.",
    "401": "No token, or a token that is wrong or expired.",
    "403": "Not allowed (signed in through the session without the CSRF token, or the e-mail address is not verified).",
    "404": "Not found (or not yours).",
    "409": "A request with this Idempotency-Key is still being processed: retry after Retry-After.",
    "413": "The body is larger than the limit the message names.",
    "415": "The body is not JSON.",
    "422": "This Idempotency-Key was already used for a different request.",
    "429": "Too many requests: wait Retry-After seconds.",
}

RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}


def _error_response(description: str, status: str) -> dict[str, Any]:
    response: dict[str, Any] = {"content": {"application/json": {"schema": ERROR_REF}}, "description": description}
    if status in ("409", "429", "503"):
        response["headers"] = RETRY_AFTER
    return response


def _statuses(operation: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    wanted = ["401", "403", "413", "429"]
    if parameters or has_body:
        wanted.append("400")
    if has_body:
        wanted.append("415")
    names = {(parameter["in"], parameter["name"]) for parameter in parameters}
    if any(location == "path" for location, _name in names) or ("query", "page") in names:
        wanted.append("404")
    if ("header", "Idempotency-Key") in names:
        wanted += ["409", "422"]
    return wanted


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status[0] in "45":  # a view's own error answer: the one shape, its own description
                    responses[status] = _error_response(response.get("description") or COMMON.get(status, ""), status)
            for status in _statuses(operation):
                responses.setdefault(status, _error_response(COMMON[status], status))
            operation["responses"] = dict(sorted(responses.items()))
    return result
