"""Price forecasts and trade predictions for stored markets: train and store a forecaster version (the one service
that writes them; the nightly retrain calls it per market), and answer ``POST /api/v1/analytics/predict``.

Definitions in ``analytics/forecast.py`` (pure). Here:

- **Daily candles**: the market's stored 1d candles, or else its stored 1h (then 4h, 15m, 5m, 1m) candles resampled
  to UTC days, up to the last day the market clock has closed; BTC/USDT's daily closes for the correlation feature.
- **Versions**: each run stores the three horizons' quantile models (a joblib file under ``TRENDY_MODEL_DIR``,
  checked by sha256 when loaded) and the walk-forward coverage they were measured with; the newest answers.
- **A prediction** reads the live forecaster, the market's recent 1h candles (or the shortest stored timeframe)
  for the probability of profit's paths, and the live regime model's probabilities for a strategy's win rate.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from analytics import forecast, regime
from analytics.errors import AnalysisError
from analytics.features import DAY_MS
from analytics.model_files import load, model_dir, write_model_file
from analytics.models import ForecastModel
from analytics.regimes import BTC, code_version, training_lock
from market_data import clock
from market_data.selectors import last_open_time, load_candles, ms_to_datetime, to_ms
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS

logger = logging.getLogger(__name__)

PATH_TIMEFRAMES = ("1h", "15m", "4h", "5m", "1m", "1d")  # the bars a trade is played on, in order of preference
PATH_HISTORY_DAYS = 365
RECENT_DAYS = 120  # days read to compute the last day's features (the longest window is 60 days)


def _series(exchange: str, symbol: str, timeframes: tuple[str, ...]) -> str | None:
    for tf in timeframes:
        if last_open_time(exchange=exchange, symbol=symbol, timeframe=tf) is not None:
            return tf
    return None


def daily_candles(exchange: str, symbol: str, *, days: int | None = None) -> tuple[pd.DataFrame, str]:
    """The market's complete UTC days (stored 1d candles, or the shortest intraday series resampled); the last
    ``days`` of them when given."""
    tf = _series(exchange, symbol, ("1d", "1h", "4h", "15m", "5m", "1m"))
    if tf is None:
        raise AnalysisError(
            _("No candles of %(symbol)s on %(exchange)s are stored: import them on the markets page.")
            % {"symbol": symbol, "exchange": exchange},
            code="unknown_symbol",
            field="symbol",
        )
    last = last_open_time(exchange=exchange, symbol=symbol, timeframe=tf)
    end_ms = min(to_ms(last) + TIMEFRAME_MS[tf], to_ms(clock.closed_before(tf)))
    # Days are complete up to the day in which the last closed candle closes: end_ms bounds the open times, and
    # the candle that opens just before it closes one timeframe later.
    whole_days_end_ms = (end_ms + TIMEFRAME_MS[tf] - 1) // DAY_MS * DAY_MS
    start = None if days is None else ms_to_datetime(whole_days_end_ms - days * DAY_MS)
    candles = load_candles(exchange, symbol, tf, start, ms_to_datetime(end_ms))
    if tf == "1d":
        return candles, tf
    return forecast.daily(candles[candles.index < pd.Timestamp(ms_to_datetime(whole_days_end_ms))]), tf


def _btc_daily(exchange: str, symbol: str, *, days: int | None = None) -> pd.Series | None:
    if symbol == BTC or _series(exchange, BTC, ("1d", "1h")) is None:
        return None
    return daily_candles(exchange, BTC, days=days)[0]["close"]


def _refusal(exc: forecast.ForecastError, symbol: str) -> AnalysisError:
    messages = {
        "too_little_data": _(
            "%(symbol)s has too few days of candles for a forecast (about 370 are needed: 300 with a known 7-day "
            "return after the 60-day feature window). Import more history on the markets page."
        )
        % {"symbol": symbol},
        "bad_side": _("The side is long or short."),
        "bad_entry": _("The entry price must be above 0."),
        "bad_stop_loss": _("The stop-loss must be on the losing side of the entry price."),
        "bad_take_profit": _("The take-profit must be on the winning side of the entry price."),
        "bad_horizon": _("The horizon is 1 to 10,000 bars."),
    }
    fields = {"bad_side": "side", "bad_entry": "entry_price", "bad_stop_loss": "stop_loss"}
    fields |= {"bad_take_profit": "take_profit", "bad_horizon": "horizon_hours"}
    return AnalysisError(str(messages.get(exc.code, exc)), code=exc.code, field=fields.get(exc.code, "symbol"))


def forecast_model_train(*, exchange: str, symbol: str, seed: int = 0) -> ForecastModel | None:
    """Measure (walk-forward) and train a new forecaster version of the market; it answers from now on. None when
    another worker is training this market's forecaster."""
    symbol = normalize_symbol(symbol)
    with training_lock(f"forecast:{exchange}:{symbol}") as held:
        if not held:
            return None
        started = time.perf_counter()
        days, tf = daily_candles(exchange, symbol)
        data = forecast.dataset(days, btc_close=_btc_daily(exchange, symbol))
        try:
            coverage = forecast.walk_forward(data, seed=seed)
            trained = forecast.train(data, seed=seed)
        except forecast.ForecastError as exc:
            raise _refusal(exc, symbol) from None
        version = (
            ForecastModel.objects.filter(exchange=exchange, symbol=symbol)
            .order_by("-version")
            .values_list("version", flat=True)
            .first()
            or 0
        ) + 1
        relative = f"forecast/{exchange}/{symbol.replace('/', '')}_v{version}.joblib"
        sha = write_model_file(model_dir() / relative, {"models": trained.models, "features": trained.features})
        with transaction.atomic():
            ForecastModel.objects.filter(exchange=exchange, symbol=symbol, live=True).update(live=False)
            row = ForecastModel.objects.create(
                exchange=exchange,
                symbol=symbol,
                version=version,
                live=True,
                code_version=code_version(),
                features=trained.features,
                source_timeframe=tf,
                first_day=data.features.index[0].to_pydatetime(),
                last_day=data.features.index[-1].to_pydatetime(),
                rows=trained.rows,
                coverage={
                    str(h): {
                        "rows": c.rows,
                        "coverage": c.coverage,
                        "nominal": c.nominal,
                        "below": c.below,
                        "above": c.above,
                        "mae_median": c.mae_median,
                        "mae_naive": c.mae_naive,
                        "direction": c.direction,
                        "blocks": c.blocks,
                    }
                    for h, c in coverage.items()
                },
                path=relative,
                sha256=sha,
                training_seconds=round(time.perf_counter() - started, 2),
            )
        old = ForecastModel.objects.filter(exchange=exchange, symbol=symbol, live=False).order_by("-version")[2:]
        for stale in old:
            if stale.path:
                (model_dir() / stale.path).unlink(missing_ok=True)
                ForecastModel.objects.filter(id=stale.id).update(path="")
        return row


def live_forecaster(exchange: str, symbol: str) -> ForecastModel:
    """The version that answers: the live one — unless the market clock is behind what it learnt (a replay of the
    past), when the newest version whose targets all ended before the clock's now answers instead."""
    row = ForecastModel.objects.filter(exchange=exchange, symbol=symbol, live=True).first()
    horizon = timedelta(days=max(forecast.HORIZONS_DAYS) + 1)
    if row is not None and row.last_day + horizon > clock.now():
        row = (
            ForecastModel.objects.filter(exchange=exchange, symbol=symbol, last_day__lte=clock.now() - horizon)
            .exclude(path="")
            .order_by("-version")
            .first()
        )
        if row is None:
            raise AnalysisError(
                _(
                    "The market clock is at %(now)s, before the days the forecast model of %(symbol)s learnt from: "
                    "it would know the future. Train one on the candles before that time."
                )
                % {"now": clock.now().strftime("%Y-%m-%d %H:%M UTC"), "symbol": symbol},
                code="no_model",
                field="symbol",
            )
        return row
    if row is None:
        raise AnalysisError(
            _(
                "No forecast model of %(symbol)s on %(exchange)s has been trained yet: models are trained nightly, or "
                "by `manage.py train_regime`."
            )
            % {"symbol": symbol, "exchange": exchange},
            code="no_model",
            field="symbol",
        )
    return row


def price_forecast(*, exchange: str, symbol: str) -> dict[str, Any]:
    """Forecast prices for 1, 3 and 7 days from the last complete day, with each horizon's measured coverage."""
    symbol = normalize_symbol(symbol)
    row = live_forecaster(exchange, symbol)
    days, _tf = daily_candles(exchange, symbol, days=RECENT_DAYS)
    btc = _btc_daily(exchange, symbol, days=RECENT_DAYS)
    frame = forecast.feature_frame(days, timeframe_ms=DAY_MS, btc_close=btc)
    if not len(frame) or frame.index[-1] != days.index[-1]:
        raise AnalysisError(
            _("Too few recent candles of %(symbol)s to compute the forecast's features (gaps in the stored data).")
            % {"symbol": symbol},
            code="too_little_history",
            field="symbol",
        )
    key = f"analytics:forecast:{row.id}:{days.index[-1].value}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    payload = load(row)
    if list(frame.columns) != payload["features"]:
        raise AnalysisError(
            _("The live forecast model was trained on other features; retrain it."), code="model_stale", field="symbol"
        )
    close = float(days["close"].iloc[-1])
    trained = forecast.Forecaster(payload["models"], payload["features"], row.rows, 0.0)
    prices = forecast.predict(trained, frame.to_numpy()[-1], close)
    answer = {
        "as_of": (days.index[-1] + pd.Timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "close": close,
        "horizons": {
            f"{h}d": {
                **{k: round(v, 8) for k, v in p.items()},
                "interval": "80%",
                "measured_coverage": round(row.coverage[str(h)]["coverage"], 4),
                "direction_hit_rate": round(row.coverage[str(h)]["direction"], 4),
            }
            for h, p in prices.items()
        },
        "model": {
            "version": row.version,
            "trained_at": row.created_at.isoformat().replace("+00:00", "Z"),
            "trained_through": row.last_day.isoformat().replace("+00:00", "Z"),
            "candles": row.source_timeframe,
        },
    }
    cache.set(key, answer, 3600)
    return answer


def _paths_moves(exchange: str, symbol: str) -> tuple[np.ndarray, str, float]:
    """The last year of bar moves of the market's preferred path timeframe, the timeframe, and its last close."""
    tf = _series(exchange, symbol, PATH_TIMEFRAMES)
    if tf is None:
        raise AnalysisError(_("No candles of %(symbol)s are stored.") % {"symbol": symbol}, code="unknown_symbol")
    last = last_open_time(exchange=exchange, symbol=symbol, timeframe=tf)
    end_ms = min(to_ms(last) + TIMEFRAME_MS[tf], to_ms(clock.closed_before(tf)))
    start = ms_to_datetime(end_ms - PATH_HISTORY_DAYS * DAY_MS)
    candles = load_candles(exchange, symbol, tf, start, ms_to_datetime(end_ms))
    if len(candles) < 31:
        raise AnalysisError(
            _("Too few recent %(tf)s candles of %(symbol)s to simulate the trade.") % {"tf": tf, "symbol": symbol},
            code="too_little_history",
            field="symbol",
        )
    return forecast.bar_moves(candles), tf, float(candles["close"].iloc[-1])


def win_rate_forecast(*, exchange: str, symbol: str, strategy: str) -> dict[str, Any] | None:
    """A strategy's win rate now: its win rate in each regime (its trades split by regime, stored with the live
    regime model of the market's 1h — else any — timeframe) weighted by the regime model's probabilities now."""
    from analytics.market_regime import market_regime
    from analytics.models import RegimeModel

    row = (
        RegimeModel.objects.filter(exchange=exchange, symbol=symbol, status=RegimeModel.Status.LIVE)
        .order_by("timeframe")
        .first()
    )
    preferred = RegimeModel.objects.filter(
        exchange=exchange, symbol=symbol, status=RegimeModel.Status.LIVE, timeframe="1h"
    ).first()
    row = preferred or row
    if row is None or strategy not in row.evidence:
        return None
    try:
        answer = market_regime(exchange=exchange, symbol=symbol, timeframe=row.timeframe)
    except AnalysisError as exc:  # optional: the prediction answers without it, and says why
        return {"strategy": strategy, "win_rate": None, "unavailable": exc.message}
    stats = row.evidence[strategy]
    weights = answer["regime_probabilities"]
    trades = sum(stats[name]["trades"] for name in regime.REGIMES)
    if not trades:
        return None
    known = {name: stats[name] for name in regime.REGIMES if stats[name]["trades"]}
    total = sum(weights[name] for name in known) or 1.0
    rate = sum(weights[name] * known[name]["win_rate"] for name in known) / total
    return {
        "strategy": strategy,
        "win_rate": round(rate, 4),
        "by_regime": {name: {"trades": s["trades"], "win_rate": round(s["win_rate"], 4)} for name, s in stats.items()},
        "regime_probabilities": weights,
        "regime_model_version": row.version,
        "timeframe": row.timeframe,
    }


def predict(
    *,
    exchange: str,
    symbol: str,
    side: str,
    entry_price: Decimal | None,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    horizon_hours: int,
    position_size: Decimal,
    stop_loss_pct: Decimal | None = None,
    take_profit_pct: Decimal | None = None,
    strategy: str | None = None,
    paths: int = 10_000,
    seed: int = 1,
) -> dict[str, Any]:
    """The seed's predict answer (see the module's docstring). The entry defaults to the last close of the bars the
    trade is played on; stop-loss and take-profit may be given as percentages of the entry instead of prices. The
    simulation assumes the entry fills at its price."""
    symbol = normalize_symbol(symbol)
    prices = price_forecast(exchange=exchange, symbol=symbol)
    moves, tf, last_close = _paths_moves(exchange, symbol)
    entry = float(entry_price) if entry_price is not None else last_close
    sign = 1 if side == "long" else -1
    if stop_loss_pct is not None:
        stop_loss = Decimal(str(entry)) * (1 - sign * stop_loss_pct / 100)
    if take_profit_pct is not None:
        take_profit = Decimal(str(entry)) * (1 + sign * take_profit_pct / 100)
    bars = max(1, round(horizon_hours * 3_600_000 / TIMEFRAME_MS[tf]))
    trade = forecast.Trade(
        side=side,
        entry=entry,
        stop_loss=None if stop_loss is None else float(stop_loss),
        take_profit=None if take_profit is None else float(take_profit),
        horizon_bars=bars,
    )
    try:
        outcome = forecast.probability_of_profit(trade, moves, paths=paths, seed=seed)
    except forecast.ForecastError as exc:
        raise _refusal(exc, symbol) from None
    horizon_days = min(forecast.HORIZONS_DAYS, key=lambda d: abs(d * 24 - horizon_hours))
    chosen = prices["horizons"][f"{horizon_days}d"]
    return {
        "symbol": symbol.replace("/", ""),
        "market": symbol,
        "exchange": exchange,
        "side": side,
        "entry_price": entry,
        "predicted_prices": prices["horizons"],
        "as_of": prices["as_of"],
        "probability_of_profit": round(outcome.probability_of_profit, 4),
        "probability_take_profit": round(outcome.probability_take_profit, 4),
        "probability_stop_loss": round(outcome.probability_stop_loss, 4),
        "expected_return": round(outcome.expected_return, 6),
        "expected_value": str((position_size * Decimal(str(outcome.expected_return))).quantize(Decimal("0.01"))),
        "position_size": str(position_size),
        "risk_reward_ratio": None if outcome.risk_reward_ratio is None else round(outcome.risk_reward_ratio, 4),
        "win_rate_forecast": win_rate_forecast(exchange=exchange, symbol=symbol, strategy=strategy)
        if strategy
        else None,
        "confidence": chosen["direction_hit_rate"],
        "confidence_means": _(
            "How often the %(days)d-day median forecast had the direction of what happened, measured walk-forward."
        )
        % {"days": horizon_days},
        "simulation": {
            "paths": outcome.paths,
            "bars": bars,
            "timeframe": tf,
            "history_days": PATH_HISTORY_DAYS,
            "median_bars_held": outcome.median_bars_held,
            "fee_rate": trade.fee_rate,
        },
        "forecast_model": prices["model"],
    }
