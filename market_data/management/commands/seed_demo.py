from __future__ import annotations

import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from accounts.services import demo_user_ensure
from market_data import selectors, services
from market_data.csv_import import peek_candle_file
from market_data.exceptions import MarketDataError, MarketDataUnavailable
from market_data.management.reports import fetch_line, import_line, parse_file_name
from market_data.symbols import normalize_symbol

DEMO_EMAIL = "demo@trendy.local"
FETCH_MARKETS = ("BTC/USDT", "ETH/USDT")
FETCH_TIMEFRAME = "1h"
FETCH_DAYS = 365


class Command(BaseCommand):
    help = (
        "Create the demo user (or reset its password) and load market data: every binance_<PAIR>_<tf>.csv.gz "
        "in TRENDY_OHLCV_DIR, or, without that folder, the last 12 months of 1h BTC/USDT and ETH/USDT from "
        "Binance. Files already loaded are skipped, so running it again is quick."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", help="the demo user's password (default: a new random one)")
        parser.add_argument("--no-candles", action="store_true", help="do not load market data")
        parser.add_argument("--api-url", dest="api_url", help="send exchange API calls to this base URL (a proxy)")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or secrets.token_urlsafe(12)
        _user, created = demo_user_ensure(email=DEMO_EMAIL, password=password)
        verb = "Created" if created else "Reset the password of"
        self.stdout.write(f"{verb} the demo user. E-mail: {DEMO_EMAIL}  Password: {password}")
        if options["no_candles"]:
            self.stdout.write("Market data: skipped (--no-candles).")
            return
        folder = Path(settings.TRENDY_OHLCV_DIR)
        files = sorted(folder.glob("binance_*_*.csv.gz")) if folder.is_dir() else []
        if files:
            self._import_files(files)
        else:
            missing = (
                f"{folder} has no binance_<PAIR>_<tf>.csv.gz files" if folder.is_dir() else f"{folder} does not exist"
            )
            self.stdout.write(f"Market data: {missing}; fetching {FETCH_DAYS} days of {FETCH_TIMEFRAME} candles.")
            self._fetch(missing, api_url=options["api_url"])

    def _import_files(self, files: list[Path]) -> None:
        stored = {(s.exchange, s.symbol, s.timeframe): s for s in selectors.series_list()}
        for path in files:
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
                continue
            started = time.perf_counter()
            try:
                report = services.candles_import_csv(
                    path=path, exchange="binance", symbol=symbol, timeframe=parts["timeframe"]
                )
            except MarketDataError as exc:
                self.stderr.write(f"{path.name}: not imported: {exc}")
                continue
            self.stdout.write(import_line(report, time.perf_counter() - started))

    def _fetch(self, why: str, *, api_url: str | None) -> None:
        loaded = 0
        for symbol in FETCH_MARKETS:
            since = None
            if selectors.last_open_time(exchange="binance", symbol=symbol, timeframe=FETCH_TIMEFRAME) is None:
                since = timezone.now() - timedelta(days=FETCH_DAYS)
            started = time.perf_counter()
            try:
                report = services.candles_fetch(
                    exchange="binance", symbol=symbol, timeframe=FETCH_TIMEFRAME, since=since, api_url=api_url
                )
            except MarketDataUnavailable as exc:
                self.stderr.write(
                    f"No market data could be loaded: {why}; {exc}. The site starts without candles: "
                    "import some with `python manage.py import_candles FILE`, or run seed_demo again when online."
                )
                return
            except MarketDataError as exc:
                self.stderr.write(f"binance {symbol} {FETCH_TIMEFRAME}: not fetched: {exc}")
                continue
            loaded += 1
            self.stdout.write(fetch_line(report, time.perf_counter() - started))
        if not loaded:
            self.stderr.write(f"No market data could be loaded: {why}; fetching from Binance failed (see above).")
