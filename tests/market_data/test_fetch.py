"""ccxt fetch against a fake Binance on 127.0.0.1: pagination, resume, closed candles only, errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pytest

from market_data import ccxt_client
from market_data.exceptions import ExchangeDataError, InvalidMarket, MarketDataUnavailable, UnknownSymbol
from market_data.models import Candle
from market_data.selectors import load_candles
from market_data.services import candles_fetch, candles_import_csv
from tests.market_data.conftest import kline_rows, write_csv

pytestmark = pytest.mark.django_db

HOUR = 3_600_000


def _fetch(fake, **kwargs):
    kwargs.setdefault("exchange", "binance")
    kwargs.setdefault("symbol", "BTC/USDT")
    kwargs.setdefault("timeframe", "1h")
    return candles_fetch(api_url=fake.url, **kwargs)


def test_pages_through_2500_candles_1000_at_a_time(fake_binance, btc_1h_lines):
    rows = kline_rows(btc_1h_lines[:2500])
    fake_binance.klines["BTCUSDT"] = rows
    report = _fetch(fake_binance, since=rows[0][0])

    assert (report.requests, report.received, report.inserted, report.updated) == (4, 2500, 2500, 0)
    assert report.skipped_open == 0 and not report.resumed
    assert report.first_open_time == datetime(2020, 9, 20, tzinfo=UTC)
    starts = [int(params["startTime"]) for params in fake_binance.kline_requests()]
    assert starts == [rows[0][0], rows[999][0] + HOUR, rows[1999][0] + HOUR, rows[2499][0] + HOUR]
    assert {params["limit"] for params in fake_binance.kline_requests()} == {"1000"}
    # Spot markets only: nothing but exchangeInfo and klines was asked for.
    assert {path for path, _params in fake_binance.requests} == {"/api/v3/exchangeInfo", "/api/v3/klines"}

    frame = load_candles("binance", "BTC/USDT", "1h")
    assert len(frame) == 2500
    np.testing.assert_array_equal(frame.to_numpy(), np.array(rows)[:, 1:])

    again = _fetch(fake_binance, since=rows[0][0])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2500)


def test_resumes_from_the_last_stored_candle_and_updates_it(tmp_path, fake_binance, btc_1h_lines):
    candles_import_csv(
        path=write_csv(tmp_path / "first.csv", btc_1h_lines[:1000]),
        exchange="binance",
        symbol="BTCUSDT",
        timeframe="1h",
    )
    rows = kline_rows(btc_1h_lines[:2500])
    rows[999][4] = rows[999][3]  # the last stored candle closed at its low in the end
    fake_binance.klines["BTCUSDT"] = rows

    report = _fetch(fake_binance)
    assert report.resumed
    assert int(fake_binance.kline_requests()[0]["startTime"]) == rows[999][0]
    assert (report.inserted, report.updated, report.unchanged) == (1500, 1, 0)
    assert Candle.objects.count() == 2500
    assert Candle.objects.get(open_time=report.since).close == rows[999][3]


def test_only_closed_candles_are_stored(fake_binance, btc_1h_lines):
    rows = kline_rows(btc_1h_lines[-10:])
    now_ms = int(time.time() * 1000)
    forming = now_ms // HOUR * HOUR
    rows.append([forming, *rows[-1][1:]])
    fake_binance.klines["BTCUSDT"] = rows

    report = _fetch(fake_binance, since=rows[0][0])
    assert (report.inserted, report.skipped_open, report.requests) == (10, 1, 1)
    assert report.last_open_time == datetime(2024, 12, 31, 23, tzinfo=UTC)
    assert not Candle.objects.filter(open_time__gte=datetime(2025, 1, 1, tzinfo=UTC)).exists()


def test_until_is_exclusive(fake_binance, btc_1h_lines):
    rows = kline_rows(btc_1h_lines[:100])
    fake_binance.klines["BTCUSDT"] = rows
    report = _fetch(fake_binance, since="2020-09-20", until="2020-09-21")
    assert report.inserted == 24
    assert Candle.objects.count() == 24


def test_empty_series_without_since_takes_the_latest_page(fake_binance, btc_1h_lines):
    fake_binance.klines["BTCUSDT"] = kline_rows(btc_1h_lines[-50:])
    report = _fetch(fake_binance, now=datetime(2025, 1, 1, tzinfo=UTC), limit=30)
    assert int(fake_binance.kline_requests()[0]["startTime"]) == int(
        datetime(2024, 12, 30, 18, tzinfo=UTC).timestamp() * 1000
    )
    assert report.inserted == 30


def test_unreachable_exchange(closed_port_url, db):
    with pytest.raises(MarketDataUnavailable) as caught:
        candles_fetch(exchange="binance", symbol="BTC/USDT", timeframe="1h", api_url=closed_port_url)
    message = str(caught.value)
    assert message.startswith("Cannot reach binance: ")
    assert "refused" in message.lower()
    assert "\n" not in message


def test_exchange_errors_are_translated(fake_binance):
    fake_binance.fail_status = 503
    with pytest.raises(MarketDataUnavailable, match=r"^Cannot reach binance"):
        _fetch(fake_binance)
    fake_binance.fail_status = None
    with pytest.raises(UnknownSymbol, match="binance does not list the market DOGE/USDT"):
        _fetch(fake_binance, symbol="DOGEUSDT")


def test_invalid_candles_from_the_exchange_are_not_stored(fake_binance, btc_1h_lines):
    rows = kline_rows(btc_1h_lines[:5])
    rows[2][2] = rows[2][3] / 2  # high below low
    fake_binance.klines["BTCUSDT"] = rows
    with pytest.raises(
        ExchangeDataError, match=r"invalid BTC/USDT candle at 2020-09-20T02:00:00Z: high .* is below low"
    ):
        _fetch(fake_binance, since=rows[0][0])
    assert Candle.objects.count() == 0


def test_injected_client_and_bad_arguments(db):
    class Client:
        def __init__(self):
            self.calls = []

        def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
            self.calls.append((symbol, timeframe, since, limit))
            return [] if len(self.calls) > 1 else [[since, 1.0, 2.0, 0.5, 1.5, 10.0]]

    client = Client()
    report = candles_fetch(exchange="binance", symbol="ETHUSDT", timeframe="1d", since="2024-01-01", client=client)
    assert report.inserted == 1
    assert client.calls[0][:2] == ("ETH/USDT", "1d")
    with pytest.raises(InvalidMarket):
        candles_fetch(exchange="binance", symbol="ETH/USDT", timeframe="1w", client=client)


def test_make_client_points_every_api_url_at_the_base():
    client = ccxt_client.make_client("binance", api_url="http://127.0.0.1:9/prefix")
    urls = list(client.urls["api"].values())
    assert urls and all(url.startswith("http://127.0.0.1:9/prefix/") for url in urls)
    assert client.urls["api"]["public"] == "http://127.0.0.1:9/prefix/api/v3"
    assert client.options["fetchMarkets"]["types"] == ["spot"]
    assert client.enableRateLimit and client.timeout == ccxt_client.TIMEOUT_MS
    with pytest.raises(InvalidMarket):
        ccxt_client.make_client("nosuchexchange")
    with pytest.raises(InvalidMarket):
        ccxt_client.make_client("binance", api_url="ftp://x")
