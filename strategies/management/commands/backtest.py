"""``manage.py backtest``: one backtest from the shell, on stored candles or a CSV file."""

from __future__ import annotations

import json
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from market_data.csv_import import read_candle_csv
from market_data.exceptions import MarketDataError
from market_data.selectors import candles_frame, load_candles, to_ms
from market_data.symbols import normalize_exchange, normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from strategies import services
from strategies.backtest import BacktestError
from strategies.builtin import REGISTRY, get_strategy
from strategies.interface import Strategy, StrategyError
from strategies.labels import METRIC_LABELS
from strategies.messages import strategy_error_message
from strategies.pine.check import validate
from strategies.pine.source import decode
from strategies.pine.strategy import pine_strategy

JSON_VERSION = 1
MAX_PINE_FILE = 1024 * 1024  # read no more of a --pine file (the engine refuses far less)


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"{value!r} is not a number.") from None


class Command(BaseCommand):
    help = (
        "Backtest a built-in strategy or a Pine Script file on stored candles (or a CSV file) and print the "
        "metrics and trades."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--strategy", help=f"one of: {', '.join(REGISTRY)}")
        which.add_argument("--pine", metavar="FILE", help="a Pine Script v5/v6 strategy file instead of a built-in")
        parser.add_argument("--exchange", default="binance")
        parser.add_argument("--symbol", default="BTC/USDT")
        parser.add_argument("--timeframe", default="1h")
        parser.add_argument("--start", help="first candle open time (UTC), e.g. 2024-01-01")
        parser.add_argument("--end", help="end of the period (exclusive, UTC), e.g. 2024-06-30")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a strategy parameter")
        parser.add_argument("--fee", default="0.001", help="fee rate per side (0.001 = 0.1 %%)")
        parser.add_argument("--slippage-bps", default="5")
        parser.add_argument("--leverage", default="1")
        parser.add_argument("--position-size", default="10", help="%% of equity per position (5-20)")
        parser.add_argument("--stop-loss", default="2", help="%% from the entry; 'none' for no stop")
        parser.add_argument("--take-profit", default="4", help="%% from the entry; 'none' for no target")
        parser.add_argument(
            "--trailing-stop", default="none", help="distance behind the best price, %% of the entry; 'none' for none"
        )
        parser.add_argument("--trailing-activation", default="0", help="%% gain before the trailing stop starts")
        parser.add_argument("--pyramiding", type=int, default=1, help="entries one position may hold (1-10)")
        parser.add_argument("--capital", default="10000")
        parser.add_argument("--direction", default="long", choices=["long", "short", "both"])
        parser.add_argument("--csv", metavar="FILE", help="read candles from this CSV (.gz) instead of the database")
        parser.add_argument("--json", action="store_true", help="print the result as JSON (format in the README)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            strategy = self._pine(options["pine"]) if options["pine"] else get_strategy(options["strategy"])
            params = strategy.validate(self._params(options["param"]))
            risk = self._risk(options)
            services.validate_settings(risk)
            exchange, symbol, timeframe = self._market(options)
            candles = self._candles(options, exchange, symbol, timeframe)
            if candles.empty:
                raise CommandError(f"No {timeframe} candles for {symbol} on {exchange} in that period.")
            intrabar = None
            if not options["csv"]:
                # A stored lower timeframe of the same market tells which of SL and TP a bar hit first.
                intrabar = services.intrabar_candles(
                    exchange,
                    symbol,
                    timeframe,
                    candles.index[0],
                    candles.index[-1] + pd.Timedelta(TIMEFRAME_MS[timeframe], "ms"),
                )
            started = time.perf_counter()
            risk = services.with_script_levels(strategy, params, candles, risk)  # a script's own stop and target
            result = services.backtest_compute(
                strategy=strategy, params=params, candles=candles, risk=risk, timeframe=timeframe, intrabar=intrabar
            )
            seconds = time.perf_counter() - started
        except StrategyError as exc:
            raise CommandError(strategy_error_message(exc)) from None
        except ValidationError as exc:
            detail = (
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                if hasattr(exc, "error_dict")
                else " ".join(exc.messages)
            )
            raise CommandError(detail) from None
        except (BacktestError, MarketDataError) as exc:
            raise CommandError(str(exc)) from None
        payload = services.result_payload(result)
        document = {
            "version": JSON_VERSION,
            "strategy": strategy.slug,
            "params": params,
            "market": {"exchange": exchange, "symbol": symbol, "timeframe": timeframe},
            "period": {
                "first": candles.index[0].isoformat().replace("+00:00", "Z"),
                "last": candles.index[-1].isoformat().replace("+00:00", "Z"),
                "bars": len(candles),
            },
            "settings": {k: (v if v is None or isinstance(v, bool) else str(v)) for k, v in vars(risk).items()},
            "metrics": payload["metrics"],
            "gaps": payload["gaps"],
            "trades": payload["trades"],
        }
        if options["json"]:
            self.stdout.write(json.dumps(document, indent=2, sort_keys=False))
            return
        self._summary(document, seconds)

    def _pine(self, path: str) -> Strategy:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_PINE_FILE + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        report = validate(data)
        if not report.can_run:
            problems = "\n".join(
                f"  line {p.line}, column {p.column}: {p.message}" if p.line else f"  {p.message}"
                for p in report.errors
            )
            raise CommandError(f"{path} cannot run:\n{problems}")
        name = Path(path).name
        self.pine_source = decode(data)  # paper_replay stores it as a script version for its bot
        return pine_strategy(slug=f"pine-{name}", name=name, text=self.pine_source, inputs=report.as_dict()["inputs"])

    def _params(self, pairs: list[str]) -> dict[str, str]:
        params = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise CommandError(f"--param {pair!r} must look like NAME=VALUE, e.g. --param fast=12.")
            params[name.strip()] = value.strip()
        return params

    def _risk(self, options: dict[str, Any]) -> services.RiskSettings:
        def optional(value: str) -> Decimal | None:
            return None if value.lower() in ("none", "off") else _decimal(value)

        try:
            leverage = int(options["leverage"])
        except ValueError:
            raise CommandError(f"--leverage {options['leverage']!r} must be a whole number from 1 to 10.") from None
        return services.RiskSettings(
            initial_capital=_decimal(options["capital"]),
            fee_rate=_decimal(options["fee"]),
            slippage_bps=_decimal(options["slippage_bps"]),
            leverage=leverage,
            position_size_pct=_decimal(options["position_size"]),
            stop_loss_pct=optional(options["stop_loss"]),
            take_profit_pct=optional(options["take_profit"]),
            direction=options["direction"],
            trailing_stop_pct=optional(options["trailing_stop"]),
            trailing_activation_pct=_decimal(options["trailing_activation"]),
            pyramiding=options["pyramiding"],
        )

    def _market(self, options: dict[str, Any]) -> tuple[str, str, str]:
        if options["timeframe"] not in TIMEFRAME_MS:
            raise CommandError(f"Unknown timeframe {options['timeframe']!r}; use one of: {', '.join(TIMEFRAME_MS)}.")
        return normalize_exchange(options["exchange"]), normalize_symbol(options["symbol"]), options["timeframe"]

    def _candles(self, options: dict[str, Any], exchange: str, symbol: str, timeframe: str) -> Any:
        start, end = options["start"], options["end"]
        try:
            start_ms = None if start is None else to_ms(start)
            end_ms = None if end is None else to_ms(end)
        except ValueError as exc:
            raise CommandError(f"Bad --start/--end: {exc}") from None
        if start_ms is not None and end_ms is not None and end_ms <= start_ms:
            raise CommandError("--end must be after --start.")
        if options["csv"]:
            batch = read_candle_csv(options["csv"], timeframe=timeframe)
            if len(batch) > 2:
                spacing = int(np.median(np.diff(batch.time_ms)))
                if spacing != TIMEFRAME_MS[timeframe]:
                    raise CommandError(
                        f"The file's candles are {spacing // 1000} s apart, not {timeframe}: "
                        "pass the file's --timeframe."
                    )
            keep = (batch.time_ms >= (start_ms if start_ms is not None else -(2**62))) & (
                batch.time_ms < (end_ms if end_ms is not None else 2**62)
            )
            values = [batch.open, batch.high, batch.low, batch.close, batch.volume]
            return candles_frame(batch.time_ms[keep], np.column_stack([v[keep] for v in values]))
        return load_candles(exchange, symbol, timeframe, start, end)

    def _summary(self, doc: dict[str, Any], seconds: float) -> None:
        m = doc["metrics"]
        period = doc["period"]
        self.stdout.write(
            f"{doc['strategy']} {doc['params']} on {doc['market']['exchange']} {doc['market']['symbol']} "
            f"{doc['market']['timeframe']}: {period['bars']} bars, {period['first']} … {period['last']} "
            f"({seconds * 1000:.1f} ms)"
        )
        for key in METRIC_LABELS:
            self.stdout.write(f"  {key:<20} {m.get(key)}")
        if doc["gaps"]:
            missing = sum(gap["missing"] for gap in doc["gaps"])
            self.stdout.write(f"  gaps: {len(doc['gaps'])} ({missing} candles missing; not filled)")
