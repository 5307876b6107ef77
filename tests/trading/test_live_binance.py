"""The live path on a real exchange adapter: ccxt's own request building and signing against the fake Binance on
127.0.0.1. A bot's tick places one order with our client order id, its fill becomes a position, a re-run never
sends twice; a stop the exchange cannot hold is watched by the loop; a missed candle is caught up."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from accounts import services as account_services
from trading import clock
from trading.bots import loop
from trading.bots import tick as ticks
from trading.execution import orders as order_services
from trading.execution import positions as position_services
from trading.execution import router
from trading.models import Bot, Order, Position

pytestmark = pytest.mark.django_db

C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}


@pytest.fixture
def account(alice, binance_server, settings):
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    return account_services.exchange_account_create(
        user=alice,
        exchange="binance",
        label="Binance",
        api_key=binance_server.api_key,
        secret=binance_server.secret,
    )


@pytest.fixture
def bot(account):
    return Bot.objects.create(
        user=account.user,
        exchange_account=account,
        name="live",
        strategy="ema_crossover",
        symbol="BTC/USDT",
        timeframe="1h",
        status=Bot.Status.RUNNING,
    )


def test_a_tick_sends_one_signed_order_with_our_client_id(bot, binance_server):
    with clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
        assert result.outcome == "traded", result.message
        again = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert again.outcome == "skipped"
    entry_id = router.client_order_id(f"bot:{bot.pk}", int(C1.timestamp() * 1000), "entry")
    creates = [r for r in binance_server.creates() if r.fields.get("newClientOrderId") == entry_id]
    assert len(creates) == 1  # one order on the exchange, whatever happens next
    order = Order.objects.get(client_order_id=entry_id)
    assert order.status == Order.Status.FILLED and order.exchange_order_id
    position = Position.objects.get(bot=bot)
    assert position.status == Position.Status.OPEN and position.amount == order.filled
    # 10 % of the 10,000 USDT balance at about 50,000 (rounded down to Binance's 0.00001 step).
    assert D("0.0199") <= position.amount <= D("0.02")
    assert position.stop_loss == (position.entry_price * D("0.98")).quantize(D("0.01"))


def test_a_stop_the_exchange_does_not_hold_is_watched(bot, account, binance_server):
    position = Position.objects.create(
        user=account.user,
        exchange_account=account,
        bot=bot,
        symbol="BTC/USDT",
        side=Position.Side.LONG,
        amount=D("0.01"),
        entry_price=D(51_000),
        stop_loss=D(50_500),
        take_profit=D(55_000),
        opened_at=C1,
    )
    assert position_services.watch_stops() == 1  # the fake Binance trades at 50,000: below the stop
    position.refresh_from_db()
    assert position.status == Position.Status.CLOSED and position.exit_reason == "stop_loss"
    sell = Order.objects.get(position=position, purpose=Order.Purpose.STOP_LOSS)
    assert sell.side == "sell" and sell.type == "market" and sell.status == Order.Status.FILLED
    assert binance_server.order(sell.client_order_id) is not None
    assert position_services.watch_stops() == 0  # closed: nothing left to watch


def test_a_missed_candle_is_caught_up(bot):
    sent = []
    now = C1 + HOUR + timedelta(minutes=2)
    Bot.objects.filter(pk=bot.pk).update(last_candle_open=C1 - HOUR)  # the 10:00 candle's task was lost
    with clock.pinned(clock.Pin(time=now, price=lambda exchange, symbol: D(50_000))):
        assert loop.catch_up(now=now, dispatch=lambda *args: sent.append(args)) == 1
    assert sent == [(bot.pk, C1, None)]
    Bot.objects.filter(pk=bot.pk).update(last_candle_open=C1)
    assert loop.catch_up(now=now, dispatch=lambda *args: sent.append(args)) == 0
    # Within the first minute after the close the regular dispatch may still be on its way.
    Bot.objects.filter(pk=bot.pk).update(last_candle_open=C1 - HOUR)
    assert loop.catch_up(now=C1 + HOUR + timedelta(seconds=20), dispatch=lambda *args: sent.append(args)) == 0


def test_keys_the_exchange_rejects_halt_the_bot_with_the_reason(bot, binance_server):
    binance_server.reject_keys = True
    with clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert result.outcome == "halted"
    bot.refresh_from_db()
    assert bot.status == Bot.Status.HALTED and bot.status_detail["code"] == "keys_rejected"
    assert bot.reason_text.startswith("The exchange rejected the API keys.")
    assert binance_server.creates() == [] and not Order.objects.exists()
    assert binance_server.secret not in bot.status_reason and binance_server.api_key not in bot.status_reason


def test_a_rate_limited_exchange_releases_the_candle_for_the_retry(bot, binance_server):
    from trading.exchanges.errors import TemporaryError

    binance_server.rate_limit(50)
    with (
        clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))),
        pytest.raises(TemporaryError),
    ):
        ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    bot.refresh_from_db()
    assert bot.last_candle_open is None or bot.last_candle_open < C1  # the task's retry may act on it
    assert binance_server.creates() == []


def test_a_create_that_times_out_is_looked_up_and_never_sent_twice(account, binance_server):
    from trading.exchanges.base import OrderRequest
    from trading.exchanges.errors import RequestTimeout

    exchange = binance_server.exchange("spot", timeout_ms=500, retries=1)
    request = OrderRequest(
        symbol="BTC/USDT", side="buy", type="market", amount=D("0.01"), client_order_id="Ttimeout0000000000000000000001"
    )
    binance_server.delay_next_create(1.5)  # the exchange takes the order, the answer comes too late
    with clock.pinned(clock.Pin(time=C1, price=lambda exchange, symbol: D(50_000))), pytest.raises(RequestTimeout):
        order_services.order_submit(exchange=exchange, account=account, request=request, purpose=Order.Purpose.ENTRY)
    order = Order.objects.get(client_order_id=request.client_order_id)
    assert order.status == Order.Status.PENDING  # unknown: stored, looked up on the retry
    time.sleep(1.2)
    with clock.pinned(clock.Pin(time=C1, price=lambda exchange, symbol: D(50_000))):
        again = order_services.order_submit(
            exchange=exchange, account=account, request=request, purpose=Order.Purpose.ENTRY
        )
    assert again.pk == order.pk and again.status == Order.Status.FILLED
    sent = [r for r in binance_server.creates() if r.fields.get("newClientOrderId") == request.client_order_id]
    assert len(sent) == 1
    assert Position.objects.get(exchange_account=account).amount == D("0.01")
    assert [e.kind for e in order.events.all()][:3] == ["created", "send_failed", "resent"]
