"""Staff pick a candle series in one cheap query, and see only its candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from market_data.admin import stored_series
from market_data.models import Candle

pytestmark = pytest.mark.django_db


@pytest.fixture
def candles(db):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    Candle.objects.bulk_create(
        Candle(exchange=ex, symbol=sym, timeframe=tf, open_time=start + timedelta(hours=k), open=1, high=2, low=1,
               close=2, volume=1)
        for ex, sym, tf in [("binance", "BTC/USDT", "1h"), ("binance", "BTC/USDT", "1d"), ("okx", "ETH/USDT", "1h"),
                            ("binance", "ETH/USDT", "1h")]
        for k in range(5)
    )  # fmt: skip


def test_stored_series_are_each_series_once_sorted(candles):
    assert stored_series() == [
        ("binance", "BTC/USDT", "1d"),
        ("binance", "BTC/USDT", "1h"),
        ("binance", "ETH/USDT", "1h"),
        ("okx", "ETH/USDT", "1h"),
    ]


def test_stored_series_of_no_candles():
    assert stored_series() == []


def test_series_filter_shows_one_series(admin_client, candles):
    url = reverse("admin:market_data_candle_changelist")
    html = admin_client.get(url).content.decode()
    assert "?series=okx%7CETH%2FUSDT%7C1h" in html and "okx ETH/USDT 1h" in html
    response = admin_client.get(url, {"series": "okx|ETH/USDT|1h"})
    assert response.status_code == 200
    shown = response.context["cl"].queryset
    assert shown.count() == 5 and set(shown.values_list("exchange", flat=True)) == {"okx"}
    # A malformed value is the admin's "bad lookup" redirect, not an error page.
    assert admin_client.get(url, {"series": "okx"})["Location"].endswith("?e=1")
