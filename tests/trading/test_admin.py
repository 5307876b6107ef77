"""Staff see trading records read-only; bot actions go through the services."""

from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ExchangeAccount
from trading.models import Bot, Order, OrderEvent, Position, Trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(alice):
    account = ExchangeAccount.objects.create(user=alice, exchange="paper", label="Paper", paper_balance=D(10_000))
    bot = Bot.objects.create(
        user=alice, exchange_account=account, name="b", strategy="supertrend", symbol="BTC/USDT", timeframe="1h",
        status=Bot.Status.RUNNING,
    )  # fmt: skip
    now = timezone.now()
    position = Position.objects.create(
        user=alice, exchange_account=account, bot=bot, symbol="BTC/USDT", side="long", amount=D("0.1"),
        entry_price=D(50_000), opened_at=now,
    )  # fmt: skip
    order = Order.objects.create(
        user=alice, exchange_account=account, bot=bot, position=position, symbol="BTC/USDT", side="buy",
        type="market", purpose="entry", amount=D("0.1"), client_order_id="T1", status="filled",
    )  # fmt: skip
    OrderEvent.objects.create(order=order, kind="filled")
    Trade.objects.create(
        user=alice, exchange_account=account, order=order, position=position, bot=bot, symbol="BTC/USDT",
        side="buy", amount=D("0.1"), price=D(50_000), time=now,
    )  # fmt: skip
    return bot, order


def test_staff_pages_render_read_only(admin_client, records):
    _bot, order = records
    for model in ("bot", "order", "position", "trade", "paperwallet", "marketclock"):
        response = admin_client.get(reverse(f"admin:trading_{model}_changelist"))
        assert response.status_code == 200, model
    page = admin_client.get(reverse("admin:trading_order_change", args=[order.pk]))
    assert page.status_code == 200 and b"filled" in page.content
    assert admin_client.get(reverse("admin:trading_order_add")).status_code == 403


def test_staff_pause_goes_through_the_service(admin_client, records):
    bot, _order = records
    response = admin_client.post(
        reverse("admin:trading_bot_changelist"), {"action": "pause_bots", "_selected_action": [bot.pk]}, follow=True
    )
    assert response.status_code == 200
    bot.refresh_from_db()
    assert bot.status == Bot.Status.PAUSED and "staff" in bot.status_reason


def test_order_events_are_append_only(records):
    _bot, order = records
    event = order.events.first()
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
