"""Every write of candles goes through here: CSV import, exchange fetch, and their shared upsert.

A batch of candles is written by ``candles_upsert`` in one transaction: rows already stored with
the same values are left alone, changed ones are updated, new ones inserted (COPY on PostgreSQL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils.translation import gettext as _

from market_data import ccxt_client, pgcopy
from market_data.csv_import import read_candle_csv
from market_data.exceptions import CandleImportError, ExchangeDataError, InvalidMarket
from market_data.selectors import TABLE, TimeLike, last_open_time, ms_to_datetime, series_rows, to_ms
from market_data.symbols import normalize_exchange, normalize_symbol
from market_data.timeframes import TIMEFRAMES, format_ms, is_timeframe, timeframe_ms
from market_data.validation import FIELDS, CandleBatch, batch_from_rows

_INSERT_COLUMNS = ("exchange", "symbol", "timeframe", "open_time", *FIELDS)
FETCH_PAGE_LIMIT = 1000
_SQLITE_ROWS = 50_000


def _require_timeframe(timeframe: str) -> str:
    if not is_timeframe(timeframe):
        raise InvalidMarket(
            _("Unknown timeframe %(timeframe)r; use one of: %(timeframes)s.")
            % {"timeframe": timeframe, "timeframes": ", ".join(TIMEFRAMES)}
        )
    return timeframe


@dataclass(frozen=True)
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _lock_series(exchange: str, symbol: str, timeframe: str) -> None:
    # Two writers of one series (a fetch task and an import) must not both insert the same new rows.
    # SQLite needs nothing: its transactions start IMMEDIATE (settings), so writers queue anyway.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"market_data.candle:{exchange}:{symbol}:{timeframe}"],
            )


def _sqlite_times(time_ms: np.ndarray) -> list[str]:
    """Open times the way Django's SQLite backend stores a UTC datetime: ``2024-03-01 00:00:00[.ffffff]``."""
    whole = bool((time_ms % 1000 == 0).all())
    text = np.datetime_as_string(time_ms.astype("datetime64[ms]"), unit="s" if whole else "us")
    text.view(np.uint32).reshape(len(text), -1)[:, 10] = ord(" ")  # the "T" between date and time
    if whole:
        return text.tolist()
    return [t.removesuffix(".000000") for t in text.tolist()]


def _insert(exchange: str, symbol: str, timeframe: str, batch: CandleBatch) -> None:
    if not len(batch):
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            pgcopy.write(
                cursor.cursor,
                TABLE,
                _INSERT_COLUMNS,
                (exchange, symbol, timeframe),
                ["time", *["float8"] * len(FIELDS)],
                [batch.time_ms, *(getattr(batch, name) for name in FIELDS)],
            )
        return
    columns = ", ".join(_INSERT_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_INSERT_COLUMNS))
    sql = f"INSERT INTO {TABLE} ({columns}) VALUES ({placeholders})"  # noqa: S608  # nosec B608  # the model's table, fixed columns; values are parameters
    with connection.cursor() as cursor:
        for start in range(0, len(batch), _SQLITE_ROWS):  # in slices: never a million tuples at once
            part = slice(start, start + _SQLITE_ROWS)
            rows = zip(
                _sqlite_times(batch.time_ms[part]),
                *(getattr(batch, name)[part].tolist() for name in FIELDS),
                strict=True,
            )
            cursor.executemany(sql, [(exchange, symbol, timeframe, *row) for row in rows])


def _update(ids: np.ndarray, values: np.ndarray) -> None:
    if not len(ids):
        return
    if connection.vendor == "postgresql":
        # One statement whatever the number of changed rows: the new values travel as arrays.
        assignments = ", ".join(f"{name} = changed.{name}" for name in FIELDS)
        arrays = ", ".join(["%s::float8[]"] * len(FIELDS))
        sql = (
            f"UPDATE {TABLE} SET {assignments} "  # noqa: S608  # nosec B608  # the model's table, fixed columns; values are parameters
            f"FROM unnest(%s::bigint[], {arrays}) AS changed(id, {', '.join(FIELDS)}) WHERE {TABLE}.id = changed.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [ids.tolist(), *(values[:, k].tolist() for k in range(len(FIELDS)))])
        return
    assignments = ", ".join(f"{name} = %s" for name in FIELDS)
    params = [(*row, row_id) for row, row_id in zip(values.tolist(), ids.tolist(), strict=True)]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {TABLE} SET {assignments} WHERE id = %s", params)  # noqa: S608  # nosec B608  # the model's table, fixed columns; values are parameters


@transaction.atomic
def candles_upsert(*, exchange: str, symbol: str, timeframe: str, candles: CandleBatch) -> UpsertResult:
    """Store a validated batch of one series: insert new open times, update changed candles, count the rest.

    All of it is written or none. Stored candles outside the batch (including in its gaps) are kept.
    Values are compared exactly (float64), so re-storing the same data writes nothing.
    """
    exchange, symbol, timeframe = normalize_exchange(exchange), normalize_symbol(symbol), _require_timeframe(timeframe)
    if not len(candles):
        return UpsertResult()
    _lock_series(exchange, symbol, timeframe)
    stored = series_rows(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        start_ms=int(candles.time_ms[0]),
        end_ms=int(candles.time_ms[-1]) + 1,
        with_ids=True,
    )
    values = candles.values()
    if len(stored.time_ms):
        position = np.minimum(np.searchsorted(stored.time_ms, candles.time_ms), len(stored.time_ms) - 1)
        found = stored.time_ms[position] == candles.time_ms
        changed = found & np.any(stored.values[position] != values, axis=1)
    else:
        position = np.zeros(len(candles), dtype=np.int64)
        found = np.zeros(len(candles), dtype=bool)
        changed = found
    _insert(exchange, symbol, timeframe, candles if not found.any() else candles.take(~found))
    _update(stored.ids[position[changed]], values[changed])
    inserted, updated = int((~found).sum()), int(changed.sum())
    return UpsertResult(inserted=inserted, updated=updated, unchanged=len(candles) - inserted - updated)


@dataclass(frozen=True)
class ImportReport:
    exchange: str
    symbol: str
    timeframe: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    first_open_time: datetime | None
    last_open_time: datetime | None


def candles_import_csv(*, path: str | Path, exchange: str, symbol: str, timeframe: str) -> ImportReport:
    """Import a candle CSV (plain or gzip; format in ``csv_import``) into one series, all or nothing.

    Raises ``CandleImportError`` (with the file line) before anything is written when any row is bad,
    ``InvalidMarket`` for an exchange id or symbol Trendy cannot use. Importing the same file again
    changes nothing; candles that differ from the stored ones are updated.
    """
    exchange, symbol = normalize_exchange(exchange), normalize_symbol(symbol)
    if not is_timeframe(timeframe):
        raise CandleImportError(
            _("unknown timeframe %(timeframe)r; use one of: %(timeframes)s")
            % {"timeframe": timeframe, "timeframes": ", ".join(TIMEFRAMES)}
        )
    batch = read_candle_csv(path, timeframe=timeframe)
    result = candles_upsert(exchange=exchange, symbol=symbol, timeframe=timeframe, candles=batch)
    return ImportReport(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        rows_read=len(batch),
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        first_open_time=ms_to_datetime(int(batch.time_ms[0])) if len(batch) else None,
        last_open_time=ms_to_datetime(int(batch.time_ms[-1])) if len(batch) else None,
    )


@dataclass(frozen=True)
class FetchReport:
    exchange: str
    symbol: str
    timeframe: str
    since: datetime  # open time the first request asked for
    resumed: bool  # True when ``since`` was the last stored candle
    requests: int
    received: int  # candles returned inside the asked range
    inserted: int
    updated: int
    unchanged: int
    skipped_open: int  # candles not closed yet, so not stored
    first_open_time: datetime | None  # of the closed candles stored or checked in this run
    last_open_time: datetime | None


def candles_fetch(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    client: Any = None,
    api_url: str | None = None,
    limit: int = FETCH_PAGE_LIMIT,
    now: TimeLike | None = None,
) -> FetchReport:
    """Fetch closed candles from the exchange (ccxt ``fetch_ohlcv``, paginated) and upsert them.

    Starts at ``since``; without it, at the last stored candle of the series (fetched again, since it may
    have changed), or, for an empty series, ``limit`` candles back from now. Stops at ``until`` (exclusive),
    at the first candle that is still open (``open_time + timeframe > now``; never stored), or when a page
    brings nothing new. Each page is stored in its own transaction, so an interrupted fetch resumes where
    it stopped. Raises ``MarketDataUnavailable`` when the exchange cannot be reached, ``UnknownSymbol``,
    ``ExchangeDataError`` for other exchange errors or invalid candles, ``InvalidMarket`` for bad arguments.
    """
    exchange, symbol, timeframe = normalize_exchange(exchange), normalize_symbol(symbol), _require_timeframe(timeframe)
    step = timeframe_ms(timeframe)
    now_ms = int(time.time() * 1000) if now is None else to_ms(now)
    until_ms = None if until is None else to_ms(until)
    resumed = False
    if since is not None:
        start_ms = -(-to_ms(since) // step) * step  # first grid time at or after since
    else:
        last = last_open_time(exchange=exchange, symbol=symbol, timeframe=timeframe)
        if last is not None:
            start_ms, resumed = to_ms(last), True
        else:
            start_ms = (now_ms // step - limit) * step
    if client is None:
        client = ccxt_client.make_client(exchange, api_url=api_url)

    cursor_ms = start_ms
    requests = received = inserted = updated = unchanged = skipped_open = 0
    first_ms: int | None = None
    last_ms: int | None = None
    while until_ms is None or cursor_ms < until_ms:
        with ccxt_client.exchange_errors(exchange, symbol=symbol):
            page = client.fetch_ohlcv(symbol, timeframe, since=cursor_ms, limit=limit)
        requests += 1
        rows = [
            row
            for row in page or []
            if row and row[0] is not None and row[0] >= cursor_ms and (until_ms is None or row[0] < until_ms)
        ]
        if not rows:
            break
        batch, problem = batch_from_rows(rows, timeframe)
        if problem is not None:
            index, reason = problem
            raise ExchangeDataError(
                _("%(exchange)s returned an invalid %(symbol)s candle at %(time)s: %(reason)s")
                % {"exchange": exchange, "symbol": symbol, "time": format_ms(batch.time_ms[index]), "reason": reason}
            )
        received += len(batch)
        closed = batch.time_ms + step <= now_ms
        skipped_open += int((~closed).sum())
        done = batch.take(closed)
        if len(done):
            result = candles_upsert(exchange=exchange, symbol=symbol, timeframe=timeframe, candles=done)
            inserted, updated, unchanged = (
                inserted + result.inserted,
                updated + result.updated,
                unchanged + result.unchanged,
            )
            first_ms = int(done.time_ms[0]) if first_ms is None else first_ms
            last_ms = int(done.time_ms[-1])
        if not closed.all():
            break  # reached the candle that is still forming
        cursor_ms = int(batch.time_ms[-1]) + step
    return FetchReport(
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        since=ms_to_datetime(start_ms),
        resumed=resumed,
        requests=requests,
        received=received,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        skipped_open=skipped_open,
        first_open_time=None if first_ms is None else ms_to_datetime(first_ms),
        last_open_time=None if last_ms is None else ms_to_datetime(last_ms),
    )
