"""import_candles, fetch_candles and seed_demo, called the way an operator runs them."""

from __future__ import annotations

import re
import shutil
import time
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command

from accounts.models import User
from market_data.models import Candle, MarketDataSource
from tests.market_data.conftest import BTC_1D, kline_rows, write_csv

pytestmark = pytest.mark.django_db


def run(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_import_candles_prints_one_summary_line():
    out, _err = run("import_candles", str(BTC_1D), "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1d")
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("binance BTC/USDT 1d: read 1564, inserted 1564, updated 0, unchanged 0;")
    assert "2020-09-20T00:00Z … 2024-12-31T00:00Z" in lines[0]
    assert re.search(r"; \d+\.\d\d s$", lines[0])

    out, _err = run("import_candles", str(BTC_1D), "--symbol", "BTCUSDT", "--timeframe", "1d", "--exchange", "binance")
    assert "inserted 0, updated 0, unchanged 1564" in out


def test_import_candles_reads_market_from_the_file_name(tmp_path):
    path = tmp_path / "binance_BTCUSDT_1d.csv.gz"
    shutil.copy(BTC_1D, path)
    out, _err = run("import_candles", str(path))
    assert out.startswith("binance BTC/USDT 1d: read 1564")


def test_import_candles_bad_file_fails_with_the_line(tmp_path, btc_1h_lines):
    lines = list(btc_1h_lines[:5])
    lines[2] = lines[2].replace(lines[2].split(",")[2], "1", 1)  # high far below low
    path = write_csv(tmp_path / "bad.csv", lines)
    with pytest.raises(CommandError) as caught:
        run("import_candles", str(path), "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h")
    message = str(caught.value)
    assert "line 4: high 1.0 is below low" in message
    assert "nothing was imported" in message
    assert Candle.objects.count() == 0

    with pytest.raises(CommandError, match="give --exchange, --symbol and --timeframe"):
        run("import_candles", str(path))
    with pytest.raises(CommandError, match="not a market symbol"):
        run("import_candles", str(path), "--exchange", "binance", "--symbol", "BTC", "--timeframe", "1h")


def test_fetch_candles_against_the_fake_exchange(fake_binance, btc_1h_lines):
    fake_binance.klines["BTCUSDT"] = kline_rows(btc_1h_lines[:1200])
    out, _err = run(
        "fetch_candles",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--since",
        "2020-09-20",
        "--api-url",
        fake_binance.url,
    )
    assert out.startswith("binance BTC/USDT 1h: 3 requests from 2020-09-20T00:00Z, received 1200, inserted 1200,")
    assert Candle.objects.count() == 1200


def test_fetch_candles_without_network_fails_in_one_line(closed_port_url):
    with pytest.raises(CommandError) as caught:
        run(
            "fetch_candles",
            "--exchange",
            "binance",
            "--symbol",
            "BTC/USDT",
            "--timeframe",
            "1h",
            "--api-url",
            closed_port_url,
        )
    message = str(caught.value)
    assert message.startswith("Cannot reach binance: ")
    assert "\n" not in message


def test_fetch_candles_bad_arguments():
    with pytest.raises(CommandError, match="--since 'soon' is not a date"):
        run("fetch_candles", "--symbol", "BTC/USDT", "--since", "soon")
    with pytest.raises(CommandError, match="Unknown timeframe"):
        run("fetch_candles", "--symbol", "BTC/USDT", "--timeframe", "1w")


def _password(out: str) -> str:
    match = re.search(r"E-mail: demo@trendy\.local  Password: (\S+)", out)
    assert match, out
    return match.group(1)


def test_seed_demo_creates_the_user_and_imports_the_folder(tmp_path, settings, client, btc_1h_lines, btc_1d_lines):
    write_csv(tmp_path / "binance_BTCUSDT_1h.csv.gz", btc_1h_lines[:48], gz=True)
    write_csv(tmp_path / "binance_ETHUSDT_1d.csv.gz", btc_1d_lines[:10], gz=True)
    (tmp_path / "notes.txt").write_text("not a candle file")
    settings.TRENDY_OHLCV_DIR = tmp_path

    out, err = run("seed_demo")
    password = _password(out)
    assert len(password) >= 16
    assert "binance BTC/USDT 1h: read 48, inserted 48" in out
    assert "binance ETH/USDT 1d: read 10, inserted 10" in out
    assert err == ""
    user = User.objects.get(email="demo@trendy.local")
    assert EmailAddress.objects.filter(user=user, email="demo@trendy.local", verified=True, primary=True).exists()
    assert client.login(email="demo@trendy.local", password=password)

    out, err = run("seed_demo")
    assert "binance BTC/USDT 1h: already loaded (48 candles), skipped." in out
    assert "binance ETH/USDT 1d: already loaded (10 candles), skipped." in out
    assert _password(out) != password
    assert User.objects.filter(email="demo@trendy.local").count() == 1
    assert Candle.objects.count() == 58

    # A file that grew is imported again (only its new rows are inserted).
    write_csv(tmp_path / "binance_BTCUSDT_1h.csv.gz", btc_1h_lines[:50], gz=True)
    out, _err = run("seed_demo", "--password", "demo-password-123")
    assert "binance BTC/USDT 1h: read 50, inserted 2, updated 0, unchanged 48" in out
    assert client.login(email="demo@trendy.local", password="demo-password-123")


def test_seed_demo_reports_a_bad_file_and_goes_on(tmp_path, settings, btc_1d_lines):
    write_csv(tmp_path / "binance_BTCUSDT_1d.csv.gz", [*btc_1d_lines[:3], "oops,1,2,3,4,5"], gz=True)
    write_csv(tmp_path / "binance_ETHUSDT_1d.csv.gz", btc_1d_lines[:3], gz=True)
    settings.TRENDY_OHLCV_DIR = tmp_path
    out, err = run("seed_demo")
    assert "binance_BTCUSDT_1d.csv.gz: not imported: line 5: timestamp 'oops'" in err
    assert "binance ETH/USDT 1d: read 3, inserted 3" in out


def test_seed_demo_without_folder_or_network_loads_the_bundled_sample(tmp_path, settings, closed_port_url):
    settings.TRENDY_OHLCV_DIR = tmp_path / "missing"
    started = time.perf_counter()
    out, err = run("seed_demo", "--api-url", closed_port_url)
    assert "E-mail: demo@trendy.local" in out
    assert f"{tmp_path / 'missing'} does not exist (TRENDY_OHLCV_DIR); trying binance (365 days of 1h candles)." in out
    port = closed_port_url.rsplit(":", 1)[1]
    assert f"Market data: binance cannot be reached (127.0.0.1:{port} did not answer; 0.0 s)." in out
    assert "Market data: the bundled sample (BTC/USDT, ETH/USDT 1h, 2024; market_data/sample/)." in out
    # The demo's market first.
    assert out.index("binance BTC/USDT 1h: read 8784, inserted 8784") < out.index("binance ETH/USDT 1h: read 8784")
    assert err == ""
    assert Candle.objects.filter(symbol="BTC/USDT", timeframe="1h").count() == 8784
    assert Candle.objects.filter(symbol="ETH/USDT", timeframe="1h").count() == 8784
    source = MarketDataSource.objects.get()
    assert (source.kind, source.exchange, source.folder) == ("sample", "binance", "")
    assert time.perf_counter() - started < 10  # no network wait: the refused probe decides at once

    # Again: nothing to load twice.
    out, err = run("seed_demo", "--api-url", closed_port_url)
    assert "binance BTC/USDT 1h: already loaded (8784 candles), skipped." in out
    assert Candle.objects.count() == 2 * 8784
    assert MarketDataSource.objects.count() == 1


def test_seed_demo_an_empty_folder_falls_through_like_a_missing_one(tmp_path, settings, closed_port_url):
    (tmp_path / "notes.txt").write_text("no candles here")
    settings.TRENDY_OHLCV_DIR = tmp_path
    settings.TRENDY_EXCHANGE_API_URLS = {"binance": closed_port_url}  # the setting, not --api-url
    out, _err = run("seed_demo", "--password", "x-demo-password-1")
    assert f"{tmp_path} has no binance_<PAIR>_<tf>.csv.gz files (TRENDY_OHLCV_DIR)" in out
    assert "binance cannot be reached" in out
    assert MarketDataSource.objects.get().kind == "sample"


def test_seed_demo_folder_whose_files_all_fail_falls_through(tmp_path, settings, closed_port_url):
    write_csv(tmp_path / "binance_BTCUSDT_1h.csv.gz", ["oops,1,2,3,4,5"], gz=True)
    settings.TRENDY_OHLCV_DIR = tmp_path
    out, err = run("seed_demo", "--api-url", closed_port_url)
    assert "binance_BTCUSDT_1h.csv.gz: not imported: line 2: timestamp 'oops'" in err
    assert f"no file in {tmp_path} could be loaded; trying binance." in out
    assert MarketDataSource.objects.get().kind == "sample"


def test_seed_demo_records_the_folder(tmp_path, settings, btc_1h_lines):
    write_csv(tmp_path / "binance_BTCUSDT_1h.csv.gz", btc_1h_lines[:48], gz=True)
    settings.TRENDY_OHLCV_DIR = tmp_path
    run("seed_demo")
    source = MarketDataSource.objects.get()
    assert (source.kind, source.folder) == ("files", str(tmp_path))  # outside the project: the full path


def test_seed_demo_unmigrated_database_is_one_sentence(settings):
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.delete_model(MarketDataSource)
    try:
        run("seed_demo", "--no-candles", "--password", "x-demo-password-1")  # no source is written without candles
        settings.TRENDY_OHLCV_DIR = settings.BASE_DIR / "market_data" / "sample"
        with pytest.raises(CommandError) as caught:
            run("seed_demo", "--password", "x-demo-password-1")
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(MarketDataSource)
    message = str(caught.value)
    assert message.startswith("The database is not ready (")
    assert message.endswith("run `python manage.py migrate` (or `make migrate`) first.")
    assert "\n" not in message


def test_seed_demo_without_folder_fetches_a_year(tmp_path, settings, fake_binance, btc_1h_lines):
    settings.TRENDY_OHLCV_DIR = tmp_path / "missing"
    # Real candle values, moved to the last 24 closed hours (the fetch asks for the last 12 months).
    hour = 3_600_000
    last_closed = int(time.time() * 1000) // hour * hour - hour
    rows = [[last_closed - (23 - i) * hour, *row[1:]] for i, row in enumerate(kline_rows(btc_1h_lines[-24:]))]
    fake_binance.klines["BTCUSDT"] = rows
    fake_binance.klines["ETHUSDT"] = rows[:12]
    out, err = run("seed_demo", "--api-url", fake_binance.url)
    assert err == ""
    assert re.search(r"binance BTC/USDT 1h: fetching…\nbinance BTC/USDT 1h: \d+ requests from ", out)
    assert "binance BTC/USDT 1h:" in out and "inserted 24" in out
    assert "binance ETH/USDT 1h:" in out and "inserted 12" in out
    assert "bundled sample" not in out
    assert Candle.objects.count() == 36
    assert MarketDataSource.objects.get().kind == "exchange"


def test_seed_demo_exchange_failing_mid_fetch_falls_back_to_the_sample(tmp_path, settings, fake_binance):
    settings.TRENDY_OHLCV_DIR = tmp_path / "missing"
    fake_binance.fail_status = 503  # the port answers the probe, the API does not
    out, _err = run("seed_demo", "--api-url", fake_binance.url)
    assert "binance BTC/USDT 1h: fetching…" in out
    assert "binance BTC/USDT 1h: not fetched: " in out
    assert "Market data: the bundled sample" in out
    assert MarketDataSource.objects.get().kind == "sample"


def test_seed_demo_exchange_with_no_candles_falls_back_to_the_sample(tmp_path, settings, fake_binance):
    settings.TRENDY_OHLCV_DIR = tmp_path / "missing"
    out, _err = run("seed_demo", "--api-url", fake_binance.url)  # the fake lists the markets, with no candles
    assert "binance BTC/USDT 1h: no candles came back." in out
    assert "Market data: the bundled sample" in out
    assert MarketDataSource.objects.get().kind == "sample"


def test_seed_demo_no_candles(tmp_path, settings):
    settings.TRENDY_OHLCV_DIR = tmp_path / "missing"
    out, _err = run("seed_demo", "--no-candles", "--password", "x-demo-password-1")
    assert "Market data: skipped (--no-candles)." in out
    assert Candle.objects.count() == 0
