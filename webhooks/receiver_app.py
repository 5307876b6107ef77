"""The TradingView receiver's own door in front of Django: ``POST /webhooks/tv/<token>/`` runs the receiver's
view (``webhooks.views_receive.receive``) through only the middleware an API answer needs; everything else goes
to Django as before.

What the receiver keeps of Django's request cycle: the request started/finished signals (database connections
are checked and recycled as usual), the body size limit (chunked bodies included), the security headers
(HSTS, nosniff, Referrer-Policy, Cross-Origin-Opener-Policy, the Content Security Policy, Permissions-Policy,
X-Frame-Options) and the HTTPS redirect, the host check, the language, the 4xx/5xx log lines and the 500
answer for an unexpected error. What it skips: URL resolution, sessions, CSRF (the receiver is exempt),
authentication, messages, htmx, allauth, WhiteNoise and the Prometheus request metrics (every request the
receiver answers is a row in the event log, with its outcome). A bare answer from the full stack costs more
than half a millisecond of CPU; here the alert's own work is most of what is left.

``receiver_first(application)`` wraps a WSGI application (``trading_site.wsgi``); ``receiver_first_asgi``
an ASGI one (``trading_site.asgi``): it reads the body (at most the limit plus one byte) in the event loop
and runs the same WSGI door in Django's thread for synchronous code.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from importlib import import_module
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.locale import LocaleMiddleware
from django.urls import get_resolver
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.module_loading import import_string

from webhooks.validation import MAX_BODY_BYTES

# PATH_INFO as the WSGI server hands it; Django's route is ``tv/<str:token>/`` under ``webhooks/``.
RECEIVER_PATH = re.compile(r"^/webhooks/tv/([^/]+)/$")

# In the order of settings.MIDDLEWARE (outermost first).
RECEIVER_MIDDLEWARE = (
    "trading_site.request_context.RequestIdMiddleware",
    "trading_site.request_metrics.RequestDurationMiddleware",
    "trading_site.request_size.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "webhooks.receiver_app.ReceiverCSPMiddleware",
    "trading_site.security_headers.PermissionsPolicyMiddleware",
    "webhooks.receiver_app.ReceiverLocaleMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)


# What a view sets on its response to change django-csp's policy: such an answer goes through django-csp whole.
_PER_VIEW_POLICY = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)


class ReceiverCSPMiddleware(CSPMiddleware):
    """django-csp's middleware (settings.MIDDLEWARE's) for the receiver's answers: they carry no nonce and no
    policy of their own, so the headers are the same on every answer. django-csp builds them on the first such
    answer; later ones get a copy (building the policy twice per answer was 5 % of an alert's time)."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self._headers: dict[str, str] | None = None

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        plain = getattr(request, "_csp_nonce", None) is None and not any(
            hasattr(response, name) for name in _PER_VIEW_POLICY
        )
        excluded = any(
            (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
            for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY")
        )
        if not plain or excluded:
            return super().process_response(request, response)
        if response.status_code in (HTTPStatus.INTERNAL_SERVER_ERROR, HTTPStatus.NOT_FOUND) and settings.DEBUG:
            return response  # django-csp leaves Django's debug pages alone
        if self._headers is None:
            probe = super().process_response(request, HttpResponse())
            self._headers = {name: probe[name] for name in (HEADER, HEADER_REPORT_ONLY) if name in probe}
            return super().process_response(request, response)
        for name, value in self._headers.items():
            if name not in response:
                response[name] = value
        return response


class ReceiverLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware (settings.MIDDLEWARE's), which reads the language of the path twice per request
    and uses it only when i18n_patterns prefix the URLs; Trendy's do not, so here it is not read then."""

    def process_request(self, request: HttpRequest) -> None:
        if is_language_prefix_patterns_used(getattr(request, "urlconf", settings.ROOT_URLCONF))[0]:
            return super().process_request(request)
        translation.activate(translation.get_language_from_request(request, check_path=False))
        request.LANGUAGE_CODE = translation.get_language()
        return None

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if is_language_prefix_patterns_used(getattr(request, "urlconf", settings.ROOT_URLCONF))[0]:
            return super().process_response(request, response)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


class ReceiverHandler(WSGIHandler):
    """Django's WSGI handler with the receiver's middleware only and the receiver's view in place of URL
    resolution."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._receive)
        for path in reversed(RECEIVER_MIDDLEWARE):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler
        # The task an accepted alert is handed to, registered with Celery now: otherwise the first alert's look-up
        # by name (trading_site.dispatch) imports every app's tasks (ccxt among them) inside its 3 seconds.
        import_module("webhooks.tasks")
        # LocaleMiddleware asks the URL configuration whether languages prefix the URLs: import it now, not inside
        # the first alert's request.
        get_resolver().url_patterns  # noqa: B018

    def _receive(self, request: HttpRequest) -> HttpResponse:
        from webhooks.views_receive import receive

        request.metrics_route = "webhooks:receive"  # type: ignore[attr-defined] - trendy_http_request_duration_seconds
        request.get_host()  # DisallowedHost (400) for a Host that is not in ALLOWED_HOSTS, as CommonMiddleware
        match = RECEIVER_PATH.match(request.path_info)
        if match is None:  # PATH_INFO matched, the decoded path does not: nothing is served under it
            return HttpResponse(status=404)
        return receive(request, match.group(1))


def receiver_first(application: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    receiver = ReceiverHandler()

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and RECEIVER_PATH.match(environ.get("PATH_INFO", "")):
            return receiver(environ, start_response)
        return application(environ, start_response)

    dispatch.receiver = receiver  # type: ignore[attr-defined]
    return dispatch


# --- ASGI -------------------------------------------------------------------------------------------


def _environ(scope: dict[str, Any], body: bytes, declared: int | None) -> dict[str, Any]:
    """The WSGI environ of an ASGI request (PEP 3333 names), its body already read."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH" or name == "CONTENT_TYPE":
            environ[name] = value
            continue
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if declared is None or declared > MAX_BODY_BYTES:
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        if declared is None:  # chunked or unsized: what was read, up to the limit plus one byte
            environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def receiver_first_asgi(application: Callable[..., Any]) -> Callable[..., Any]:
    from asgiref.sync import sync_to_async

    receiver = ReceiverHandler()

    def run(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        response = receiver(environ, start_response)
        try:
            content = b"".join(response)
        finally:
            response.close()
        return captured["status"], captured["headers"], content

    run_sync = sync_to_async(run, thread_sensitive=True)

    async def dispatch(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not RECEIVER_PATH.match(scope["path"]):
            await application(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.isdigit():
                declared = int(value)
        body = bytearray()
        if declared is None or declared <= MAX_BODY_BYTES:
            more = True
            while more and len(body) <= MAX_BODY_BYTES:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
        status, headers, content = await run_sync(_environ(scope, bytes(body[: MAX_BODY_BYTES + 1]), declared))
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split(" ", 1)[0]),
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": content})

    return dispatch
