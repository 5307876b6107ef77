from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task


def _trained(market: str, train: Callable[[], Any], *, status: bool = False) -> dict[str, Any]:
    """Run one training service and say what came of it: a refusal (too little data, an unknown market: nothing to
    retry), skipped (another worker holds the market's lock), or the new version."""
    from analytics.errors import AnalysisError

    try:
        row = train()
    except AnalysisError as exc:
        return {"market": market, "refused": exc.code, "message": exc.message}
    if row is None:
        return {"market": market, "skipped": "locked"}
    done = {"market": market, "version": row.version, "seconds": row.training_seconds}
    return {**done, "status": row.status} if status else done


@shared_task(name="analytics.train_regime_models", time_limit=600, soft_time_limit=540)
def train_regime_models() -> int:
    """The nightly retrain: one task per market (TRENDY_REGIME_MARKETS, or the stored 1h and 1d series), each on
    the analytics queue, so that one worker of that queue trains them one after the other."""
    from analytics.regimes import regime_markets

    markets = regime_markets()
    for exchange, symbol, timeframe in markets:
        train_regime_model.delay(exchange=exchange, symbol=symbol, timeframe=timeframe)
    for exchange, symbol in dict.fromkeys((exchange, symbol) for exchange, symbol, _ in markets):
        train_forecast_model.delay(exchange=exchange, symbol=symbol)
    for exchange, symbol, timeframe in markets:
        train_signal_model.delay(exchange=exchange, symbol=symbol, timeframe=timeframe)
    return len(markets)


@shared_task(
    name="analytics.train_regime_model",
    acks_late=True,
    time_limit=1800,
    soft_time_limit=1740,
    autoretry_for=(OSError,),
    retry_backoff=60,
    max_retries=3,
)
def train_regime_model(*, exchange: str, symbol: str, timeframe: str) -> dict[str, Any]:
    """Train one market's regime model (skipped when another worker holds its lock)."""
    from analytics.regimes import regime_model_train

    return _trained(
        f"{exchange}:{symbol}:{timeframe}",
        lambda: regime_model_train(exchange=exchange, symbol=symbol, timeframe=timeframe),
        status=True,
    )


@shared_task(
    name="analytics.train_forecast_model",
    acks_late=True,
    time_limit=1800,
    soft_time_limit=1740,
    autoretry_for=(OSError,),
    retry_backoff=60,
    max_retries=3,
)
def train_forecast_model(*, exchange: str, symbol: str) -> dict[str, Any]:
    """Measure and train one market's price forecaster (skipped when another worker holds its lock)."""
    from analytics.forecasts import forecast_model_train

    return _trained(f"{exchange}:{symbol}", lambda: forecast_model_train(exchange=exchange, symbol=symbol))


@shared_task(
    name="analytics.train_signal_model",
    acks_late=True,
    time_limit=1800,
    soft_time_limit=1740,
    autoretry_for=(OSError,),
    retry_backoff=60,
    max_retries=3,
)
def train_signal_model(*, exchange: str, symbol: str, timeframe: str) -> dict[str, Any]:
    """Evaluate and train one market's AI signal (skipped when another worker holds its lock)."""
    from analytics.signals import signal_model_train

    return _trained(
        f"{exchange}:{symbol}:{timeframe}",
        lambda: signal_model_train(exchange=exchange, symbol=symbol, timeframe=timeframe),
    )


@shared_task(name="analytics.record_signals", time_limit=600, soft_time_limit=540)
def record_signals() -> int:
    """Record each market's signal on its last closed bar (the live track record)."""
    from analytics.signals import signals_record

    return signals_record()


@shared_task(name="analytics.refresh_sentiment", time_limit=900, soft_time_limit=840)
def refresh_sentiment() -> int:
    """Read the configured sentiment sources and store a snapshot per asset; prune snapshots older than 90 days."""
    from analytics.sentiments import sentiment_prune, sentiment_refresh

    rows = sentiment_refresh()
    sentiment_prune()
    return len(rows)
