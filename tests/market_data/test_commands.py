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
from market_data.models import Candle
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


def test_seed_demo_without_folder_or_network_says_so_and_succeeds(tmp_path, settings, closed_port_url):
    settings.TRENDY_OHLCV_DIR = tmp_path / "missing"
    out, err = run("seed_demo", "--api-url", closed_port_url)
    assert "E-mail: demo@trendy.local" in out
    assert f"{tmp_path / 'missing'} does not exist; fetching 365 days of 1h candles" in out
    assert err.count("No market data could be loaded") == 1
    assert "Cannot reach binance" in err
    assert Candle.objects.count() == 0


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
    assert "binance BTC/USDT 1h:" in out and "inserted 24" in out
    assert "binance ETH/USDT 1h:" in out and "inserted 12" in out


def test_seed_demo_no_candles(tmp_path, settings):
    settings.TRENDY_OHLCV_DIR = tmp_path / "missing"
    out, _err = run("seed_demo", "--no-candles", "--password", "x-demo-password-1")
    assert "Market data: skipped (--no-candles)." in out
    assert Candle.objects.count() == 0
