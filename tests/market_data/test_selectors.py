"""load_candles and series_list on stored candles."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from market_data.exceptions import InvalidMarket
from market_data.selectors import load_candles, series_list
from market_data.services import candles_import_csv
from tests.market_data.conftest import BTC_1D, BTC_1H, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def btc_daily():
    candles_import_csv(path=BTC_1D, exchange="binance", symbol="BTC/USDT", timeframe="1d")


def test_frame_shape_dtypes_and_index(btc_daily):
    frame = load_candles("binance", "BTC/USDT", "1d")
    assert frame.shape == (1564, 5)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "open_time"
    assert str(frame.index.tz) == "UTC"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame.index[0] == pd.Timestamp("2020-09-20", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2024-12-31", tz="UTC")


def test_frame_matches_the_file_exactly(btc_daily):
    expected = pd.read_csv(BTC_1D, parse_dates=["timestamp"], index_col="timestamp")
    frame = load_candles("binance", "BTCUSDT", "1d")
    np.testing.assert_array_equal(frame.to_numpy(), expected.to_numpy(dtype=np.float64))
    assert (frame.index == expected.index).all()


def test_start_is_inclusive_and_end_exclusive(btc_daily):
    frame = load_candles(
        "binance", "BTC/USDT", "1d", start="2024-01-01T00:00:00Z", end=datetime(2024, 2, 1, tzinfo=UTC)
    )
    assert len(frame) == 31
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2024-01-31", tz="UTC")
    # Naive times are UTC; pandas Timestamps work too.
    naive = load_candles("binance", "BTC/USDT", "1d", start=datetime(2024, 1, 1), end=pd.Timestamp("2024-02-01"))
    pd.testing.assert_frame_equal(frame, naive)
    assert len(load_candles("binance", "BTC/USDT", "1d", start="2024-12-31")) == 1
    assert len(load_candles("binance", "BTC/USDT", "1d", end="2020-09-20")) == 0


def test_limit_keeps_the_newest(btc_daily):
    frame = load_candles("binance", "BTC/USDT", "1d", limit=10)
    assert len(frame) == 10
    assert frame.index[-1] == pd.Timestamp("2024-12-31", tz="UTC")
    assert frame.index.is_monotonic_increasing


def test_empty_series_has_the_same_shape(db):
    frame = load_candles("binance", "ETH/USDT", "1h")
    assert frame.shape == (0, 5)
    assert str(frame.index.tz) == "UTC"
    assert frame.index.name == "open_time"
    assert all(dtype == np.float64 for dtype in frame.dtypes)


def test_bad_arguments(db):
    with pytest.raises(InvalidMarket):
        load_candles("binance", "BTC/USDT", "7m")
    with pytest.raises(InvalidMarket):
        load_candles("binance", "BTC", "1h")


def test_hourly_gaps_are_not_filled(db):
    candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    frame = load_candles("binance", "BTC/USDT", "1h", start="2021-02-11T02:00Z", end="2021-02-11T06:00Z")
    assert [t.hour for t in frame.index] == [2, 3, 5]
    assert frame.loc["2021-02-11 03:00", "volume"].item() == 0.0
    assert len(load_candles("binance", "BTC/USDT", "1h")) == 37516


def test_series_list_one_row_per_series(tmp_path, btc_daily, btc_1h_lines):
    candles_import_csv(
        path=write_csv(tmp_path / "h.csv", btc_1h_lines[:48]), exchange="binance", symbol="BTCUSDT", timeframe="1h"
    )
    candles_import_csv(
        path=write_csv(tmp_path / "e.csv", btc_1h_lines[:5]), exchange="okx", symbol="BTC/USDT", timeframe="1h"
    )
    rows = series_list()
    assert [(s.exchange, s.symbol, s.timeframe, s.count) for s in rows] == [
        ("binance", "BTC/USDT", "1h", 48),
        ("binance", "BTC/USDT", "1d", 1564),
        ("okx", "BTC/USDT", "1h", 5),
    ]
    assert rows[0].first_open_time == datetime(2020, 9, 20, tzinfo=UTC)
    assert rows[0].last_open_time == datetime(2020, 9, 21, 23, tzinfo=UTC)
