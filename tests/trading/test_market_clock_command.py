"""``market_clock``: auto replays unless the candles are live and the exchange answers; never a traceback."""

from __future__ import annotations

import gzip
import socket
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from market_data import services, sources
from market_data.models import MarketDataSource
from trading import clock
from trading.models import MarketClock

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("market_clock", *args, stdout=out, stderr=StringIO())
    clock._forget()  # the test's transaction never commits, so on_commit does not clear the cache
    return out.getvalue()


@pytest.fixture
def candles(tmp_path):
    """48 real hours of BTC/USDT from the bundled sample: 2024-01-01 00:00 … 2024-01-02 23:00."""
    lines = gzip.decompress((sources.SAMPLE_DIR / "binance_BTCUSDT_1h.csv.gz").read_bytes()).decode().splitlines()
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(lines[:49]) + "\n")
    services.candles_import_csv(path=path, exchange="binance", symbol="BTC/USDT", timeframe="1h")


@pytest.fixture
def listening(settings, monkeypatch):
    """An exchange API address that accepts connections (the probe succeeds)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        settings.TRENDY_EXCHANGE_API_URLS = {"binance": f"http://127.0.0.1:{server.getsockname()[1]}"}
        yield


@pytest.fixture
def refused(settings, monkeypatch):
    """An exchange API address where nothing listens (the probe is refused at once)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": f"http://127.0.0.1:{port}"}


def record(kind: str) -> None:
    sources.data_source_record(kind=kind)
    cache.delete(sources._CACHE_KEY)


def test_auto_replays_the_bundled_sample_even_when_the_exchange_answers(candles, listening):
    record(MarketDataSource.Kind.SAMPLE)
    out = run("auto")
    assert "Market data: bundled sample (BTC/USDT, ETH/USDT 1h, 2024): replaying the stored candles." in out
    assert "Market clock: replay at 2023-12-03 23:00 UTC, one 1h candle every 2.00 s." in out
    assert clock.clock().mode == MarketClock.Mode.REPLAY


def test_auto_replays_candle_files(candles, listening):
    sources.data_source_record(kind=MarketDataSource.Kind.FILES, folder="../shared/data/ohlcv")
    cache.delete(sources._CACHE_KEY)
    assert "candle files from ../shared/data/ohlcv: replaying" in run("auto")
    assert clock.is_replay()


def test_auto_goes_live_only_for_exchange_candles_and_an_exchange_that_answers(candles, listening):
    record(MarketDataSource.Kind.EXCHANGE)
    run("replay")
    out = run("auto")
    assert "binance is reachable: live prices." in out and "Market clock: live." in out
    assert not clock.is_replay()


def test_auto_replays_exchange_candles_when_the_exchange_is_gone(candles, refused):
    record(MarketDataSource.Kind.EXCHANGE)
    out = run("auto", "--seconds-per-candle", "1")
    assert "binance cannot be reached: replaying the stored candles." in out
    assert "one 1h candle every 1.00 s." in out


def test_auto_without_candles_or_exchange_stays_live_and_says_what_to_do(refused):
    out = run("auto")
    assert "No stored BTC/USDT 1h candles to replay, so the clock stays live" in out
    assert "run `python manage.py seed_demo` (it loads the bundled sample)" in out
    assert "Market clock: live." in out


def test_plain_sentences_for_bad_requests(refused):
    with pytest.raises(CommandError, match=r"^No stored BTC/USDT 1h candles to replay: load some with `python"):
        run("replay")
    with pytest.raises(CommandError, match=r"--start 'soon' is not a date: use YYYY-MM-DD\."):
        run("replay", "--start", "soon")
    with pytest.raises(CommandError, match="must be a number"):
        run("replay", "--seconds-per-candle", "fast")
    with pytest.raises(CommandError, match="Unknown timeframe '7m'"):
        run("auto", "--timeframe", "7m")


def test_the_replay_banner_names_the_source(alice_client, candles, refused):
    record(MarketDataSource.Kind.SAMPLE)
    run("auto")
    html = alice_client.get("/trading/bots/").content.decode()
    banner = html[html.index('<p class="notice message-warning" role="status">') :]
    banner = banner[: banner.index("</p>")]
    assert "Replay: market time" in banner
    assert '<span class="market-source">Market data: bundled sample (BTC/USDT, ETH/USDT 1h, 2024).</span>' in banner
    assert "message-info market-source" not in html  # one line, not two
