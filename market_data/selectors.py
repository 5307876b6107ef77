"""Reads of stored candles. ``load_candles`` is what every strategy, backtest and analysis asks for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Count, Max, Min

from market_data import pgcopy
from market_data.models import Candle
from market_data.symbols import normalize_exchange, normalize_symbol
from market_data.timeframes import TIMEFRAME_MS, timeframe_ms
from market_data.validation import FIELDS

TABLE = Candle._meta.db_table
INDEX_NAME = "open_time"

TimeLike = datetime | pd.Timestamp | str | int
_SQLITE_EPOCH_MS = "CAST(round((julianday(open_time) - 2440587.5) * 86400000.0) AS INTEGER)"
_FETCH_ROWS = 50_000


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
    # SQLite: epoch ms computed by SQLite itself (its julian day is whole milliseconds), not one datetime per row.
    time_column = "open_time" if connection.vendor == "postgresql" else _SQLITE_EPOCH_MS
    columns += [time_column, *FIELDS]
    where = ["exchange = %s", "symbol = %s", "timeframe = %s"]
    params: list[object] = [exchange, symbol, timeframe]
    if start_ms is not None:
        where.append("open_time >= %s")
        params.append(_time_param(start_ms))
    if end_ms is not None:
        where.append("open_time < %s")
        params.append(_time_param(end_ms))
    sql = f"SELECT {', '.join(columns)} FROM {TABLE} WHERE {' AND '.join(where)}"  # noqa: S608  # nosec B608  # the model's table, fixed columns; values are parameters
    descending = limit is not None and newest
    sql += " ORDER BY open_time DESC" if descending else " ORDER BY open_time"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    if connection.vendor == "postgresql":
        return _series_rows_packed(sql, params, with_ids)
    width = len(columns)
    chunks = [np.empty((0, width), dtype=np.float64)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # In slices: a million rows never exist as Python tuples all at once. Every value (ids and epoch ms
        # too, both far below 2**53) is exact in float64.
        while rows := cursor.fetchmany(_FETCH_ROWS):
            chunks.append(np.array(rows, dtype=np.float64))
    table = np.concatenate(chunks)
    if descending:
        table = table[::-1]
    offset = 1 if with_ids else 0
    ids = table[:, 0].astype(np.int64) if with_ids else np.empty(0, np.int64)
    time_ms = table[:, offset].astype(np.int64)
    return SeriesRows(ids=ids, time_ms=time_ms, values=np.ascontiguousarray(table[:, offset + 1 :]))


def _series_rows_packed(sql: str, params: list[object], with_ids: bool) -> SeriesRows:
    """``series_rows`` on PostgreSQL: the rows come packed in binary (ascending), parsed by numpy."""
    names = (["id"] if with_ids else []) + ["open_time", *FIELDS]
    kinds = (["int8"] if with_ids else []) + ["time"] + ["float8"] * len(FIELDS)
    with connection.cursor() as cursor:
        columns = pgcopy.read(cursor.cursor, sql, params, names, kinds)
    ids = columns.pop(0) if with_ids else np.empty(0, np.int64)
    time_ms = np.ascontiguousarray(columns[0])
    values = np.ascontiguousarray(np.column_stack(columns[1:])) if len(time_ms) else np.empty((0, len(FIELDS)))
    return SeriesRows(ids=np.ascontiguousarray(ids), time_ms=time_ms, values=values)


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


@dataclass(frozen=True)
class Ticker:
    exchange: str
    symbol: str
    timeframe: str  # the candles it was read from: the market's shortest stored series
    as_of: datetime  # the close of the last closed candle
    last: float
    change_pct: float | None  # against the close 24 hours earlier (None: not stored)
    high: float
    low: float
    volume: float  # base asset, over the last 24 hours


def tickers(*, exchange: str | None = None, symbols: list[str] | None = None) -> list[Ticker]:
    """Last price, 24-hour change, high, low and volume of each stored market, from its shortest stored series'
    candles that the market clock has closed (one GROUP BY, then one query a market)."""
    from market_data import clock

    shortest: dict[tuple[str, str], str] = {}
    for info in series_list():
        if (exchange and info.exchange != exchange) or (symbols and info.symbol not in symbols):
            continue
        key = (info.exchange, info.symbol)
        if key not in shortest or TIMEFRAME_MS[info.timeframe] < TIMEFRAME_MS[shortest[key]]:
            shortest[key] = info.timeframe
    out = []
    day_ms = 86_400_000
    for (ex, symbol), timeframe in sorted(shortest.items()):
        step = TIMEFRAME_MS[timeframe]
        end_ms = to_ms(clock.closed_before(timeframe))
        rows = series_rows(
            exchange=ex, symbol=symbol, timeframe=timeframe, start_ms=end_ms - day_ms - step, end_ms=end_ms
        )
        if not len(rows.time_ms):
            continue
        last_ms = int(rows.time_ms[-1])
        window = rows.time_ms > last_ms - day_ms
        before = rows.time_ms[~window]
        base = float(rows.values[~window][-1, 3]) if len(before) and before[-1] == last_ms - day_ms else None
        close = float(rows.values[-1, 3])
        out.append(
            Ticker(
                exchange=ex,
                symbol=symbol,
                timeframe=timeframe,
                as_of=ms_to_datetime(last_ms + step),
                last=close,
                change_pct=None if not base else (close / base - 1) * 100,
                high=float(rows.values[window, 1].max()),
                low=float(rows.values[window, 2].min()),
                volume=float(rows.values[window, 4].sum()),
            )
        )
    return out
