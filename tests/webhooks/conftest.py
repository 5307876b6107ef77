"""Webhook fixtures: a paper account with BTC/USDT and ETH/USDT listed, an endpoint, and a sender."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from accounts.models import ExchangeAccount, RiskProfile
from market_data.models import Candle
from trading import clock
from webhooks import services

HOUR = timedelta(hours=1)


@pytest.fixture
def listed(db):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    Candle.objects.bulk_create(
        Candle(
            exchange="binance",
            symbol=s,
            timeframe="1h",
            open_time=start + HOUR * k,
            open=p,
            high=p,
            low=p,
            close=p,
            volume=1,
        )
        for s, p in (("BTC/USDT", 50_000.0), ("ETH/USDT", 3_000.0))
        for k in range(3)
    )


@pytest.fixture
def paper(alice, listed):
    RiskProfile.objects.update_or_create(user=alice, defaults={"leverage": 3, "position_size_pct": D(10)})
    return ExchangeAccount.objects.create(user=alice, exchange="paper", label="Paper", paper_balance=D(10_000))


@pytest.fixture
def endpoint(alice, paper):
    return services.endpoint_create(user=alice, exchange_account=paper, name="TV")


@pytest.fixture
def prices():
    """Every market trades at 50,000 (BTC) / 3,000 (ETH) while a test sends alerts."""
    table = {"BTC/USDT": D(50_000), "ETH/USDT": D(3_000)}
    with clock.pinned(clock.Pin(time=timezone.now(), price=lambda exchange, symbol: table[symbol.split(":")[0]])):
        yield table


def alert(secret: str, **fields) -> dict:
    """TradingView's shape with the {{…}} placeholders filled, as the alert would send it."""
    body = {
        "secret": secret,
        "action": "buy",
        "symbol": "BINANCE:BTCUSDT",
        "exchange": "BINANCE",
        "price": "50000.0",
        "position": "long",
        "size": "0.02",
        "order_id": "Long",
        "time": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    def post(endpoint, body, *, content_type="application/json", raw: bytes | None = None, **extra):
        data = raw if raw is not None else json.dumps(body)
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", endpoint.path, data, content_type=content_type, **extra)

    return post


# --- the Webhooks pages and API (test_views, test_api, test_admin) ------------------------------------------


@pytest.fixture
def bob_client(bob):
    from django.test import Client

    other = Client()
    other.force_login(bob)
    return other


@pytest.fixture
def real_account(alice):
    """A real-exchange account (no network is touched: nothing here trades on it)."""
    return ExchangeAccount.objects.create(user=alice, exchange="binance", label="Binance main")


@pytest.fixture
def live_endpoint(alice, real_account):
    return services.endpoint_create(user=alice, exchange_account=real_account, name="Live TV", live=True)


@pytest.fixture
def alice_bot(alice, paper):
    from trading.models import Bot

    return Bot.objects.create(
        user=alice, exchange_account=paper, name="Alice EMA", strategy="ema_crossover", params={"fast": 9},
        symbol="BTC/USDT", timeframe="1h",
    )  # fmt: skip


def make_event(endpoint, **fields):
    """An event row as the receiver stores it (no request); on the live clock its market time is the time it
    was received."""
    from webhooks.models import WebhookEvent

    values = {
        "outcome": "rejected",
        "reason": "stale",
        "message": "Too old.",
        "details": {"age": 75, "max_age": 60},
        "symbol": "BTC/USDT",
        "action": "buy",
    }
    values.update(fields)
    if "received_at" in values and "market_time" not in values:
        values["market_time"] = values["received_at"]
    return WebhookEvent.objects.create(endpoint=endpoint, **values)
