"""The live stream's WebSocket through the real ASGI application and the Redis channel layer: who may connect (an
API token in the header or a subprotocol, a signed-in page of Trendy's own origin) and who is refused before
anything is sent, and that a user receives their own events and never another user's."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_issue
from notifications import stream
from trading_site.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/ws/v1/stream"


def run(scenario):
    """The scenario on an event loop of its own thread: the main thread may already run one (the browser tests'
    Playwright keeps its loop for the whole session), and async_to_sync refuses to run beside it."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(scenario())
        except BaseException as exc:  # noqa: BLE001 (re-raised in the test's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def header(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {key}".encode())]


async def connected(headers=None, subprotocols=None) -> tuple[WebsocketCommunicator, bool, object]:
    socket = WebsocketCommunicator(application, PATH, headers=headers or [], subprotocols=subprotocols)
    ok, detail = await socket.connect(timeout=5)
    return socket, ok, detail


def test_the_channel_layer_is_redis_under_test():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"


def test_each_user_receives_their_own_events_only(alice, bob):
    alice_key = api_token_issue(user=alice, name="phone").key
    bob_key = api_token_issue(user=bob, name="phone").key

    async def scenario():
        phone, ok, _ = await connected(header(alice_key))
        other, ok_other, _ = await connected(header(bob_key))
        assert ok and ok_other
        assert await phone.receive_json_from() == {"type": "hello", "user": alice.pk}
        assert await other.receive_json_from() == {"type": "hello", "user": bob.pk}
        # a fill of alice's, published from synchronous code as the trading path does (another thread)
        await sync_to_async(stream.publish)(alice.pk, "order_filled", {"symbol": "BTC/USDT", "amount": "0.01"})
        got = await phone.receive_json_from(timeout=5)
        assert got["type"] == "fill" and got["event"] == "order_filled" and got["data"]["symbol"] == "BTC/USDT"
        assert got["at"].endswith("Z")
        assert await other.receive_nothing(timeout=0.5)  # bob hears nothing of alice's
        await sync_to_async(stream.publish)(bob.pk, "bot_status", {"bot": 3, "status": "stopped"})
        assert (await other.receive_json_from(timeout=5))["type"] == "bot"
        assert await phone.receive_nothing(timeout=0.5)
        await phone.send_json_to({"type": "ping"})
        assert await phone.receive_json_from() == {"type": "pong"}
        await phone.disconnect()
        await other.disconnect()

    run(scenario)


def test_a_browser_sends_its_token_as_a_subprotocol(alice):
    key = api_token_issue(user=alice, name="browser").key

    async def scenario():
        socket, ok, subprotocol = await connected(subprotocols=["trendy.v1", f"token.{key}"])
        assert ok and subprotocol == "trendy.v1"
        assert (await socket.receive_json_from())["user"] == alice.pk
        await socket.disconnect()

    run(scenario)


def test_bad_expired_or_missing_credentials_are_refused_before_anything_is_sent(alice):
    issued = api_token_issue(user=alice, name="old")
    past = timezone.now() - timedelta(days=2)
    ApiToken.objects.filter(pk=issued.token.pk).update(created_at=past, expires_at=past + timedelta(days=1))
    revoked = api_token_issue(user=alice, name="revoked")
    ApiToken.objects.filter(pk=revoked.token.pk).delete()

    async def scenario():
        for headers, subprotocols in (
            (header(issued.key), None),  # expired
            (header(revoked.key), None),  # revoked
            (header("tdy_nothing_here"), None),
            (header("not-a-token"), None),
            (None, ["token.tdy_abc_def"]),
            (None, None),  # nothing at all
        ):
            _socket, ok, code = await connected(headers, subprotocols)
            assert not ok and code == stream.REFUSED, (headers, subprotocols)

    run(scenario)


def test_a_signed_in_page_connects_from_trendys_own_origin_only(alice, client, settings):
    settings.ALLOWED_HOSTS = ["trendy.example", "testserver"]
    client.force_login(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()

    async def scenario():
        mine, ok, _ = await connected([(b"cookie", cookie), (b"origin", b"https://trendy.example")])
        assert ok and (await mine.receive_json_from())["user"] == alice.pk
        await mine.disconnect()
        for origin in (b"https://evil.example", b"https://trendy.example.evil.example"):
            _hijack, ok, code = await connected([(b"cookie", cookie), (b"origin", origin)])
            assert not ok and code == stream.REFUSED, origin
        _no_origin, ok, code = await connected([(b"cookie", cookie)])
        assert not ok and code == stream.REFUSED

    run(scenario)


def test_a_paper_fill_reaches_its_owners_phone_as_a_fill_and_a_notification(alice, bob):
    """Through the events: the order service fills on the paper exchange, commits, and the user's connection gets
    the fill and then the bell's new notification; another user's connection gets nothing."""
    from decimal import Decimal as D

    from accounts.models import ExchangeAccount, RiskProfile
    from notifications.models import Notification
    from tests.notifications.test_events import C1, at, submit
    from tests.trading.conftest import list_paper_markets

    list_paper_markets(("BTC/USDT", "ETH/USDT"), C1)
    RiskProfile.objects.update_or_create(user=alice, defaults={"leverage": 10, "position_size_pct": D(20)})
    account = ExchangeAccount.objects.create(user=alice, exchange="paper", label="paper", paper_balance=D(10000))
    alice_key = api_token_issue(user=alice, name="phone").key
    bob_key = api_token_issue(user=bob, name="phone").key

    def fill() -> None:
        with at("2000"):
            submit(account, "buy", "1.5", "Tstreamfill")

    async def scenario():
        phone, ok, _ = await connected(header(alice_key))
        other, ok_other, _ = await connected(header(bob_key))
        assert ok and ok_other
        await phone.receive_json_from()
        await other.receive_json_from()
        await sync_to_async(fill)()  # commits (transaction=True): the events are delivered then
        first = await phone.receive_json_from(timeout=5)
        assert first["type"] == "fill" and first["event"] == "order_filled"
        assert first["data"]["symbol"] == "ETH/USDT" and first["data"]["amount"] == "1.5"
        bell = await phone.receive_json_from(timeout=5)
        row = await sync_to_async(Notification.objects.get)(user=alice, kind="order_filled")
        assert bell == {
            **bell,
            "type": "notification",
            "data": {"id": row.pk, "kind": "order_filled", "severity": "info"},
        }
        assert await other.receive_nothing(timeout=0.5)
        await phone.disconnect()
        await other.disconnect()

    run(scenario)


def test_a_quiet_connection_keeps_receiving(alice):
    """Longer than redis-py's default 5 s read timeout without a message (channels_redis blocks 5 s reading a
    process's messages): the socket stays open and the next event still arrives."""
    key = api_token_issue(user=alice, name="phone").key

    async def scenario():
        phone, ok, _ = await connected(header(key))
        assert ok and (await phone.receive_json_from())["type"] == "hello"
        assert await phone.receive_nothing(timeout=7, interval=0.5)  # quiet, past 5 s
        await sync_to_async(stream.publish)(alice.pk, "bot_status", {"bot": 1, "status": "running"})
        assert (await phone.receive_json_from(timeout=5))["event"] == "bot_status"
        await phone.disconnect()

    run(scenario)
