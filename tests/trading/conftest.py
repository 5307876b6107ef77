"""Trading fixtures."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import pytest

from tests.trading.fake_exchange import FakeBinance, FakeOkx, serving

# --- a fake Binance and a fake OKX on 127.0.0.1 (tests/trading/fake_exchange.py) ------------------------------
# ``binance_server.exchange("spot" | "swap", **options)`` gives a CcxtExchange pointed at it; inject faults on
# the server (rate_limit, server_error, delay_next_create, delist, reject_keys, echo_requests) and read what it
# received (requests, calls(), creates()). While one runs, any host but 127.0.0.1 fails to resolve.


@pytest.fixture
def binance_server(monkeypatch) -> Iterator[FakeBinance]:
    with serving(FakeBinance(), monkeypatch) as fake:
        yield fake


@pytest.fixture
def okx_server(monkeypatch) -> Iterator[FakeOkx]:
    with serving(FakeOkx(), monkeypatch) as fake:
        yield fake


def list_paper_markets(symbols: Iterable[str], last_open: datetime, candles: int = 3) -> None:
    """Stored 1h candles (flat, at 1) on Binance up to ``last_open``: the paper exchange lists these markets."""
    from market_data.models import Candle

    Candle.objects.bulk_create(
        Candle(
            exchange="binance",
            symbol=symbol,
            timeframe="1h",
            open_time=last_open - timedelta(hours=k),
            open=1,
            high=1,
            low=1,
            close=1,
            volume=1,
        )
        for symbol in symbols
        for k in range(candles)
    )
