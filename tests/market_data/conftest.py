"""Market data fixtures: the real Binance candle files, small CSV writers, and a fake Binance on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.utils import translation

OHLCV_DIR = Path(settings.BASE_DIR).parent / "shared" / "data" / "ohlcv"
BTC_1H = OHLCV_DIR / "binance_BTCUSDT_1h.csv.gz"
BTC_1D = OHLCV_DIR / "binance_BTCUSDT_1d.csv.gz"
HEADER = "timestamp,open,high,low,close,volume"


@pytest.fixture(autouse=True)
def _english():
    """Messages are asserted in English, whatever language an earlier test left active."""
    with translation.override("en"):
        yield


@cache
def file_lines(path: Path) -> tuple[str, ...]:
    """The data lines (no header) of a real candle file."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines[0] == HEADER
    return tuple(lines[1:])


def write_csv(path: Path, lines: list[str] | tuple[str, ...], *, header: str = HEADER, gz: bool = False) -> Path:
    text = "\n".join([header, *lines]) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def iso_to_ms(value: str) -> int:
    import pandas as pd

    return int((pd.Timestamp(value) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms"))


def kline_rows(lines: list[str] | tuple[str, ...]) -> list[list[float]]:
    """CSV lines → ``[ms, open, high, low, close, volume]`` rows."""
    rows = []
    for line in lines:
        stamp, *values = line.split(",")
        rows.append([iso_to_ms(stamp), *(float(v) for v in values)])
    return rows


@pytest.fixture
def btc_1h_lines() -> tuple[str, ...]:
    return file_lines(BTC_1H)


@pytest.fixture
def btc_1d_lines() -> tuple[str, ...]:
    return file_lines(BTC_1D)


@dataclass
class FakeBinance:
    """Answers the two endpoints ccxt's binance calls for spot candles: exchangeInfo and klines."""

    url: str = ""
    klines: dict[str, list[list[float]]] = field(default_factory=dict)  # Binance id (BTCUSDT) → rows
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    fail_status: int | None = None
    markets: tuple[tuple[str, str], ...] = (("BTC", "USDT"), ("ETH", "USDT"))

    def kline_requests(self) -> list[dict[str, str]]:
        return [params for path, params in self.requests if path == "/api/v3/klines"]

    def exchange_info(self) -> dict[str, object]:
        symbols = [
            {
                "symbol": base + quote,
                "status": "TRADING",
                "baseAsset": base,
                "baseAssetPrecision": 8,
                "quoteAsset": quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"],
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "permissions": ["SPOT"],
                "permissionSets": [["SPOT"]],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
                ],
            }
            for base, quote in self.markets
        ]
        return {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [], "symbols": symbols}

    def klines_page(self, params: dict[str, str]) -> list[list[object]]:
        rows = self.klines.get(params.get("symbol", ""), [])
        limit = min(int(params.get("limit", 500)), 1000)
        if "startTime" in params:
            start = int(params["startTime"])
            rows = [r for r in rows if r[0] >= start]
            if "endTime" in params:
                rows = [r for r in rows if r[0] <= int(params["endTime"])]
            rows = rows[:limit]
        else:
            rows = rows[-limit:]
        hour = 3_600_000
        return [
            [int(t), repr(o), repr(h), repr(lo), repr(c), repr(v), int(t) + hour - 1, "0", 1, "0", "0", "0"]
            for t, o, h, lo, c, v in rows
        ]


def _handler(fake: FakeBinance) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            fake.requests.append((parts.path, params))
            if fake.fail_status:
                self._send(fake.fail_status, "Service Unavailable")
            elif parts.path == "/api/v3/exchangeInfo":
                self._send(200, fake.exchange_info())
            elif parts.path == "/api/v3/klines":
                self._send(200, fake.klines_page(params))
            else:
                self._send(404, {"code": -1, "msg": f"fake binance does not serve {parts.path}"})

        def _send(self, status: int, body: object) -> None:
            text = isinstance(body, str)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def fake_binance(monkeypatch) -> Iterator[FakeBinance]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeBinance()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url(monkeypatch) -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
