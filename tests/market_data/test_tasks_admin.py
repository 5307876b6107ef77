"""The beat task that keeps TRENDY_MARKET_FEEDS up to date, and the read-only admin."""

from __future__ import annotations

import time

import pytest

from market_data.exceptions import InvalidMarket, MarketDataUnavailable
from market_data.models import Candle
from market_data.services import candles_import_csv
from market_data.tasks import fetch_market_feeds, parse_feeds
from tests.factories import UserFactory
from tests.market_data.conftest import BTC_1D, kline_rows

pytestmark = pytest.mark.django_db

HOUR = 3_600_000


def test_parse_feeds():
    assert parse_feeds(["binance:BTC/USDT:1h", "okx:ETH/USDT:4h"]) == [
        ("binance", "BTC/USDT", "1h"),
        ("okx", "ETH/USDT", "4h"),
    ]
    with pytest.raises(InvalidMarket, match="must look like binance:BTC/USDT:1h"):
        parse_feeds(["binance:BTCUSDT"])


def test_fetch_market_feeds_resumes_each_feed(settings, fake_binance, btc_1h_lines):
    settings.TRENDY_MARKET_FEEDS = ["binance:BTC/USDT:1h"]
    last_closed = int(time.time() * 1000) // HOUR * HOUR - HOUR
    rows = [[last_closed - (9 - i) * HOUR, *row[1:]] for i, row in enumerate(kline_rows(btc_1h_lines[:10]))]
    fake_binance.klines["BTCUSDT"] = rows
    assert fetch_market_feeds(api_url=fake_binance.url) == {"binance:BTC/USDT:1h": 10}
    first_run = len(fake_binance.kline_requests())
    assert fetch_market_feeds(api_url=fake_binance.url) == {"binance:BTC/USDT:1h": 0}
    # The second run starts at the last stored candle (it may have changed since).
    assert int(fake_binance.kline_requests()[first_run]["startTime"]) == rows[-1][0]
    assert Candle.objects.count() == 10


def test_fetch_market_feeds_raises_when_unreachable(settings, closed_port_url):
    settings.TRENDY_MARKET_FEEDS = ["binance:BTC/USDT:1h"]
    with pytest.raises(MarketDataUnavailable):
        fetch_market_feeds(api_url=closed_port_url)


def test_admin_lists_candles_read_only(client):
    candles_import_csv(path=BTC_1D, exchange="binance", symbol="BTC/USDT", timeframe="1d")
    client.force_login(UserFactory(email="staff@example.com", is_staff=True, is_superuser=True))
    response = client.get("/admin/market_data/candle/")
    assert response.status_code == 200
    assert "BTC/USDT" in response.content.decode()
    candle = Candle.objects.first()
    assert client.get(f"/admin/market_data/candle/{candle.pk}/change/").status_code == 200
    assert client.get("/admin/market_data/candle/add/").status_code == 403
    assert client.post(f"/admin/market_data/candle/{candle.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Candle.objects.filter(pk=candle.pk).exists()
