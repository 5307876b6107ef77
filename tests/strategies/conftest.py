from pathlib import Path

import pandas as pd
import pytest

from market_data.services import candles_import_csv

OHLCV = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv"
BTC_1H = OHLCV / "binance_BTCUSDT_1h.csv.gz"
BTC_5M = OHLCV / "binance_BTCUSDT_5m.csv.gz"


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")


@pytest.fixture(scope="session")
def btc_1h() -> pd.DataFrame:
    return read(BTC_1H)


@pytest.fixture
def stored_btc_1h(db):
    """The real BTC/USDT 1h candles in the database."""
    candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
