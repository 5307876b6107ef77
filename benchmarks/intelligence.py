#!/usr/bin/env python
"""Market intelligence benchmark (issue 18): training a regime model, answering with it, scoring sentiment.

    .venv/bin/python benchmarks/intelligence.py [--quick]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python benchmarks/intelligence.py --api

Targets: training one market/timeframe's regime model on 3 years of 1h candles < 60 s on one core; a prediction
< 50 ms per request; a nightly retrain of 20 markets fits one worker in a nightly window (own queue).

What is measured
- Training (pure core, this process pinned to one core with ``os.sched_setaffinity`` and BLAS/OpenMP pools at one
  thread, as the trainer runs): ``regime.train`` on BTC/USDT's last 3 years of 1h candles (``../shared``, to
  2024-12-31) with ETH/USDT's BTC correlation feature — features, labels, both models on the bars before the
  validation window, scoring, and the refit of the better one on every labelled bar. Also the walk-forward report
  of the chosen kind (5 blocks), which the nightly run stores with the version.
- Features of the last bar and the prediction (pure core): ``feature_frame`` over the last 780 bars and
  ``probabilities`` of the live model, per request.
- Forecasts (pure core, one core): the walk-forward coverage run and the training of the 9 quantile models on
  ETH/USDT's days; the probability of profit of a 72-hour long (3 % stop, 6 % target) on 10,000 paths of 1h bars.
- Sentiment (pure core): ``sentiment.snapshot`` of 500 posts (scores, per-source, trend, topics).
- The signal (``--api``): ``signal_model_train`` on ETH/USDT 1h (the regime's and the forecaster's walk-forwards for
  out-of-sample inputs, the strategies' stances, the logistic walk-forward and refit) and
  ``GET /api/v1/analytics/signal``, uncached and cached; the market intelligence page (``GET /analytics/market/``,
  through Django's test client: every section, the regime timeline, the charts, the template), uncached and
  cached; then the signal of every other benchmarked market (its forecaster and signal trained) for its
  walk-forward figures.
- ``--api`` (with ``DATABASE_URL``): ``manage``'s service end to end — ``regime_model_train`` on the stored 1h
  candles of BTC/USDT (3 years: features, both models, walk-forward, the six strategies' backtests for the
  evidence, the file and the row), timed once per market for the five stored 1h markets; then
  ``GET /api/v1/analytics/market-regime`` through DRF's ``APIClient`` with the answer cache cleared before every
  request (reading the recent candles, features, the model from the process's memory, the JSON), and with the
  cache; then the forecaster's training (service) and ``POST /api/v1/analytics/predict`` end to end. Model files
  go to a temporary folder; the benchmark's rows are deleted at the end.

``--quick``: the training once (instead of 3) on 1 year, the service on two markets, 5 requests; a few minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import print_header, report  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from analytics import features, forecast, regime, sentiment  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
HOUR = 3_600_000
COINS = ("BTC", "ETH", "SOL", "BNB", "XRP")


def candles(coin: str, days: int | None = None) -> pd.DataFrame:
    frame = pd.read_csv(OHLCV / f"binance_{coin}USDT_1h.csv.gz", parse_dates=["timestamp"], index_col="timestamp")
    if days is not None:
        frame = frame[frame.index >= frame.index[-1] - pd.Timedelta(days=days)]
    return frame


def timed(function, repeat: int, warm: bool = True) -> list[float]:
    if warm:
        function()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        out.append(time.perf_counter() - start)
    return out


def posts(n: int) -> list[sentiment.Post]:
    rng = np.random.default_rng(5)
    now = datetime(2025, 6, 10, 12, tzinfo=UTC)
    titles = [
        "Bitcoin ETF inflows hit a record as BTC rallies to a new high",
        "Exchange hack drains hot wallet, bitcoin dips on FUD",
        "BTC miners sell as hashprice falls; analysts bearish",
        "Bitcoin to the moon? Traders pile into calls",
        "Regulators approve spot bitcoin ETF options",
        "Whales move 10,000 BTC to exchanges, liquidations follow",
    ]
    return [
        sentiment.Post(
            source=("reddit", "news", "x")[k % 3],
            id=str(k),
            title=titles[k % len(titles)] + f" #{k}",
            text="Bitcoin " + " ".join(rng.choice(["pump", "dump", "rekt", "moon", "steady", "quiet"], 12)),
            url=f"https://example.invalid/{k}",
            author=f"user{k % 40}",
            published_at=now - timedelta(minutes=int(rng.integers(0, 1440))),
            engagement=float(rng.integers(0, 500)),
        )
        for k in range(n)
    ]


def api_timings(repeat: int, days: int, coins: tuple[str, ...]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from accounts.models import User
    from analytics import forecasts, regimes, signals
    from analytics.models import ForecastModel, RegimeModel, SignalModel
    from market_data.models import Candle
    from market_data.services import candles_import_csv

    for coin in COINS:
        if not Candle.objects.filter(exchange="binance", symbol=f"{coin}/USDT", timeframe="1h").exists():
            path = OHLCV / f"binance_{coin}USDT_1h.csv.gz"
            candles_import_csv(path=path, exchange="binance", symbol=f"{coin}/USDT", timeframe="1h")
    settings.TRENDY_MODEL_DIR = Path(tempfile.mkdtemp(prefix="trendy-models-"))
    RegimeModel.objects.filter(exchange="binance", timeframe="1h").delete()
    ForecastModel.objects.filter(exchange="binance").delete()
    SignalModel.objects.filter(exchange="binance").delete()
    email = "bench-intelligence@bench.invalid"
    User.objects.filter(email=email).delete()
    user = User.objects.create_user(email=email, password=None)
    try:
        seconds = []
        for coin in coins:
            start = time.perf_counter()
            row = regimes.regime_model_train(exchange="binance", symbol=f"{coin}/USDT", timeframe="1h", days=days)
            seconds.append(time.perf_counter() - start)
            validation = row.validation[row.kind]["balanced_accuracy"]
            print(
                f"{coin}/USDT 1h: version {row.version} {row.kind}, validation balanced accuracy {validation:.3f} "
                f"(baseline {row.baseline['balanced_accuracy']:.3f}), walk-forward "
                f"{row.walk_forward['overall']['balanced_accuracy']:.3f}, {seconds[-1]:.1f} s"
            )
        per_market = report(f"regime_model_train 1h x {days} days (service end to end, per market)", seconds, "s")
        print(f"20 markets at this pace: {20 * per_market['median'] / 60:.1f} min on one worker")
        client = APIClient()
        client.force_authenticate(user)

        def ask(clear: bool) -> None:
            if clear:
                cache.clear()
            response = client.get("/api/v1/analytics/market-regime", {"symbol": "ETHUSDT", "timeframe": "1h"})
            assert response.status_code == 200, response.content

        report("GET /api/v1/analytics/market-regime (answer not cached)", timed(lambda: ask(True), repeat), "s")
        cached = timed(lambda: ask(False), repeat)
        report("GET /api/v1/analytics/market-regime (cached until the next candle)", cached, "s")
        start = time.perf_counter()
        forecasts.forecast_model_train(exchange="binance", symbol="ETH/USDT")
        report("forecast_model_train ETH/USDT (service: 1h resampled to days, walk-forward, train, file)",
               time.perf_counter() - start, "s")  # fmt: skip
        body = {"symbol": "ETHUSDT", "side": "long", "stop_loss_pct": 3, "take_profit_pct": 6, "horizon_hours": 72,
                "strategy": "supertrend"}  # fmt: skip

        def predict() -> None:
            response = client.post("/api/v1/analytics/predict", body, format="json")
            assert response.status_code == 200, response.content

        report("POST /api/v1/analytics/predict (forecast + 10,000 paths + win rate by regime)",
               timed(predict, max(5, repeat // 3)), "s")  # fmt: skip
        start = time.perf_counter()
        row = signals.signal_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1h", days=days)
        report("signal_model_train ETH/USDT 1h (regime and forecast walk-forwards, stances, logistic walk-forward)",
               time.perf_counter() - start, "s")  # fmt: skip
        record = row.evaluation
        print(
            f"signal walk-forward: balanced accuracy {record['model']['balanced_accuracy']:.3f} (the vote "
            f"{record['votes']['balanced_accuracy']:.3f}, hold {record['hold']['balanced_accuracy']:.3f}); following "
            f"{record['model']['follow_return']:+.1%}, buy and hold {record['model']['buy_and_hold_return']:+.1%}"
        )

        def ask_signal(clear: bool) -> None:
            if clear:
                cache.clear()
            response = client.get("/api/v1/analytics/signal", {"symbol": "ETHUSDT", "timeframe": "1h"})
            assert response.status_code == 200, response.content

        report("GET /api/v1/analytics/signal (nothing cached: stances, regime, forecast, decision, track record)",
               timed(lambda: ask_signal(True), max(5, repeat // 3)), "s")  # fmt: skip
        report(
            "GET /api/v1/analytics/signal (cached until the next candle)", timed(lambda: ask_signal(False), repeat), "s"
        )
        from django.test import Client

        browser = Client()
        browser.force_login(user)

        def page(clear: bool) -> None:
            if clear:
                cache.clear()
            response = browser.get("/analytics/market/", {"symbol": "ETHUSDT", "timeframe": "1h"})
            assert response.status_code == 200, response.status_code

        report("GET /analytics/market/ ETH/USDT 1h (nothing cached: the four sections, timeline, charts)",
               timed(lambda: page(True), max(5, repeat // 3)), "s")  # fmt: skip
        report("GET /analytics/market/ ETH/USDT 1h (answers cached until the next candle)",
               timed(lambda: page(False), repeat), "s")  # fmt: skip
        for coin in coins:
            if coin == "ETH":
                continue
            forecasts.forecast_model_train(exchange="binance", symbol=f"{coin}/USDT")
            other = signals.signal_model_train(exchange="binance", symbol=f"{coin}/USDT", timeframe="1h", days=days)
            record = other.evaluation
            print(
                f"{coin}/USDT 1h signal walk-forward: balanced accuracy {record['model']['balanced_accuracy']:.3f} "
                f"(the vote {record['votes']['balanced_accuracy']:.3f}, hold {record['hold']['balanced_accuracy']:.3f})"
                f"; following {record['model']['follow_return']:+.1%}, buy and hold "
                f"{record['model']['buy_and_hold_return']:+.1%}; {other.training_seconds:.1f} s"
            )
    finally:
        User.objects.filter(email=email).delete()
        RegimeModel.objects.filter(exchange="binance", timeframe="1h").delete()
        ForecastModel.objects.filter(exchange="binance").delete()
        SignalModel.objects.filter(exchange="binance").delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--api", action="store_true", help="also the service and the API (needs DATABASE_URL)")
    args = parser.parse_args()
    print_header(args, uses_db=args.api)
    warnings.filterwarnings("ignore")
    days = 365 if args.quick else 3 * 365
    repeat_train, repeat = (1, 5) if args.quick else (3, 30)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    btc_all = candles("BTC")
    eth = candles("ETH", days)
    with threadpool_limits(limits=1):
        data = regime.dataset(eth, timeframe_ms=HOUR, btc_close=btc_all["close"])
        print(f"ETH/USDT 1h, {days} days: {len(eth):,} candles, {int(data.labelled().sum()):,} labelled bars")
        trained = None

        def train() -> None:
            nonlocal trained
            d = regime.dataset(eth, timeframe_ms=HOUR, btc_close=btc_all["close"])
            trained = regime.train(d)

        train_times = timed(train, repeat_train, warm=False)
        result = report(f"regime.train ETH/USDT 1h x {days} days (one core, both models + refit)", train_times, "s")
        print(f"result  target training < 60 s on one core: {'met' if result['median'] < 60 else 'MISSED'}")
        wf = timed(lambda: regime.walk_forward(data, kind=trained.kind), 1, warm=False)
        report(f"walk_forward {trained.kind} 5 blocks ETH/USDT 1h x {days} days (one core)", wf, "s")
        recent = eth.iloc[-780:]

        def predict() -> None:
            frame = features.feature_frame(recent, timeframe_ms=HOUR, btc_close=btc_all["close"])
            regime.probabilities(trained.model, frame.to_numpy()[-1:])

        answer = report("features of the last bar + predict_proba (pure core)", timed(predict, repeat), "s")
        print(f"result  target prediction < 50 ms: {'met' if answer['median'] < 0.05 else 'MISSED'}")
        eth_days = forecast.daily(eth)
        fdata = forecast.dataset(forecast.daily(candles("ETH")), btc_close=forecast.daily(btc_all)["close"])
        report("forecast.walk_forward ETH/USDT daily, 3 horizons x 3 quantiles x 5 blocks (one core)",
               timed(lambda: forecast.walk_forward(fdata), 1, warm=False), "s")  # fmt: skip
        report("forecast.train ETH/USDT daily (9 quantile models, one core)",
               timed(lambda: forecast.train(fdata), repeat_train, warm=False), "s")  # fmt: skip
        moves = forecast.bar_moves(eth.iloc[-24 * 365 :])
        trade = forecast.Trade("long", float(eth_days["close"].iloc[-1]), 0.97 * float(eth_days["close"].iloc[-1]),
                               1.06 * float(eth_days["close"].iloc[-1]), 72)  # fmt: skip
        report("probability_of_profit 10,000 paths x 72 bars of 1h (block bootstrap, barriers)",
               timed(lambda: forecast.probability_of_profit(trade, moves), repeat), "s")  # fmt: skip
        sample = posts(500)
        sentiment.snapshot(sample[:20], asset="BTC", now=datetime(2025, 6, 10, 12, tzinfo=UTC))  # lexicon, sklearn
        snap = report(
            "sentiment.snapshot 500 posts (scores, sources, trend, topics)",
            timed(
                lambda: sentiment.snapshot(sample, asset="BTC", now=datetime(2025, 6, 10, 12, tzinfo=UTC)),
                max(3, repeat // 3),
            ),
            "s",
        )
        del snap
    if args.api:
        api_timings(repeat, days, COINS[:2] if args.quick else COINS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
