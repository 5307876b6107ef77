"""Where the demo's candles come from: the quick exchange probe, the recorded source, what pages say."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from market_data import sources
from market_data.models import MarketDataSource


def test_probe_targets_the_api_host_its_override_or_the_proxy(settings, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings.TRENDY_EXCHANGE_API_URLS = {}
    assert sources.probe_address("binance") == ("api.binance.com", 443)
    assert sources.probe_address("okx") == ("www.okx.com", 443)
    assert sources.probe_address("binance", "http://127.0.0.1:9") == ("127.0.0.1", 9)
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": "https://proxy.example:8443/binance"}
    assert sources.probe_address("binance") == ("proxy.example", 8443)
    # HTTPS through a proxy: the probe asks the proxy, as ccxt's requests will.
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    assert sources.probe_address("binance") == ("10.0.0.1", 3128)
    monkeypatch.setenv("NO_PROXY", "proxy.example")
    assert sources.probe_address("binance") == ("proxy.example", 8443)


def test_probe_answers_true_for_a_listening_port_and_false_for_a_closed_one(closed_port_url):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert sources.exchange_reachable("binance", api_url=f"http://127.0.0.1:{server.getsockname()[1]}")
    started = time.perf_counter()
    assert not sources.exchange_reachable("binance", api_url=closed_port_url)
    assert time.perf_counter() - started < 0.5  # refused: decided at once


def test_probe_gives_up_on_a_name_lookup_that_hangs(monkeypatch):
    """getaddrinfo has no time-out of its own (an offline resolver can take tens of seconds): the probe's
    deadline covers it. Such a resolver cannot be had here, so the lookup is made to hang."""
    release = threading.Event()

    def hanging_lookup(*args, **kwargs):
        release.wait(30)
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    started = time.perf_counter()
    try:
        assert not sources.exchange_reachable("binance", api_url="https://api.binance.com", timeout=0.5)
        assert time.perf_counter() - started < 1.5
    finally:
        release.set()


@pytest.mark.django_db
def test_the_recorded_source_and_what_pages_say(alice_client):
    assert sources.data_source() is None
    with CaptureQueriesContext(connection) as queries:  # "none recorded" is cached too, not read on every page
        assert sources.data_source() is None
    assert len(queries) == 0
    html = alice_client.get("/trading/bots/").content.decode()
    assert "Market data:" not in html and "Candles:" not in html

    with pytest.raises(ValueError):
        sources.data_source_record(kind="somewhere")
    sources.data_source_record(kind=MarketDataSource.Kind.SAMPLE)
    cache.delete(sources._CACHE_KEY)  # on commit, which a test's transaction never reaches
    html = alice_client.get("/trading/bots/").content.decode()
    assert '<p class="notice message-info market-source" role="status">' in html
    assert "Market data: bundled sample (BTC/USDT, ETH/USDT 1h, 2024)." in html
    assert "Candles: Binance spot market data." in html

    sources.data_source_record(kind=MarketDataSource.Kind.FILES, folder="../shared/data/ohlcv")
    cache.delete(sources._CACHE_KEY)
    assert MarketDataSource.objects.count() == 1
    assert "Market data: candle files from ../shared/data/ohlcv." in alice_client.get("/strategies/").content.decode()

    sources.data_source_record(kind=MarketDataSource.Kind.EXCHANGE, exchange="okx")
    cache.delete(sources._CACHE_KEY)
    assert "Market data: OKX, live." in alice_client.get("/trading/bots/").content.decode()
    with translation.override("ko"):
        label = sources.source_label(sources.data_source())
    assert "OKX" in label and "Market data" not in label
