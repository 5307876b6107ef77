"""Show or set the market clock: live (the wall clock and the exchanges' prices) or a replay over
stored candles.

``auto`` goes live only when the candles are live — ``seed_demo`` loaded them from the exchange (the
recorded market-data source) and the exchange still answers the quick probe — and replays in every
other case (candle files, the bundled sample, no exchange). With no candle to replay it keeps the clock
live and says how to load some; it never stops ``make seed``.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from market_data import sources
from market_data.exceptions import MarketDataError
from market_data.management.reports import database_errors_in_one_line
from market_data.models import MarketDataSource
from market_data.selectors import last_open_time, ms_to_datetime, to_ms
from market_data.timeframes import TIMEFRAME_MS
from trading import clock


class Command(BaseCommand):
    help = "Show or set the market clock (live / replay / auto)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mode", nargs="?", choices=["show", "live", "replay", "auto"], default="show")
        parser.add_argument("--start", help="replay: first candle (UTC), default 30 days before the last stored one")
        parser.add_argument("--timeframe", default="1h")
        parser.add_argument("--seconds-per-candle", default="2")
        parser.add_argument(
            "--symbol", default="BTC/USDT", help="the market whose stored candles set the default start"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with database_errors_in_one_line():
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        mode = options["mode"]
        timeframe = options["timeframe"]
        if timeframe not in TIMEFRAME_MS:
            raise CommandError(f"Unknown timeframe {timeframe!r}: use one of {', '.join(TIMEFRAME_MS)}.")
        try:
            speed = Decimal(options["seconds_per_candle"])
        except InvalidOperation:
            raise CommandError("--seconds-per-candle must be a number, such as 2.") from None
        if not speed > 0:
            raise CommandError("--seconds-per-candle must be above 0.")
        start = None
        if options["start"]:
            try:
                start = ms_to_datetime(to_ms(options["start"]))
            except (MarketDataError, ValueError, TypeError, OverflowError):
                raise CommandError(f"--start {options['start']!r} is not a date: use YYYY-MM-DD.") from None
        if mode == "auto":
            mode = self._auto(options["symbol"], timeframe, start)
        if mode == "live":
            clock.replay_stop()
        elif mode == "replay":
            if start is None:
                last = self._last(options["symbol"], timeframe)
                if last is None:
                    raise CommandError(
                        f"No stored {options['symbol']} {timeframe} candles to replay: load some with "
                        "`python manage.py seed_demo` (it falls back to the bundled sample), or pass --start."
                    )
                start = last - timedelta(days=30)
            clock.replay_start(start=start, timeframe=timeframe, seconds_per_candle=speed)
        state = clock.clock()
        if state.mode == "replay":
            self.stdout.write(
                f"Market clock: replay at {state.cursor:%Y-%m-%d %H:%M} UTC, one {state.timeframe} candle every "
                f"{state.seconds_per_candle} s."
            )
        else:
            self.stdout.write("Market clock: live.")

    @staticmethod
    def _last(symbol: str, timeframe: str):
        return last_open_time(exchange=settings.TRENDY_PAPER_DATA_EXCHANGE, symbol=symbol, timeframe=timeframe)

    def _auto(self, symbol: str, timeframe: str, start) -> str:
        """live or replay, and one line saying why."""
        exchange = settings.TRENDY_PAPER_DATA_EXCHANGE
        source = sources.data_source()
        if source is not None and source.kind != MarketDataSource.Kind.EXCHANGE:
            self.stdout.write(f"{sources.source_label(source)}: replaying the stored candles.")
            reachable = False
        else:
            # Live candles (or none recorded): live only if the exchange answers now.
            reachable = sources.exchange_reachable(exchange)
            if reachable:
                self.stdout.write(f"{exchange} is reachable: live prices.")
                return "live"
            self.stdout.write(f"{exchange} cannot be reached: replaying the stored candles.")
        if start is None and self._last(symbol, timeframe) is None and not reachable:
            self.stdout.write(
                f"No stored {symbol} {timeframe} candles to replay, so the clock stays live (prices need {exchange}): "
                "run `python manage.py seed_demo` (it loads the bundled sample), then `python manage.py market_clock "
                "auto`."
            )
            return "live"
        return "replay"
