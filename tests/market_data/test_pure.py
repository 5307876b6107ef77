"""Timeframes, symbols and the candle checks: plain data, no database."""

from __future__ import annotations

import numpy as np
import pytest

from market_data.exceptions import InvalidMarket
from market_data.symbols import normalize_exchange, normalize_symbol
from market_data.timeframes import (
    TIMEFRAMES,
    UnknownTimeframe,
    floor_ms,
    format_ms,
    is_aligned,
    misaligned,
    pandas_offset,
    timeframe_ms,
)
from market_data.validation import batch_from_rows

HOUR = 3_600_000


def test_timeframes_and_offsets():
    assert TIMEFRAMES == ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
    assert timeframe_ms("1m") == 60_000
    assert timeframe_ms("4h") == 4 * HOUR
    assert timeframe_ms("1d") == 24 * HOUR
    assert pandas_offset("15m") == "15min"
    assert pandas_offset("1d") == "1D"
    import pandas as pd

    for tf in TIMEFRAMES:
        assert pd.Timedelta(pandas_offset(tf)) == pd.Timedelta(timeframe_ms(tf), "ms")
    with pytest.raises(UnknownTimeframe, match="Unknown timeframe '1w'"):
        timeframe_ms("1w")
    with pytest.raises(InvalidMarket):
        pandas_offset("2d")


def test_alignment_is_on_the_utc_grid():
    midnight = 1_704_067_200_000  # 2024-01-01T00:00Z
    assert is_aligned(midnight, "1d")
    assert is_aligned(midnight + 4 * HOUR, "4h")
    assert not is_aligned(midnight + HOUR, "4h")
    assert not is_aligned(midnight + 30 * 60_000, "1h")
    assert is_aligned(midnight + 30 * 60_000, "30m")
    assert misaligned(np.array([midnight, midnight + 1]), "1m").tolist() == [False, True]
    assert floor_ms(midnight + HOUR + 5, "1h") == midnight + HOUR
    assert format_ms(midnight) == "2024-01-01T00:00:00Z"
    assert format_ms(midnight + 500) == "2024-01-01T00:00:00.500Z"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BTC/USDT", "BTC/USDT"),
        ("btc/usdt", "BTC/USDT"),
        ("BTCUSDT", "BTC/USDT"),
        (" ethusdc ", "ETH/USDC"),
        ("BNBBUSD", "BNB/BUSD"),
        ("ETHBTC", "ETH/BTC"),
        ("SOLETH", "SOL/ETH"),
        ("BTCFDUSD", "BTC/FDUSD"),
        ("FDUSDUSDT", "FDUSD/USDT"),
        ("BTC/USDT:USDT", "BTC/USDT:USDT"),
    ],
)
def test_symbols_are_normalised_to_ccxt_form(raw, expected):
    assert normalize_symbol(raw) == expected


@pytest.mark.parametrize("raw", ["", "BTC", "USDT", "BTC-USD", "BTCEUR", "BTC/", "/USDT", "BTC USDT"])
def test_symbols_that_cannot_be_split(raw):
    with pytest.raises(InvalidMarket):
        normalize_symbol(raw)


def test_exchange_ids():
    assert normalize_exchange(" Binance ") == "binance"
    for bad in ("", "b", "bin ance", "../x"):
        with pytest.raises(InvalidMarket):
            normalize_exchange(bad)


def test_exchange_rows_are_sorted_deduplicated_and_checked():
    rows = [[2 * HOUR, 1, 2, 0.5, 1.5, 3], [HOUR, 1, 2, 0.5, 1.5, 3], [2 * HOUR, 1, 2, 0.5, 1.8, 4]]
    batch, problem = batch_from_rows(rows, "1h")
    assert problem is None
    assert batch.time_ms.tolist() == [HOUR, 2 * HOUR]
    assert batch.close.tolist() == [1.5, 1.8]

    _batch, problem = batch_from_rows([[HOUR, 1, 2, 0.5, 1.5, None]], "1h")
    assert problem == (0, "volume is nan, not a number")
    _batch, problem = batch_from_rows([[HOUR, 1, 0.4, 0.5, 0.45, 1], [HOUR + 60_000, 1, 2, 0.5, 1.5, 1]], "1h")
    assert problem == (0, "high 0.4 is below low 0.5")
