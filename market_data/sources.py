"""Where the demo's candles come from, in order: candle files (``TRENDY_OHLCV_DIR``), the exchange
(ccxt), the sample bundled with Trendy (``market_data/sample/``). ``seed_demo`` records the one it
used (``data_source_record``); ``market_clock auto`` and the page header read it (``data_source``).

``exchange_reachable`` is the quick probe asked before any fetch: a TCP connection to the exchange's
API host — or to the ``TRENDY_EXCHANGE_API_URLS`` override, or to the proxy the environment sends
HTTPS through — bounded in time as a whole, name resolution included, so an offline machine learns
it in at most ``PROBE_TIMEOUT`` seconds instead of hanging on DNS or a connect.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from market_data.models import MarketDataSource

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
# What the bundled sample holds (market_data/sample/README.md).
SAMPLE_EXCHANGE = "binance"
SAMPLE_DESCRIPTION = "BTC/USDT, ETH/USDT 1h, 2024"
PROBE_TIMEOUT = 2.0
API_HOSTS = {"binance": "api.binance.com", "okx": "www.okx.com"}
EXCHANGE_NAMES = {"binance": "Binance", "okx": "OKX"}
_CACHE_KEY = "market_data:source"
_CACHE_SECONDS = 30


def candle_files(folder: Path) -> list[Path]:
    """The ``binance_<PAIR>_<tf>.csv.gz`` files of a folder (none when it does not exist)."""
    return sorted(folder.glob("binance_*_*.csv.gz")) if folder.is_dir() else []


def sample_files() -> list[Path]:
    return candle_files(SAMPLE_DIR)


def exchange_api_url(exchange: str) -> str:
    """The base URL Trendy sends an exchange's API calls to: the ``TRENDY_EXCHANGE_API_URLS`` override, or
    the exchange's own API host."""
    override = settings.TRENDY_EXCHANGE_API_URLS.get(exchange)
    return override or f"https://{API_HOSTS.get(exchange, f'api.{exchange}.com')}"


def probe_address(exchange: str, api_url: str | None = None) -> tuple[str, int]:
    """(host, port) the probe connects to: the proxy the environment routes the API URL through
    (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` unless ``NO_PROXY`` exempts the host), else the API host."""
    url = urlsplit(api_url or exchange_api_url(exchange))
    target = url
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(url.hostname or ""):
        target = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    default_port = 443 if target.scheme == "https" else 80
    return target.hostname or "", target.port or default_port


def exchange_reachable(exchange: str, *, api_url: str | None = None, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when a TCP connection to the exchange's API (or its proxy) opens within ``timeout`` seconds,
    name resolution included."""
    host, port = probe_address(exchange, api_url)
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except (OSError, UnicodeError):
            outcome.append(False)

    # getaddrinfo has no time-out of its own: the thread is abandoned (a daemon) if it hangs.
    thread = threading.Thread(target=attempt, name="exchange-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def data_source() -> MarketDataSource | None:
    """The recorded source of the candles, or None when ``seed_demo`` has not recorded one."""
    state = cache.get(_CACHE_KEY)
    if state is None:
        # "none", not False: django_prometheus's cache backends answer a cached falsy value as a miss.
        state = MarketDataSource.objects.order_by("id").first() or "none"
        cache.set(_CACHE_KEY, state, _CACHE_SECONDS)
    return state if isinstance(state, MarketDataSource) else None


@transaction.atomic
def data_source_record(*, kind: str, exchange: str = SAMPLE_EXCHANGE, folder: str = "") -> MarketDataSource:
    """Record where the candles come from (one row, replaced)."""
    kind = MarketDataSource.Kind(kind)
    state, _created = MarketDataSource.objects.select_for_update().get_or_create(
        id=1, defaults={"kind": kind, "exchange": exchange, "folder": folder}
    )
    state.kind, state.exchange, state.folder = kind, exchange, folder
    state.save()
    transaction.on_commit(lambda: cache.delete(_CACHE_KEY))
    return state


def exchange_name(exchange: str) -> str:
    return EXCHANGE_NAMES.get(exchange, exchange.capitalize())


def source_label(state: MarketDataSource) -> str:
    """One sentence for the page header: where the prices on the page come from."""
    if state.kind == MarketDataSource.Kind.SAMPLE:
        return _("Market data: bundled sample (%(markets)s)") % {"markets": SAMPLE_DESCRIPTION}
    if state.kind == MarketDataSource.Kind.EXCHANGE:
        return _("Market data: %(exchange)s, live") % {"exchange": exchange_name(state.exchange)}
    return _("Market data: candle files from %(folder)s") % {"folder": state.folder}


def source_credit(state: MarketDataSource) -> str:
    """The footer's attribution of the candles to the exchange they come from."""
    return _("Candles: %(exchange)s spot market data.") % {"exchange": exchange_name(state.exchange)}
