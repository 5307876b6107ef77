"""Faults on the live path, on the paper exchange: a worker killed mid-tick, refusals, a price source
that fails, a risk halt, auto-trading switched off. Time and price come from a pinned market clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from accounts.models import ExchangeAccount, RiskProfile
from tests.trading.conftest import list_paper_markets
from trading import clock
from trading.bots import loop
from trading.bots import services as bot_services
from trading.bots import tick as ticks
from trading.exchanges.base import OrderRequest
from trading.exchanges.errors import TemporaryError
from trading.execution import orders as order_services
from trading.execution import router
from trading.execution.adapters import paper_session
from trading.models import Bot, Order, OrderEvent, PaperOrder, PaperPosition, Position
from trading.paper import store as paper_store
from trading.paper.store import wallet_for

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)  # the candle that just closed (opened at 10:00)
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}
NOTHING = dict.fromkeys(LONG, False)


def at(candle_open: datetime, price: str | D | None = None, *, source=None):
    """The clock at the close of ``candle_open``; every market trades at ``price``."""
    value = D(price) if price is not None else None
    return clock.pinned(clock.Pin(time=candle_open + HOUR, price=source or (lambda exchange, symbol: value)))


@pytest.fixture
def listed(db):
    """Stored candles make BTC/USDT and ETH/USDT markets of the paper exchange."""
    list_paper_markets(("BTC/USDT", "ETH/USDT"), C1)


@pytest.fixture
def account(alice, listed):
    RiskProfile.objects.update_or_create(user=alice, defaults={"leverage": 10, "position_size_pct": D(20)})
    return ExchangeAccount.objects.create(user=alice, exchange="paper", label="paper", paper_balance=D(10000))


def make_bot(account, **kwargs) -> Bot:
    values = {
        "user": account.user,
        "exchange_account": account,
        "name": "bot",
        "strategy": "ema_crossover",
        "params": {},
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "leverage": 1,
        "position_size_pct": D(10),
        "stop_loss_pct": D(2),
        "take_profit_pct": D(4),
        "max_drawdown_pct": D(20),
        "status": Bot.Status.RUNNING,
    } | kwargs
    return Bot.objects.create(**values)


@pytest.fixture
def bot(account):
    return make_bot(account)


def entry_id(bot: Bot, candle_open: datetime = C1) -> str:
    return router.client_order_id(f"bot:{bot.pk}", int(candle_open.timestamp() * 1000), "entry")


# --- a worker killed mid-tick ------------------------------------------------------------------------


def test_the_same_bot_and_candle_twice_trades_once(bot):
    with at(C1, "50000"):
        first = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
        second = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert first.outcome == "traded"
    assert (second.outcome, second.orders) == ("skipped", [])
    entries = Order.objects.filter(bot=bot, purpose=Order.Purpose.ENTRY)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.status == Order.Status.FILLED
    assert entry.average_price == D("50025")  # 50000 × 1.0005
    assert entry.amount == D("0.01999")  # 1000 / 50025 rounded down to the 0.00001 step
    assert PaperOrder.objects.filter(account=bot.exchange_account, client_order_id=entry.client_order_id).count() == 1
    position = Position.objects.get(bot=bot)
    assert position.status == Position.Status.OPEN
    # its stop loss and take profit rest on the paper exchange
    protective = Order.objects.filter(
        position=position, purpose__in=[Order.Purpose.STOP_LOSS, Order.Purpose.TAKE_PROFIT]
    )
    assert sorted((o.purpose, o.trigger_price, o.status) for o in protective) == [
        (Order.Purpose.STOP_LOSS, D("49024.50"), Order.Status.OPEN),  # 50025 × 0.98
        (Order.Purpose.TAKE_PROFIT, D("52026.00"), Order.Status.OPEN),  # 50025 × 1.04
    ]


def pending_entry(bot: Bot, amount: str = "0.01999") -> Order:
    """The Order row as a worker left it when it died after storing it, before the exchange answered."""
    return Order.objects.create(
        user=bot.user,
        exchange_account=bot.exchange_account,
        bot=bot,
        symbol=bot.symbol,
        side="buy",
        type="market",
        purpose=Order.Purpose.ENTRY,
        source=Order.Source.BOT,
        amount=D(amount),
        client_order_id=entry_id(bot),
        candle_open=C1,
        created_at=C1 + HOUR,
    )


def test_crash_before_the_exchange_call_the_retry_sends_it_once(bot):
    stored = pending_entry(bot)
    assert stored.status == Order.Status.PENDING
    with at(C1, "50000"):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert result.outcome == "traded"
    entries = Order.objects.filter(bot=bot, purpose=Order.Purpose.ENTRY)
    assert list(entries.values_list("pk", flat=True)) == [stored.pk]  # the stored row, not a second one
    stored.refresh_from_db()
    assert stored.status == Order.Status.FILLED
    assert PaperOrder.objects.filter(account=bot.exchange_account, client_order_id=stored.client_order_id).count() == 1
    assert "resent" in set(OrderEvent.objects.filter(order=stored).values_list("kind", flat=True))
    assert Position.objects.filter(bot=bot, status=Position.Status.OPEN).count() == 1


def test_crash_after_the_exchange_call_the_retry_looks_it_up_and_never_sends_twice(bot, monkeypatch):
    stored = pending_entry(bot)
    # The exchange got the order, but the worker died before Trendy recorded the answer.
    with at(C1, "50000"), monkeypatch.context() as patch:
        patch.setattr(paper_store, "flush", lambda account, exchange, record: None)
        with paper_session(bot.exchange_account) as exchange:
            exchange.create_order(
                OrderRequest(
                    symbol="BTC/USDT",
                    side="buy",
                    type="market",
                    amount=D("0.01999"),
                    client_order_id=stored.client_order_id,
                )
            )
    balance_after_one = wallet_for(bot.exchange_account).balance
    assert balance_after_one == D("10000") - D("0.01999") * D("50025") * D("0.001")

    with at(C1, "50000"):
        ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert PaperOrder.objects.filter(account=bot.exchange_account, client_order_id=stored.client_order_id).count() == 1
    assert wallet_for(bot.exchange_account).balance == balance_after_one  # no second fill
    assert PaperPosition.objects.get(account=bot.exchange_account).amount == D("0.01999")
    stored.refresh_from_db()
    assert (stored.status, stored.average_price) == (Order.Status.FILLED, D("50025"))
    assert Order.objects.filter(bot=bot, purpose=Order.Purpose.ENTRY).count() == 1


# --- refusals ------------------------------------------------------------------------------------------


def _eth_uses_most_of_the_balance(account):
    """A position on ETH (opened by hand) holds 4.5 × 2001 = 9004.5 USDT of the 10000 as margin."""
    with at(C1, "2000"), paper_session(account) as exchange:
        order_services.order_submit(
            exchange=exchange,
            account=account,
            request=OrderRequest(
                symbol="ETH/USDT", side="buy", type="market", amount=D("4.5"), client_order_id="Tmanualeth"
            ),
            purpose=Order.Purpose.ENTRY,
            source=Order.Source.MANUAL,
        )
    assert Position.objects.get(symbol="ETH/USDT").margin == D("4.5") * D("2001")  # 2000 × 1.0005


def test_insufficient_balance_rejects_the_order_with_a_clear_message_and_no_position(account):
    _eth_uses_most_of_the_balance(account)
    bot = make_bot(account, position_size_pct=D(20))
    with at(C1, "50000"):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert result.outcome == "halted"  # permanent (issue 13): the bot stops and says why, it does not try again
    # balance 10000 − fee 9.0045 = 9990.9955, of which 9004.5 is ETH margin: 986.4955 free. The entry is
    # sized from the balance: 20 % = 1998.1991 → 0.03994 BTC × 50025 = 1997.9985, + fee 1.9979985
    assert "Insufficient balance: the order needs 2000.00 USDT of margin and fees, 986.50 USDT is free" in (
        result.message
    )
    bot.refresh_from_db()
    assert bot.status == Bot.Status.HALTED and bot.status_detail["code"] == "insufficient_funds"
    assert not Position.objects.filter(bot=bot).exists()
    assert not PaperPosition.objects.filter(account=account, symbol="BTC/USDT").exists()
    assert not PaperOrder.objects.filter(account=account, symbol="BTC/USDT").exists()


def test_insufficient_balance_keeps_the_rejected_order_for_the_user(account):
    _eth_uses_most_of_the_balance(account)
    bot = make_bot(account, position_size_pct=D(20))
    with at(C1, "50000"):
        ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    rejected = Order.objects.filter(bot=bot, purpose=Order.Purpose.ENTRY).first()
    assert rejected is not None
    assert rejected.status == Order.Status.REJECTED
    assert rejected.note.startswith("Insufficient balance")


def test_below_the_minimum_notional_is_refused_before_sending(alice, listed):
    RiskProfile.objects.update_or_create(user=alice, defaults={"leverage": 10, "position_size_pct": D(20)})
    small = ExchangeAccount.objects.create(user=alice, exchange="paper", label="small", paper_balance=D(40))
    bot = make_bot(small)  # 10 % of 40 USDT = 4 USDT < the 5 USDT minimum
    with at(C1, "50000"):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert result.outcome == "halted"
    assert "The order value 3.50 USDT is below the market's minimum 5 USDT" in result.message
    assert Bot.objects.get(pk=bot.pk).status_detail["code"] == "order_refused"
    assert not Order.objects.filter(exchange_account=small).exists()
    assert not PaperOrder.objects.filter(account=small).exists()
    assert wallet_for(small).balance == D(40)


def test_a_symbol_the_paper_exchange_does_not_list(account):
    bot = make_bot(account, symbol="DOGE/USDT")
    with at(C1, "0.1"):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert result.outcome == "halted"
    assert result.message == "The exchange does not list DOGE/USDT. Choose another market for this bot."
    assert Bot.objects.get(pk=bot.pk).status_detail["code"] == "unknown_symbol"
    assert not Order.objects.filter(bot=bot).exists()
    with pytest.raises(ValidationError) as err:
        bot_services.bot_create(
            user=account.user,
            exchange_account=account,
            settings_=bot_services.BotSettings(strategy="ema_crossover", symbol="DOGE/USDT", timeframe="1h"),
        )
    assert err.value.message_dict["symbol"] == ["paper does not list DOGE/USDT."]


# --- a failing price source --------------------------------------------------------------------------


def test_a_temporary_price_failure_releases_the_candle_so_the_retry_trades(bot):
    def down(exchange, symbol):
        raise TemporaryError("binance is unreachable")

    with at(C1, source=down), pytest.raises(TemporaryError, match="unreachable"):
        ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    bot.refresh_from_db()
    assert bot.last_candle_open is None or bot.last_candle_open < C1  # the claim is released
    assert not Order.objects.filter(bot=bot).exists()
    assert not PaperOrder.objects.filter(account=bot.exchange_account).exists()
    with at(C1, "50000"):
        retry = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert retry.outcome == "traded"
    assert Order.objects.filter(bot=bot, purpose=Order.Purpose.ENTRY, status=Order.Status.FILLED).count() == 1
    with at(C1, "50000"):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "skipped"


# --- risk and switches ---------------------------------------------------------------------------------


def test_drawdown_beyond_the_limit_halts_the_bot_and_closes_its_position(account):
    bot = make_bot(account, leverage=10, position_size_pct=D(20), max_drawdown_pct=D(5))
    with at(C1, "50000"):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "traded"
    position = Position.objects.get(bot=bot)
    assert position.amount == D("0.3998")  # 2000 × 10 / 50025, rounded down
    bot.refresh_from_db()
    assert bot.peak_equity == D(10000)
    c2 = C1 + HOUR
    with at(c2, "47000"):  # unrealised 0.3998 × (47000 − 50025) = −1209.4: a 12 % drawdown
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=c2, signal=NOTHING)
    assert result.outcome == "halted"
    assert result.message == "The account fell 12.3% below its peak, beyond the bot's limit of 5.0%."
    bot.refresh_from_db()
    assert bot.status == Bot.Status.HALTED
    # The reason is kept as a code with its figures and written in the reader's language.
    assert bot.status_detail["code"] == "drawdown" and D(bot.status_detail["limit"]) == D(5)
    assert bot.reason_text == result.message
    with translation.override("ko"):
        assert bot.reason_text == "계좌가 최고점보다 12.3% 하락해 봇의 한도 5.0%를 넘었습니다."
    assert bot.status_changed_at == c2 + HOUR  # market time: the close of the candle that showed the drawdown
    position.refresh_from_db()
    assert position.status == Position.Status.CLOSED
    assert position.exit_price == D("46976.5000")  # 47000 × 0.9995
    assert not PaperPosition.objects.filter(account=account).exists()
    assert not Order.objects.filter(position=position, status__in=Order.OPEN_STATUSES).exists()  # SL/TP canceled
    # a halted bot does not trade
    c3 = c2 + HOUR
    with at(c3, "47000"):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=c3, signal=LONG).outcome == "skipped"


def test_auto_trading_off_places_no_order(bot):
    bot_services.auto_trading_set(user=bot.user, enabled=False)
    with at(C1, "50000"):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert result.outcome == "skipped"
    assert not Order.objects.filter(bot=bot).exists()
    assert bot.pk not in [b.pk for b in loop.running_bots()]
    bot_services.auto_trading_set(user=bot.user, enabled=True)
    with at(C1, "50000"):
        assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "traded"


def test_an_entry_whose_stop_loss_the_exchange_refuses_is_closed(bot, monkeypatch):
    """After the entry fill the protective orders must rest on the exchange: a refused stop is retried once,
    then the unprotected position is closed at once."""
    from trading.exchanges.errors import InvalidOrder
    from trading.exchanges.paper import PaperExchange

    create = PaperExchange.create_order
    refused = []

    def no_stops(self, request):
        if request.type == "stop_market":
            refused.append(request.client_order_id)
            raise InvalidOrder("Stop orders are unavailable on this market.", code="stop")
        return create(self, request)

    monkeypatch.setattr(PaperExchange, "create_order", no_stops)
    with at(C1, "50000"):
        result = ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG)
    assert result.outcome == "traded"
    assert len(refused) == 2 and len(set(refused)) == 2  # tried twice, each with its own client id
    position = Position.objects.get(bot=bot)
    assert position.status == Position.Status.CLOSED
    close = Order.objects.get(position=position, note="unprotected")
    assert close.status == Order.Status.FILLED and close.source == Order.Source.SYSTEM
    assert not PaperPosition.objects.filter(account=bot.exchange_account).exists()
