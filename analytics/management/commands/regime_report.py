"""``manage.py regime_report``: walk-forward reports of the regime models (both kinds, against the naive baseline),
as Markdown (and JSON) — from stored candles, or from the CSV files of ``--csv-dir`` without touching the database."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics import forecast, regime
from analytics.errors import AnalysisError
from analytics.regimes import BTC, code_version, market_dataset
from market_data.csv_import import read_candle_csv
from market_data.selectors import candles_frame
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS


def _csv(directory: Path, symbol: str, timeframe: str, days: int | None) -> pd.DataFrame:
    path = directory / f"binance_{symbol.replace('/', '')}_{timeframe}.csv.gz"
    if not path.exists():
        raise CommandError(f"No file {path}.")
    batch = read_candle_csv(path, timeframe=timeframe)
    values = np.column_stack([batch.open, batch.high, batch.low, batch.close, batch.volume])
    frame = candles_frame(batch.time_ms, values)
    if days is not None:
        frame = frame[frame.index >= frame.index[-1] - pd.Timedelta(days=days)]
    return frame


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def markdown(reports: list[dict[str, Any]]) -> str:
    lines = ["# Regime models: walk-forward reports", ""]
    lines.append(
        "Produced by `manage.py regime_report`; definitions in the README (Market intelligence). Every figure is "
        "measured on bars the model never trained on (expanding window, purged by the label horizon). Chance "
        "is 25 % balanced accuracy; the baseline predicts the last regime already known (the label of bar t − h)."
    )
    lines.append("")
    for rep in reports:
        lines.append(f"## {rep['market']} — {rep['start'][:10]} … {rep['end'][:10]}")
        lines.append("")
        shares = ", ".join(f"{name} {_pct(v)}" for name, v in rep["label_shares"].items())
        lines.append(f"{rep['labelled']:,} labelled bars (horizon {rep['horizon']} bars); regimes: {shares}.")
        lines.append("")
        lines.append("| model | accuracy | balanced accuracy | per block (balanced) | time |")
        lines.append("|---|---:|---:|---|---:|")
        for kind, wf in rep["models"].items():
            blocks = " · ".join(_pct(b["balanced_accuracy"]) for b in wf["blocks"])
            lines.append(
                f"| {kind} | {_pct(wf['overall']['accuracy'])} | {_pct(wf['overall']['balanced_accuracy'])} | "
                f"{blocks} | {wf['seconds']:.1f} s |"
            )
        base = rep["baseline"]
        lines.append(
            f"| naive baseline (last known regime) | {_pct(base['accuracy'])} | {_pct(base['balanced_accuracy'])} | | |"
        )
        lines.append("")
        best = rep["best"]
        lines.append(f"Per regime, {best} (precision / recall / bars):")
        lines.append("")
        per = rep["models"][best]["overall"]["per_class"]
        lines.append("| regime | precision | recall | bars |")
        lines.append("|---|---:|---:|---:|")
        for name, stats in per.items():
            lines.append(f"| {name} | {_pct(stats['precision'])} | {_pct(stats['recall'])} | {stats['support']:,} |")
        lines.append("")
        lines.append("Confusion matrix (rows: what happened, columns: predicted):")
        lines.append("")
        lines.append("| | " + " | ".join(regime.REGIMES) + " |")
        lines.append("|---|" + "---:|" * len(regime.REGIMES))
        for name, row in zip(regime.REGIMES, rep["models"][best]["overall"]["confusion"], strict=True):
            lines.append(f"| {name} | " + " | ".join(f"{v:,}" for v in row) + " |")
        lines.append("")
        if rep.get("forecast"):
            lines.append(
                "Price forecasts on daily candles (80 % intervals from quantile models), walk-forward: how often the "
                "realised return fell inside, under and over the interval; the median forecast's median absolute "
                "error against the forecast of no change; how often its direction was right."
            )
            lines.append("")
            lines.append(
                "| horizon | days tested | inside (nominal 80 %) | under | over | error: median / no change "
                "| direction |"
            )
            lines.append("|---|---:|---:|---:|---:|---:|---:|")
            for h, c in rep["forecast"].items():
                lines.append(
                    f"| {h} d | {c['rows']:,} | {_pct(c['coverage'])} | {_pct(c['below'])} | {_pct(c['above'])} | "
                    f"{_pct(c['mae_median'])} / {_pct(c['mae_naive'])} | {_pct(c['direction'])} |"
                )
            lines.append("")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Walk-forward reports of the regime models for some markets (Markdown, and JSON with --json)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbols", nargs="*", default=["BTC/USDT", "ETH/USDT", "SOL/USDT"])
        parser.add_argument("--timeframe", default="1h")
        parser.add_argument("--exchange", default="binance")
        parser.add_argument("--days", type=int, default=3 * 365, help="the newest days of candles (default 3 years)")
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--csv-dir", help="read binance_<PAIR>_<tf>.csv.gz files here instead of stored candles")
        parser.add_argument("--no-forecasts", dest="forecasts", action="store_false", help="regimes only")
        parser.add_argument("--out", help="write the Markdown report to this file")
        parser.add_argument("--json", help="write the figures as JSON to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        timeframe = options["timeframe"]
        if timeframe not in TIMEFRAME_MS:
            raise CommandError(f"Unknown timeframe {timeframe!r}.")
        tf_ms = TIMEFRAME_MS[timeframe]
        reports = []
        btc_close = None
        for raw in options["symbols"]:
            symbol = normalize_symbol(raw)
            started = time.perf_counter()
            if options["csv_dir"]:
                directory = Path(options["csv_dir"])
                candles = _csv(directory, symbol, timeframe, options["days"])
                if symbol != BTC:
                    if btc_close is None:
                        btc_close = _csv(directory, BTC, timeframe, None)["close"]
                    data = regime.dataset(candles, timeframe_ms=tf_ms, btc_close=btc_close)
                else:
                    data = regime.dataset(candles, timeframe_ms=tf_ms)
            else:
                try:
                    candles, data = market_dataset(options["exchange"], symbol, timeframe, days=options["days"])
                except AnalysisError as exc:
                    raise CommandError(exc.message) from None
            models = {}
            try:
                for kind in regime.MODELS:
                    wf = regime.walk_forward(data, kind=kind, folds=options["folds"])
                    models[kind] = {
                        "overall": wf.overall,
                        "seconds": round(wf.seconds, 1),
                        "blocks": [
                            {"balanced_accuracy": b.model["balanced_accuracy"], "accuracy": b.model["accuracy"]}
                            for b in wf.blocks
                        ],
                    }
            except regime.RegimeError as exc:
                raise CommandError(f"{symbol}: {exc}") from None
            best = max(models, key=lambda k: models[k]["overall"]["balanced_accuracy"])
            coverage = {}
            if options["forecasts"]:
                if options["csv_dir"]:
                    days = _csv(Path(options["csv_dir"]), symbol, "1d", None)
                    btc_days = None if symbol == BTC else _csv(Path(options["csv_dir"]), BTC, "1d", None)["close"]
                else:
                    from analytics.forecasts import _btc_daily, daily_candles

                    days = daily_candles(options["exchange"], symbol)[0]
                    btc_days = _btc_daily(options["exchange"], symbol)
                try:
                    found = forecast.walk_forward(forecast.dataset(days, btc_close=btc_days))
                except forecast.ForecastError as exc:
                    raise CommandError(f"{symbol}: {exc}") from None
                coverage = {
                    h: {k: v for k, v in vars(c).items() if k not in ("tested", "quantiles")} for h, c in found.items()
                }
            reports.append(
                {
                    "market": f"{options['exchange']} {symbol} {timeframe}",
                    "start": candles.index[0].isoformat(),
                    "end": candles.index[-1].isoformat(),
                    "labelled": int(data.labelled().sum()),
                    "horizon": data.rule.horizon,
                    "label_shares": wf.label_shares,
                    "models": models,
                    "baseline": wf.baseline,
                    "best": best,
                    "forecast": coverage,
                    "code_version": code_version(),
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            self.stderr.write(f"{symbol}: done in {reports[-1]['seconds']} s")
        text = markdown(reports)
        if options["out"]:
            Path(options["out"]).write_text(text + "\n")
        if options["json"]:
            Path(options["json"]).write_text(json.dumps(reports, indent=1))
        self.stdout.write(text)
