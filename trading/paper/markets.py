"""Markets of the paper exchange: the stored candle series of its data exchange, with the real
market's precision and minimums (Binance's filters for the markets Trendy ships data for; a
conservative default for others)."""

from __future__ import annotations

from decimal import Decimal

from django.core.cache import cache

from market_data.selectors import series_list
from trading.exchanges.base import Market

D = Decimal
# symbol → (amount step, price step, minimum amount, minimum notional in USDT); Binance spot filters.
BINANCE_FILTERS: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {
    "BTC/USDT": (D("0.00001"), D("0.01"), D("0.00001"), D(5)),
    "ETH/USDT": (D("0.0001"), D("0.01"), D("0.0001"), D(5)),
    "SOL/USDT": (D("0.001"), D("0.01"), D("0.001"), D(5)),
    "BNB/USDT": (D("0.001"), D("0.01"), D("0.001"), D(5)),
    "XRP/USDT": (D("0.1"), D("0.0001"), D("0.1"), D(5)),
}
DEFAULT_FILTERS = (D("0.000001"), D("0.00000001"), D("0.000001"), D(5))


def paper_market(symbol: str, *, market_type: str = "spot", exact: bool = False) -> Market:
    """``exact`` leaves amounts and prices unrounded (the backtest's arithmetic): ``paper_replay``
    uses it to compare the live path with the backtest to the cent."""
    base, quote = symbol.split(":", 1)[0].split("/")
    unified = f"{base}/{quote}" if market_type == "spot" else f"{base}/{quote}:{quote}"
    amount_step, price_step, min_amount, min_notional = BINANCE_FILTERS.get(f"{base}/{quote}", DEFAULT_FILTERS)
    if exact:
        amount_step = price_step = min_amount = min_notional = D(0)
    return Market(
        symbol=unified,
        base=base,
        quote=quote,
        type=market_type,
        exchange_symbol=f"{base}{quote}",
        amount_step=amount_step,
        price_step=price_step,
        min_amount=min_amount,
        min_notional=min_notional,
    )


MARKETS_TTL = 300  # seconds: the stored series only change by an import


def paper_markets(data_exchange: str, *, market_type: str = "spot", exact: bool = False) -> dict[str, Market]:
    key = f"trading:paper-markets:{data_exchange}:{market_type}:{exact}"
    markets = cache.get(key)
    if markets is None:
        symbols = sorted(
            {s.symbol for s in series_list() if s.exchange == data_exchange and s.symbol.endswith("/USDT")}
        )
        markets = {}
        for symbol in symbols:
            market = paper_market(symbol, market_type=market_type, exact=exact)
            markets[market.symbol] = market
        cache.set(key, markets, MARKETS_TTL)
    return markets


def listed_key(data_exchange: str, market_type: str) -> str:
    """The cache entry of ``listed``: a caller that reads several entries in one round trip (the webhook
    receiver) reads this one with them and hands its value to ``listed``."""
    return f"trading:paper-listed:{data_exchange}:{market_type}"


_UNREAD = object()


def listed(data_exchange: str, *, market_type: str = "spot", cached: object = _UNREAD) -> frozenset[str]:
    """The unified symbols the paper exchange lists (the keys of ``paper_markets``), a small cache entry of
    their own: the receiver checks an alert's market with it on every request. ``cached``: the value of
    ``listed_key`` already read from the cache (None when it was missing)."""
    key = listed_key(data_exchange, market_type)
    symbols = cache.get(key) if cached is _UNREAD else cached
    if not isinstance(symbols, frozenset):
        symbols = frozenset(paper_markets(data_exchange, market_type=market_type))
        cache.set(key, symbols, MARKETS_TTL)
    return symbols
