"""One-line summaries of imports and fetches, shared by the management commands."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.core.management.base import CommandError
from django.db import DatabaseError
from django.utils.translation import gettext as _

from market_data.services import FetchReport, ImportReport

# binance_BTCUSDT_1h.csv.gz → exchange "binance", pair "BTCUSDT", timeframe "1h"
FILE_NAME_RE = re.compile(r"^(?P<exchange>[a-z0-9]+)_(?P<pair>[A-Za-z0-9]+)_(?P<timeframe>\d+[mhd])\.csv(?:\.gz)?$")


def parse_file_name(path: str | Path) -> dict[str, str] | None:
    match = FILE_NAME_RE.match(Path(path).name)
    return match.groupdict() if match else None


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%MZ") if value else "-"


def import_line(report: ImportReport, seconds: float) -> str:
    return _(
        "%(exchange)s %(symbol)s %(timeframe)s: read %(read)d, inserted %(inserted)d, updated %(updated)d, "
        "unchanged %(unchanged)d; %(first)s … %(last)s; %(seconds).2f s"
    ) % {
        "exchange": report.exchange,
        "symbol": report.symbol,
        "timeframe": report.timeframe,
        "read": report.rows_read,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "first": _time(report.first_open_time),
        "last": _time(report.last_open_time),
        "seconds": seconds,
    }


def fetch_line(report: FetchReport, seconds: float) -> str:
    return _(
        "%(exchange)s %(symbol)s %(timeframe)s: %(requests)d requests from %(since)s, received %(received)d, "
        "inserted %(inserted)d, updated %(updated)d, unchanged %(unchanged)d, not closed yet %(open)d; "
        "%(first)s … %(last)s; %(seconds).2f s"
    ) % {
        "exchange": report.exchange,
        "symbol": report.symbol,
        "timeframe": report.timeframe,
        "requests": report.requests,
        "since": _time(report.since),
        "received": report.received,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "open": report.skipped_open,
        "first": _time(report.first_open_time),
        "last": _time(report.last_open_time),
        "seconds": seconds,
    }


@contextmanager
def database_errors_in_one_line() -> Iterator[None]:
    """A database that is not there or not migrated ends a command with one sentence and the way out, not a
    traceback."""
    try:
        yield
    except DatabaseError as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise CommandError(
            f"The database is not ready ({reason}): run `python manage.py migrate` (or `make migrate`) first."
        ) from None
