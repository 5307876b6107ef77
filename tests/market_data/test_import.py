"""CSV import: real Binance files, idempotent re-import, updates, and every kind of bad row (nothing written)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from market_data.exceptions import CandleImportError, InvalidMarket
from market_data.models import Candle
from market_data.services import candles_import_csv
from tests.market_data.conftest import BTC_1D, BTC_1H, iso_to_ms, write_csv

pytestmark = pytest.mark.django_db


def _import(path, timeframe="1h", symbol="BTC/USDT", exchange="binance"):
    return candles_import_csv(path=path, exchange=exchange, symbol=symbol, timeframe=timeframe)


def test_daily_file_imports_every_row_and_reimport_adds_nothing():
    report = _import(BTC_1D, timeframe="1d")
    assert (report.rows_read, report.inserted, report.updated, report.unchanged) == (1564, 1564, 0, 0)
    assert report.first_open_time == datetime(2020, 9, 20, tzinfo=UTC)
    assert report.last_open_time == datetime(2024, 12, 31, tzinfo=UTC)
    assert Candle.objects.filter(exchange="binance", symbol="BTC/USDT", timeframe="1d").count() == 1564

    again = _import(BTC_1D, timeframe="1d")
    assert (again.rows_read, again.inserted, again.updated, again.unchanged) == (1564, 0, 0, 1564)
    assert Candle.objects.count() == 1564


def test_hourly_file_keeps_gaps_and_zero_volume_candles():
    report = _import(BTC_1H)
    assert (report.rows_read, report.inserted) == (37516, 37516)
    candles = Candle.objects.filter(symbol="BTC/USDT", timeframe="1h")
    assert candles.count() == 37516

    halt = candles.get(open_time=datetime(2021, 2, 11, 3, tzinfo=UTC))
    assert halt.volume == 0
    assert halt.open == halt.high == halt.low == halt.close
    assert candles.filter(volume=0).count() == 2
    # 2021-02-11T03:00Z → 05:00Z is a gap of one missing hour: nothing was filled in.
    assert not candles.filter(open_time=datetime(2021, 2, 11, 4, tzinfo=UTC)).exists()
    assert not candles.filter(
        open_time__gt=datetime(2020, 12, 21, 13, tzinfo=UTC), open_time__lt=datetime(2020, 12, 21, 18, tzinfo=UTC)
    ).exists()

    assert _import(BTC_1H).inserted == 0


def test_slice_of_hourly_file_and_values_are_exact(tmp_path, btc_1h_lines):
    path = write_csv(tmp_path / "slice.csv", btc_1h_lines[:200])
    report = _import(path)
    assert report.inserted == 200
    first = Candle.objects.order_by("open_time").first()
    _stamp, o, h, lo, c, v = btc_1h_lines[0].split(",")
    assert first.open_time == datetime(2020, 9, 20, tzinfo=UTC)
    assert (first.open, first.high, first.low, first.close, first.volume) == tuple(float(x) for x in (o, h, lo, c, v))


def test_changed_last_candle_is_updated(tmp_path, btc_1h_lines):
    lines = list(btc_1h_lines[:50])
    stamp, o, h, lo, c, v = lines[-1].split(",")
    # The last candle as it looked while still open: lower volume, close at the open.
    lines[-1] = ",".join([stamp, o, h, lo, o, str(float(v) / 3)])
    _import(write_csv(tmp_path / "early.csv", lines))

    report = _import(write_csv(tmp_path / "later.csv", btc_1h_lines[:60]))
    assert (report.inserted, report.updated, report.unchanged) == (10, 1, 49)
    last = Candle.objects.get(open_time=datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    assert (last.close, last.volume) == (float(c), float(v))


def test_stored_candles_missing_from_a_file_are_kept(tmp_path, btc_1h_lines):
    _import(write_csv(tmp_path / "all.csv", btc_1h_lines[:30]))
    holey = [line for i, line in enumerate(btc_1h_lines[:30]) if i % 2 == 0]
    report = _import(write_csv(tmp_path / "holey.csv", holey))
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 15)
    assert Candle.objects.count() == 30


def test_epoch_milliseconds_gzip_and_unsorted_rows(tmp_path, btc_1d_lines):
    iso = write_csv(tmp_path / "iso.csv", btc_1d_lines[:20])
    epoch_lines = [f"{iso_to_ms(line.split(',')[0])},{line.split(',', 1)[1]}" for line in btc_1d_lines[:20]]
    epoch_lines.reverse()
    epoch = write_csv(tmp_path / "epoch.csv.gz", epoch_lines, gz=True)

    assert _import(iso, timeframe="1d").inserted == 20
    report = _import(epoch, timeframe="1d")
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 20)
    assert report.first_open_time == datetime(2020, 9, 20, tzinfo=UTC)


def test_symbols_and_exchanges_are_normalised(tmp_path, btc_1d_lines):
    path = write_csv(tmp_path / "x.csv", btc_1d_lines[:3])
    report = _import(path, timeframe="1d", symbol="btcusdt", exchange=" Binance")
    assert (report.exchange, report.symbol) == ("binance", "BTC/USDT")
    assert _import(path, timeframe="1d", symbol="BTC/USDT", exchange="binance").inserted == 0
    with pytest.raises(InvalidMarket):
        _import(path, timeframe="1d", symbol="BTC")


def test_header_only_file_imports_nothing(tmp_path):
    report = _import(write_csv(tmp_path / "empty.csv", []))
    assert (report.rows_read, report.inserted, report.first_open_time) == (0, 0, None)


GOOD = "2020-09-20T{:02d}:00:00Z,11000,11100,10900,11050,12.5"


def _rows(count: int) -> list[str]:
    return [GOOD.format(hour) for hour in range(count)]


def _with(bad_line: int, row: str, total: int = 20) -> list[str]:
    """``total`` good rows with the row at 1-based file line ``bad_line`` replaced (line 1 is the header)."""
    rows = _rows(total)
    rows[bad_line - 2] = row
    return rows


BAD_ROWS = [
    pytest.param(
        17, "2020-09-20T15:00:00Z,101.8,101.5,102.0,101.9,3", "line 17: high 101.5 is below low 102.0", id="high<low"
    ),
    pytest.param(5, "2020-09-20T03:00:00Z,abc,11100,10900,11050,1", "line 5: open 'abc' is not a number", id="text"),
    pytest.param(6, "2020-09-20T04:00:00Z,11000,11100,10900,NaN,1", "line 6: close is 'NaN'", id="nan"),
    pytest.param(4, "2020-09-20T02:00:00Z,11000,,10900,11050,1", "line 4: high is empty", id="empty-value"),
    pytest.param(
        3,
        "2020-09-20T01:00:00Z,11200,11100,10900,11050,1",
        "line 3: open 11200.0 is outside [low 10900.0, high 11100.0]",
        id="open-out",
    ),
    pytest.param(
        9,
        "2020-09-20T07:00:00Z,11000,11100,10900,10800,1",
        "line 9: close 10800.0 is outside [low 10900.0, high 11100.0]",
        id="close-out",
    ),
    pytest.param(7, "2020-09-20T05:00:00Z,0,11100,0,11050,1", "line 7: open 0.0 must be above 0", id="zero-price"),
    pytest.param(
        8, "2020-09-20T06:00:00Z,-1,11100,-2,11050,1", "line 8: open -1.0 must be above 0", id="negative-price"
    ),
    pytest.param(
        10, "2020-09-20T08:00:00Z,11000,11100,10900,11050,-0.5", "line 10: volume -0.5 is negative", id="neg-volume"
    ),
    pytest.param(
        11,
        "2020-09-20T02:00:00Z,11000,11100,10900,11050,1",
        "line 11: duplicate timestamp 2020-09-20T02:00:00Z (first on line 4)",
        id="duplicate",
    ),
    pytest.param(
        12,
        "2020-09-20T10:30:00Z,11000,11100,10900,11050,1",
        "line 12: timestamp 2020-09-20T10:30:00Z is not on the 1h grid",
        id="off-grid",
    ),
    pytest.param(
        13, "yesterday,11000,11100,10900,11050,1", "line 13: timestamp 'yesterday' is neither ISO-8601", id="bad-time"
    ),
    pytest.param(
        14,
        "2020-09-20T12:00:00,11000,11100,10900,11050,1",
        "line 14: timestamp '2020-09-20T12:00:00' has no time zone",
        id="naive",
    ),
    pytest.param(
        15, "1600574400,11000,11100,10900,11050,1", "line 15: timestamp '1600574400' is before 2000", id="epoch-seconds"
    ),
    pytest.param(
        16, "2020-09-20T14:00:00Z,11000,11100,10900,11050,1,7", "line 16: expected 6 fields, found 7", id="extra-field"
    ),
    pytest.param(18, "", "line 18: the line is empty", id="blank-line"),
    pytest.param(19, ",11000,11100,10900,11050,1", "line 19: timestamp is empty", id="empty-time"),
    pytest.param(20, "2020-09-20T18:00:00Z,11000,11100,10900,inf,1", "line 20: close is 'inf'", id="inf"),
]


@pytest.mark.parametrize(("line", "row", "message"), BAD_ROWS)
def test_bad_row_stops_the_import_with_its_line_and_writes_nothing(tmp_path, line, row, message):
    _import(write_csv(tmp_path / "before.csv", [GOOD.format(23)]))  # a stored candle that must stay as it is
    path = write_csv(tmp_path / "bad.csv", _with(line, row))
    with pytest.raises(CandleImportError) as caught:
        _import(path)
    assert str(caught.value).startswith(message), str(caught.value)
    assert caught.value.line == line
    assert isinstance(caught.value, ValueError)
    assert Candle.objects.count() == 1


def test_first_bad_line_is_reported(tmp_path):
    rows = _with(9, "2020-09-20T07:00:00Z,11000,11100,10900,11050,-1")
    rows[4] = "2020-09-20T04:00:00Z,11000,10000,10900,11050,1"  # line 6, earlier
    with pytest.raises(CandleImportError, match=r"^line 6: high 10000.0 is below low 10900.0$"):
        _import(write_csv(tmp_path / "bad.csv", rows))


@pytest.mark.parametrize(
    ("header", "found"),
    [
        ("time,open,high,low,close,volume", "'time,open,high,low,close,volume'"),
        ("timestamp,open,high,low,close", "'timestamp,open,high,low,close'"),
        ("Timestamp,Open,High,Low,Close,Volume", "'Timestamp,Open,High,Low,Close,Volume'"),
    ],
)
def test_bad_header_says_what_was_expected_and_found(tmp_path, header, found):
    path = write_csv(tmp_path / "bad.csv", _rows(3), header=header)
    with pytest.raises(CandleImportError) as caught:
        _import(path)
    assert str(caught.value) == f"line 1: expected the header timestamp,open,high,low,close,volume, found {found}"
    assert Candle.objects.count() == 0


def test_empty_missing_and_corrupt_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(CandleImportError, match=r"line 1: expected the header .*, found an empty file"):
        _import(empty)
    with pytest.raises(CandleImportError, match="cannot read"):
        _import(tmp_path / "missing.csv")
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(CandleImportError, match="not a valid gzip file"):
        _import(corrupt)


def test_unknown_timeframe(tmp_path):
    path = write_csv(tmp_path / "x.csv", _rows(2))
    with pytest.raises(CandleImportError, match="unknown timeframe '2d'"):
        _import(path, timeframe="2d")
    assert Candle.objects.count() == 0


def test_daily_grid_is_midnight_utc(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["2024-01-01T00:00:00Z,1,2,0.5,1.5,3", "2024-01-02T01:00:00Z,1,2,0.5,1.5,3"])
    with pytest.raises(CandleImportError, match=r"^line 3: timestamp 2024-01-02T01:00:00Z is not on the 1d grid$"):
        _import(path, timeframe="1d")


def test_zone_offsets_are_converted_to_utc(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["2024-01-01T09:00:00+09:00,1,2,0.5,1.5,3"])
    report = _import(path)
    assert report.first_open_time == datetime(2024, 1, 1, tzinfo=UTC)


OUT_OF_RANGE = "is before 2000 or in 2100 or later (epoch timestamps must be in milliseconds)"


@pytest.mark.parametrize(
    "stamp",
    [
        "2000-01-01T00:00:00Z",  # the first open time allowed
        "946684800000",  # the same as epoch milliseconds
        "2099-12-31T23:00:00Z",  # the last 1h candle allowed
        "4102441200000",
        "2099-12-31T23:00:00.000+00:00",
    ],
)
def test_times_from_2000_up_to_the_end_of_2099_are_accepted(tmp_path, stamp):
    report = _import(write_csv(tmp_path / "edge.csv", [f"{stamp},1,2,0.5,1.5,3"]))
    assert report.inserted == 1
    assert 2000 <= report.first_open_time.year <= 2099


@pytest.mark.parametrize(
    "stamp",
    [
        "2100-01-01T00:00:00Z",  # exactly 2100: refused, as the API and the forms refuse the year 2100
        "4102444800000",
        "2100-01-01T09:00:00+09:00",  # the same instant written in another zone
        "1999-12-31T23:00:00Z",
        "946681200000",
        "3024-01-01T00:00:00Z",  # a typo far out of pandas' nanosecond range: a message, not a crash
        "0024-01-01T00:00:00Z",
    ],
)
def test_times_before_2000_or_from_2100_on_are_refused_with_a_message_that_says_so(tmp_path, stamp):
    path = write_csv(tmp_path / "edge.csv", [GOOD.format(0), f"{stamp},1,2,0.5,1.5,3"])
    with pytest.raises(CandleImportError) as caught:
        _import(path)
    assert str(caught.value) == f"line 3: timestamp {stamp!r} {OUT_OF_RANGE}"
    assert Candle.objects.count() == 0
