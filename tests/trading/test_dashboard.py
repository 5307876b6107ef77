"""The dashboard: figures from the trader's own rows only, its parts refresh on their own, the empty state
leads to connecting an exchange, and the number of queries does not grow with positions or trades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse

from accounts.models import ExchangeAccount
from market_data.services import candles_import_csv
from tests.strategies.conftest import BTC_1H
from trading import clock
from trading.models import Bot, EquitySnapshot, Order, Position, Trade

pytestmark = pytest.mark.django_db
URL = reverse("trading:dashboard")
NOW = datetime(2024, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def pinned():
    with clock.pinned(clock.Pin(time=NOW, price=lambda exchange, symbol: D(60_000))):
        yield


def _book(user, *, positions=2, closed=3, label="Paper"):
    account = ExchangeAccount.objects.create(user=user, exchange="paper", label=label, paper_balance=D(10_000))
    bot = Bot.objects.create(
        user=user, exchange_account=account, name=f"{label} bot", strategy="ema_crossover", symbol="BTC/USDT",
        timeframe="1h", status=Bot.Status.RUNNING,
    )  # fmt: skip
    for k in range(closed):
        pnl = D(50) if k % 3 else D(-20)
        p = Position.objects.create(
            user=user, exchange_account=account, bot=bot, symbol="BTC/USDT", side="long", amount=D("0.01"),
            entry_price=D(60_000), status="closed", realized_pnl=pnl, opened_at=NOW - timedelta(hours=k + 2),
            closed_at=NOW - timedelta(hours=k + 1), exit_price=D(61_000),
        )  # fmt: skip
        order = Order.objects.create(
            user=user, exchange_account=account, bot=bot, position=p, symbol="BTC/USDT", side="sell", type="market",
            purpose="exit", amount=D("0.01"), client_order_id=f"{label}{k}", status="filled",
        )  # fmt: skip
        Trade.objects.create(
            user=user, exchange_account=account, order=order, position=p, bot=bot, symbol="BTC/USDT", side="sell",
            amount=D("0.01"), price=D(61_000), realized_pnl=pnl, time=NOW - timedelta(hours=k + 1),
        )  # fmt: skip
    for k in range(positions):
        Position.objects.create(
            user=user, exchange_account=account, bot=bot, symbol=f"X{k}/USDT", side="long", amount=D(1),
            entry_price=D(100), mark_price=D(110), opened_at=NOW,
        )  # fmt: skip
    EquitySnapshot.objects.create(
        exchange_account=account, time=NOW - timedelta(hours=2), balance=D(10_000), equity=D(10_500)
    )
    EquitySnapshot.objects.create(
        exchange_account=account, time=NOW - timedelta(hours=1), balance=D(10_000), equity=D(10_290)
    )
    return account


def test_the_empty_dashboard_leads_to_connecting_an_exchange(alice_client):
    page = alice_client.get(URL)
    assert page.status_code == 200
    assert reverse("onboarding:start").encode() in page.content
    assert b"Connect an exchange" in page.content


def test_home_sends_a_signed_in_trader_to_the_dashboard(alice_client):
    from django.test import Client

    assert alice_client.get("/").url == URL
    assert Client().get("/").status_code == 200


def test_figures_come_from_the_traders_own_rows(alice, bob, alice_client, pinned):
    candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    _book(alice)
    _book(bob, positions=5, closed=9, label="Bob paper")
    page = alice_client.get(URL)
    assert page.status_code == 200
    stats = page.context["stats"]
    assert stats.closed_trades == 3 and stats.wins == 2 and stats.realized_pnl == D(80)
    assert stats.unrealized_pnl == D(20) and stats.open_positions == 2
    assert stats.drawdown_pct == D(2)  # 10,290 against a peak of 10,500
    assert b"Bob paper" not in page.content
    analysis = page.context["analysis"]
    assert len(analysis.views) == 6 and analysis.candle_open == NOW - timedelta(hours=1)
    market = page.context["charts"]["market"]
    assert len(market["candles"]["candles"]) == 300 and len(market["markers"]) == 3
    assert [o["name"] for o in market["overlays"]]  # the bot's EMA lines


@pytest.mark.parametrize("part", ["stats", "positions", "activity", "analysis"])
def test_parts_refresh_alone(alice, alice_client, pinned, part):
    _book(alice)
    response = alice_client.get(URL, {"part": part}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content


def test_queries_do_not_grow_with_positions_and_trades(alice, alice_client, pinned, django_assert_max_num_queries):
    _book(alice, positions=2, closed=2)
    with django_assert_max_num_queries(40) as small:
        alice_client.get(URL)
    _book(alice, positions=60, closed=60, label="Second")
    with django_assert_max_num_queries(len(small.captured_queries) + 8):  # a second account adds a few, not 120
        alice_client.get(URL)


@pytest.mark.parametrize("part", ["stats", "positions", "activity", "analysis"])
def test_each_parts_queries_do_not_grow(alice, alice_client, pinned, django_assert_max_num_queries, part):
    _book(alice, positions=2, closed=2)
    with django_assert_max_num_queries(20) as small:
        alice_client.get(URL, {"part": part}, HTTP_HX_REQUEST="true")
    _book(alice, positions=60, closed=60, label="Second")
    with django_assert_max_num_queries(len(small.captured_queries) + 4):
        alice_client.get(URL, {"part": part}, HTTP_HX_REQUEST="true")


def test_the_apps_dashboard_stats_are_the_pages_figures(alice, bob, alice_api, api_client, pinned):
    account = _book(alice)
    _book(bob, positions=5, closed=9, label="Bob paper")
    assert api_client.get("/api/v1/dashboard/stats").status_code == 401
    response = alice_api.get("/api/v1/dashboard/stats")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [b["label"] for b in body["balances"]] == ["Paper"] and body["balances"][0]["account_id"] == account.pk
    assert D(body["balances"][0]["total"]) == D(10_000) and body["balances"][0]["as_of"] is None  # paper: live
    assert D(body["realized_pnl"]) == D(80) and D(body["unrealized_pnl"]) == D(20) and D(body["total_pnl"]) == D(100)
    assert body["closed_trades"] == 3 and body["wins"] == 2 and D(body["win_rate_pct"]) == D("66.67")
    assert body["open_positions"] == 2 and D(body["drawdown_pct"]) == D(2)
    assert body["running_bots"] == 1 and body["bots"] == 1 and body["auto_trading"] is True
    # today: from midnight in the user's zone on the market clock (the pin: 2024-03-10 12:00 UTC): the 3 trades closed
    assert body["today_from"] == "2024-03-10T00:00:00Z" and D(body["today_pnl"]) == D(80) + D(20)
