"""Supported candle timeframes and their grid. Pure: no Django import.

Every timeframe here is a whole number of minutes that divides a day, so its grid is anchored at
the Unix epoch: a candle of timeframe ``tf`` opens at a multiple of ``timeframe_ms(tf)`` ms since
1970-01-01T00:00Z (a 1d candle opens at 00:00 UTC, a 4h candle at 00:00, 04:00, … UTC).
"""

from __future__ import annotations

import numpy as np

from market_data.exceptions import InvalidMarket

_MINUTE_MS = 60_000

# In ascending order of duration; the ccxt/Binance spelling.
TIMEFRAME_MS: dict[str, int] = {
    "1m": _MINUTE_MS,
    "3m": 3 * _MINUTE_MS,
    "5m": 5 * _MINUTE_MS,
    "15m": 15 * _MINUTE_MS,
    "30m": 30 * _MINUTE_MS,
    "1h": 60 * _MINUTE_MS,
    "2h": 120 * _MINUTE_MS,
    "4h": 240 * _MINUTE_MS,
    "6h": 360 * _MINUTE_MS,
    "12h": 720 * _MINUTE_MS,
    "1d": 1440 * _MINUTE_MS,
}
TIMEFRAMES: tuple[str, ...] = tuple(TIMEFRAME_MS)

PANDAS_OFFSETS: dict[str, str] = {
    "1m": "1min",
    "3m": "3min",
    "5m": "5min",
    "15m": "15min",
    "30m": "30min",
    "1h": "1h",
    "2h": "2h",
    "4h": "4h",
    "6h": "6h",
    "12h": "12h",
    "1d": "1D",
}


class UnknownTimeframe(InvalidMarket):
    def __init__(self, timeframe: object) -> None:
        super().__init__(f"Unknown timeframe {timeframe!r}; use one of: {', '.join(TIMEFRAMES)}.")
        self.timeframe = timeframe


def is_timeframe(timeframe: object) -> bool:
    return isinstance(timeframe, str) and timeframe in TIMEFRAME_MS


def timeframe_ms(timeframe: str) -> int:
    """The timeframe's length in milliseconds; ``UnknownTimeframe`` for anything not in ``TIMEFRAMES``."""
    try:
        return TIMEFRAME_MS[timeframe]
    except (KeyError, TypeError):
        raise UnknownTimeframe(timeframe) from None


def pandas_offset(timeframe: str) -> str:
    """The pandas offset alias of the timeframe (for ``resample``, ``date_range``)."""
    timeframe_ms(timeframe)
    return PANDAS_OFFSETS[timeframe]


def is_aligned(time_ms: int, timeframe: str) -> bool:
    """True when ``time_ms`` (epoch milliseconds, UTC) is a candle open time of ``timeframe``."""
    return int(time_ms) % timeframe_ms(timeframe) == 0


def misaligned(times_ms: np.ndarray, timeframe: str) -> np.ndarray:
    """Vectorised ``not is_aligned``: a boolean mask over an int64 array of epoch milliseconds."""
    return np.asarray(times_ms, dtype=np.int64) % timeframe_ms(timeframe) != 0


def floor_ms(time_ms: int, timeframe: str) -> int:
    """The open time of the candle that contains ``time_ms``."""
    step = timeframe_ms(timeframe)
    return int(time_ms) // step * step


def format_ms(time_ms: int) -> str:
    """ISO-8601 UTC with a Z, e.g. ``2024-03-01T00:00:00Z`` (milliseconds shown only when not zero)."""
    value = np.datetime64(int(time_ms), "ms")
    text = np.datetime_as_string(value, unit="ms" if int(time_ms) % 1000 else "s")
    return f"{text}Z"
