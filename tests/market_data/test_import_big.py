"""The fast CSV reader (pyarrow) against pandas: the same arrays from real files, the same message and line from
bad ones (also deep inside a big file), and a million-row-class write that round-trips exactly."""

from __future__ import annotations

import datetime as dt
import gzip
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from market_data import csv_import
from market_data.csv_import import read_candle_csv
from market_data.exceptions import CandleImportError
from market_data.models import Candle
from market_data.selectors import load_candles
from market_data.services import candles_import_csv, candles_upsert
from market_data.timeframes import format_ms
from market_data.validation import FIELDS, CandleBatch
from tests.market_data.conftest import HEADER, OHLCV_DIR, file_lines, iso_to_ms, write_csv

REAL_FILES = [
    ("binance_BTCUSDT_1m.csv.gz", "1m"),
    ("binance_ETHUSDT_5m.csv.gz", "5m"),
    ("binance_SOLUSDT_1h.csv.gz", "1h"),
    ("binance_XRPUSDT_1d.csv.gz", "1d"),
]


def _reference(lines: list[str] | tuple[str, ...]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sorted epoch ms and float64 columns the way the reader before pyarrow computed them: pandas' ISO-8601
    parser (or int) per timestamp, Python's float per value."""
    cells = [line.split(",") for line in lines]
    stamps = [row[0].strip() for row in cells]
    epoch = [s.isdigit() for s in stamps]
    parsed = pd.to_datetime(
        pd.Series([s for s, e in zip(stamps, epoch, strict=True) if not e], dtype=object), format="ISO8601", utc=True
    )
    iso_ms = iter(((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")).tolist())
    time_ms = np.array([int(s) if e else next(iso_ms) for s, e in zip(stamps, epoch, strict=True)], dtype=np.int64)
    values = [np.array([float(row[k + 1]) for row in cells]) for k in range(len(FIELDS))]
    order = np.argsort(time_ms, kind="stable")
    return time_ms[order], [v[order] for v in values]


def _assert_same(batch: CandleBatch, expected: tuple[np.ndarray, list[np.ndarray]]) -> None:
    time_ms, values = expected
    np.testing.assert_array_equal(batch.time_ms, time_ms)
    assert batch.time_ms.dtype == np.int64
    for name, column in zip(FIELDS, values, strict=True):
        got = getattr(batch, name)
        assert got.dtype == np.float64 and got.flags.writeable and got.flags.c_contiguous
        np.testing.assert_array_equal(got.view(np.int64), column.view(np.int64), err_msg=name)  # bit for bit


def _uses_the_fast_reader(path: Path) -> bool:
    return csv_import._arrow_cells(Path(path)) is not None


@pytest.mark.parametrize(("name", "timeframe"), REAL_FILES)
def test_real_files_give_the_same_arrays_as_pandas(tmp_path, name, timeframe):
    lines = file_lines(OHLCV_DIR / name)
    expected = _reference(lines)
    shipped = OHLCV_DIR / name
    assert _uses_the_fast_reader(shipped)
    _assert_same(read_candle_csv(shipped, timeframe=timeframe), expected)

    plain = write_csv(tmp_path / "plain.csv", lines)
    assert _uses_the_fast_reader(plain)
    _assert_same(read_candle_csv(plain, timeframe=timeframe), expected)

    # Epoch milliseconds, Windows line ends, a BOM, blank lines at the end, rows out of order.
    epoch = [f"{iso_to_ms(line.split(',', 1)[0])},{line.split(',', 1)[1]}" for line in lines]
    random.Random(7).shuffle(epoch)  # noqa: S311 (a fixed order for a test)
    text = "\ufeff" + HEADER + "\r\n" + "\r\n".join(epoch) + "\r\n\r\n\n"
    odd = tmp_path / "odd.csv.gz"
    odd.write_bytes(gzip.compress(text.encode()))
    assert _uses_the_fast_reader(odd)
    _assert_same(read_candle_csv(odd, timeframe=timeframe), expected)

    # Other ISO-8601 spellings of the same times (pandas reads those cells).
    spelled = [line.replace("Z,", "+00:00,", 1) if i % 3 == 0 else line for i, line in enumerate(lines)]
    spelled = [line.replace("T", " ", 1) if i % 5 == 0 else line for i, line in enumerate(spelled)]
    mixed = write_csv(tmp_path / "mixed.csv", spelled)
    assert _uses_the_fast_reader(mixed)
    _assert_same(read_candle_csv(mixed, timeframe=timeframe), expected)


def test_exact_reader_gives_the_same_arrays(tmp_path):
    lines = file_lines(OHLCV_DIR / "binance_BTCUSDT_1h.csv.gz")
    quoted = write_csv(tmp_path / "quoted.csv", [f'"{line.replace(",", chr(34) + "," + chr(34))}"' for line in lines])
    assert not _uses_the_fast_reader(quoted)  # a quote: pandas cuts the file, as before
    _assert_same(read_candle_csv(quoted, timeframe="1h"), _reference(lines))


# ---------------------------------------------------------------------------------------------
# A big file: 200,000 real 1m candles (the BTC 1m file repeated, re-stamped on one continuous 1m grid).

BIG_ROWS = 200_000
BAD_LINE = 150_001
START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z


@pytest.fixture(scope="module")
def big_lines() -> list[str]:
    values = [line.split(",", 1)[1] for line in file_lines(OHLCV_DIR / "binance_BTCUSDT_1m.csv.gz")]
    stamps = np.datetime_as_string((START_MS + 60_000 * np.arange(BIG_ROWS)).astype("datetime64[ms]"), unit="s")
    return [f"{t}Z,{values[i % len(values)]}" for i, t in enumerate(stamps.tolist())]


def _stamp(line: int) -> str:
    return format_ms(START_MS + 60_000 * (line - 2))


def _replace(lines: list[str], line: int, row: str) -> list[str]:
    changed = list(lines)
    changed[line - 2] = row
    return changed


def _values(lines: list[str], line: int) -> list[str]:
    return lines[line - 2].split(",")[1:]


def test_big_file_reads_whole(tmp_path, big_lines):
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([HEADER, *big_lines]) + "\n").encode(), compresslevel=1))
    assert _uses_the_fast_reader(path)
    batch = read_candle_csv(path, timeframe="1m")
    assert len(batch) == BIG_ROWS
    assert batch.time_ms[0] == START_MS and (np.diff(batch.time_ms) == 60_000).all()
    assert batch.close[BAD_LINE - 2] == float(_values(big_lines, BAD_LINE)[3])


@pytest.mark.parametrize(
    ("make_row", "message"),
    [
        pytest.param(
            lambda stamp, v: f"{stamp},{v[0]},{v[2]},{v[1]},{v[3]},{v[4]}",
            "high {2} is below low {1}",
            id="high<low",
        ),
        pytest.param(
            lambda stamp, v: f"{stamp},{v[0]},{v[1]},{v[2]},abc,{v[4]}", "close 'abc' is not a number", id="text"
        ),
        pytest.param(lambda stamp, v: f"{stamp},{v[0]},{v[1]},{v[2]},NaN,{v[4]}", "close is 'NaN'", id="nan"),
        pytest.param(
            lambda stamp, v: f"{stamp},{v[0]},{v[1]},{v[2]},{v[3]},{v[4]},7", "expected 6 fields, found 7", id="extra"
        ),
        pytest.param(lambda stamp, v: "", "the line is empty", id="blank"),
        pytest.param(
            lambda stamp, v: f"{stamp[:-3]}30Z,{','.join(v)}",
            "timestamp {stamp30} is not on the 1m grid",
            id="off-grid",
        ),
        pytest.param(
            lambda stamp, v: f"{_stamp(100)},{','.join(v)}",
            "duplicate timestamp {first} (first on line 100)",
            id="duplicate",
        ),
        pytest.param(
            lambda stamp, v: f"2100-01-01T00:00:00Z,{','.join(v)}",
            "timestamp '2100-01-01T00:00:00Z' is before 2000 or in 2100 or later",
            id="2100",
        ),
    ],
)
def test_bad_row_deep_inside_a_big_file_is_reported_with_its_line(tmp_path, big_lines, make_row, message):
    values = _values(big_lines, BAD_LINE)
    lines = _replace(big_lines, BAD_LINE, make_row(_stamp(BAD_LINE), values))
    # A second bad row further down must not be the one reported.
    lines = _replace(lines, BAD_LINE + 20_000, f"{_stamp(BAD_LINE + 20_000)},1,1,2,1,1")
    path = write_csv(tmp_path / "big_bad.csv", lines)
    with pytest.raises(CandleImportError) as caught:
        read_candle_csv(path, timeframe="1m")
    expected = message.format(
        *(repr(float(x)) for x in values), stamp30=_stamp(BAD_LINE)[:-3] + "30Z", first=_stamp(100)
    )
    assert str(caught.value).startswith(f"line {BAD_LINE}: {expected}"), str(caught.value)
    assert caught.value.line == BAD_LINE


def test_quoted_cell_deep_inside_a_big_file_is_read_as_before(tmp_path, big_lines):
    values = _values(big_lines, BAD_LINE)
    lines = _replace(big_lines, BAD_LINE, f'"{_stamp(BAD_LINE)}",{values[0]},"{values[1]}",{",".join(values[2:])}')
    path = write_csv(tmp_path / "quoted.csv", lines)
    assert not _uses_the_fast_reader(path)
    batch = read_candle_csv(path, timeframe="1m")
    _assert_same(batch, _reference(big_lines))


# ---------------------------------------------------------------------------------------------
# Small odd files: the fast reader and pandas cut them the same way (a seeded mutation sweep).

_MUTATIONS = [" ", "\t", '"', "\x00", "\xa0", "e", "+", "-", ".", "_", "Z", "T", ":", "9", "nan", "inf", "\r", ","]


def _mutated_file(rng: random.Random, lines: tuple[str, ...]) -> str:
    start = rng.randrange(0, len(lines) - 30)
    rows = list(lines[start : start + rng.randint(1, 25)])
    if rng.random() < 0.3:
        rows = [f"{iso_to_ms(r.split(',', 1)[0])},{r.split(',', 1)[1]}" for r in rows]
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        i = rng.randrange(len(rows))
        cells = rows[i].split(",")
        kind = rng.random()
        if kind < 0.6:
            j = rng.randrange(len(cells))
            cell = cells[j]
            k = rng.randint(0, len(cell))
            choice = rng.random()
            if choice < 0.25:
                cells[j] = ""
            elif choice < 0.6:
                cells[j] = cell[:k] + rng.choice(_MUTATIONS) + cell[k:]
            elif choice < 0.75:
                cells[j] = f'"{cell}"'
            elif choice < 0.85:
                cells[j] = f" {cell} "
            else:
                cells[j] = rng.choice(["NaN", "-inf", "1e400", "-0", "0", "1_0", "nan(1)", "+00:00", "0x10"])
            rows[i] = ",".join(cells)
        elif kind < 0.7:
            rows[i] = ""
        elif kind < 0.75:
            rows[i] = "   "
        elif kind < 0.85:
            rows[i] = ",".join(cells[: rng.randint(1, 5)])
        elif kind < 0.9:
            rows[i] += ",7"
        else:
            rows.insert(i, rows[i])
    end = rng.choice(["\n", "\r\n"])
    return HEADER + end + end.join(rows) + rng.choice([end, "", end + end, end + ",,,,," + end])


def _outcome(read) -> tuple:
    try:
        batch = read()
    except CandleImportError as exc:
        return ("error", str(exc), exc.line)
    return ("ok", batch.time_ms.tolist(), [getattr(batch, name).view(np.int64).tolist() for name in FIELDS])


def test_fast_reader_and_pandas_agree_on_odd_files(tmp_path):
    rng = random.Random(12)  # noqa: S311 (seeded: the same files every run)
    lines = file_lines(OHLCV_DIR / "binance_BTCUSDT_1h.csv.gz")
    fast_used = 0
    for n in range(300):
        path = tmp_path / f"odd{n}.csv"
        path.write_bytes(_mutated_file(rng, lines).encode())
        fast = _outcome(lambda path=path: read_candle_csv(path, timeframe="1h"))
        exact = _outcome(lambda path=path: csv_import._checked_batch(csv_import._pandas_cells(path), "1h"))
        assert fast == exact, path.read_bytes()[:400]
        fast_used += _uses_the_fast_reader(path)
    assert fast_used > 150  # most odd files still go the fast way


def test_canonical_time_parser_agrees_with_datetime():
    rng = random.Random(3)  # noqa: S311 (seeded)
    cells = []
    for _ in range(20_000):
        cell = (
            f"{rng.choice([rng.randint(1990, 2110), 2000, 2099, 2100, 2024])}-{rng.randint(0, 13):02d}-"
            f"{rng.choice([rng.randint(0, 32), 28, 29, 30, 31]):02d}T{rng.randint(0, 25):02d}:"
            f"{rng.randint(0, 61):02d}:{rng.randint(0, 61):02d}Z"
        )
        if rng.random() < 0.1:
            k = rng.randrange(20)
            cell = cell[:k] + rng.choice("x-T:Z/ 0") + cell[k + 1 :]
        cells.append(cell)
    ok, time_ms = csv_import._canonical_times(pa.array(cells, pa.string()), np.arange(len(cells)))
    shape = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
    for i, cell in enumerate(cells):
        expected = None
        if shape.fullmatch(cell):
            try:
                when = dt.datetime.strptime(cell, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            except ValueError:
                when = None
            if when is not None and 2000 <= when.year <= 2099:
                expected = int(when.timestamp()) * 1000
        assert (int(time_ms[i]) if ok[i] else None) == expected, cell


# ---------------------------------------------------------------------------------------------
# The write: every value stored and read back bit for bit (binary COPY on PostgreSQL).


@pytest.mark.django_db
def test_big_import_round_trips_and_updates_exactly():
    path = OHLCV_DIR / "binance_BTCUSDT_1m.csv.gz"
    batch = read_candle_csv(path, timeframe="1m")
    report = candles_import_csv(path=path, exchange="binance", symbol="BTC/USDT", timeframe="1m")
    assert (report.inserted, report.updated, report.unchanged) == (41_760, 0, 0)
    frame = load_candles("binance", "BTC/USDT", "1m")
    np.testing.assert_array_equal(frame.index.asi8 // 1_000_000, batch.time_ms)
    np.testing.assert_array_equal(frame.to_numpy().view(np.int64), batch.values().view(np.int64))
    assert Candle.objects.get(open_time=dt.datetime(2024, 8, 5, 0, 0, tzinfo=dt.UTC)).close == float(
        file_lines(path)[9 * 1440].split(",")[4]
    )

    changed = batch.take(np.arange(1000, 4000))
    changed = CandleBatch(
        changed.time_ms, changed.open, changed.high * 2, changed.low, changed.close, changed.volume + 0.125
    )
    result = candles_upsert(exchange="binance", symbol="BTC/USDT", timeframe="1m", candles=changed)
    assert (result.inserted, result.updated, result.unchanged) == (0, 3000, 0)
    stored = load_candles("binance", "BTC/USDT", "1m")
    np.testing.assert_array_equal(stored["high"].to_numpy()[1000:4000], batch.high[1000:4000] * 2)
    np.testing.assert_array_equal(stored["volume"].to_numpy()[1000:4000], batch.volume[1000:4000] + 0.125)
    np.testing.assert_array_equal(stored["high"].to_numpy()[4000:], batch.high[4000:])
    assert Candle.objects.count() == 41_760
