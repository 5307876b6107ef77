"""The market's "now" as market data sees it, without importing the app that keeps the clock.

Dependencies point one way: ``trading`` depends on ``market_data``, never the reverse. Yet what market data
shows (the candles API, the charts) must stop at the market clock's now: on the replay clock that is the
replay's cursor, in the stored past, not the wall clock. So the clock's owner registers it here:
``TradingConfig.ready()`` calls ``register_now(trading.clock.now)``. Without a registration (market data on
its own, a script that does not set up Django's apps) the market's now is the wall clock.

A candle is shown once it has closed: the one that opened at ``now − one timeframe`` is the last.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from market_data.timeframes import timeframe_ms

_provider: Callable[[], datetime] | None = None


def register_now(provider: Callable[[], datetime] | None) -> None:
    """Make ``provider`` the source of the market's now (None: back to the wall clock)."""
    global _provider
    _provider = provider


def now() -> datetime:
    """The market's now: the registered clock's time, or the wall clock."""
    return _provider() if _provider is not None else timezone.now()


def closed_before(timeframe: str, at: datetime | None = None) -> datetime:
    """The exclusive bound on open times of the candles closed by ``at`` (default: the market's now).

    ``open_time < closed_before(tf)`` keeps exactly the candles whose close (open + one timeframe) is at or
    before the market's now: at 10:00 on the 1h timeframe, the 09:00 candle is the last.
    """
    moment = now() if at is None else at
    return moment - timedelta(milliseconds=timeframe_ms(timeframe)) + timedelta(milliseconds=1)


def bounded_end(timeframe: str, end: datetime | None) -> datetime:
    """``end`` (exclusive), but never past the last candle closed by the market's now."""
    bound = closed_before(timeframe)
    return bound if end is None or end > bound else end
