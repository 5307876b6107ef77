"""The live stream: one WebSocket per app or dashboard (``/ws/v1/stream``) that receives its own user's events as
they happen — fills, orders, positions, balances, bots and notifications — and nobody else's.

Authentication on connect, before the socket is accepted: an API token in the ``Authorization`` header
(``Bearer tdy_…``: the mobile app) or as a ``token.<key>`` subprotocol (a browser cannot set headers), or the
session cookie of a signed-in page on Trendy's own origin (the dashboard). Anything else is refused (close code
4401) and nothing is sent. Each connection joins the group of its user only; ``publish`` sends an event to that
group through the channel layer (Redis: every web and worker process shares it), so a Celery worker's fill reaches
the phone connected to a web process.

A message is JSON: ``{"type": "fill" | "order" | "position" | "balance" | "bot" | "notification" | …, "event": the
event's kind, "data": {…}, "at": ISO time}``; the client may send ``{"type": "ping"}`` and gets ``{"type": "pong"}``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.urls import path

from trading_site import metrics

log = logging.getLogger(__name__)

REFUSED = 4401  # the WebSocket close code for "not authenticated" (HTTP 401's cousin)
SUBPROTOCOL = "trendy.v1"

# An event's kind → the stream's message type (what the app's screens listen for).
TYPES = {
    "order_filled": "fill",
    "stop_loss_hit": "fill",
    "take_profit_hit": "fill",
    "position_liquidated": "fill",
    "position_force_closed": "fill",
    "order_rejected": "order",
    "position_changed_outside": "position",
    "unprotected_position_closed": "position",
    "stop_loss": "position",
    "take_profit": "position",
    "balance": "balance",
    "bot_status": "bot",
    "bot_sizes": "bot",
    "auto_trading": "bot",
    "drawdown_halt": "bot",
    "bot_error": "bot",
    "notification": "notification",
}


def group_name(user_id: Any) -> str:
    return f"stream.user.{int(user_id)}"


def message(kind: str, data: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    return {
        "type": TYPES.get(kind, "event"),
        "event": kind,
        "data": data,
        "at": (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
    }


PUBLISH_TIMEOUT = 5.0  # seconds a publisher waits for Redis before giving the event up
_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None  # (process id, loop)
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a thread of its own, for publishing from synchronous code: the Redis layer
    keeps its connections per loop, so they are reused (``async_to_sync`` made a loop, and a connection, per
    event: 8 ms each instead of well under one). A forked child (a Celery worker) starts its own."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher[0] != os.getpid() or not _publisher[1].is_running():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="stream-publisher", daemon=True).start()
            deadline = time.monotonic() + 5
            while not loop.is_running() and time.monotonic() < deadline:
                time.sleep(0.001)
            _publisher = (os.getpid(), loop)
        return _publisher[1]


def publish(user_id: Any, kind: str, data: dict[str, Any], at: datetime | None = None) -> None:
    """Send one event to the user's open connections (none open: nothing happens). Never raises: the stream is a
    convenience beside the stored rows, and a trading path must not fail because Redis hiccupped."""
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": "stream.event", "payload": message(kind, data, at)}
    try:
        if isinstance(layer, RedisChannelLayer):
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group_name(user_id), event), _publisher_loop())
            future.result(timeout=PUBLISH_TIMEOUT)
        else:  # the in-memory layer lives in the server's own loop: async_to_sync reaches it there
            async_to_sync(layer.group_send)(group_name(user_id), event)
    except Exception:  # logged; see the docstring
        log.warning("stream: event %s for user %s not sent", kind, user_id, exc_info=True)


def publish_event(event: Any) -> None:
    """The ``accounts.events`` listener: every event to its user's connections."""
    publish(event.user_id, event.kind, event.data)


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _same_origin(scope: dict[str, Any]) -> bool:
    """A cookie-authenticated socket must come from a page of Trendy itself (no cross-site WebSocket hijacking)."""
    origin = _header(scope, b"origin")
    if not origin:
        return False
    host = (urlsplit(origin).hostname or "").lower()
    allowed = [h.lower() for h in settings.ALLOWED_HOSTS]
    return any(h == "*" or host == h or (h.startswith(".") and (host.endswith(h) or host == h[1:])) for h in allowed)


@database_sync_to_async
def _token_user(key: str) -> Any:
    from accounts.authentication import token_for_key

    token, _why = token_for_key(key)
    return token.user if token is not None else None


async def authenticate(scope: dict[str, Any]) -> tuple[Any, str | None]:
    """(the user, the subprotocol to accept) — or (None, None)."""
    authorization = _header(scope, b"authorization").split()
    if len(authorization) == 2 and authorization[0].lower() in ("bearer", "token"):
        return await _token_user(authorization[1]), None
    for offered in scope.get("subprotocols", []):
        if offered.startswith("token."):
            user = await _token_user(offered.removeprefix("token."))
            return user, (SUBPROTOCOL if SUBPROTOCOL in scope.get("subprotocols", []) else None)
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False) and _same_origin(scope):
        return user, None
    return None, None


class StreamConsumer(AsyncJsonWebsocketConsumer):
    group = ""

    async def connect(self) -> None:
        user, subprotocol = await authenticate(self.scope)
        if user is None:
            await self.close(code=REFUSED)
            return
        self.group = group_name(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept(subprotocol=subprotocol)
        metrics.WEBSOCKET_CONNECTED.inc()
        await self.send_json({"type": "hello", "user": user.pk})

    async def disconnect(self, code: int) -> None:
        if not self.group:
            return
        metrics.WEBSOCKET_CONNECTED.dec()
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        except Exception:  # a burst of disconnects can run Redis' connection pool dry; the entry expires anyway
            log.info("stream: group_discard of %s failed; it expires with the group", self.group, exc_info=True)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def stream_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])


websocket_urlpatterns = [path("ws/v1/stream", StreamConsumer.as_asgi())]
