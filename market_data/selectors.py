"""Reads of stored candles. ``load_candles`` is what every strategy, backtest and analysis asks for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Count, Max, Min

from market_data.models import Candle
from market_data.symbols import normalize_exchange, normalize_symbol
from market_data.timeframes import TIMEFRAME_MS, timeframe_ms
from market_data.validation import FIELDS

TABLE = Candle._meta.db_table
INDEX_NAME = "open_time"

TimeLike = datetime | pd.Timestamp | str | int


def to_ms(value: TimeLike) -> int:
    """Epoch milliseconds of a datetime, pandas Timestamp, ISO string or epoch-ms int; naive times are UTC."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int((stamp - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms"))


def ms_to_datetime(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC)


def _time_param(time_ms: int) -> object:
    return connection.ops.adapt_datetimefield_value(ms_to_datetime(time_ms))


def _time_column() -> str:
    # PostgreSQL hands out epoch ms directly (no datetime objects per row); SQLite stores text we parse in bulk.
    if connection.vendor == "postgresql":
        return "(EXTRACT(EPOCH FROM open_time) * 1000)::bigint"
    return "open_time"


def _times_to_ms(column: list[object]) -> np.ndarray:
    if not column:
        return np.empty(0, dtype=np.int64)
    if isinstance(column[0], int | float):
        return np.asarray(column, dtype=np.int64)
    parsed = pd.to_datetime(pd.Series(column, dtype=object), format="ISO8601", utc=True)
    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")).to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class SeriesRows:
    """Stored rows of one series as arrays: ids (int64), open times (int64 epoch ms), values (n, 5) float64."""

    ids: np.ndarray
    time_ms: np.ndarray
    values: np.ndarray


def series_rows(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int | None = None,
    newest: bool = True,
    with_ids: bool = False,
) -> SeriesRows:
    """Rows with ``start_ms <= open_time < end_ms``, ascending; with ``limit``, the newest ``limit`` of them
    (or the oldest, with ``newest=False``).

    Arguments must already be normalised. One raw query, no model instances.
    """
    columns = ["id"] if with_ids else []
    columns += [_time_column(), *FIELDS]
    where = ["exchange = %s", "symbol = %s", "timeframe = %s"]
    params: list[object] = [exchange, symbol, timeframe]
    if start_ms is not None:
        where.append("open_time >= %s")
        params.append(_time_param(start_ms))
    if end_ms is not None:
        where.append("open_time < %s")
        params.append(_time_param(end_ms))
    sql = f"SELECT {', '.join(columns)} FROM {TABLE} WHERE {' AND '.join(where)}"  # noqa: S608 (no user input)
    descending = limit is not None and newest
    sql += " ORDER BY open_time DESC" if descending else " ORDER BY open_time"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if descending:
        rows.reverse()
    offset = 1 if with_ids else 0
    if not rows:
        return SeriesRows(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, len(FIELDS)), np.float64))
    columns_data = list(zip(*rows, strict=True))
    ids = np.asarray(columns_data[0], dtype=np.int64) if with_ids else np.empty(0, np.int64)
    time_ms = _times_to_ms(list(columns_data[offset]))
    values = np.array(columns_data[offset + 1 :], dtype=np.float64).T
    return SeriesRows(ids=ids, time_ms=time_ms, values=np.ascontiguousarray(values))


def candles_frame(time_ms: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """The ``load_candles`` frame shape from arrays."""
    index = pd.DatetimeIndex(np.asarray(time_ms, dtype="datetime64[ms]").astype("datetime64[ns]"), name=INDEX_NAME)
    index = index.tz_localize("UTC")
    data = {name: np.ascontiguousarray(values[:, k], dtype=np.float64) for k, name in enumerate(FIELDS)}
    return pd.DataFrame(data, index=index, columns=list(FIELDS))


def load_candles(
    exchange: str,
    symbol: str,
    timeframe: str,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    limit: int | None = None,
) -> pd.DataFrame:
    """Stored candles of one series as a DataFrame.

    Index: ``DatetimeIndex`` named ``open_time``, ``datetime64[ns, UTC]``, ascending, unique (the open time).
    Columns: ``open, high, low, close, volume``, float64. ``start`` is inclusive, ``end`` exclusive
    (naive times are read as UTC); ``limit`` keeps the newest ``limit`` rows of that range.
    Gaps stay gaps: nothing is filled in. Symbols may be given as ``BTCUSDT`` or ``BTC/USDT``.
    """
    timeframe_ms(timeframe)
    rows = series_rows(
        exchange=normalize_exchange(exchange),
        symbol=normalize_symbol(symbol),
        timeframe=timeframe,
        start_ms=None if start is None else to_ms(start),
        end_ms=None if end is None else to_ms(end),
        limit=limit,
    )
    return candles_frame(rows.time_ms, rows.values)


@dataclass(frozen=True)
class SeriesInfo:
    exchange: str
    symbol: str
    timeframe: str
    count: int
    first_open_time: datetime
    last_open_time: datetime


def series_list() -> list[SeriesInfo]:
    """Every stored series with its candle count and first/last open time (one GROUP BY query).

    Sorted by exchange, symbol, then timeframe duration (1m before 1h before 1d).
    """
    rows = (
        Candle.objects.values("exchange", "symbol", "timeframe")
        .annotate(count=Count("id"), first=Min("open_time"), last=Max("open_time"))
        .order_by()
    )
    result = [
        SeriesInfo(
            exchange=row["exchange"],
            symbol=row["symbol"],
            timeframe=row["timeframe"],
            count=row["count"],
            first_open_time=row["first"],
            last_open_time=row["last"],
        )
        for row in rows
    ]
    result.sort(key=lambda s: (s.exchange, s.symbol, TIMEFRAME_MS.get(s.timeframe, 0), s.timeframe))
    return result


def series_info(*, exchange: str, symbol: str, timeframe: str) -> SeriesInfo | None:
    """Count and first/last open time of one series (normalised arguments), or None when nothing is stored."""
    stats = Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe).aggregate(
        count=Count("id"), first=Min("open_time"), last=Max("open_time")
    )
    if not stats["count"]:
        return None
    return SeriesInfo(exchange, symbol, timeframe, stats["count"], stats["first"], stats["last"])


def last_open_time(*, exchange: str, symbol: str, timeframe: str) -> datetime | None:
    """Open time of the newest stored candle of the series (normalised arguments)."""
    return (
        Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )
