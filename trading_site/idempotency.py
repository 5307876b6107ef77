"""Safe retries for API writes: pretix's ``IdempotencyMiddleware`` idea, kept in the cache (Redis in
production) instead of a table.

A client sends ``Idempotency-Key: <anything unique>`` with a write. The first request runs and its
answer is stored for 24 hours under (user, key). The same key again:

* with the same method, path and body: the stored answer is replayed (``Idempotent-Replayed: true``)
  and nothing runs a second time;
* with a different request: 422, the key is being reused by mistake;
* while the first one is still running: 409 with ``Retry-After`` (``cache.add`` is the lock).

Answers a retry could change (409, 429 and 5xx) are not stored, so the client may simply retry.

Secrets are never stored: a field that carries one (``secret``, ``api_key``, ``passphrase``, ``password``,
``token``, ``key``, at any depth) is kept as ``null``, and any other text holding a secret this process knows
is masked. A replay of an answer that had one says so: ``secret_note`` in the body and the
``Idempotent-Secrets-Omitted`` header name what was left out (it was shown once, in the first answer).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from trading_site.redact import redact_known

HEADERS = ("Idempotency-Key", "X-Idempotency-Key")
TTL = 24 * 3600
LOCK_TTL = 120  # a request that takes longer than this is long dead
MAX_KEY_LENGTH = 200
RETRY_AFTER = 1
NOT_STORED = {409, 429}
SECRET_FIELDS = frozenset({"secret", "api_key", "passphrase", "password", "token", "key"})
OMITTED_HEADER = "Idempotent-Secrets-Omitted"


def cache_keys(user_id: object, key: str) -> tuple[str, str]:
    """Where the answer and the in-flight lock of (user, key) live: keys never cross users."""
    scope = hashlib.sha256(f"{user_id}|{key}".encode()).hexdigest()
    return f"idempotency:{scope}", f"idempotency-lock:{scope}"


def _key(request: Request) -> str | None:
    for header in HEADERS:
        value = request.headers.get(header)
        if value is not None:
            return value.strip()
    return None


def _fingerprint(request: Request) -> str:
    try:
        body = request.body
    except Exception:  # noqa: BLE001 - the stream was already read: hash the parsed data instead
        body = repr(sorted(dict(request.data).items())).encode()
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def _error(status: int, code: str, message: str, **headers: str) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def idempotent(method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate an ``APIView`` handler (``post``, ``patch``…) to honour ``Idempotency-Key``."""

    @wraps(method)
    def handler(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = _key(request)
        if key is None:
            return method(view, request, *args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH:
            return _error(
                400,
                "invalid_idempotency_key",
                _("The Idempotency-Key header must be 1 to %(max)d characters.") % {"max": MAX_KEY_LENGTH},
            )
        stored_key, lock_key = cache_keys(request.user.pk, key)
        fingerprint = _fingerprint(request)

        stored = cache.get(stored_key)
        if stored is None:
            if not cache.add(lock_key, fingerprint, LOCK_TTL):
                if cache.get(lock_key) not in (None, fingerprint):
                    return _reused()
                return _error(
                    409,
                    "idempotency_in_progress",
                    _("A request with this Idempotency-Key is still being processed: retry in a moment."),
                    **{"Retry-After": str(RETRY_AFTER)},
                )
            try:
                stored = cache.get(stored_key)  # finished between our read and the lock
                if stored is None:
                    try:
                        response = method(view, request, *args, **kwargs)
                    except Exception as exc:  # noqa: BLE001 - rendered as DRF would, so 4xx answers are stored too
                        response = view.handle_exception(exc)
                    if response.status_code < 500 and response.status_code not in NOT_STORED:
                        cache.set(stored_key, _snapshot(response, fingerprint), TTL)
                    return response
            finally:
                cache.delete(lock_key)

        if stored["fingerprint"] != fingerprint:
            return _reused()
        data = stored["data"]
        omitted = stored.get("omitted") or []
        if omitted and isinstance(data, dict):
            data = {**data, "secret_note": secret_note()}
        replay = Response(data, status=stored["status"], headers=stored["headers"])
        replay["Idempotent-Replayed"] = "true"
        if omitted:
            replay[OMITTED_HEADER] = ", ".join(omitted)
        return replay

    return handler


def _reused() -> Response:
    return _error(
        422,
        "idempotency_key_reused",
        _("This Idempotency-Key was already used for a different request."),
    )


def secret_note() -> str:
    return _(
        "This is a replay of an earlier answer. Its secret was shown once, in that answer, and is not kept: if it "
        "was lost, rotate the secret to get a new one."
    )


def _without_secrets(value: Any, omitted: set[str]) -> Any:
    if isinstance(value, dict):
        clean = {}
        for name, item in value.items():
            if name in SECRET_FIELDS and item not in (None, ""):
                clean[name] = None
                omitted.add(name)
            else:
                clean[name] = _without_secrets(item, omitted)
        return clean
    if isinstance(value, list):
        return [_without_secrets(item, omitted) for item in value]
    if isinstance(value, str):
        return redact_known(value)
    return value


def _snapshot(response: Response, fingerprint: str) -> dict[str, Any]:
    """What is stored for a replay: status, Location/Retry-After and the body, without its secrets."""
    headers = {name: response[name] for name in ("Location", "Retry-After") if response.has_header(name)}
    data = response.data
    omitted: set[str] = set()
    if data is not None:  # plain containers: ReturnDict keeps a reference to its serializer
        data = _without_secrets(json.loads(json.dumps(data, cls=JSONEncoder)), omitted)
    return {
        "fingerprint": fingerprint,
        "status": response.status_code,
        "data": data,
        "headers": headers,
        "omitted": sorted(omitted),
    }
