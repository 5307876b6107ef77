"""The one place in market_data that talks to ccxt: building a client and translating its errors.

Everything else asks for ``make_client(...)`` and wraps exchange calls in ``exchange_errors(...)``,
so ccxt's exception zoo turns into our three: ``MarketDataUnavailable`` (network, time-out,
maintenance, rate limit), ``UnknownSymbol`` and ``ExchangeDataError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
from django.utils.translation import gettext as _

from market_data.exceptions import ExchangeDataError, InvalidMarket, MarketDataUnavailable, UnknownSymbol

TIMEOUT_MS = 10_000
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_MAX_REASON = 200


def _rebase(urls: Any, base: str) -> Any:
    """Every URL in ccxt's ``urls['api']`` (a string or nested dicts) with scheme and host replaced by ``base``.

    The path is kept, so ``https://api.binance.com/api/v3`` becomes ``<base>/api/v3``.
    """
    if isinstance(urls, dict):
        return {key: _rebase(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        target = urlsplit(base)
        path = target.path.rstrip("/") + urlsplit(urls).path
        return urlunsplit((target.scheme, target.netloc, path, "", ""))
    return urls


def make_client(exchange_id: str, api_url: str | None = None, *, timeout_ms: int = TIMEOUT_MS) -> Any:
    """A ccxt (sync) client for public market data: rate-limited, with a time-out, spot markets only.

    ``api_url`` (``http(s)://host[:port][/prefix]``) sends every API call of the exchange there instead:
    a proxy for operators, a fake exchange on 127.0.0.1 for tests.
    """
    if exchange_id not in ccxt.exchanges:
        raise InvalidMarket(_("ccxt does not know the exchange %(exchange)r.") % {"exchange": exchange_id})
    client = getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": timeout_ms})
    # Loading futures and options markets costs extra requests and is useless for spot candles.
    fetch_markets = client.options.get("fetchMarkets")
    if isinstance(fetch_markets, dict) and "types" in fetch_markets:
        client.options["fetchMarkets"] = {**fetch_markets, "types": ["spot"]}
    if api_url:
        parts = urlsplit(api_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise InvalidMarket(_("The API URL %(url)r must look like https://host[:port].") % {"url": api_url})
        client.urls["api"] = _rebase(client.urls["api"], api_url)
    return client


def _short_reason(exc: BaseException, exchange_id: str) -> str:
    if isinstance(exc, ccxt.RequestTimeout):
        return _("no answer in time")
    text = str(exc).strip()
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 10:
        match = _ERRNO_RE.search(str(cause))
        if match:
            detail = text.removeprefix(exchange_id).strip()
            return f"{match.group(1).strip()} ({detail})" if detail else match.group(1).strip()
        cause = cause.__cause__ or cause.__context__
        seen += 1
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return first_line[:_MAX_REASON]


@contextmanager
def exchange_errors(exchange_id: str, *, symbol: str | None = None) -> Iterator[None]:
    """Translate ccxt exceptions raised inside the block into market_data exceptions (one-line messages)."""
    try:
        yield
    except ccxt.BadSymbol as exc:
        raise UnknownSymbol(
            _("%(exchange)s does not list the market %(symbol)s.") % {"exchange": exchange_id, "symbol": symbol or "?"}
        ) from exc
    except ccxt.NetworkError as exc:
        raise MarketDataUnavailable(
            _("Cannot reach %(exchange)s: %(reason)s")
            % {"exchange": exchange_id, "reason": _short_reason(exc, exchange_id)}
        ) from exc
    except ccxt.BaseError as exc:
        raise ExchangeDataError(
            _("%(exchange)s answered with an error: %(reason)s")
            % {"exchange": exchange_id, "reason": _short_reason(exc, exchange_id)}
        ) from exc
