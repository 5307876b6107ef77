"""Events into notifications: delivered on commit only, from the trading services that own them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from accounts import events
from accounts.models import ExchangeAccount, RiskProfile
from notifications import catalog
from notifications.models import Notification
from tests.trading.conftest import list_paper_markets
from trading import clock
from trading.exchanges.base import OrderRequest
from trading.exchanges.errors import InsufficientFunds
from trading.execution import orders as order_services
from trading.execution.adapters import paper_session
from trading.execution.records import notify
from trading.models import Order

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
C1 = datetime(2024, 1, 1, 10, tzinfo=UTC)


def at(price: str):
    return clock.pinned(clock.Pin(time=C1 + HOUR, price=lambda exchange, symbol: D(price)))


@pytest.fixture
def account(alice):
    list_paper_markets(("BTC/USDT", "ETH/USDT"), C1)
    RiskProfile.objects.update_or_create(user=alice, defaults={"leverage": 10, "position_size_pct": D(20)})
    return ExchangeAccount.objects.create(user=alice, exchange="paper", label="paper", paper_balance=D(10000))


def submit(account, side: str, amount: str, client_id: str, **kwargs) -> Order:
    with paper_session(account) as exchange:
        return order_services.order_submit(
            exchange=exchange,
            account=account,
            request=OrderRequest(
                symbol="ETH/USDT", side=side, type="market", amount=D(amount), client_order_id=client_id, **kwargs
            ),
            purpose=Order.Purpose.ENTRY,
            source=Order.Source.MANUAL,
        )


def test_an_event_in_a_rolled_back_transaction_never_arrives(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        events.emit(alice, "order_filled", symbol="BTC/USDT")
        raise RuntimeError("roll back")
    assert not Notification.objects.exists()


def test_an_event_arrives_once_committed(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        events.emit(alice, "auto_trading", enabled=True)
        assert not Notification.objects.exists()  # not before the commit
    assert len(callbacks) == 1  # the event (alice has no channel outside Trendy: no task to plan messages)
    row = Notification.objects.get()
    assert (row.user, row.kind, row.severity, row.data, row.read_at) == (
        alice,
        "auto_trading",
        "info",
        {"enabled": True},
        None,
    )
    assert row.title == "Auto-trading turned on"


def test_notify_still_logs_and_now_emits(alice, caplog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), caplog.at_level("INFO"):
        notify(alice, "stop_loss", position=7)
    assert "trading event stop_loss" in caplog.text
    row = Notification.objects.get(user=alice)
    assert (row.kind, row.severity, row.title) == ("stop_loss", "warning", "Stop loss triggered on position #7")


def test_a_paper_fill_tells_its_owner_only(account, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), at("2000"):
        order = submit(account, "buy", "1.5", "Tnotiffill")
    assert order.status == Order.Status.FILLED
    row = Notification.objects.get(kind="order_filled")
    assert row.user_id == account.user_id
    assert not Notification.objects.filter(user=bob).exists()
    assert row.data["symbol"] == "ETH/USDT" and row.data["side"] == "buy" and D(row.data["amount"]) == D("1.5")
    assert row.data["realized_pnl"] is None
    assert row.title == "Buy ETH/USDT filled"
    assert row.body == "Buy 1.5 ETH at 2,001.00 USDT."  # 2000 × 1.0005 slippage


def test_closing_fill_carries_its_realised_pnl(account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with at("2000"):
            submit(account, "buy", "1", "Tnotifopen")
        with at("2100"):
            submit(account, "sell", "1", "Tnotifclose", reduce_only=True)
    closing = Notification.objects.filter(kind="order_filled").order_by("-id").first()
    assert D(closing.data["realized_pnl"]) > 0
    assert "Realised PnL: +" in closing.body


def test_a_stop_loss_fill_reads_as_sl_hit(account, django_capture_on_commit_callbacks):
    from trading.execution.fills import fill_record

    with django_capture_on_commit_callbacks(execute=True), at("2000"):
        submit(account, "buy", "1", "Tnotifslopen")
        stop = Order.objects.create(
            user=account.user, exchange_account=account, symbol="ETH/USDT", side="sell", type="market",
            purpose=Order.Purpose.STOP_LOSS, source=Order.Source.SYSTEM, amount=D(1), reduce_only=True,
            client_order_id="Tnotifsl",
        )  # fmt: skip
        fill_record(order=stop, price=D(1900), amount=D(1), fee=D(0), time=C1 + HOUR, reason="stop_loss")
    row = Notification.objects.get(kind="stop_loss_hit")
    assert row.severity == "warning" and row.title == "Stop loss hit on ETH/USDT"
    assert D(row.data["realized_pnl"]) < 0
    assert not Notification.objects.filter(kind="order_filled", data__order=stop.pk).exists()


def test_a_take_profit_fill_reads_as_tp_hit(account, django_capture_on_commit_callbacks):
    from trading.execution.fills import fill_record

    with django_capture_on_commit_callbacks(execute=True), at("2000"):
        submit(account, "buy", "1", "Tnotiftpopen")
        tp = Order.objects.create(
            user=account.user, exchange_account=account, symbol="ETH/USDT", side="sell", type="limit",
            purpose=Order.Purpose.TAKE_PROFIT, source=Order.Source.SYSTEM, amount=D(1), reduce_only=True,
            client_order_id="Tnotiftp",
        )  # fmt: skip
        fill_record(order=tp, price=D(2200), amount=D(1), fee=D(0), time=C1 + HOUR, reason="take_profit")
    assert Notification.objects.get(kind="take_profit_hit").title == "Take profit hit on ETH/USDT"


def test_fill_record_adds_no_query_for_the_event(account, django_capture_on_commit_callbacks):
    """The event costs no query inside fill_record (the listener's one INSERT runs on commit)."""
    from trading.execution.fills import fill_record

    with at("2000"):
        submit(account, "buy", "1", "Tnotifq")
    stop = Order.objects.create(
        user=account.user, exchange_account=account, symbol="ETH/USDT", side="sell", type="market",
        purpose=Order.Purpose.STOP_LOSS, source=Order.Source.SYSTEM, amount=D(1), reduce_only=True,
        client_order_id="Tnotifq2",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False) as callbacks, CaptureQueriesContext(connection) as queries:
        fill_record(order=stop, price=D(1900), amount=D(1), fee=D(0), time=C1 + HOUR, reason="stop_loss")
    assert not any("notifications_notification" in q["sql"] for q in queries.captured_queries)
    # the event's INSERT, on commit (beside it, the fill's count on /metrics: trading_site.metrics.filled)
    assert [c.__qualname__.split(".")[0] for c in callbacks] == ["filled", "emit"]


def test_a_rejected_order_tells_its_owner(account, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), at("2000"), pytest.raises(InsufficientFunds):
        submit(account, "buy", "100", "Tnotifreject")  # 100 × 2001 / 10 margin > 10000
    row = Notification.objects.get(kind="order_rejected")
    assert row.user_id == account.user_id and row.severity == "warning"
    assert row.title == "Buy ETH/USDT rejected"
    assert "Insufficient balance" in row.body
    assert Order.objects.get(client_order_id="Tnotifreject").status == Order.Status.REJECTED
    assert not Notification.objects.filter(user=bob).exists()


def test_an_unknown_kind_is_stored_with_a_generic_title(alice, caplog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), caplog.at_level("WARNING"):
        events.emit(alice, "something.new", value=D("1.5"), at=C1)
    row = Notification.objects.get()
    assert row.kind == "something.new" and row.severity == "info"
    assert row.data == {"value": "1.5", "at": C1.isoformat()}
    assert row.title == "Notification: something.new" and row.body == ""
    assert "unknown notification kind" in caplog.text


def test_a_failing_listener_never_reaches_the_emitter(alice, django_capture_on_commit_callbacks):
    def broken(event):
        raise ValueError("boom")

    events.listen(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            events.emit(alice, "auto_trading", enabled=False)
    finally:
        events.unlisten(broken)
    assert Notification.objects.get().kind == "auto_trading"


def test_bad_data_renders_the_generic_title():
    title, _body = catalog.render("order_filled", {"symbol": object(), "amount": "x"})
    assert title  # never raises


@pytest.mark.parametrize("kind", sorted(catalog.KINDS))
def test_every_kind_renders_in_english_and_korean(kind):
    data = {
        "symbol": "BTC/USDT", "side": "sell", "amount": "0.5", "price": "50000", "realized_pnl": "-12.5",
        "reason": "stop_loss", "bot": 3, "status": "halted", "enabled": True, "sizes": {"3": "10"},
        "position": 9, "detail": "amount 1 → 0.5", "subscription": "x", "listing": "y", "version": 2,
    }  # fmt: skip
    title, _body = catalog.render(kind, data)
    assert title and "Notification:" not in title
    assert catalog.severity(kind) in catalog.SEVERITIES
    with translation.override("ko"):
        ko_title, _ = catalog.render(kind, data)
        assert ko_title
        assert str(catalog.label(kind))
