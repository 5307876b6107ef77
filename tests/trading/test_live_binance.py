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


def _candle(open_time: datetime, high: str, low: str) -> None:
    from market_data.models import Candle

    Candle.objects.create(exchange="binance", symbol="BTC/USDT", timeframe="1h", open_time=open_time, open=D(low),
                          high=D(high), low=D(low), close=D(high), volume=D(1))  # fmt: skip


def test_a_trailing_stop_and_an_added_entry_reach_binance_as_signed_orders(bot, binance_server):
    """On a real adapter (ccxt's requests to the fake Binance): after a closed candle the trail cancels the resting
    stop and places it higher; a later entry signal adds an entry, and the stop is placed again from the average."""
    Bot.objects.filter(pk=bot.pk).update(trailing_stop_pct=D("1.5"), pyramiding=2, take_profit_pct=None)
    C2, C3 = C1 + HOUR, C1 + 2 * HOUR
    price = {"now": D(50_000)}
    pinned = clock.Pin
    with clock.pinned(pinned(time=C1 + HOUR, price=lambda exchange, symbol: price["now"])):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "traded"
    position = Position.objects.get(bot=bot)
    first_stop = Order.objects.get(position=position, purpose=Order.Purpose.STOP_LOSS, status=Order.Status.OPEN)
    assert first_stop.trigger_price == (position.entry_price * D("0.98")).quantize(D("0.01"))  # the 2 % stop

    # The fake stamps its fills with the real time; the market clock is pinned to 2024: the fill came a moment
    # after the open of the candle after the signal, as it would live.
    Position.objects.filter(pk=position.pk).update(opened_at=C2 + timedelta(seconds=2))
    _candle(C2, high="52000", low="49900")  # the candle the entry filled in: its high moves the trail
    binance_server.prices["BTC/USDT"] = D(51_800)
    with clock.pinned(pinned(time=C2 + HOUR, price=lambda exchange, symbol: D(51_800))):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C2, signal=dict.fromkeys(LONG, False))
    assert result.outcome == "nothing", result.message
    position.refresh_from_db()
    level = D(52_000) - position.entry_price * D("0.015")
    assert position.trail_best == D(52_000)
    assert abs(position.stop_loss - level) < D("0.01")
    first_stop.refresh_from_db()
    assert first_stop.status == Order.Status.CANCELED
    assert binance_server.order(first_stop.client_order_id).status == "canceled"
    moved = Order.objects.get(position=position, purpose=Order.Purpose.STOP_LOSS, status=Order.Status.OPEN)
    assert binance_server.order(moved.client_order_id).trigger == level.quantize(D("0.01"))

    _candle(C3, high="52100", low="51700")
    binance_server.prices["BTC/USDT"] = D(52_000)
    with clock.pinned(pinned(time=C3 + HOUR, price=lambda exchange, symbol: D(52_000))):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C3, signal=LONG)
    assert result.outcome == "traded", result.message
    position.refresh_from_db()
    assert position.entries == 2 and position.status == Position.Status.OPEN
    buys = [r for r in binance_server.creates() if r.fields.get("side") == "BUY"]
    assert len(buys) == 2  # the entry and the add, each signed and with our client id
    assert 50_000 < position.entry_price < 52_100  # the average of the two fills
    stop = Order.objects.get(position=position, purpose=Order.Purpose.STOP_LOSS, status=Order.Status.OPEN)
    assert binance_server.order(stop.client_order_id).amount == position.amount  # the whole position
    assert stop.trigger_price == (position.entry_price * D("0.98")).quantize(D("0.01"))  # from the average


def _with_levels(signal: dict, **given: tuple[float, float]) -> dict:
    """A signal row with the strategy's own levels (backtest rule 13): ``name=(a, b)``, None elsewhere."""
    from strategies.interface import LEVEL_COLUMNS

    row = {**signal, **dict.fromkeys(LEVEL_COLUMNS)}
    for name, (a, b) in given.items():
        row[f"{name}_a"], row[f"{name}_b"] = a, b
    return row


def test_a_strategys_moving_levels_reach_binance_as_signed_orders(bot, binance_server):
    """On a real adapter: the entry places the signal candle's stop (a price of the market) and target (the entry +
    2,000) from the fill; the next closed candle moves both (cancelled and placed again); a target the price is
    already beyond closes the position with a limit order at it, which fills at once."""
    C2, C3 = C1 + HOUR, C1 + 2 * HOUR
    pinned = clock.Pin
    signal = _with_levels(LONG, long_stop=(0.0, 49_000.0), long_target=(1.0, 2_000.0))
    with clock.pinned(pinned(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=signal).outcome == "traded"
    position = Position.objects.get(bot=bot)
    stop = Order.objects.get(position=position, purpose=Order.Purpose.STOP_LOSS, status=Order.Status.OPEN)
    take = Order.objects.get(position=position, purpose=Order.Purpose.TAKE_PROFIT, status=Order.Status.OPEN)
    assert binance_server.order(stop.client_order_id).trigger == D(49_000)  # not the bot's 2 %
    assert binance_server.order(take.client_order_id).trigger == (position.entry_price + 2_000).quantize(D("0.01"))

    Position.objects.filter(pk=position.pk).update(opened_at=C2 + timedelta(seconds=2))
    _candle(C2, high="50500", low="49800")
    binance_server.prices["BTC/USDT"] = D(50_200)
    hold = _with_levels(dict.fromkeys(LONG, False), long_stop=(0.0, 49_500.0), long_target=(1.0, 1_500.0))
    with clock.pinned(pinned(time=C2 + HOUR, price=lambda exchange, symbol: D(50_200))):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C2, signal=hold).outcome == "nothing"
    position.refresh_from_db()
    assert (position.stop_loss, position.take_profit) == (D(49_500), (position.entry_price + 1_500).quantize(D("0.01")))
    for old in (stop, take):
        old.refresh_from_db()
        assert old.status == Order.Status.CANCELED and binance_server.order(old.client_order_id).status == "canceled"
    moved = Order.objects.get(position=position, purpose=Order.Purpose.STOP_LOSS, status=Order.Status.OPEN)
    assert binance_server.order(moved.client_order_id).trigger == D(49_500)

    _candle(C3, high="51900", low="50100")
    binance_server.prices["BTC/USDT"] = D(51_800)
    beyond = _with_levels(dict.fromkeys(LONG, False), long_stop=(0.0, 49_500.0), long_target=(0.0, 51_000.0))
    with clock.pinned(pinned(time=C3 + HOUR, price=lambda exchange, symbol: D(51_800))):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C3, signal=beyond)
    assert result.outcome == "traded", result.message
    position.refresh_from_db()
    assert position.status == Position.Status.CLOSED
    closing = Order.objects.get(pk=result.orders[0])
    assert (closing.purpose, closing.type) == (Order.Purpose.TAKE_PROFIT, "limit")
    sent = binance_server.order(closing.client_order_id)
    assert (sent.type, sent.price, sent.status) == ("limit", D(51_000), "filled")
    assert not Order.objects.filter(position=position, status__in=Order.OPEN_STATUSES).exists()


def test_a_target_limit_that_does_not_fill_at_once_never_leaves_the_position_without_its_stop(
    bot, binance_server, monkeypatch
):
    """The ticker showed the price beyond the strategy's target, but it turned back before the limit arrived: the
    limit rests unfilled, so it is cancelled and the position closed at market (never left with no stop)."""
    from trading.exchanges.base import Ticker
    from trading.exchanges.ccxt_exchange import CcxtExchange

    pinned = clock.Pin
    signal = _with_levels(LONG, long_stop=(0.0, 49_000.0), long_target=(1.0, 2_000.0))
    with clock.pinned(pinned(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=signal).outcome == "traded"
    position = Position.objects.get(bot=bot)
    C2 = C1 + HOUR
    Position.objects.filter(pk=position.pk).update(opened_at=C2 + timedelta(seconds=2))
    _candle(C2, high="51900", low="49800")
    binance_server.prices["BTC/USDT"] = D(50_500)  # where the market is when the order arrives
    seen = Ticker(symbol="BTC/USDT", last=D(51_800), time_ms=0)  # what the tick read a moment before
    monkeypatch.setattr(CcxtExchange, "fetch_ticker", lambda self, symbol: seen)
    beyond = _with_levels(dict.fromkeys(LONG, False), long_stop=(0.0, 49_500.0), long_target=(0.0, 51_000.0))
    with clock.pinned(pinned(time=C2 + HOUR, price=lambda exchange, symbol: D(50_500))):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C2, signal=beyond)
    assert result.outcome == "traded", result.message
    position.refresh_from_db()
    assert position.status == Position.Status.CLOSED
    target = Order.objects.get(position=position, purpose=Order.Purpose.TAKE_PROFIT, type="limit")
    assert target.status == Order.Status.CANCELED and binance_server.order(target.client_order_id).status == "canceled"
    market = Order.objects.get(position=position, purpose=Order.Purpose.EXIT)
    assert market.status == Order.Status.FILLED and binance_server.order(market.client_order_id).type == "market"
    assert not Order.objects.filter(position=position, status__in=Order.OPEN_STATUSES).exists()
