from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import model_files
from market_data.services import candles_import_csv

OHLCV = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv"
COINS = ("BTC", "ETH", "SOL", "BNB", "XRP")


def daily_closes() -> pd.DataFrame:
    """The five real daily close series, aligned (2020-09-20 … 2024-12-31)."""
    frames = {
        f"{coin}/USDT": pd.read_csv(
            OHLCV / f"binance_{coin}USDT_1d.csv.gz", parse_dates=["timestamp"], index_col="timestamp"
        )["close"]
        for coin in COINS
    }
    return pd.concat(frames, axis=1).dropna()


@pytest.fixture(scope="session")
def closes() -> pd.DataFrame:
    return daily_closes()


@pytest.fixture(scope="session")
def returns_20() -> np.ndarray:
    """20 columns × 1,000 days of daily returns: the five real series and, for each, three more that share its
    moves and add their own (seeded) noise — a universe with strong and weak correlations."""
    real = daily_closes().pct_change().dropna().to_numpy()[-1000:]
    rng = np.random.default_rng(7)
    extra = [real[:, k % 5] * rng.uniform(0.3, 1.2) + rng.normal(0.0005, 0.02, 1000) for k in range(15)]
    return np.column_stack([real, *extra])


@pytest.fixture
def stored(db, settings, tmp_path):
    """The real BTC and ETH daily candles in the database; models saved under a fresh directory."""
    settings.TRENDY_MODEL_DIR = tmp_path / "models"
    model_files._loaded.clear()
    for coin in ("BTC", "ETH"):
        candles_import_csv(
            path=OHLCV / f"binance_{coin}USDT_1d.csv.gz", exchange="binance", symbol=f"{coin}/USDT", timeframe="1d"
        )
