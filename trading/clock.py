"""The market clock: the wall clock (live), or a replay over stored candles (bar replay).

Every part of the live path asks ``now()`` instead of ``timezone.now()`` for market time, and
``current_price()`` for the price the paper exchange fills at: online, the exchange's public ticker;
on the replay clock, the opening price of the stored candle that starts at the clock's time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from market_data.exceptions import MarketDataError
from market_data.selectors import load_candles, ms_to_datetime, series_list, to_ms
from market_data.timeframes import TIMEFRAME_MS
from trading.exchanges.errors import TemporaryError
from trading.models import MarketClock

_CACHE_KEY = "trading:clock"


@dataclass(frozen=True)
class Pin:
    """An in-process clock for one replay (``paper_replay``): its time and its prices, seen only by
    this thread, so a replay never moves the shared clock."""

    time: datetime
    price: Callable[[str, str], Decimal]  # (exchange, symbol) → the current price


_pin: ContextVar[Pin | None] = ContextVar("trading_clock_pin", default=None)


@contextmanager
def pinned(pin: Pin) -> Iterator[None]:
    token = _pin.set(pin)
    try:
        yield
    finally:
        _pin.reset(token)


_steady: ContextVar[dict | None] = ContextVar("trading_clock_steady", default=None)


@contextmanager
def steady() -> Iterator[None]:
    """Within: the clock's state is read once (not from the cache at every ``now()``), and on the replay clock
    each market's price once (it depends only on the clock's time). Live time still moves and live prices are
    still the ticker's. The loop's shards run in it: one candle close, thousands of reads."""
    token = _steady.set({})
    try:
        yield
    finally:
        _steady.reset(token)


def clock() -> MarketClock:
    memo = _steady.get()
    if memo is not None and "state" in memo:
        return memo["state"]
    return _remember(cache.get(_CACHE_KEY), memo)


def _remember(state: MarketClock | None, memo: dict | None) -> MarketClock:
    """The clock's state as read from the cache (None: missing, then read from the database and cached)."""
    if state is None:
        state = MarketClock.objects.order_by("id").first() or MarketClock(mode=MarketClock.Mode.LIVE)
        cache.set(_CACHE_KEY, state, 5)
    if memo is not None:
        memo["state"] = state
    return state


def now_with(keys: Sequence[str]) -> tuple[datetime, dict[str, Any]]:
    """``now()`` and the cache entries ``keys`` (missing ones left out, as ``cache.get_many``), read in one
    round trip: the webhook receiver reads the clock and its own entries before it touches the database."""
    memo = _steady.get()
    if _pin.get() is not None or (memo is not None and "state" in memo):
        return now(), cache.get_many(keys) if keys else {}
    found = cache.get_many([_CACHE_KEY, *keys])
    return _time(_remember(found.pop(_CACHE_KEY, None), memo)), found


def _forget() -> None:
    cache.delete(_CACHE_KEY)


def is_replay() -> bool:
    return clock().mode == MarketClock.Mode.REPLAY


def now() -> datetime:
    pin = _pin.get()
    if pin is not None:
        return pin.time
    return _time(clock())


def _time(state: MarketClock) -> datetime:
    if state.mode == MarketClock.Mode.REPLAY and state.cursor is not None:
        return state.cursor
    return timezone.now()


def now_ms() -> int:
    return to_ms(now())


@transaction.atomic
def replay_start(*, start: datetime, timeframe: str = "1h", seconds_per_candle: Decimal = Decimal(2)) -> MarketClock:
    """Put the clock on replay from ``start`` (rounded down to the timeframe), one candle per
    ``seconds_per_candle`` of wall time."""
    step = TIMEFRAME_MS[timeframe]
    cursor = ms_to_datetime(to_ms(start) // step * step)
    state, _ = MarketClock.objects.select_for_update().get_or_create(id=1)
    state.mode = MarketClock.Mode.REPLAY
    state.timeframe = timeframe
    state.start = cursor
    state.cursor = cursor
    state.seconds_per_candle = seconds_per_candle
    state.save()
    transaction.on_commit(_forget)
    return state


@transaction.atomic
def replay_stop() -> MarketClock:
    state, _ = MarketClock.objects.select_for_update().get_or_create(id=1)
    state.mode = MarketClock.Mode.LIVE
    state.save()
    transaction.on_commit(_forget)
    return state


def replay_end(timeframe: str) -> datetime | None:
    """Where a replay runs out of candles: the close of the newest stored candle of that timeframe on the
    exchange the paper exchange takes its prices from (any market). None when nothing is stored. Cached for a
    few minutes: stored series only grow by an import."""
    key = f"trading:replay_end:{settings.TRENDY_PAPER_DATA_EXCHANGE}:{timeframe}"
    found = cache.get(key)
    if found is None:
        lasts = [
            series.last_open_time
            for series in series_list()
            if series.exchange == settings.TRENDY_PAPER_DATA_EXCHANGE and series.timeframe == timeframe
        ]
        found = (max(lasts) + timedelta(milliseconds=TIMEFRAME_MS[timeframe])) if lasts else ""
        cache.set(key, found, 300)
    return found or None


def replay_at_end(state: MarketClock | None = None) -> bool:
    state = state or clock()
    if state.mode != MarketClock.Mode.REPLAY or state.cursor is None:
        return False
    end = replay_end(state.timeframe)
    return end is not None and state.cursor >= end


def replay_advance(*, expected: datetime | None = None) -> datetime | None:
    """Move the replay clock one candle forward, at most once per ``seconds_per_candle`` (a conditional
    update, so two beat ticks never move it twice). Returns the new time, or None. The replay stops at the
    close of the newest stored candle: past it there are no prices to trade on."""
    state = MarketClock.objects.order_by("id").first()
    if state is None or state.mode != MarketClock.Mode.REPLAY or state.cursor is None:
        return None
    current = expected or state.cursor
    end = replay_end(state.timeframe)
    if end is not None and current >= end:
        return None
    wall = timezone.now()
    if expected is None and (wall - state.updated_at).total_seconds() < float(state.seconds_per_candle) * 0.9:
        return None
    step = timedelta(milliseconds=TIMEFRAME_MS[state.timeframe])
    moved = MarketClock.objects.filter(id=state.id, cursor=current).update(cursor=current + step, updated_at=wall)
    _forget()
    return current + step if moved else None


def data_symbol(symbol: str) -> str:
    """Candles of ``BTC/USDT:USDT`` (a perpetual) are read from ``BTC/USDT``."""
    return symbol.split(":", 1)[0]


def data_exchange(account_exchange: str) -> str:
    return settings.TRENDY_PAPER_DATA_EXCHANGE if account_exchange == "paper" else account_exchange


def current_price(exchange: str, symbol: str) -> Decimal:
    """The price a market order fills at now (before slippage)."""
    pin = _pin.get()
    if pin is not None:
        return pin.price(exchange, symbol)
    state = clock()
    if state.mode == MarketClock.Mode.REPLAY and state.cursor is not None:
        memo = _steady.get()
        if memo is None:
            return replay_price(exchange, symbol, state.cursor, state.timeframe)
        key = ("price", exchange, symbol, state.cursor, state.timeframe)
        if key not in memo:
            memo[key] = replay_price(exchange, symbol, state.cursor, state.timeframe)
        return memo[key]
    key = f"trading:ticker:{exchange}:{symbol}"
    price = cache.get(key)
    if price is None:
        price = _ticker(exchange, symbol)
        cache.set(key, price, 5)
    return price


def replay_price(exchange: str, symbol: str, at: datetime, timeframe: str) -> Decimal:
    """On the replay clock the current price is the open of the candle starting at ``at`` (or the last
    close before it, when there is none)."""
    frame = load_candles(
        exchange, data_symbol(symbol), timeframe, at, at + timedelta(milliseconds=TIMEFRAME_MS[timeframe])
    )
    if len(frame) and frame.index[0] == at:
        return Decimal(repr(float(frame["open"].iloc[0])))
    before = load_candles(exchange, data_symbol(symbol), timeframe, None, at, limit=1)
    if not len(before):
        raise TemporaryError(f"No stored {symbol} price on {exchange} at {at:%Y-%m-%d %H:%M} UTC.")
    return Decimal(repr(float(before["close"].iloc[-1])))


def _ticker(exchange: str, symbol: str) -> Decimal:
    from market_data.ccxt_client import exchange_errors, make_client

    try:
        with exchange_errors(exchange, symbol=symbol):
            client = make_client(exchange, settings.TRENDY_EXCHANGE_API_URLS.get(exchange))
            ticker = client.fetch_ticker(data_symbol(symbol))
    except MarketDataError as exc:
        raise TemporaryError(str(exc)) from None
    return Decimal(str(ticker["last"]))
