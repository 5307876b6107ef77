"""Show or set the market clock: live (the wall clock and the exchanges' prices) or a replay over
stored candles. ``auto`` picks replay when the exchange cannot be reached (offline, a demo)."""

from __future__ import annotations

import socket
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from market_data.selectors import last_open_time, ms_to_datetime, to_ms
from market_data.timeframes import TIMEFRAME_MS
from trading import clock

PROBE_HOSTS = {"binance": "api.binance.com", "okx": "www.okx.com"}


def exchange_reachable(exchange: str, timeout: float = 2.0) -> bool:
    host = PROBE_HOSTS.get(exchange, f"api.{exchange}.com")
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


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
        mode = options["mode"]
        if mode == "auto":
            exchange = settings.TRENDY_PAPER_DATA_EXCHANGE
            if exchange_reachable(exchange):
                mode = "live"
                self.stdout.write(f"{exchange} is reachable: live prices.")
            else:
                mode = "replay"
                self.stdout.write(f"{exchange} cannot be reached: replaying stored candles.")
        if mode == "live":
            clock.replay_stop()
        elif mode == "replay":
            timeframe = options["timeframe"]
            if timeframe not in TIMEFRAME_MS:
                raise CommandError(f"Unknown timeframe {timeframe!r}.")
            try:
                speed = Decimal(options["seconds_per_candle"])
            except InvalidOperation:
                raise CommandError("--seconds-per-candle must be a number.") from None
            if not speed > 0:
                raise CommandError("--seconds-per-candle must be above 0.")
            if options["start"]:
                start = ms_to_datetime(to_ms(options["start"]))
            else:
                last = last_open_time(
                    exchange=settings.TRENDY_PAPER_DATA_EXCHANGE, symbol=options["symbol"], timeframe=timeframe
                )
                if last is None:
                    raise CommandError(
                        f"No stored {options['symbol']} {timeframe} candles: import some, or pass --start."
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
