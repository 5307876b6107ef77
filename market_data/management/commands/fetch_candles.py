from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from market_data import services
from market_data.exceptions import MarketDataError
from market_data.management.reports import fetch_line
from market_data.selectors import to_ms


def _time_arg(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return to_ms(value)
    except ValueError:
        raise CommandError(
            f"--{name} {value!r} is not a date or time (use e.g. 2024-01-01 or 2024-01-01T12:00Z)."
        ) from None


class Command(BaseCommand):
    help = (
        "Fetch closed candles of one market from an exchange through ccxt and store them. Without --since it "
        "resumes from the last stored candle (or takes the latest 1000 candles of an empty series)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--exchange", default="binance", help="ccxt exchange id (default: binance)")
        parser.add_argument("--symbol", required=True, help="market, e.g. BTC/USDT")
        parser.add_argument("--timeframe", default="1h", help="candle timeframe (default: 1h)")
        parser.add_argument("--since", help="first open time, UTC (e.g. 2024-01-01)")
        parser.add_argument("--until", help="stop before this open time, UTC")
        parser.add_argument("--api-url", dest="api_url", help="send API calls to this base URL (a proxy)")

    def handle(self, *args: Any, **options: Any) -> None:
        since = _time_arg("since", options["since"])
        until = _time_arg("until", options["until"])
        started = time.perf_counter()
        try:
            report = services.candles_fetch(
                exchange=options["exchange"],
                symbol=options["symbol"],
                timeframe=options["timeframe"],
                since=since,
                until=until,
                api_url=options["api_url"],
            )
        except MarketDataError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(fetch_line(report, time.perf_counter() - started))
