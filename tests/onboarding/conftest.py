"""Onboarding fixtures: a slice of the real BTC/USDT 1h candles, and helpers that walk the wizard."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.urls import reverse

from market_data.services import candles_import_csv
from tests.trading.conftest import binance_server  # noqa: F401 - the fake Binance on 127.0.0.1

BTC_1H = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv" / "binance_BTCUSDT_1h.csv.gz"
SLICE_ROWS = 1500  # about two months of hourly candles: enough for every strategy's warm-up


@pytest.fixture(scope="session")
def btc_slice(tmp_path_factory) -> Path:
    with gzip.open(BTC_1H, "rt") as source:
        lines = source.read().splitlines()
    path = tmp_path_factory.mktemp("ohlcv") / "btc_1h_slice.csv"
    path.write_text("\n".join([lines[0], *lines[-SLICE_ROWS:]]) + "\n")
    return path


@pytest.fixture
def stored_candles(db, btc_slice):
    candles_import_csv(path=btc_slice, exchange="binance", symbol="BTC/USDT", timeframe="1h")


def step_url(step: int) -> str:
    return reverse("onboarding:step", args=[step])


HTMX = {"HTTP_HX_REQUEST": "true"}
PAPER = {"action": "connect", "exchange": "paper", "label": "Paper", "paper_balance": "5000"}
STRATEGY = {"risk_level": "balanced", "strategy": "ema_crossover"}
RISK = {"leverage": "2", "position_size_pct": "10", "stop_loss_pct": "2", "take_profit_pct": "5"}


def walk_to(client, step: int) -> None:
    """Take a signed-in client through the wizard on the paper exchange up to ``step``."""
    answers = [
        (1, PAPER),
        (1, {"action": "next"}),
        (2, STRATEGY),
        (3, RISK),
        (4, {"action": "skip"}),
    ]
    target = {1: 0, 2: 2, 3: 3, 4: 4, 5: 5}[step]
    for number, data in answers[:target]:
        response = client.post(step_url(number), data, **HTMX)
        assert response.status_code == 200, response.content.decode()
