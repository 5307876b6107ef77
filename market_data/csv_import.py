"""Read and validate a candle CSV file (plain or gzip) into a ``CandleBatch``. No database access.

The format is the one of ``shared/data/ohlcv``: header ``timestamp,open,high,low,close,volume``,
``timestamp`` the candle open time as ISO-8601 with a zone (``2024-03-01T00:00:00Z``) or epoch
milliseconds. Every row is checked before anything is returned; the first bad row (lowest line)
stops the import with a ``CandleImportError`` that names its 1-based file line.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from market_data.exceptions import CandleImportError
from market_data.timeframes import format_ms
from market_data.validation import FIELDS, CandleBatch, Check, first_problem, grid_checks, value_checks

HEADER = "timestamp,open,high,low,close,volume"
COLUMNS: tuple[str, ...] = tuple(HEADER.split(","))
# Crypto candles fall inside these bounds; a timestamp outside is almost always epoch seconds or a typo.
MIN_TIME_MS = 946_684_800_000  # 2000-01-01T00:00Z
MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01T00:00Z

_DIGITS_RE = r"\d{1,18}"
# A time of day followed by a zone designator: "…T10:00:00Z", "…T10:00:00.000+00:00".
_ZONED_RE = r".*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)"
_PARSER_LINE_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_FIRST_DATA_LINE = 2  # line 1 is the header


def _error(line: int | None, reason: str) -> CandleImportError:
    message = _("line %(line)d: %(reason)s") % {"line": line, "reason": reason} if line else reason
    return CandleImportError(message, line=line, reason=reason)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _error(None, _("cannot read %(path)s: %(reason)s") % {"path": path, "reason": exc.strerror}) from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise _error(
                None, _("%(path)s is not a valid gzip file: %(reason)s") % {"path": path, "reason": exc}
            ) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(
            None, _("%(path)s is not UTF-8 text (bad byte at offset %(offset)d)") % {"path": path, "offset": exc.start}
        ) from exc


def _check_header(text: str) -> None:
    found = text.split("\n", 1)[0].rstrip("\r")
    if found != HEADER:
        shown = repr(found[:200]) if text else _("an empty file")
        raise _error(1, _("expected the header %(expected)s, found %(found)s") % {"expected": HEADER, "found": shown})


def _frame(text: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, na_filter=False, skip_blank_lines=False, header=0, engine="c")
    except pd.errors.ParserError as exc:
        match = _PARSER_LINE_RE.search(str(exc))
        if match:
            expected, line, saw = (int(x) for x in match.groups())
            raise _error(
                line, _("expected %(expected)d fields, found %(found)d") % {"expected": expected, "found": saw}
            ) from exc
        raise _error(None, str(exc)) from exc
    except pd.errors.EmptyDataError:
        return pd.DataFrame({name: pd.Series([], dtype=str) for name in COLUMNS})
    frame = frame.astype(str)
    # Blank lines at the very end are harmless; a blank line between rows is reported below.
    filled = (frame != "").any(axis=1).to_numpy()
    last = len(filled) - int(np.argmax(filled[::-1])) if filled.any() else 0
    return frame.iloc[:last]


def _line(i: int) -> int:
    return i + _FIRST_DATA_LINE


def _parse_times(raw: pd.Series, row_empty: np.ndarray) -> tuple[np.ndarray, list[Check], np.ndarray]:
    """Epoch ms for every row (0 where unusable), the timestamp checks, and the mask of usable times."""
    text = raw.str.strip()
    empty = (text == "").to_numpy() & ~row_empty
    digits = text.str.fullmatch(_DIGITS_RE).to_numpy(dtype=bool)
    candidates = ~digits & ~empty & ~row_empty

    time_ms = np.zeros(len(text), dtype=np.int64)
    if digits.any():
        time_ms[digits] = text[digits].astype("int64").to_numpy()
    bad = np.zeros(len(text), dtype=bool)
    naive = np.zeros(len(text), dtype=bool)
    sub_ms = np.zeros(len(text), dtype=bool)
    if candidates.any():
        subset = text[candidates]
        parsed = pd.to_datetime(subset, format="ISO8601", utc=True, errors="coerce")
        ok = parsed.notna().to_numpy()
        zoned = subset.str.fullmatch(_ZONED_RE).to_numpy(dtype=bool)
        delta = parsed - pd.Timestamp(0, tz="UTC")
        ms = (delta // pd.Timedelta(1, "ms")).fillna(0).astype("int64").to_numpy()
        remainder = (delta % pd.Timedelta(1, "ms")).fillna(pd.Timedelta(0)).to_numpy()
        idx = np.flatnonzero(candidates)
        bad[idx] = ~ok
        naive[idx] = ok & ~zoned
        sub_ms[idx] = ok & zoned & (remainder != np.timedelta64(0))
        time_ms[idx] = np.where(ok & zoned, ms, 0)
    parsed_ok = ~row_empty & ~empty & ~bad & ~naive
    out_of_range = parsed_ok & ((time_ms < MIN_TIME_MS) | (time_ms >= MAX_TIME_MS))
    usable = parsed_ok & ~out_of_range & ~sub_ms

    def value(i: int) -> str:
        return repr(raw.iloc[i])

    checks: list[Check] = [
        (empty, lambda i: _("timestamp is empty")),
        (
            bad,
            lambda i: (
                _("timestamp %(value)s is neither ISO-8601 UTC (e.g. 2024-03-01T00:00:00Z) nor epoch milliseconds")
                % {"value": value(i)}
            ),
        ),
        (
            naive,
            lambda i: (
                _("timestamp %(value)s has no time zone: write UTC times with a Z, e.g. 2024-03-01T00:00:00Z")
                % {"value": value(i)}
            ),
        ),
        (
            out_of_range,
            lambda i: (
                _("timestamp %(value)s is before 2000 or after 2100 (epoch timestamps must be in milliseconds)")
                % {"value": value(i)}
            ),
        ),
        (sub_ms, lambda i: _("timestamp %(value)s has a fraction of a millisecond") % {"value": value(i)}),
    ]
    return time_ms, checks, usable


def _parse_values(frame: pd.DataFrame, row_empty: np.ndarray) -> tuple[list[np.ndarray], list[Check]]:
    arrays: list[np.ndarray] = []
    checks: list[Check] = []
    for name in FIELDS:
        raw = frame[name]
        text = raw.str.strip()
        objects = text.to_numpy(dtype=object)
        try:
            values = objects.astype(np.float64)
            unparsed = np.zeros(len(objects), dtype=bool)
        except ValueError:
            # Slow path only for a bad file: find which cells do not parse.
            values = np.full(len(objects), np.nan)
            unparsed = np.zeros(len(objects), dtype=bool)
            for i, cell in enumerate(objects):
                try:
                    values[i] = float(cell)
                except ValueError:
                    unparsed[i] = True
        empty = (text == "").to_numpy() & ~row_empty
        not_number = unparsed & ~empty & ~row_empty
        not_finite = ~unparsed & ~np.isfinite(values)
        values = np.where(unparsed | not_finite, np.nan, values)
        arrays.append(values)
        checks += [
            (empty, lambda i, name=name: _("%(field)s is empty") % {"field": name}),
            (
                not_number,
                lambda i, name=name, raw=raw: (
                    _("%(field)s %(value)s is not a number") % {"field": name, "value": repr(raw.iloc[i])}
                ),
            ),
            (
                not_finite,
                lambda i, name=name, raw=raw: (
                    _("%(field)s is %(value)s; only finite numbers are allowed")
                    % {"field": name, "value": repr(raw.iloc[i].strip())}
                ),
            ),
        ]
    return arrays, checks


def read_candle_csv(path: str | Path, *, timeframe: str) -> CandleBatch:
    """Read, check and sort a candle file; raises ``CandleImportError`` naming the first bad line."""
    path = Path(path)
    text = _read_text(path)
    _check_header(text)
    frame = _frame(text)
    if frame.empty:
        return CandleBatch.empty()
    row_empty = (frame == "").all(axis=1).to_numpy()
    time_ms, time_checks, time_ok = _parse_times(frame["timestamp"], row_empty)
    values, value_parse_checks = _parse_values(frame, row_empty)

    keyed = np.where(time_ok, time_ms, -1 - np.arange(len(time_ms), dtype=np.int64))
    duplicate = pd.Series(keyed).duplicated(keep="first").to_numpy()

    def duplicate_message(i: int) -> str:
        first = int(np.argmax(keyed == keyed[i]))
        return _("duplicate timestamp %(time)s (first on line %(first)d)") % {
            "time": format_ms(time_ms[i]),
            "first": _line(first),
        }

    checks: list[Check] = [(row_empty, lambda i: _("the line is empty")), *time_checks, *value_parse_checks]
    checks += grid_checks(time_ms, timeframe, time_ok=time_ok)
    checks.append((duplicate, duplicate_message))
    checks += value_checks(*values)
    problem = first_problem(checks)
    if problem is not None:
        index, reason = problem
        raise _error(_line(index), reason)

    order = np.argsort(time_ms, kind="stable")
    return CandleBatch(time_ms[order], *(np.ascontiguousarray(v[order]) for v in values))


@dataclass(frozen=True)
class FileSummary:
    rows: int
    first_ms: int
    last_ms: int


def _peek_time(cell: str) -> int:
    cell = cell.strip()
    if re.fullmatch(_DIGITS_RE, cell):
        return int(cell)
    stamp = pd.Timestamp(cell)
    if stamp.tzinfo is None:
        raise ValueError(cell)
    return int((stamp - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms"))


def peek_candle_file(path: str | Path) -> FileSummary | None:
    """Row count and first/last timestamp of a sorted candle file, without validating it; None if it looks odd.

    Cheap enough to decide that a file is already imported (the seed skips it) before a full read.
    """
    try:
        text = _read_text(Path(path))
    except CandleImportError:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0] != HEADER:
        return None
    try:
        first = _peek_time(lines[1].split(",", 1)[0])
        last = _peek_time(lines[-1].split(",", 1)[0])
    except ValueError:
        return None
    return FileSummary(rows=len(lines) - 1, first_ms=first, last_ms=last)
