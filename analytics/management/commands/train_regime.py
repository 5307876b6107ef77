"""``manage.py train_regime``: train (and maybe put live) a new version of stored markets' regime models now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.errors import AnalysisError
from analytics.regimes import regime_markets, regime_model_train


class Command(BaseCommand):
    help = "Train a new version of regime models: the markets given (binance:BTC/USDT:1h …) or the nightly list."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("markets", nargs="*", help="exchange:symbol:timeframe, e.g. binance:BTC/USDT:1h")
        parser.add_argument("--days", type=int, help="days of candles (default TRENDY_REGIME_DAYS)")
        parser.add_argument("--no-walk-forward", action="store_true", help="skip the walk-forward report")

    def handle(self, *args: Any, **options: Any) -> None:
        markets = []
        for item in options["markets"]:
            parts = item.rsplit(":", 2)
            if len(parts) != 3:
                raise CommandError(f"{item!r}: write exchange:symbol:timeframe, e.g. binance:BTC/USDT:1h.")
            markets.append(tuple(parts))
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
