from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from market_data import services
from market_data.exceptions import MarketDataError
from market_data.management.reports import import_line, parse_file_name


class Command(BaseCommand):
    help = (
        "Import a candle CSV (plain or .gz, header timestamp,open,high,low,close,volume) into one series. "
        "Exchange, symbol and timeframe default to those in a file named like binance_BTCUSDT_1h.csv.gz. "
        "Nothing is written when any row is bad; importing the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the .csv or .csv.gz file")
        parser.add_argument("--exchange", help="ccxt exchange id, e.g. binance")
        parser.add_argument("--symbol", help="market, e.g. BTC/USDT or BTCUSDT")
        parser.add_argument("--timeframe", help="1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h or 1d")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        guessed = parse_file_name(path) or {}
        exchange = options["exchange"] or guessed.get("exchange")
        symbol = options["symbol"] or guessed.get("pair")
        timeframe = options["timeframe"] or guessed.get("timeframe")
        if not (exchange and symbol and timeframe):
            raise CommandError(
                f"{path}: give --exchange, --symbol and --timeframe (or name the file like binance_BTCUSDT_1h.csv.gz)."
            )
        started = time.perf_counter()
        try:
            report = services.candles_import_csv(path=path, exchange=exchange, symbol=symbol, timeframe=timeframe)
        except MarketDataError as exc:
            raise CommandError(f"{path}: {exc} (nothing was imported)") from exc
        self.stdout.write(import_line(report, time.perf_counter() - started))
