"""Reading what the analytics compute on: stored closes aligned across markets, and the period returns.

Stored candles have gaps (exchange outages). Markets are aligned on the open times they all have: a time
missing from one market is dropped from all of them, and the answer says how many were dropped, per market.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from analytics.errors import AnalysisError
from market_data import clock
from market_data.exceptions import InvalidMarket
from market_data.selectors import last_open_time, load_candles, ms_to_datetime, to_ms
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS

DAY_MS = 86_400_000
YEAR_DAYS = 365  # crypto trades every day of the year
MIN_RETURNS = 60
MAX_SYMBOLS = 30


def periods_per_year(timeframe: str) -> float:
    return YEAR_DAYS * DAY_MS / TIMEFRAME_MS[timeframe]


def min_returns(assets: int) -> int:
    """Aligned returns needed: 60, and three per asset so that the covariance estimate means something."""
    return max(MIN_RETURNS, 3 * assets)


@dataclass(frozen=True)
class Aligned:
    symbols: list[str]
    timeframe: str
    closes: pd.DataFrame  # aligned close prices, one column per symbol
    dropped: dict[str, int]  # open times missing from each market, dropped from all
    dropped_total: int

    @property
    def start(self) -> datetime:
        return self.closes.index[0].to_pydatetime()

    @property
    def end(self) -> datetime:
        return self.closes.index[-1].to_pydatetime()


def clean_symbols(symbols: list[str]) -> list[str]:
    """Distinct ``BASE/QUOTE`` symbols in the order given; refuses an empty list and more than MAX_SYMBOLS."""
    found: list[str] = []
    for raw in symbols:
        try:
            symbol = normalize_symbol(str(raw))
        except InvalidMarket as exc:
            raise AnalysisError(str(exc), code="unknown_symbol", field="symbols") from None
        if symbol not in found:
            found.append(symbol)
    if not found:
        raise AnalysisError(_("Choose at least one market."), code="no_symbols", field="symbols")
    if len(found) > MAX_SYMBOLS:
        raise AnalysisError(
            _("Choose at most %(max)d markets; %(count)d were sent.") % {"max": MAX_SYMBOLS, "count": len(found)},
            code="too_many_symbols",
            field="symbols",
        )
    return found


def aligned_closes(*, exchange: str, symbols: list[str], timeframe: str, days: int) -> Aligned:
    """The last ``days`` days of closes of each market (up to the newest candle they all have that the market clock
    has closed), aligned."""
    if timeframe not in TIMEFRAME_MS:
        raise AnalysisError(_("Unknown timeframe %(tf)r.") % {"tf": timeframe}, code="bad_timeframe", field="timeframe")
    step = TIMEFRAME_MS[timeframe]
    lasts = {}
    for symbol in symbols:  # the newest open time only: one index probe (a count would read the whole series)
        last = last_open_time(exchange=exchange, symbol=symbol, timeframe=timeframe)
        if last is None:
            raise AnalysisError(
                _("No %(tf)s candles of %(symbol)s on %(exchange)s are stored: import them on the markets page.")
                % {"tf": timeframe, "symbol": symbol, "exchange": exchange},
                code="unknown_symbol",
                field="symbols",
            )
        lasts[symbol] = last
    ending = min(lasts, key=lambda symbol: lasts[symbol])  # the market whose stored candles end first
    data_end = to_ms(lasts[ending]) + step
    # Only candles the market clock has closed (on the replay clock the stored future stays hidden).
    end_ms = min(data_end, to_ms(clock.closed_before(timeframe)))
    start_ms = end_ms - days * DAY_MS
    need = min_returns(len(symbols)) + 1
    frames = {}
    for symbol in symbols:
        frame = load_candles(exchange, symbol, timeframe, ms_to_datetime(start_ms), ms_to_datetime(end_ms))
        if len(frame) < need and symbol != ending and end_ms == data_end and end_ms <= to_ms(lasts[symbol]):
            raise AnalysisError(
                _(
                    "The window ends where the stored %(tf)s candles of %(ending)s end, %(end)s, and %(symbol)s has "
                    "only %(have)d candles in it (at least %(need)d are needed). Leave %(ending)s out or import its "
                    "newer candles."
                )
                % {
                    "tf": timeframe,
                    "ending": ending,
                    "end": lasts[ending].strftime("%Y-%m-%d %H:%M UTC"),
                    "symbol": symbol,
                    "have": len(frame),
                    "need": need,
                },
                code="too_little_history",
                field="symbols",
            )
        if len(frame) < need:
            raise AnalysisError(
                _(
                    "%(symbol)s has %(have)d %(tf)s candles in this window; at least %(need)d are needed "
                    "(%(days)d days of %(tf)s candles). Choose a longer lookback or import more history."
                )
                % {
                    "symbol": symbol,
                    "have": len(frame),
                    "need": need,
                    "tf": timeframe,
                    "days": -(-need * step // DAY_MS),
                },
                code="too_little_history",
                field="lookback_days",
            )
        frames[symbol] = frame["close"]
    closes = pd.concat(frames, axis=1, join="outer")
    complete = closes.notna().all(axis=1)
    dropped = {symbol: int(closes[symbol].isna().sum()) for symbol in symbols}
    closes = closes[complete]
    if len(closes) < need:
        raise AnalysisError(
            ngettext(
                "Only %(have)d open time is common to these markets; at least %(need)d are needed.",
                "Only %(have)d open times are common to these markets; at least %(need)d are needed.",
                len(closes),
            )
            % {"have": len(closes), "need": need},
            code="too_little_history",
            field="lookback_days",
        )
    if not np.all(np.isfinite(closes.to_numpy())) or (closes.to_numpy() <= 0).any():
        raise AnalysisError(_("The stored closes hold non-positive values."), code="bad_data", field="symbols")
    return Aligned(
        symbols=symbols, timeframe=timeframe, closes=closes, dropped=dropped, dropped_total=int((~complete).sum())
    )


def daily_log_returns(index: pd.DatetimeIndex, log_returns: np.ndarray) -> np.ndarray:
    """Period log returns summed into UTC days (the days of a 1d series are its periods)."""
    series = pd.Series(log_returns, index=index)
    return series.groupby(series.index.floor("D")).sum().to_numpy()
