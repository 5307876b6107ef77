"""Read and validate a candle CSV file (plain or gzip) into a ``CandleBatch``. No database access.

The format is the one of ``shared/data/ohlcv``: header ``timestamp,open,high,low,close,volume``,
``timestamp`` the candle open time as ISO-8601 with a zone (``2024-03-01T00:00:00Z``) or epoch
milliseconds. Every row is checked before anything is returned; the first bad row (lowest line)
stops the import with a ``CandleImportError`` that names its 1-based file line.

Two readers cut a file into cells, and one set of vectorised checks judges the cells:

* pyarrow's CSV reader (fast, multi-threaded, no Python string per cell) reads every file whose lines
  are plain: the exact header, no quote character, six fields on every line (blank lines allowed).
  The five values are parsed to float64 while reading; a value pyarrow cannot parse, or one that is
  not finite, makes it read the file again as text, so the message can quote the cell.
* Anything else (a quote, a line with too many or too few fields, a bad header, a file that is not
  gzip or UTF-8, …) is cut by pandas' C parser as it always was, whose errors name the line.

Both readers give the same cells for a file both can read (row i is file line i + 2), so the
checks, their order and their messages are the same whichever reader ran.

Why this file is long: two readers (pyarrow and a Python fallback) must apply one set of checks with identical
messages; keeping them together keeps them from drifting apart."""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from django.utils.translation import gettext as _

from market_data.exceptions import CandleImportError
from market_data.timeframes import format_ms
from market_data.validation import FIELDS, CandleBatch, Check, first_problem, grid_checks, value_checks

HEADER = "timestamp,open,high,low,close,volume"
COLUMNS: tuple[str, ...] = tuple(HEADER.split(","))
# Crypto candles fall inside these bounds; a timestamp outside is almost always epoch seconds or a typo.
# From 2000-01-01T00:00Z up to, not including, 2100-01-01T00:00Z: the years 2000 to 2099, as everywhere
# else in Trendy (the API and the backtest forms take a year from 2000 to 2099 too).
MIN_TIME_MS = 946_684_800_000  # 2000-01-01T00:00Z, the first allowed open time
MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01T00:00Z, the first refused one

_DIGITS_RE = r"\d{1,18}"
# A time of day followed by a zone designator: "…T10:00:00Z", "…T10:00:00.000+00:00".
_ZONED_RE = r".*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)"
_PARSER_LINE_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_FIRST_DATA_LINE = 2  # line 1 is the header
_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"


def _error(line: int | None, reason: str) -> CandleImportError:
    message = _("line %(line)d: %(reason)s") % {"line": line, "reason": reason} if line else reason
    return CandleImportError(message, line=line, reason=reason)


def _line(i: int) -> int:
    return i + _FIRST_DATA_LINE


@dataclass
class _Cells:
    """The data rows of a file, trailing blank lines dropped; row i is file line i + 2.

    ``values`` holds, per field of ``FIELDS``, either float64 numbers (NaN for an empty cell; only
    when every non-empty cell parsed to a finite number) or the cells' text.
    """

    timestamp: pa.StringArray
    values: list[np.ndarray | pa.StringArray]
    row_empty: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamp)


# ---------------------------------------------------------------------------------------------
# The exact reader: the whole text in memory, cut by pandas. Slow and large, but it is the reference
# for odd files and says what is wrong with a file that cannot be read at all.


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _error(None, _("cannot read %(path)s: %(reason)s") % {"path": path, "reason": exc.strerror}) from exc
    if raw[:2] == _GZIP_MAGIC:
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


def _pandas_cells(path: Path) -> _Cells:
    text = _read_text(path)
    _check_header(text)
    frame = _frame(text)
    del text
    columns = {name: pa.array(frame[name].tolist(), type=pa.string()) for name in COLUMNS}
    row_empty = (frame == "").all(axis=1).to_numpy(dtype=bool)
    return _Cells(columns["timestamp"], [columns[name] for name in FIELDS], row_empty)


# ---------------------------------------------------------------------------------------------
# The fast reader: pyarrow, for files whose lines are plain. It returns None for any file it cannot
# vouch for; the exact reader then decides.

_PARSE = pa_csv.ParseOptions(
    delimiter=",", quote_char=False, escape_char=False, newlines_in_values=False, ignore_empty_lines=False
)
_READ = pa_csv.ReadOptions(skip_rows=1, column_names=list(COLUMNS))
# Floats while reading; an empty cell is null (nothing else is: "NaN", "N/A"… stay text and fail).
_AS_NUMBERS = pa_csv.ConvertOptions(
    column_types={"timestamp": pa.string(), **dict.fromkeys(FIELDS, pa.float64())},
    null_values=[""],
    strings_can_be_null=False,
    quoted_strings_can_be_null=False,
)
_AS_TEXT = pa_csv.ConvertOptions(
    column_types=dict.fromkeys(COLUMNS, pa.string()), null_values=[], strings_can_be_null=False
)
_HEADER_LINES = (HEADER.encode() + b"\n", HEADER.encode() + b"\r\n")


class _NotPlain(Exception):
    """The file is not one the fast reader can vouch for."""


def _stream(path: Path) -> pa.NativeFile:
    """The file's bytes, gunzipped by Python's gzip (as the exact reader does) when it starts like gzip."""
    with path.open("rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    if gzipped:
        return pa.PythonFile(gzip.GzipFile(path, "rb"), mode="r")
    return pa.OSFile(str(path), "r")


def _plain_header(path: Path) -> bool:
    with _stream(path) as stream:
        head = stream.read(len(_BOM) + len(_HEADER_LINES[1]))
    head = head.removeprefix(_BOM)
    return any(head.startswith(line) for line in _HEADER_LINES)


def _not_plain(column: pa.StringArray) -> bool:
    """True when a cell holds a character the two readers may cut differently: a quote or NUL."""
    offsets, data = _offsets(column)
    used = data[offsets[0] : offsets[-1]]
    return bool((used == ord('"')).any() or (used == 0).any())


def _read_table(path: Path, convert: pa_csv.ConvertOptions) -> pa.Table:
    with _stream(path) as stream:
        return pa_csv.read_csv(stream, read_options=_READ, parse_options=_PARSE, convert_options=convert)


def _trimmed(cells: _Cells) -> _Cells:
    """Drop blank lines at the very end (harmless); a blank line between rows is reported by the checks."""
    filled = ~cells.row_empty
    last = len(filled) - int(np.argmax(filled[::-1])) if filled.any() else 0
    if last == len(filled):
        return cells
    return _Cells(cells.timestamp[:last], [v[:last] for v in cells.values], cells.row_empty[:last])


def _number_cells(path: Path) -> _Cells | None:
    """The cells with the values parsed while reading; None when a value is not a finite number."""
    try:
        table = _read_table(path, _AS_NUMBERS)
    except pa.ArrowInvalid:
        return None  # a value that is not a number, a line with another number of fields, bad UTF-8 …
    # Column by column, each dropped from the table once copied out, so the file is never held twice.
    timestamp = table.column("timestamp").combine_chunks()
    table = table.drop_columns(["timestamp"])
    if _not_plain(timestamp):
        raise _NotPlain  # a value with a quote does not parse as a number, so only the time can hold one
    row_empty = pc.equal(pc.binary_length(timestamp), 0).to_numpy(zero_copy_only=False)
    values = []
    for name in FIELDS:
        column = table.column(name)
        table = table.drop_columns([name])
        numbers = column.to_numpy()
        if not numbers.flags.writeable:
            numbers = numbers.copy()  # a batch's arrays are writable, whichever reader made them
        empty = column.is_null().to_numpy()
        del column
        if not np.isfinite(numbers[~empty]).all():
            return None  # "NaN", "inf": the message quotes the cell, so read it as text
        values.append(numbers)
        row_empty = row_empty & empty
    return _Cells(timestamp, values, row_empty)


def _text_cells(path: Path) -> _Cells:
    table = _read_table(path, _AS_TEXT)
    columns = [table.column(name).combine_chunks() for name in COLUMNS]
    del table
    if any(_not_plain(column) for column in columns):
        raise _NotPlain
    row_empty = np.ones(len(columns[0]), dtype=bool)
    for column in columns:
        row_empty &= pc.equal(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
    return _Cells(columns[0], columns[1:], row_empty)


def _arrow_cells(path: Path) -> _Cells | None:
    try:
        if not _plain_header(path):
            return None
        cells = _number_cells(path) or _text_cells(path)
    except (_NotPlain, pa.ArrowException, OSError, EOFError, zlib.error, ValueError):
        return None  # the exact reader says what is wrong (or reads what is unusual)
    return _trimmed(cells)


# ---------------------------------------------------------------------------------------------
# The checks.


def _offsets(column: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets (int64, n + 1) and the data bytes (uint8) of a string array."""
    _validity, offsets, data = column.buffers()
    starts = np.frombuffer(offsets, dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    data_bytes = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, dtype=np.uint8)
    return starts.astype(np.int64), data_bytes


# "YYYY-MM-DDTHH:MM:SSZ" from 2000 to 2099: the shape of shared/data/ohlcv, parsed by numpy without pandas.
_CANONICAL_LENGTH = 20
_CANONICAL_MARKS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: "Z"}
_CANONICAL_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_CANONICAL_CHUNK = 1 << 17


def _calendar() -> tuple[np.ndarray, np.ndarray]:
    """Indexed by (year - 2000) * 13 + month: the days in that month, and the day number (since 1970-01-01)
    of its first day. Month 0 has no days, so it never passes."""
    month_days = np.zeros((100, 13), dtype=np.int64)
    first_day = np.zeros((100, 13), dtype=np.int64)
    for k in range(100):
        for month in range(1, 13):
            start = np.datetime64(f"{2000 + k:04d}-{month:02d}", "M")
            first_day[k, month] = start.astype("datetime64[D]").astype(np.int64)
            month_days[k, month] = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(
                np.int64
            )
    return month_days.ravel(), first_day.ravel()


_MONTH_DAYS, _FIRST_DAY = _calendar()


def _canonical_times(column: pa.StringArray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the ``rows`` (int64 indices) whose cell is exactly ``YYYY-MM-DDTHH:MM:SSZ`` with a real date and
    time in 2000–2099: a mask over ``rows`` and their epoch milliseconds (0 elsewhere).

    Any other cell is left to the other parsers; these are cells pandas' ISO-8601 parser reads the same way.
    """
    ok = np.zeros(len(rows), dtype=bool)
    time_ms = np.zeros(len(rows), dtype=np.int64)
    offsets, data = _offsets(column)
    for first in range(0, len(rows), _CANONICAL_CHUNK):  # in slices: small temporary arrays
        part = slice(first, first + _CANONICAL_CHUNK)
        ok[part], time_ms[part] = _canonical_slice(offsets[:-1][rows[part]], data)
    return ok, time_ms


def _canonical_slice(starts: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(starts)
    if n and starts[-1] - starts[0] == _CANONICAL_LENGTH * (n - 1) and (np.diff(starts) == _CANONICAL_LENGTH).all():
        block = data[starts[0] : starts[0] + _CANONICAL_LENGTH * n].reshape(n, _CANONICAL_LENGTH)

        def byte(k: int) -> np.ndarray:
            return block[:, k]
    else:

        def byte(k: int) -> np.ndarray:
            return data[starts + k]

    ok = np.ones(n, dtype=bool)
    for k, mark in _CANONICAL_MARKS.items():
        ok &= byte(k) == ord(mark)
    digit = {}
    for k in _CANONICAL_DIGITS:
        digit[k] = byte(k) - np.uint8(ord("0"))  # wraps below "0", so one test finds every non-digit
        ok &= digit[k] <= 9

    def two(first: int, second: int) -> np.ndarray:
        value = digit[first].astype(np.int32)
        value *= 10
        value += digit[second]
        return value

    ok &= (digit[0] == 2) & (digit[1] == 0)  # 2000 to 2099
    month, day = two(5, 6), two(8, 9)
    hour, minute, second = two(11, 12), two(14, 15), two(17, 18)
    key = two(2, 3) * 13 + month
    np.clip(key, 0, len(_MONTH_DAYS) - 1, out=key)
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= _MONTH_DAYS[key])
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    days = _FIRST_DAY[key] + day - 1
    seconds = (hour * 3600 + minute * 60 + second).astype(np.int64)
    return ok, np.where(ok, (days * 86_400 + seconds) * 1000, 0)


def _epoch_times(column: pa.StringArray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the ``rows`` whose cell is 1 to 18 ASCII digits: a mask over ``rows`` and the integers."""
    subset = column.take(pa.array(rows))
    ok = pc.match_substring_regex(subset, r"^[0-9]{1,18}$").to_numpy(zero_copy_only=False)
    time_ms = np.zeros(len(rows), dtype=np.int64)
    if ok.any():
        time_ms[ok] = pc.cast(subset.filter(pa.array(ok)), pa.int64()).to_numpy()
    return ok, time_ms


def _zoned_times(cells: list[str]) -> tuple[np.ndarray, ...]:
    """The timestamp rules cell by cell (pandas' ISO-8601 parser), for cells of any other shape.

    Returns epoch ms (0 where unusable) and the masks empty, bad, naive, sub_ms, over ``cells``.
    """
    n = len(cells)
    text = [cell.strip() for cell in cells]
    empty = np.array([t == "" for t in text], dtype=bool)
    digits = np.array([re.fullmatch(_DIGITS_RE, t) is not None for t in text], dtype=bool)
    time_ms = np.zeros(n, dtype=np.int64)
    for i in np.flatnonzero(digits):
        time_ms[i] = int(text[i])
    bad = np.zeros(n, dtype=bool)
    naive = np.zeros(n, dtype=bool)
    sub_ms = np.zeros(n, dtype=bool)
    candidates = ~digits & ~empty
    if candidates.any():
        idx = np.flatnonzero(candidates)
        subset = pd.Series([text[i] for i in idx], dtype=object)
        parsed = pd.to_datetime(subset, format="ISO8601", utc=True, errors="coerce")
        ok = parsed.notna().to_numpy()
        zoned = np.array([re.fullmatch(_ZONED_RE, t) is not None for t in subset], dtype=bool)
        # In the parsed unit, not nanoseconds: a typo like 3024-01-01T00:00:00Z is a time out of range, not a crash.
        stamps = parsed.dt.tz_convert(None).to_numpy()
        whole_ms = stamps.astype("datetime64[ms]")  # floored
        bad[idx] = ~ok
        naive[idx] = ok & ~zoned
        sub_ms[idx] = ok & zoned & (stamps != whole_ms.astype(stamps.dtype))
        time_ms[idx] = np.where(ok & zoned, whole_ms.view(np.int64), 0)
    return time_ms, empty, bad, naive, sub_ms


def _parse_times(raw: pa.StringArray, row_empty: np.ndarray) -> tuple[np.ndarray, list[Check], np.ndarray]:
    """Epoch ms for every row (0 where unusable), the timestamp checks, and the mask of usable times."""
    n = len(raw)
    time_ms = np.zeros(n, dtype=np.int64)
    empty = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    naive = np.zeros(n, dtype=bool)
    sub_ms = np.zeros(n, dtype=bool)

    lengths = np.diff(_offsets(raw)[0])
    rows = np.flatnonzero(~row_empty & (lengths == _CANONICAL_LENGTH))
    canonical, times = _canonical_times(raw, rows)
    time_ms[rows[canonical]] = times[canonical]
    left = ~row_empty
    left[rows[canonical]] = False
    rows = np.flatnonzero(left & (lengths >= 1) & (lengths <= 18))
    if len(rows):
        epoch, times = _epoch_times(raw, rows)
        time_ms[rows[epoch]] = times[epoch]
        left[rows[epoch]] = False
    rows = np.flatnonzero(left)
    if len(rows):
        cells = raw.take(pa.array(rows)).to_pylist()
        times, *masks = _zoned_times(cells)
        time_ms[rows] = times
        for mask, found in zip((empty, bad, naive, sub_ms), masks, strict=True):
            mask[rows] = found

    parsed_ok = ~row_empty & ~empty & ~bad & ~naive
    out_of_range = parsed_ok & ((time_ms < MIN_TIME_MS) | (time_ms >= MAX_TIME_MS))
    usable = parsed_ok & ~out_of_range & ~sub_ms

    def value(i: int) -> str:
        return repr(raw[i].as_py())

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
                _("timestamp %(value)s is before 2000 or in 2100 or later (epoch timestamps must be in milliseconds)")
                % {"value": value(i)}
            ),
        ),
        (sub_ms, lambda i: _("timestamp %(value)s has a fraction of a millisecond") % {"value": value(i)}),
    ]
    return time_ms, checks, usable


def _text_numbers(raw: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """float64 of every cell (NaN where it does not parse) and the mask of cells that do not parse.

    Python's ``float`` of the stripped cell decides; pyarrow's parser (the same numbers, a little
    stricter) is only a shortcut when it reads every non-empty cell.
    """
    blank = pc.equal(raw, "")
    try:
        numbers = pc.cast(pc.if_else(blank, pa.scalar(None, pa.string()), raw), pa.float64())
    except pa.ArrowInvalid:
        numbers = None
    if numbers is not None:
        values = numbers.to_numpy(zero_copy_only=False)
        unparsed = blank.to_numpy(zero_copy_only=False)
        if np.isfinite(values[~unparsed]).all():
            return values, unparsed
    objects = np.array([cell.strip() for cell in raw.to_pylist()], dtype=object)
    try:
        return objects.astype(np.float64), np.zeros(len(objects), dtype=bool)
    except ValueError:
        # Slow path only for a bad file: find which cells do not parse.
        values = np.full(len(objects), np.nan)
        unparsed = np.zeros(len(objects), dtype=bool)
        for i, cell in enumerate(objects):
            try:
                values[i] = float(cell)
            except ValueError:
                unparsed[i] = True
        return values, unparsed


def _parse_values(cells: _Cells) -> tuple[list[np.ndarray], list[Check]]:
    arrays: list[np.ndarray] = []
    checks: list[Check] = []
    row_empty = cells.row_empty
    for name, raw in zip(FIELDS, cells.values, strict=True):
        if isinstance(raw, np.ndarray):
            # Parsed while reading: NaN only where the cell is empty, every other number is finite.
            empty = np.isnan(raw) & ~row_empty
            arrays.append(raw)
            checks.append((empty, lambda i, name=name: _("%(field)s is empty") % {"field": name}))
            continue
        values, unparsed = _text_numbers(raw)
        empty = np.zeros(len(raw), dtype=bool)
        if unparsed.any():  # a cell that is blank once stripped never parses
            idx = np.flatnonzero(unparsed)
            empty[idx] = [cell.strip() == "" for cell in raw.take(pa.array(idx)).to_pylist()]
        empty &= ~row_empty
        not_number = unparsed & ~empty & ~row_empty
        not_finite = ~unparsed & ~np.isfinite(values)
        values = np.where(unparsed | not_finite, np.nan, values)
        arrays.append(values)
        checks += [
            (empty, lambda i, name=name: _("%(field)s is empty") % {"field": name}),
            (
                not_number,
                lambda i, name=name, raw=raw: (
                    _("%(field)s %(value)s is not a number") % {"field": name, "value": repr(raw[i].as_py())}
                ),
            ),
            (
                not_finite,
                lambda i, name=name, raw=raw: (
                    _("%(field)s is %(value)s; only finite numbers are allowed")
                    % {"field": name, "value": repr(raw[i].as_py().strip())}
                ),
            ),
        ]
    return arrays, checks


def _checked_batch(cells: _Cells, timeframe: str) -> CandleBatch:
    if not len(cells):
        return CandleBatch.empty()
    row_empty = cells.row_empty
    time_ms, time_checks, time_ok = _parse_times(cells.timestamp, row_empty)
    values, value_parse_checks = _parse_values(cells)

    keyed = np.where(time_ok, time_ms, -1 - np.arange(len(time_ms), dtype=np.int64))
    increasing = bool((np.diff(keyed[time_ok]) > 0).all())
    duplicate = np.zeros(len(keyed), dtype=bool) if increasing else pd.Series(keyed).duplicated(keep="first").to_numpy()

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

    if increasing:
        return CandleBatch(time_ms, *(np.ascontiguousarray(v) for v in values))
    order = np.argsort(time_ms, kind="stable")
    return CandleBatch(time_ms[order], *(np.ascontiguousarray(v[order]) for v in values))


def read_candle_csv(path: str | Path, *, timeframe: str) -> CandleBatch:
    """Read, check and sort a candle file; raises ``CandleImportError`` naming the first bad line."""
    path = Path(path)
    cells = _arrow_cells(path)
    if cells is None:
        cells = _pandas_cells(path)
    return _checked_batch(cells, timeframe)


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
