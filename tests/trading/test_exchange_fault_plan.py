"""The exchange fault plan (``fault_plan``, ``fault_run``): bots and TradingView alerts through Trendy's real paths
against fake Binance accounts whose requests fail 12 % of the time: no order twice, none lost, every position as
the exchange holds it, every failure a user sees with its reason. ``benchmarks/exchange_faults.py`` runs 10,000
orders; this runs 300. Then the faults it found, one at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from accounts import services as account_services
from tests.trading.fault_plan import OUTSIDE_KINDS, REQUEST_KINDS, FaultPlan
from tests.trading.fault_run import FaultRunConfig, run_faults
from trading import clock, labels
from trading.bots import tick as ticks
from trading.exchanges.base import OrderRequest
from trading.exchanges.errors import TemporaryError
from trading.execution import orders as order_services
from trading.models import Bot, Order, Position
from trading.reconciliation.services import reconcile_account

pytestmark = pytest.mark.django_db

C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}


def test_three_hundred_orders_at_twelve_percent_faults(monkeypatch):
    # Changes outside Trendy twice as often as in the benchmark, so that 17 candles see each kind.
    report = run_faults(FaultRunConfig(orders=300, outside_rate=0.1), monkeypatch)
    print("\n".join(report.lines()))
    assert report.orders_total >= 300
    assert report.problems() == []
    assert report.positions_reconciled == 9  # every account
    assert report.duplicate_client_ids == report.duplicate_intents == report.orphans == report.lost == 0
    assert report.orders_mismatched == report.positions_mismatched == report.failures_unexplained == 0
    assert 0.09 < report.fault_rate < 0.15
    assert {kind for kind in (*REQUEST_KINDS, *OUTSIDE_KINDS) if not report.faults[kind]} == set()


# --- the faults it found -----------------------------------------------------------------------------------


@pytest.fixture
def swap(alice, binance_server, settings):
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": binance_server.url}
    binance_server.balances = {"USDT": D(10_000), "BTC": D(0)}
    return account_services.exchange_account_create(
        user=alice,
        exchange="binance",
        label="Binance futures",
        market_type="swap",
        api_key=binance_server.api_key,
        secret=binance_server.secret,
    )


def fast(monkeypatch):
    """The adapter's waits recorded, not slept."""
    from trading.exchanges import registry

    build = registry.build_exchange
    monkeypatch.setattr(
        registry, "build_exchange", lambda exchange_id, **kw: build(exchange_id, **({"sleep": lambda s: None} | kw))
    )


def test_a_market_order_filled_in_pieces_is_followed_until_it_is_filled(binance_server):
    FaultPlan(rate=0).attach(binance_server).force("partial_fill", path="/fapi/v1/order")
    exchange = binance_server.exchange("swap")
    state = exchange.create_order(
        OrderRequest(symbol="BTC/USDT:USDT", side="buy", type="market", amount=D("0.03"), client_order_id="Tpieces1")
    )
    assert (state.status, state.filled) == ("closed", D("0.03"))
    assert binance_server.positions["BTC/USDT:USDT"].amount == D("0.03")
    assert binance_server.sleeps  # it waited between its looks


def test_an_entry_filled_in_pieces_is_protected_at_once(swap, binance_server, monkeypatch):
    fast(monkeypatch)
    bot = Bot.objects.create(
        user=swap.user, exchange_account=swap, name="b", strategy="ema_crossover", symbol="BTC/USDT:USDT",
        timeframe="1h", leverage=2, status=Bot.Status.RUNNING,
    )  # fmt: skip
    FaultPlan(rate=0).attach(binance_server).force("partial_fill", path="/fapi/v1/order")
    with clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "traded"
    position = Position.objects.get(bot=bot, status=Position.Status.OPEN)
    assert position.amount == binance_server.positions["BTC/USDT:USDT"].amount
    stops = Order.objects.filter(position=position, purpose__in=["stop_loss", "take_profit"], status="open")
    assert stops.count() == 2


def test_a_fill_learnt_late_on_the_side_held_grows_the_position(swap, binance_server, monkeypatch):
    """Two buys whose second answer was lost: the reconciler learns its fill, and the one open position grows
    to what the exchange holds (a second open position on one market broke the reconciliation)."""
    fast(monkeypatch)
    plan = FaultPlan(rate=0).attach(binance_server)
    exchange = binance_server.exchange("swap")

    def buy(client_id: str) -> None:
        request = OrderRequest(
            symbol="BTC/USDT:USDT", side="buy", type="market", amount=D("0.01"), client_order_id=client_id
        )
        order_services.order_submit(exchange=exchange, account=swap, request=request, purpose=Order.Purpose.ENTRY)

    with clock.pinned(clock.Pin(time=C1, price=lambda exchange, symbol: D(50_000))):
        buy("Tlate1")
        plan.force("response_lost", path="/fapi/v1/order")
        with pytest.raises(TemporaryError):
            buy("Tlate2")
        assert Order.objects.get(client_order_id="Tlate2").status == Order.Status.PENDING
        report = reconcile_account(account=swap)
    assert report.error == "" and report.unexplained == []
    position = Position.objects.get(exchange_account=swap, status=Position.Status.OPEN)
    assert position.amount == D("0.02") == binance_server.positions["BTC/USDT:USDT"].amount
    assert Order.objects.get(client_order_id="Tlate2").position_id == position.pk


def test_a_stop_whose_answer_was_lost_is_looked_up_not_placed_twice(swap, binance_server, monkeypatch):
    fast(monkeypatch)
    bot = Bot.objects.create(
        user=swap.user, exchange_account=swap, name="b", strategy="ema_crossover", symbol="BTC/USDT:USDT",
        timeframe="1h", leverage=2, status=Bot.Status.RUNNING,
    )  # fmt: skip
    FaultPlan(rate=0).attach(binance_server).force("response_lost", path="/fapi/v1/algoOrder")
    with clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "traded"
    stops = [o for o in binance_server.orders if o.type == "stop_market"]
    assert len(stops) == 1, [o.client_id for o in stops]  # one stop loss on the exchange, not two
    ours = Order.objects.filter(purpose=Order.Purpose.STOP_LOSS)
    assert [(o.client_order_id, o.status) for o in ours] == [(stops[0].client_id, Order.Status.OPEN)]


def test_a_trade_reported_twice_is_counted_once(binance_server):
    FaultPlan(rate=0).attach(binance_server).force("duplicate_fill", path="/api/v3/order")
    binance_server.balances = {"USDT": D(10_000), "BTC": D(0)}
    exchange = binance_server.exchange("spot")
    state = exchange.create_order(
        OrderRequest(symbol="BTC/USDT", side="buy", type="market", amount=D("0.02"), client_order_id="Ttwice1")
    )
    venue = binance_server.order("Ttwice1")
    assert len(binance_server.calls("/api/v3/order", "POST")) == 1
    assert (state.filled, state.average) == (D("0.02"), D(50_000))
    assert state.fee == venue.fee == D("1")  # 0.1 % of 1,000 USDT, once


def _bot_long(swap, binance_server):
    bot = Bot.objects.create(
        user=swap.user, exchange_account=swap, name="b", strategy="ema_crossover", symbol="BTC/USDT:USDT",
        timeframe="1h", leverage=2, status=Bot.Status.RUNNING,
    )  # fmt: skip
    with clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(50_000))):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "traded"
    return bot, Position.objects.get(bot=bot, status=Position.Status.OPEN)


def test_a_position_closed_on_the_exchange_is_closed_here_with_the_reason(swap, binance_server, monkeypatch):
    fast(monkeypatch)
    bot, position = _bot_long(swap, binance_server)
    plan = FaultPlan(rate=0).attach(binance_server)
    plan.outside_change(binance_server, kind="position_closed")
    assert binance_server.positions == {}
    with clock.pinned(clock.Pin(time=C1 + 2 * HOUR, price=lambda exchange, symbol: D(50_000))):
        report = reconcile_account(account=swap)
    assert report.error == "" and report.unexplained == [] and len(report.changed) == 1
    position.refresh_from_db()
    assert (position.status, position.exit_reason) == (Position.Status.CLOSED, "outside")
    assert labels.exit_reason(position.exit_reason) == "Closed on the exchange, outside Trendy"
    outside = Order.objects.get(position=position, source=Order.Source.SYSTEM, purpose=Order.Purpose.EXIT)
    assert (
        outside.note == "changed on the exchange, outside Trendy" and outside.filled == position.trades.first().amount
    )
    # its stop loss and take profit no longer rest, here or there
    assert report.canceled == 2
    assert not Order.objects.filter(position=position, status=Order.Status.OPEN).exists()
    assert {o.status for o in binance_server.orders if o.algo} == {"canceled"}
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING  # explained: the bot trades on
    assert reconcile_account(account=swap).changed == []  # and the next look finds nothing to change


def test_a_position_halved_on_the_exchange_is_halved_here(swap, binance_server, monkeypatch):
    fast(monkeypatch)
    _bot, position = _bot_long(swap, binance_server)
    held = position.amount
    FaultPlan(rate=0).attach(binance_server).outside_change(binance_server, kind="position_resized")
    with clock.pinned(clock.Pin(time=C1 + 2 * HOUR, price=lambda exchange, symbol: D(50_000))):
        report = reconcile_account(account=swap)
    assert report.unexplained == [] and len(report.changed) == 1
    position.refresh_from_db()
    assert position.status == Position.Status.OPEN
    assert position.amount == binance_server.positions["BTC/USDT:USDT"].amount < held
    assert Order.objects.filter(position=position, note="changed on the exchange, outside Trendy").count() == 1


def test_a_spot_order_looked_up_after_a_lost_answer_has_its_fee(binance_server):
    """Binance's order status tells no fee: a fill learnt by a look-up reads its trades (each once) for it."""
    plan = FaultPlan(rate=0).attach(binance_server)
    binance_server.balances = {"USDT": D(10_000), "BTC": D(0)}
    exchange = binance_server.exchange("spot")
    plan.force("response_lost", path="/api/v3/order").force("duplicate_fill", path="/api/v3/myTrades", method="GET")
    with pytest.raises(TemporaryError):
        exchange.create_order(
            OrderRequest(symbol="BTC/USDT", side="buy", type="market", amount=D("0.02"), client_order_id="Tlookfee")
        )
    state = exchange.fetch_order("BTC/USDT", client_order_id="Tlookfee")
    assert (state.status, state.filled) == ("closed", D("0.02"))
    assert state.fee == binance_server.order("Tlookfee").fee == D("1")
