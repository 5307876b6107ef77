"""Trading fixtures."""

from __future__ import annotations

from collections.abc import Iterator

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
