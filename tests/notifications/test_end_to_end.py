"""The issue's "done means", end to end: a replayed candle fills an order, and the user hears of it everywhere.

Real BTC/USDT 1h candles (Binance, 26–29 Feb 2024) on the replay clock at 28 Feb 16:00 UTC. Alice holds a long
opened at that candle's open (60,966.22 plus slippage) with a 2 % take profit (≈ 62,216.6); the candle reaches
62,478 and never falls near her stop. ``trading.replay_tick`` moves the clock to 17:00 and the loop's paper step
plays the closed candle: the take profit fills. Then, with nothing mocked between them: her phone (a WebSocket
client on the real ASGI application and Redis channel layer) gets the fill and the bell's new notification; the
fake Telegram, the fake Slack and the SMTP server (all on 127.0.0.1) get one message each; the bell counts it and
the list shows it. Bob, whose paper account the same tick steps, hears nothing.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connections
from django.urls import reverse

from accounts.models import ExchangeAccount
from accounts.services import api_token_issue
from market_data.services import candles_import_csv
from notifications import services
from notifications.models import Channel, Delivery, Notification
from tests.notifications.fakes import Reply
from tests.notifications.test_stream import connected, header, run
from trading import clock, tasks
from trading.execution import positions as position_services
from trading.execution import router
from trading.execution.adapters import exchange_session
from trading.models import Order, Position, Trade

BTC_1H = Path("/work/shared/data/ohlcv/binance_BTCUSDT_1h.csv.gz")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not BTC_1H.exists(), reason="shared OHLCV data not present"),
]

BOT = "777:e2e-bot-token"
HOOK_SECRET = "e2e-hook-secret"
CHAT = 4242
SLACK = "/services/T0E2E/B0E2E/e2e"
SEND = f"/bot{BOT}/sendMessage"
ENTRY_AT = datetime(2024, 2, 28, 16, tzinfo=UTC)  # open 60966.22, high 62478, low 60931.1, close 62412.01
NEXT = datetime(2024, 2, 28, 17, tzinfo=UTC)
TITLE = "Take profit hit on BTC/USDT"


@pytest.fixture
def market(tmp_path):
    """26–29 Feb 2024 of the shared BTC/USDT 1h candles, and the clock on replay at 28 Feb 16:00."""
    lines = gzip.decompress(BTC_1H.read_bytes()).decode().splitlines()
    days = [line for line in lines[1:] if line[:10] in ("2024-02-26", "2024-02-27", "2024-02-28", "2024-02-29")]
    assert len(days) == 96
    path = tmp_path / "btc_1h.csv"
    path.write_text("\n".join([lines[0], *days]) + "\n")
    candles_import_csv(path=path, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    clock.replay_start(start=ENTRY_AT, timeframe="1h", seconds_per_candle=D("0.01"))
    cache.clear()  # the clock and the paper market list are cached
    yield
    clock.replay_stop()
    cache.clear()


def open_long(user, *, take_profit_pct: str, stop_loss_pct: str, client_id: str) -> Position:
    """A manual long through the paper exchange at the replay clock's price, protected by resting SL/TP orders."""
    account = ExchangeAccount.objects.create(user=user, exchange="paper", label="Paper", paper_balance=D(10000))
    capped = router.Capped(
        leverage=1, position_size_pct=D(10), stop_loss_pct=D(stop_loss_pct), take_profit_pct=D(take_profit_pct)
    )
    with exchange_session(account) as exchange:
        position_services.position_open(
            exchange=exchange, account=account, symbol="BTC/USDT", side="long", capped=capped,
            client_id=client_id, source=Order.Source.MANUAL,
        )  # fmt: skip
    return Position.objects.get(exchange_account=account, status=Position.Status.OPEN)


@pytest.fixture
def servers(service, smtp, settings):
    settings.TRENDY_TELEGRAM_BOT_TOKEN = BOT
    settings.TRENDY_TELEGRAM_API_URL = service.url
    settings.TRENDY_TELEGRAM_WEBHOOK_SECRET = HOOK_SECRET
    settings.TRENDY_NOTIFY_ALLOW_PRIVATE = True
    service.route(SEND, Reply(200, {"ok": True, "result": {"message_id": 1}}))
    service.route(SLACK, Reply(200, "ok"))
    return service, smtp


def replay_tick():
    """The beat's task, as a worker runs it: in a thread of its own, with its own database connection (closed
    after, as a worker closes it)."""
    try:
        return tasks.replay_tick.delay().get()
    finally:
        connections.close_all()


def link_telegram(user, api_client) -> None:
    """The real way: a one-time code from Trendy, sent to the bot as ``/start <code>`` (Telegram calls the webhook)."""
    issued = services.telegram_link_start(user=user)
    update = {
        "update_id": 1,
        "message": {"message_id": 5, "chat": {"id": CHAT, "type": "private"}, "text": f"/start {issued.code}"},
    }
    url = reverse("api-telegram-webhook")
    response = api_client.post(url, update, format="json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=HOOK_SECRET)
    assert response.status_code == 200, response.content


def test_a_replayed_candle_fills_the_take_profit_and_alice_hears_it_everywhere(
    market, servers, alice, bob, alice_client, api_client
):
    service, smtp = servers
    position = open_long(alice, take_profit_pct="2", stop_loss_pct="2", client_id="e2e-alice-entry")
    target = Order.objects.get(position=position, purpose=Order.Purpose.TAKE_PROFIT, status=Order.Status.OPEN)
    assert D("62000") < target.trigger_price < D("62478")  # inside the 16:00 candle's range; its low is far above SL
    bobs = open_long(bob, take_profit_pct="10", stop_loss_pct="10", client_id="e2e-bob-entry")  # nothing reached
    assert services.notifications_mark_read(user=alice) == 1  # alice has seen her entry fill
    assert 'data-unread="' not in alice_client.get(reverse("notifications:bell")).content.decode()
    bobs_before = list(Notification.objects.filter(user=bob).values_list("pk", flat=True))

    # alice's channels: Telegram linked through the bot, a Slack webhook, her e-mail
    link_telegram(alice, api_client)
    services.channel_slack_add(user=alice, webhook_url=service.url + SLACK)
    services.channel_email_add(user=alice)
    assert set(Channel.objects.filter(user=alice, enabled=True).values_list("kind", flat=True)) == {
        "telegram",
        "slack",
        "email",
    }
    (linked,) = service.hits(SEND)  # the bot's "Linked" answer in the chat
    assert "Linked" in linked.json()["text"]
    assert service.hits(SLACK) == [] and smtp.messages == [] and not Delivery.objects.exists()

    alice_key = api_token_issue(user=alice, name="phone").key
    bob_key = api_token_issue(user=bob, name="phone").key

    async def scenario():
        phone, ok, _ = await connected(header(alice_key))
        other, ok_other, _ = await connected(header(bob_key))
        assert ok and ok_other
        assert await phone.receive_json_from(timeout=5) == {"type": "hello", "user": alice.pk}
        assert await other.receive_json_from(timeout=5) == {"type": "hello", "user": bob.pk}
        # the beat's replay task, in another thread as a worker runs it; it commits, so the events go out
        outcome = await sync_to_async(replay_tick)()
        heard = []  # everything the phone hears, until it is quiet (the task has returned: all is published)
        while not await phone.receive_nothing(timeout=0.5, interval=0.02):
            heard.append(await phone.receive_json_from(timeout=5))
        bob_heard = await other.receive_nothing(timeout=0.5)
        await phone.disconnect()
        await other.disconnect()
        return outcome, heard, bob_heard

    outcome, heard, bob_heard_nothing = run(scenario)

    assert outcome["moved"] == NEXT.isoformat() and outcome["errors"] == []
    # the order: the take profit filled at its trigger and closed the position
    position.refresh_from_db()
    target.refresh_from_db()
    assert target.status == Order.Status.FILLED
    assert position.status == Position.Status.CLOSED and position.exit_reason == "take_profit"
    (exit_trade,) = Trade.objects.filter(order=target)
    assert exit_trade.price == target.trigger_price and exit_trade.realized_pnl > 0

    # the phone: the fill, then the bell's new notification, and nothing else
    row = Notification.objects.get(user=alice, kind="take_profit_hit")
    assert row.title == TITLE and row.read_at is None
    assert [message["type"] for message in heard] == ["fill", "notification"], heard
    fill, bell = heard
    assert fill["event"] == "take_profit_hit" and fill["at"].endswith("Z")
    assert fill["data"]["symbol"] == "BTC/USDT" and fill["data"]["side"] == "sell"
    assert fill["data"]["order"] == target.pk and D(fill["data"]["price"]) == target.trigger_price
    assert D(fill["data"]["amount"]) == target.amount and D(fill["data"]["realized_pnl"]) > 0
    assert bell["event"] == "notification"
    assert bell["data"] == {"id": row.pk, "kind": "take_profit_hit", "severity": "info"}

    # outside Trendy: one message each, to alice's own chat, webhook and address
    telegram = service.hits(SEND)[1:]
    assert len(telegram) == 1 and telegram[0].json()["chat_id"] == str(CHAT)
    assert TITLE in telegram[0].json()["text"]
    (slack,) = service.hits(SLACK)
    assert TITLE in slack.json()["text"]
    (mail,) = smtp.messages
    assert mail["To"] == "alice@example.com" and TITLE in mail["Subject"]
    statuses = sorted(Delivery.objects.filter(notification=row).values_list("channel__kind", "status"))
    assert statuses == [("email", "sent"), ("slack", "sent"), ("telegram", "sent")]

    # the bell and the list page
    bell_html = alice_client.get(reverse("notifications:bell")).content.decode()
    assert 'data-unread="1"' in bell_html and "Notifications: 1 unread" in bell_html
    assert TITLE in alice_client.get(reverse("notifications:list")).content.decode()

    # bob: his account was stepped by the same tick, nothing of his was reached, and nothing of alice's reached him
    assert bob_heard_nothing
    bobs.refresh_from_db()
    assert bobs.status == Position.Status.OPEN
    assert list(Notification.objects.filter(user=bob).values_list("pk", flat=True)) == bobs_before
    assert not Notification.objects.filter(user=bob, kind="take_profit_hit").exists()
