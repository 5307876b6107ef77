"""413 for a request body above the limit, on every endpoint, whether the size is declared (Content-Length) or
not (Transfer-Encoding: chunked).

Django reads a body only as far as its Content-Length, so a chunked request looks empty to it (a 5 MB chunked
alert used to be refused as an empty body). This middleware, early in MIDDLEWARE, reads a chunked body itself
up to the limit plus one byte and hands Django what it read with its length; above the limit it answers 413
with the limit in the message (JSON under /api/ and /webhooks/, a short page elsewhere). Servers that de-chunk
(gunicorn, which Trendy runs, sets ``wsgi.input_terminated``) are read as they are; Django's own runserver
(and the test live server) hand the raw socket behind a zero-length stream, and the chunks are decoded here.

Limits: ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB) everywhere, and the webhook receiver's 16 KB under
``/webhooks/tv/``; the receiver refuses (and logs) what is too big itself, so for it this middleware only
reads a chunked body up to its limit plus one byte.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import gettext as _

from webhooks.validation import MAX_BODY_BYTES

RECEIVER_PREFIX = "/webhooks/tv/"
DRAIN_AT_MOST = 64 * 1024 * 1024  # runserver: read and drop at most this much of a refused body
_BLOCK = 64 * 1024


class BadChunks(ValueError):
    pass


class _Dechunked:
    """A chunked body read from the raw stream (RFC 9112 §7.1): chunk sizes, chunk data, trailers."""

    def __init__(self, read: Callable[[int], bytes], readline: Callable[[int], bytes]) -> None:
        self._read, self._readline = read, readline
        self._left = 0
        self.done = False

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size and not self.done:
            if self._left == 0:
                line = self._readline(1024)
                if not line:
                    raise BadChunks("the body ended inside a chunk size")
                try:
                    length = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadChunks("a chunk size is not hexadecimal") from None
                if length == 0:
                    while self._readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self.done = True
                    break
                self._left = length
            piece = self._read(min(self._left, size - len(out)))
            if not piece:
                raise BadChunks("the body ended inside a chunk")
            out += piece
            self._left -= len(piece)
            if self._left == 0:
                self._readline(8)  # the CRLF after the chunk's data
        return bytes(out)


def _chunked_reader(environ: dict[str, Any]) -> tuple[Callable[[int], bytes], _Dechunked | None] | None:
    stream = environ.get("wsgi.input")
    if stream is None:
        return None
    if environ.get("wsgi.input_terminated"):  # the server de-chunked it (gunicorn, uWSGI, mod_wsgi)
        return stream.read, None
    if isinstance(stream, LimitedStream) and stream.limit == 0 and hasattr(stream, "_readline"):
        # Django's runserver wraps the socket in a zero-length LimitedStream when there is no Content-Length.
        dechunked = _Dechunked(stream._read, stream._readline)
        return dechunked.read, dechunked
    return None


def _read_at_most(read: Callable[[int], bytes], size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        piece = read(min(_BLOCK, size - len(out)))
        if not piece:
            break
        out += piece
    return bytes(out)


def _drain(read: Callable[[int], bytes]) -> None:
    """Read and drop the rest of a refused body (at most ``DRAIN_AT_MOST``), so the answer is not lost to a
    connection reset."""
    left = DRAIN_AT_MOST
    with contextlib.suppress(BadChunks):
        while left > 0 and (piece := read(min(_BLOCK, left))):
            left -= len(piece)


def limit_for(path: str) -> int:
    return MAX_BODY_BYTES if path.startswith(RECEIVER_PREFIX) else settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _answer(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    path = request.path_info
    if path.startswith(RECEIVER_PREFIX):
        response: HttpResponse = JsonResponse({"status": "rejected", "reason": code, "message": message}, status=status)
    elif path.startswith(("/api/", "/webhooks/")):
        response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    else:
        title = escape(_("Request refused"))
        response = HttpResponse(
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body><h1>{title}</h1><p>{escape(message)}</p></body></html>",
            status=status,
            content_type="text/html; charset=utf-8",
        )
    response["Cache-Control"] = "no-store"
    return response


def too_large(request: HttpRequest, limit: int) -> HttpResponse:
    message = _("The request body is larger than the limit of %(limit)s bytes.") % {"limit": f"{limit:,}"}
    return _answer(request, 413, "too_large", message)


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = limit_for(request.path_info)
        own_check = request.path_info.startswith(RECEIVER_PREFIX)  # the receiver refuses and logs it itself
        meta = request.META
        if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
            reader = _chunked_reader(meta)
            if reader is None:
                return _answer(request, 411, "length_required", _("Send the request with a Content-Length."))
            read, dechunked = reader
            try:
                data = _read_at_most(read, limit + 1)
            except BadChunks:
                return _answer(request, 400, "bad_request", _("The chunked request body is malformed."))
            request._stream = LimitedStream(io.BytesIO(data), len(data))  # type: ignore[attr-defined]
            meta["CONTENT_LENGTH"] = str(len(data))
            if len(data) > limit:
                if dechunked is not None:  # runserver: leave the connection clean for the answer
                    _drain(read)
                if not own_check:
                    return too_large(request, limit)
            return self.get_response(request)
        length = meta.get("CONTENT_LENGTH") or ""
        if not own_check and length.isdigit() and int(length) > limit:
            return too_large(request, limit)
        return self.get_response(request)
