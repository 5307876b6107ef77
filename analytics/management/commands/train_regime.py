"""``manage.py train_regime``: train (and maybe put live) a new version of stored markets' regime models now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.errors import AnalysisError
from analytics.forecasts import forecast_model_train
from analytics.regimes import parse_market, regime_markets, regime_model_train
from analytics.signals import signal_model_train


class Command(BaseCommand):
    help = (
        "Train a new version of regime models (then the markets' price forecasters and AI signals): the markets given "
        "(binance:BTC/USDT:1h …) or the nightly list."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("markets", nargs="*", help="exchange:symbol:timeframe, e.g. binance:BTC/USDT:1h")
        parser.add_argument("--days", type=int, help="days of candles (default TRENDY_REGIME_DAYS)")
        parser.add_argument("--no-walk-forward", action="store_true", help="skip the walk-forward report")
        parser.add_argument(
            "--no-forecasts",
            dest="forecasts",
            action="store_false",
            help="regime models only, not the forecasters and signals (which need the regime models)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        markets = []
        for item in options["markets"]:
            market = parse_market(item)
            if market is None:
                raise CommandError(f"{item!r}: write exchange:symbol:timeframe, e.g. binance:BTC/USDT:1h.")
            markets.append(market)
        markets = markets or regime_markets()
        if not markets:
            raise CommandError("No market to train: import candles or set TRENDY_REGIME_MARKETS.")
        for exchange, symbol, timeframe in markets:
            try:
                row = regime_model_train(
                    exchange=exchange,
                    symbol=symbol,
                    timeframe=timeframe,
                    days=options["days"],
                    walk_forward=not options["no_walk_forward"],
                )
            except AnalysisError as exc:
                raise CommandError(f"{exchange}:{symbol}:{timeframe}: {exc.message}") from None
            if row is None:
                self.stdout.write(f"{exchange}:{symbol}:{timeframe}: another worker is training it; skipped.")
                continue
            validation = row.validation[row.kind]["balanced_accuracy"]
            self.stdout.write(
                f"{row.market}: version {row.version} {row.status} ({row.kind}; validation balanced accuracy "
                f"{validation:.3f}, baseline {row.baseline['balanced_accuracy']:.3f}, live version's "
                f"{row.comparison.get('live')}) in {row.training_seconds:.1f} s"
            )
        if options["forecasts"]:
            self._forecasters(markets)
            self._signals(markets, options["days"])

    def _signals(self, markets: list[tuple[str, str, str]], days: int | None) -> None:
        for exchange, symbol, timeframe in markets:
            try:
                row = signal_model_train(exchange=exchange, symbol=symbol, timeframe=timeframe, days=days)
            except AnalysisError as exc:
                raise CommandError(f"{exchange}:{symbol}:{timeframe}: {exc.message}") from None
            if row is None:
                self.stdout.write(f"{exchange}:{symbol}:{timeframe}: another worker is training its signal; skipped.")
                continue
            model, votes = row.evaluation["model"], row.evaluation["votes"]
            self.stdout.write(
                f"{exchange}:{symbol}:{timeframe}: signal version {row.version} (walk-forward balanced accuracy "
                f"{model['balanced_accuracy']:.3f}, the strategies' vote {votes['balanced_accuracy']:.3f}) in "
                f"{row.training_seconds:.1f} s"
            )

    def _forecasters(self, markets: list[tuple[str, str, str]]) -> None:
        for exchange, symbol in dict.fromkeys((exchange, symbol) for exchange, symbol, _tf in markets):
            try:
                forecaster = forecast_model_train(exchange=exchange, symbol=symbol)
            except AnalysisError as exc:
                raise CommandError(f"{exchange}:{symbol}: {exc.message}") from None
            if forecaster is None:
                self.stdout.write(f"{exchange}:{symbol}: another worker is training its forecaster; skipped.")
                continue
            week = forecaster.coverage["7"]["coverage"]
            self.stdout.write(
                f"{exchange}:{symbol}: forecaster version {forecaster.version} (7-day 80 % interval covered "
                f"{week:.1%} walk-forward) in {forecaster.training_seconds:.1f} s"
            )
