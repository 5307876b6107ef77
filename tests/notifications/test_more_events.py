"""Issue 19's events, each from the service that owns its fact, on commit: a liquidation and a close forced by a risk
limit, a drawdown halt, a bot stopped by an error, failing exchange keys (at most once an hour, again once they
worked), a refused TradingView alert (at most once a minute per webhook, with a count), the daily summary, strategy
drift (at most once a week per bot), a marketplace subscription ending soon and a creator's sale."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.db import transaction
from django.utils import timezone, translation

from accounts import services as account_services
from accounts.models import ExchangeAccount, RiskProfile
from marketplace import subscriptions
from notifications import catalog
from notifications.models import Notification
from strategies.models import BacktestRun
from tests.marketplace.conftest import published
from tests.trading.conftest import list_paper_markets
from tests.webhooks.conftest import alert
from trading import clock
from trading.bots import drift
from trading.bots import tick as ticks
from trading.bots.paper_market import paper_candle
from trading.dashboard import daily
from trading.exchanges import errors
from trading.exchanges.base import OrderRequest
from trading.execution import orders as order_services
from trading.execution.adapters import paper_session
from trading.models import Bot, EquitySnapshot, Order, Position
from webhooks import services as webhook_services

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)
LONG = {"long_entry": True, "long_exit": False, "short_entry": False, "short_exit": False}
NOTHING = dict.fromkeys(LONG, False)


def at(when: datetime, price: str = "2000"):
    return clock.pinned(clock.Pin(time=when, price=lambda exchange, symbol: D(price)))


def kinds(user) -> list[str]:
    return sorted(Notification.objects.filter(user=user).values_list("kind", flat=True))


@pytest.fixture
def told(django_capture_on_commit_callbacks):
    """Everything in the block is delivered as it commits."""

    @contextmanager
    def block():
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return block


@pytest.fixture
def account(alice):
    list_paper_markets(("BTC/USDT", "ETH/USDT"), C1)
    RiskProfile.objects.update_or_create(user=alice, defaults={"leverage": 10, "position_size_pct": D(20)})
    return ExchangeAccount.objects.create(user=alice, exchange="paper", label="paper", paper_balance=D(10000))


def submit(account, side: str, amount: str, client_id: str, *, leverage: int | None = None, **kwargs) -> Order:
    with paper_session(account) as exchange:
        if leverage:
            exchange.set_leverage("ETH/USDT", leverage)
        return order_services.order_submit(
            exchange=exchange, account=account,
            request=OrderRequest(symbol="ETH/USDT", side=side, type="market", amount=D(amount),
                                 client_order_id=client_id, **kwargs),
            purpose=Order.Purpose.ENTRY, source=Order.Source.MANUAL,
        )  # fmt: skip


# --- liquidation and forced close ----------------------------------------------------------------------------


def crash(account):
    candle = {"open": 1500, "high": 1500, "low": 1000, "close": 1100, "time": C1 + HOUR}
    return paper_candle(account=account, symbol="ETH/USDT", candle=candle)


def test_a_liquidation_tells_its_owner_once_as_critical(account, bob, told):
    with told(), at(C1 + HOUR):
        submit(account, "buy", "5", "Tliqopen", leverage=5)  # liquidation near 2001 × 0.8
        fills = crash(account)
    assert [f.reason for f in fills] == ["liquidation"]
    row = Notification.objects.get(kind="position_liquidated")
    assert (row.user_id, row.severity) == (account.user_id, "critical")
    assert row.data["position"] == Position.objects.get().pk and D(row.data["realized_pnl"]) < 0
    assert row.title == "ETH/USDT position liquidated" and "the loss reached the position's margin" in row.body
    assert kinds(account.user) == ["order_filled", "position_liquidated"]  # the opening fill, then the liquidation
    assert not Notification.objects.filter(user=bob).exists()


def test_a_rolled_back_liquidation_tells_nothing(account, told):
    with at(C1 + HOUR):
        submit(account, "buy", "5", "Tliqopen2", leverage=5)
    with told(), at(C1 + HOUR), pytest.raises(RuntimeError), transaction.atomic():
        crash(account)
        raise RuntimeError("roll back")
    assert not Notification.objects.filter(kind="position_liquidated").exists()


@pytest.fixture
def paper_bot(account):
    return Bot.objects.create(
        user=account.user, exchange_account=account, name="ema eth", strategy="ema_crossover", symbol="ETH/USDT",
        timeframe="1h", status=Bot.Status.RUNNING, max_drawdown_pct=D(5), leverage=1, position_size_pct=D(10),
    )  # fmt: skip


def test_a_drawdown_halt_closes_the_position_and_tells_the_halt_and_the_forced_close(
    paper_bot, account, alice, bob, told
):
    with at(C1 + HOUR):
        assert ticks.bot_tick(bot_id=paper_bot.pk, candle_open=C1, signal=LONG).outcome == "traded"
    Bot.objects.filter(pk=paper_bot.pk).update(peak_equity=D(20000))  # the account is 50 % below that peak
    with told(), at(C1 + 2 * HOUR):
        assert ticks.bot_tick(bot_id=paper_bot.pk, candle_open=C1 + HOUR, signal=NOTHING).outcome == "halted"
    assert kinds(alice) == ["drawdown_halt", "position_force_closed"]
    halt = Notification.objects.get(kind="drawdown_halt")
    assert halt.severity == "critical" and halt.data["code"] == "drawdown" and halt.data["limit"] == "5.00"
    assert D(halt.data["drawdown"]) > 40
    assert halt.title == "Bot ema eth halted: drawdown limit"
    assert "below its peak, beyond the bot's limit of 5.0%" in halt.body
    forced = Notification.objects.get(kind="position_force_closed")
    assert forced.severity == "warning" and forced.data["position"] == Position.objects.get().pk
    assert forced.title == "ETH/USDT position closed by a risk limit"
    assert not Notification.objects.filter(user=bob).exists()


def test_a_rolled_back_halt_tells_nothing(paper_bot, told):
    with at(C1 + HOUR):
        ticks.bot_tick(bot_id=paper_bot.pk, candle_open=C1, signal=LONG)
    Bot.objects.filter(pk=paper_bot.pk).update(peak_equity=D(20000))
    with told(), at(C1 + 2 * HOUR), pytest.raises(RuntimeError), transaction.atomic():
        ticks.bot_tick(bot_id=paper_bot.pk, candle_open=C1 + HOUR, signal=NOTHING)
        raise RuntimeError("roll back")
    assert not Notification.objects.exists()


# --- a bot stopped by an error; failing keys -----------------------------------------------------------------


class Refusing:
    """An exchange whose every call raises ``exc``."""

    def __init__(self, exc):
        self.exc = exc

    def __getattr__(self, name):
        def call(*args, **kwargs):
            raise self.exc

        return call


def refusing(monkeypatch, exc):
    @contextmanager
    def session(account):
        yield Refusing(exc)

    monkeypatch.setattr(ticks, "exchange_session", session)


def test_a_bot_stopped_by_an_error_tells_the_error(paper_bot, alice, bob, monkeypatch, told):
    refusing(monkeypatch, errors.InsufficientFunds("paper: not enough USDT for the order"))
    with told(), at(C1 + HOUR):
        assert ticks.bot_tick(bot_id=paper_bot.pk, candle_open=C1, signal=LONG).outcome == "halted"
    row = Notification.objects.get(user=alice)
    assert (row.kind, row.severity, row.data["code"]) == ("bot_error", "critical", "insufficient_funds")
    assert row.title == "Bot ema eth stopped by an error"
    assert "not enough funds" in row.body and "Error: paper: not enough USDT for the order" in row.body
    assert not Notification.objects.filter(user=bob).exists()


def test_other_status_changes_stay_bot_status(paper_bot, alice, told):
    from trading.bots.services import bot_set_status

    with told():
        bot_set_status(bot=paper_bot, status=Bot.Status.PAUSED)
    assert kinds(alice) == ["bot_status"]


@pytest.fixture
def live(alice):
    account = ExchangeAccount.objects.create(user=alice, exchange="binance", label="Binance main")
    bots = [
        Bot.objects.create(
            user=alice,
            exchange_account=account,
            name=f"live {n}",
            strategy="ema_crossover",
            symbol="BTC/USDT",
            timeframe="1h",
            status=Bot.Status.RUNNING,
        )
        for n in range(3)
    ]
    return account, bots


def test_failing_keys_tell_once_an_hour_and_again_once_they_worked(live, alice, bob, monkeypatch, told):
    account, bots = live
    refusing(monkeypatch, errors.AuthenticationError("binance: Invalid API-key, IP, or permissions for action."))
    with told(), at(C1 + HOUR):
        for bot in bots[:2]:  # two bots of one account hit the same keys
            assert ticks.bot_tick(bot_id=bot.pk, candle_open=C1, signal=LONG).outcome == "halted"
    assert kinds(alice) == ["bot_error", "bot_error", "exchange_key_failing"]
    row = Notification.objects.get(kind="exchange_key_failing")
    assert row.severity == "critical" and row.data["account"] == account.pk and row.data["code"] == "keys_rejected"
    assert row.title == "The API keys of Binance main are failing" and "Invalid API-key" in row.body
    account.refresh_from_db()
    assert account.last_test_ok is False and account.last_test_detail["kind"] == "keys_rejected"
    # The keys work again (a connection test passed), then fail: told again at once.
    account_services.exchange_account_record_test(account=account, ok=True, message="ok", withdrawals_enabled=False)
    with told(), at(C1 + HOUR):
        ticks.bot_tick(bot_id=bots[2].pk, candle_open=C1, signal=LONG)
    assert Notification.objects.filter(kind="exchange_key_failing").count() == 2
    assert not Notification.objects.filter(user=bob).exists()


def test_reconciliation_tells_failing_keys_at_most_once_an_hour(live, alice, monkeypatch, told):
    from trading.reconciliation import services as reconciliation

    account, _bots = live
    Order.objects.create(
        user=alice, exchange_account=account, symbol="BTC/USDT", side="buy", type="limit", amount=D(1), price=D(1),
        purpose=Order.Purpose.ENTRY, source=Order.Source.MANUAL, status=Order.Status.OPEN, client_order_id="Trec",
    )  # fmt: skip

    @contextmanager
    def session(account):
        yield Refusing(errors.AuthenticationError("binance: Invalid API-key"))

    monkeypatch.setattr(reconciliation, "exchange_session", session)
    with told():
        for _ in range(5):  # every five minutes
            assert reconciliation.reconcile_account(account=account).error
    assert kinds(alice) == ["exchange_key_failing"]


def test_a_paper_account_has_no_keys_to_fail(paper_bot, alice, monkeypatch, told):
    refusing(monkeypatch, errors.AuthenticationError("paper: ?"))
    with told(), at(C1 + HOUR):
        ticks.bot_tick(bot_id=paper_bot.pk, candle_open=C1, signal=LONG)
    assert kinds(alice) == ["bot_error"]


# --- refused TradingView alerts ------------------------------------------------------------------------------


@pytest.fixture
def endpoint(account):
    return webhook_services.endpoint_create(user=account.user, exchange_account=account, name="TV")


def receive(created, now, secret=None, **fields):
    body = json.dumps(alert(secret or created.secret, time=..., **fields)).encode()
    return webhook_services.alert_receive(token=created.endpoint.token, body=body, remote_addr="203.0.113.9", now=now)


def test_refused_alerts_tell_the_owner_once_a_minute_with_a_count(endpoint, alice, bob, told):
    now = timezone.now().replace(second=5, microsecond=0)
    with told():
        for k in range(4):  # a flood with a wrong secret
            assert receive(endpoint, now + timedelta(seconds=k), secret="whs_wrong").status == 404
        assert receive(endpoint, now + timedelta(seconds=5), symbol="BINANCE:DOGEUSDT").status == 422
    row = Notification.objects.get(user=alice)
    assert (row.kind, row.severity, row.data["reason"], row.data["more"]) == ("webhook_rejected", "warning",
                                                                                "bad_secret", 0)  # fmt: skip
    assert row.data["webhook"] == endpoint.endpoint.pk and row.data["name"] == "TV"
    assert row.title == "TradingView alert refused by webhook “TV”" and "secret is wrong" in row.body
    with told():  # the next minute: one more, with the four not told of the minute before
        receive(endpoint, now + timedelta(seconds=60), symbol="BINANCE:DOGEUSDT")
        receive(endpoint, now + timedelta(seconds=61), symbol="BINANCE:DOGEUSDT")
    rows = list(Notification.objects.filter(user=alice).order_by("id"))
    assert len(rows) == 2 and (rows[1].data["reason"], rows[1].data["more"]) == ("unknown_symbol", 4)
    assert "4 more alerts were refused in the minute before." in rows[1].body
    assert not Notification.objects.filter(user=bob).exists()


def test_a_revoked_webhook_and_an_unknown_url_tell_nobody(endpoint, told):
    webhook_services.endpoint_revoke(endpoint=endpoint.endpoint)
    with told():
        assert receive(endpoint, timezone.now()).status == 404
        body = json.dumps(alert(endpoint.secret)).encode()
        assert webhook_services.alert_receive(token="nope", body=body, remote_addr="203.0.113.9").status == 404
    assert not Notification.objects.exists()


def test_a_refused_alert_in_a_rolled_back_transaction_tells_nothing(endpoint, told):
    with told(), pytest.raises(RuntimeError), transaction.atomic():
        receive(endpoint, timezone.now(), secret="whs_wrong")
        raise RuntimeError("roll back")
    assert not Notification.objects.exists()


# --- the daily summary and strategy drift --------------------------------------------------------------------


def test_the_daily_summary_tells_active_traders_once(account, alice, bob, charlie, told):
    with at(C1 + HOUR, "2000"):
        submit(account, "buy", "1", "Tdayopen")
    with at(C1 + 2 * HOUR, "2100"):
        submit(account, "sell", "1", "Tdayclose", reduce_only=True)
    for hour, equity in ((1, "10000"), (2, "10100"), (3, "9595"), (4, "10050")):
        EquitySnapshot.objects.create(exchange_account=account, time=C1 + hour * HOUR, balance=D(equity),
                                      equity=D(equity))  # fmt: skip
    idle = ExchangeAccount.objects.create(user=charlie, exchange="paper", label="idle", paper_balance=D(500))
    Bot.objects.create(user=charlie, exchange_account=idle, name="waiting", strategy="ema_crossover",
                       symbol="BTC/USDT", timeframe="1h", status=Bot.Status.RUNNING)  # fmt: skip
    ExchangeAccount.objects.create(user=bob, exchange="paper", label="unused", paper_balance=D(500))
    with told():
        assert daily.daily_summaries_send(now=C1 + 6 * HOUR) == 2
        assert daily.daily_summaries_send(now=C1 + 6 * HOUR) == 0  # the task ran twice: told once
    row = Notification.objects.get(user=alice)
    assert (row.kind, row.severity, row.data["trades"]) == ("daily_summary", "info", 2)
    pnl = sum(t.realized_pnl for t in account.trades.all())
    assert D(row.data["realized_pnl"]) == pnl > 0
    assert D(row.data["max_drawdown_pct"]) == D(5)  # 10100 → 9595
    assert [a["label"] for a in row.data["accounts"]] == ["paper"]
    assert row.title.startswith("Your last 24 hours: +") and "over 2 trades; largest drawdown 5.0%" in row.body
    quiet = Notification.objects.get(user=charlie)
    assert quiet.data["trades"] == 0 and quiet.data["max_drawdown_pct"] is None
    assert not Notification.objects.filter(user=bob).exists()


def test_a_daily_summary_in_a_rolled_back_transaction_tells_nothing(paper_bot, told):
    with told(), pytest.raises(RuntimeError), transaction.atomic():
        assert daily.daily_summaries_send(now=C1) == 1
        raise RuntimeError("roll back")
    assert not Notification.objects.exists()


def backtest(user, bot, win_rate: float, trades: int) -> BacktestRun:
    return BacktestRun.objects.create(
        user=user, strategy=bot.strategy, params=bot.params, exchange="binance", symbol=bot.symbol,
        timeframe=bot.timeframe, start=C1 - 100 * HOUR, end=C1, initial_capital=D(10000), fee_rate=D("0.001"),
        slippage_bps=D(5), leverage=1, position_size_pct=D(10), status=BacktestRun.Status.DONE,
        metrics={"win_rate_pct": win_rate, "trades": trades}, finished_at=timezone.now(),
    )  # fmt: skip


def closed_positions(bot, wins: int, losses: int) -> None:
    Position.objects.bulk_create(
        Position(
            user_id=bot.user_id,
            exchange_account=bot.exchange_account,
            bot=bot,
            symbol=bot.symbol,
            side="long",
            amount=D(0),
            entry_price=D(100),
            status=Position.Status.CLOSED,
            opened_at=C1,
            closed_at=C1 + HOUR,
            realized_pnl=D(5) if k < wins else D(-5),
        )
        for k in range(wins + losses)
    )


def test_a_bot_drifting_from_its_backtest_is_told_once_a_week(paper_bot, account, alice, bob, told):
    steady = Bot.objects.create(user=alice, exchange_account=account, name="steady", strategy="ema_crossover",
                                symbol="BTC/USDT", timeframe="1h", status=Bot.Status.RUNNING)  # fmt: skip
    backtest(alice, paper_bot, 60.0, 80)
    backtest(alice, steady, 55.0, 80)
    closed_positions(paper_bot, wins=3, losses=22)  # 12 % live against 60 %
    closed_positions(steady, wins=13, losses=12)  # 52 %: within the noise
    assert drift.z_score(3, 25, 60.0, 80) < -3 < drift.z_score(13, 25, 55.0, 80)
    with told():
        assert drift.strategy_drift_tell() == 1
        assert drift.strategy_drift_tell() == 0  # within the week
    row = Notification.objects.get(user=alice)
    assert (row.kind, row.severity, row.data["bot"], row.data["live_trades"]) == ("strategy_drift", "warning",
                                                                                    paper_bot.pk, 25)  # fmt: skip
    assert row.title == "Bot ema eth drifts from its backtest"
    assert "12.0% over 25 closed trades, against 60.0%" in row.body and "beyond 3" in row.body
    assert not Notification.objects.filter(user=bob).exists()


def test_too_few_trades_or_no_backtest_tell_no_drift(paper_bot, alice, told):
    closed_positions(paper_bot, wins=0, losses=19)
    backtest(alice, paper_bot, 60.0, 80)
    with told():
        assert drift.strategy_drift_tell() == 0
    closed_positions(paper_bot, wins=0, losses=5)
    BacktestRun.objects.all().delete()
    with told():
        assert drift.strategy_drift_tell() == 0
    assert not Notification.objects.exists()


# --- the marketplace -----------------------------------------------------------------------------------------


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(email="staff@example.com", password="x-1234567", is_staff=True)


def buy(user, listing):
    subscription, _url = subscriptions.subscription_start(user=user, listing_id=listing.id)
    return subscriptions.test_checkout_pay(user=user, subscription_id=subscription.id)


def test_a_sale_tells_the_creator(alice, bob, charlie, staff, told):
    listing = published(alice, staff, "SMA trend", tier="premium", price_usd=D("20.00"), billing="one_off")
    with told():
        buy(bob, listing)
    row = Notification.objects.get(kind="marketplace.sale")
    assert (row.user, row.severity, row.data["amount"], row.data["creator_amount"]) == (alice, "info", "20.00",
                                                                                         "14.00")  # fmt: skip
    assert row.title == "A sale of SMA trend" and row.body == "A trader paid 20.00 USD; your share is 14.00 USD."
    assert not Notification.objects.filter(user__in=[bob, charlie]).exists()


def test_a_rolled_back_payment_tells_no_sale(alice, bob, staff, told):
    listing = published(alice, staff, "SMA trend", tier="premium", price_usd=D("20.00"), billing="one_off")
    with told(), pytest.raises(RuntimeError), transaction.atomic():
        buy(bob, listing)
        raise RuntimeError("roll back")
    assert not Notification.objects.exists()


def test_a_subscription_that_will_not_renew_is_told_a_few_days_before_it_ends(alice, bob, staff, told):
    listing = published(alice, staff, "SMA trend", tier="pro", price_usd=D("30.00"), billing="monthly")
    renewing = buy(bob, listing)
    with told():
        assert subscriptions.subscriptions_ending_tell(renewing.expires_at - timedelta(days=2)) == 0  # it renews
    subscriptions.subscription_cancel(user=bob, subscription_id=renewing.id)
    ends = renewing.expires_at
    with told():
        assert subscriptions.subscriptions_ending_tell(ends - timedelta(days=5)) == 0  # not yet
        assert subscriptions.subscriptions_expire(now=ends - timedelta(days=2))["ending"] == 1
        assert subscriptions.subscriptions_ending_tell(ends - timedelta(days=1)) == 0  # told already
    row = Notification.objects.get(kind="marketplace.subscription_ending")
    assert (row.user, row.severity, row.data["subscription"]) == (bob, "warning", str(renewing.id))
    assert row.title == "Your subscription to SMA trend ends soon" and "does not renew" in row.body
    assert not Notification.objects.filter(user=alice, kind="marketplace.subscription_ending").exists()


# --- every new kind reads in both languages ------------------------------------------------------------------


NEW = {
    "position_liquidated": {"symbol": "ETH/USDT", "amount": "5", "price": "1600", "realized_pnl": "-2000"},
    "position_force_closed": {"symbol": "ETH/USDT", "amount": "5", "price": "1900", "realized_pnl": "-50"},
    "drawdown_halt": {"bot": 3, "name": "b", "code": "daily_loss", "loss": "3.2", "limit": "3"},
    "bot_error": {"bot": 3, "code": "strategy_failed", "error": "x"},
    "exchange_key_failing": {"account": 1, "label": "main", "exchange": "Binance", "error": "denied"},
    "webhook_rejected": {"webhook": 1, "name": "TV", "reason": "router", "message": "Too big.", "more": 1},
    "daily_summary": {"realized_pnl": "-3.5", "trades": 1, "max_drawdown_pct": None, "accounts": []},
    "strategy_drift": {"bot": 3, "live_win_rate_pct": 10, "live_trades": 30, "backtest_win_rate_pct": 55, "z": -4},
    "marketplace.subscription_ending": {"listing_name": "L", "expires_at": "2024-01-05T00:00:00+00:00"},
    "marketplace.sale": {"listing_name": "L", "amount": "20.00", "creator_amount": "14.00"},
}


@pytest.mark.parametrize("kind", sorted(NEW))
def test_each_new_kind_is_registered_and_reads(kind):
    assert kind in catalog.KINDS
    title, body = catalog.render(kind, NEW[kind])
    assert title and body and "Notification:" not in title
    with translation.override("ko"):
        assert all(catalog.render(kind, NEW[kind]))
