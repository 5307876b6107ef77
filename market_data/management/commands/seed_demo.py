"""Create the demo user and load the demo's candles from the first source that has them:

1. candle files in ``TRENDY_OHLCV_DIR`` (default ``../shared/data/ohlcv``), when the folder has any;
2. the exchange (Binance through ccxt): the last 12 months of BTC/USDT and ETH/USDT 1h, after a quick
   reachability probe, with a short time-out per request;
3. the sample bundled with Trendy (``market_data/sample/``: BTC/USDT and ETH/USDT 1h, 2024).

The source used is recorded (``market_data.sources``): ``market_clock auto`` replays unless it is the
exchange, and every page names it. Nothing here ends in a traceback: a failure is one sentence with
what to do, and the next source is tried.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.services import demo_user_ensure
from market_data import ccxt_client, selectors, services, sources
from market_data.csv_import import peek_candle_file
from market_data.exceptions import MarketDataError
from market_data.management.reports import database_errors_in_one_line, fetch_line, import_line, parse_file_name
from market_data.models import MarketDataSource
from market_data.symbols import normalize_symbol

DEMO_EMAIL = "demo@trendy.local"
FETCH_EXCHANGE = "binance"
FETCH_MARKETS = ("BTC/USDT", "ETH/USDT")
FETCH_TIMEFRAME = "1h"
FETCH_DAYS = 365
FETCH_TIMEOUT_MS = 5_000  # per request: an exchange that answers at all answers well within this
# The demo's market first (the bot and the replay clock run on it), then its companion, then the rest.
FIRST = ("BTCUSDT_1h", "ETHUSDT_1h")


def _demo_first(path: Path) -> tuple[int, str]:
    key = path.name.removeprefix("binance_").removesuffix(".csv.gz")
    return (FIRST.index(key) if key in FIRST else len(FIRST), path.name)


def _shown(folder: Path) -> str:
    """The folder as a user would name it: relative to the project when it is beside it (../shared/…)."""
    relative = os.path.relpath(folder, settings.BASE_DIR)
    return str(folder) if relative.startswith(os.path.join(os.pardir, os.pardir)) else relative


class Command(BaseCommand):
    help = (
        "Create the demo user (or reset its password) and load market data from the first source that has it: "
        "the binance_<PAIR>_<tf>.csv.gz files in TRENDY_OHLCV_DIR, else the last 12 months of 1h BTC/USDT and "
        "ETH/USDT from Binance, else the bundled sample (2024). Files already loaded are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", help="the demo user's password (default: a new random one)")
        parser.add_argument("--no-candles", action="store_true", help="do not load market data")
        parser.add_argument("--api-url", dest="api_url", help="send exchange API calls to this base URL (a proxy)")

    def handle(self, *args: Any, **options: Any) -> None:
        with database_errors_in_one_line():
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        password = options["password"] or secrets.token_urlsafe(12)
        _user, created = demo_user_ensure(email=DEMO_EMAIL, password=password)
        verb = "Created" if created else "Reset the password of"
        self.stdout.write(f"{verb} the demo user. E-mail: {DEMO_EMAIL}  Password: {password}")
        if options["no_candles"]:
            self.stdout.write("Market data: skipped (--no-candles).")
            return

        # 1. Candle files.
        folder = Path(settings.TRENDY_OHLCV_DIR)
        files = sources.candle_files(folder)
        if files:
            self.stdout.write(f"Market data: candle files from {_shown(folder)}.")
            if self._import_files(files):
                sources.data_source_record(kind=MarketDataSource.Kind.FILES, folder=_shown(folder))
                return
            self.stdout.write(f"Market data: no file in {_shown(folder)} could be loaded; trying {FETCH_EXCHANGE}.")
        else:
            why = "has no binance_<PAIR>_<tf>.csv.gz files" if folder.is_dir() else "does not exist"
            self.stdout.write(
                f"Market data: {_shown(folder)} {why} (TRENDY_OHLCV_DIR); trying {FETCH_EXCHANGE} "
                f"({FETCH_DAYS} days of {FETCH_TIMEFRAME} candles)."
            )

        # 2. The exchange.
        api_url = options["api_url"] or settings.TRENDY_EXCHANGE_API_URLS.get(FETCH_EXCHANGE)
        if self._fetch(api_url=api_url):
            sources.data_source_record(kind=MarketDataSource.Kind.EXCHANGE, exchange=FETCH_EXCHANGE)
            return

        # 3. The bundled sample.
        self.stdout.write(f"Market data: the bundled sample ({sources.SAMPLE_DESCRIPTION}; market_data/sample/).")
        if not self._import_files(sources.sample_files()):
            raise CommandError(
                f"The bundled sample in {sources.SAMPLE_DIR} could not be loaded (see above): restore it with "
                "`git checkout -- market_data/sample`, or import candles with `python manage.py import_candles FILE`."
            )
        sources.data_source_record(kind=MarketDataSource.Kind.SAMPLE, exchange=sources.SAMPLE_EXCHANGE)

    def _import_files(self, files: list[Path]) -> bool:
        """Import the files, the demo's markets first; True when at least one series is loaded."""
        stored = {(s.exchange, s.symbol, s.timeframe): s for s in selectors.series_list()}
        loaded = 0
        for path in sorted(files, key=_demo_first):
            parts = parse_file_name(path)
            if parts is None:
                self.stderr.write(f"{path.name}: skipped, the name is not binance_<PAIR>_<tf>.csv.gz.")
                continue
            try:
                symbol = normalize_symbol(parts["pair"])
            except MarketDataError as exc:
                self.stderr.write(f"{path.name}: skipped, {exc}")
                continue
            key = ("binance", symbol, parts["timeframe"])
            series = stored.get(key)
            summary = peek_candle_file(path) if series else None
            if (
                series is not None
                and summary is not None
                and series.count == summary.rows
                and selectors.to_ms(series.first_open_time) == summary.first_ms
                and selectors.to_ms(series.last_open_time) == summary.last_ms
            ):
                self.stdout.write(f"{' '.join(key)}: already loaded ({series.count} candles), skipped.")
                loaded += 1
                continue
            started = time.perf_counter()
            try:
                report = services.candles_import_csv(
                    path=path, exchange="binance", symbol=symbol, timeframe=parts["timeframe"]
                )
            except MarketDataError as exc:
                self.stderr.write(f"{path.name}: not imported: {exc}")
                continue
            loaded += 1
            self.stdout.write(import_line(report, time.perf_counter() - started))
        return loaded > 0

    def _fetch(self, *, api_url: str | None) -> bool:
        """Fetch the demo's markets from the exchange; True when all of them were loaded."""
        host, port = sources.probe_address(FETCH_EXCHANGE, api_url)
        started = time.perf_counter()
        if not sources.exchange_reachable(FETCH_EXCHANGE, api_url=api_url):
            self.stdout.write(
                f"Market data: {FETCH_EXCHANGE} cannot be reached ({host}:{port} did not answer; "
                f"{time.perf_counter() - started:.1f} s)."
            )
            return False
        try:
            client = ccxt_client.make_client(FETCH_EXCHANGE, api_url, timeout_ms=FETCH_TIMEOUT_MS)
        except MarketDataError as exc:
            self.stdout.write(f"Market data: {FETCH_EXCHANGE} cannot be used: {exc}")
            return False
        for symbol in FETCH_MARKETS:
            since = None
            if selectors.last_open_time(exchange=FETCH_EXCHANGE, symbol=symbol, timeframe=FETCH_TIMEFRAME) is None:
                since = timezone.now() - timedelta(days=FETCH_DAYS)
            self.stdout.write(f"{FETCH_EXCHANGE} {symbol} {FETCH_TIMEFRAME}: fetching…")
            started = time.perf_counter()
            try:
                report = services.candles_fetch(
                    exchange=FETCH_EXCHANGE, symbol=symbol, timeframe=FETCH_TIMEFRAME, since=since, client=client
                )
            except MarketDataError as exc:
                self.stdout.write(f"{FETCH_EXCHANGE} {symbol} {FETCH_TIMEFRAME}: not fetched: {exc}")
                return False
            self.stdout.write(fetch_line(report, time.perf_counter() - started))
            if selectors.last_open_time(exchange=FETCH_EXCHANGE, symbol=symbol, timeframe=FETCH_TIMEFRAME) is None:
                self.stdout.write(f"{FETCH_EXCHANGE} {symbol} {FETCH_TIMEFRAME}: no candles came back.")
                return False
        return True
