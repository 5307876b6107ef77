"""The AI signal of stored markets: train and store a version (the one service that writes them; the nightly retrain
calls it per market), answer "buy, hold or sell, how sure, and why" for the API, the dashboard and the pages, and
record each hour's signal to compare with what happened (the live track record).

Definitions in ``analytics/signal.py`` (pure). The inputs at training time are out of sample: the regime model's
walk-forward probabilities and the forecaster's walk-forward quantiles; at answer time they come from the live
regime and forecast versions. Sentiment is shown beside the signal and is not one of its inputs (no history to
learn its weight from yet). An optional language model may add a commentary; it never changes the signal.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from analytics import forecast, regime, signal
from analytics.errors import AnalysisError
from analytics.model_files import load, model_dir, write_model_file
from analytics.models import SignalModel, SignalRecord
from analytics.regimes import code_version, market_dataset, training_lock
from market_data import clock
from market_data.selectors import last_open_time, load_candles, ms_to_datetime, to_ms
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from strategies.labels import strategy_name

logger = logging.getLogger(__name__)

TRACK_POINTS = 600
RECENT_BARS = 1200  # enough for every strategy's warm-up and the features' longest window


def _forecast_daily(exchange: str, symbol: str) -> pd.DataFrame | None:
    """The forecaster's out-of-sample 1-day quantiles per day (its walk-forward), or None with too little data."""
    from analytics.forecasts import _btc_daily, daily_candles

    days, _tf = daily_candles(exchange, symbol)
    try:
        data = forecast.dataset(days, btc_close=_btc_daily(exchange, symbol))
        one = forecast.walk_forward(data)[1]
    except forecast.ForecastError:
        return None
    return pd.DataFrame(one.quantiles, index=data.features.index[one.tested], columns=["q10", "q50", "q90"])


def training_inputs(exchange: str, symbol: str, timeframe: str, *, days: int | None) -> signal.Inputs:
    candles, data = market_dataset(exchange, symbol, timeframe, days=days)
    try:
        report = regime.walk_forward(data, kind="random_forest")
    except regime.RegimeError as exc:
        raise AnalysisError(str(exc), code=exc.code, field="symbol") from None
    probs = pd.DataFrame(report.probabilities, index=data.features.index[report.tested], columns=regime.REGIMES)
    return signal.inputs(
        candles,
        votes=signal.stances(candles),
        regime_probabilities=probs,
        forecast_daily=_forecast_daily(exchange, symbol),
        horizon=data.rule.horizon,
        trail=data.rule.trail,
    )


def signal_model_train(
    *, exchange: str, symbol: str, timeframe: str, days: int | None = None, seed: int = 0
) -> SignalModel | None:
    """Evaluate (walk-forward) and train a new version of the market's signal; it answers from now on. None when
    another worker is training it."""
    from django.conf import settings

    symbol = normalize_symbol(symbol)
    days = settings.TRENDY_REGIME_DAYS if days is None else days
    with training_lock(f"signal:{exchange}:{symbol}:{timeframe}") as held:
        if not held:
            return None
        started = time.perf_counter()
        data = training_inputs(exchange, symbol, timeframe, days=days)
        try:
            evaluation = signal.walk_forward(data, seed=seed)
            trained = signal.train(data, seed=seed)
        except signal.SignalError as exc:
            raise AnalysisError(
                _("Too little history of %(symbol)s to learn and test a signal; import more candles.")
                % {"symbol": symbol},
                code=exc.code,
                field="symbol",
            ) from None
        step = max(1, math.ceil(len(evaluation.tested) / TRACK_POINTS))
        index = data.x.index
        forward = data.forward.to_numpy()
        track = [
            [
                index[row].isoformat(),
                signal.SIGNALS[int(evaluation.predicted[k])],
                round(float(evaluation.confidence[k]), 4),
                round(float(forward[row]), 6),
            ]
            for k, row in list(enumerate(evaluation.tested))[::step]
        ]
        version = (
            SignalModel.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
            .order_by("-version")
            .values_list("version", flat=True)
            .first()
            or 0
        ) + 1
        relative = f"signal/{exchange}/{symbol.replace('/', '')}_{timeframe}_v{version}.joblib"
        sha = write_model_file(model_dir() / relative, {"model": trained.model, "names": trained.names})
        with transaction.atomic():
            SignalModel.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe, live=True).update(
                live=False
            )
            row = SignalModel.objects.create(
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                version=version,
                live=True,
                code_version=code_version(),
                inputs=trained.names,
                horizon=data.horizon,
                rows=trained.rows,
                first_bar=index[0].to_pydatetime(),
                last_bar=index[~np.isnan(data.y.to_numpy())][-1].to_pydatetime(),
                evaluation={
                    "model": evaluation.model,
                    "votes": evaluation.votes,
                    "hold": evaluation.hold,
                    "blocks": evaluation.blocks,
                },
                coefficients=trained.coefficients,
                track=track,
                path=relative,
                sha256=sha,
                training_seconds=round(time.perf_counter() - started, 2),
            )
        return row


def live_signal_model(exchange: str, symbol: str, timeframe: str) -> SignalModel:
    """The live version, or on the replay clock the newest one whose labels all ended before the clock's now."""
    rows = SignalModel.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe).exclude(path="")
    live = rows.filter(live=True).first()
    now = clock.now()

    def knows_until(row: SignalModel) -> Any:
        return row.last_bar + timedelta(milliseconds=(row.horizon + 1) * TIMEFRAME_MS[row.timeframe])

    if live is not None and knows_until(live) <= now:
        return live
    for row in rows.filter(last_bar__lt=now).order_by("-version"):
        if knows_until(row) <= now:
            return row
    if live is None:
        raise AnalysisError(
            _(
                "No signal model of %(symbol)s %(tf)s on %(exchange)s has been trained yet: models are trained "
                "nightly, or by `manage.py train_regime`."
            )
            % {"symbol": symbol, "tf": timeframe, "exchange": exchange},
            code="no_model",
            field="symbol",
        )
    raise AnalysisError(
        _(
            "The market clock is at %(now)s, before the candles the signal model of %(symbol)s learnt from: it "
            "would know the future."
        )
        % {"now": now.strftime("%Y-%m-%d %H:%M UTC"), "symbol": symbol},
        code="no_model",
        field="symbol",
    )


def _recent_end(exchange: str, symbol: str, timeframe: str) -> datetime:
    """Where the market's closed candles end now (exclusive): the last stored one, or the clock's last close."""
    last = last_open_time(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if last is None:
        raise AnalysisError(_("No candles of %(symbol)s are stored.") % {"symbol": symbol}, code="unknown_symbol")
    return ms_to_datetime(min(to_ms(last) + TIMEFRAME_MS[timeframe], to_ms(clock.closed_before(timeframe))))


def _last_bar(exchange: str, symbol: str, timeframe: str, end: datetime) -> pd.Timestamp:
    candles = load_candles(exchange, symbol, timeframe, None, end, limit=1)
    if not len(candles):
        raise AnalysisError(_("No closed candles yet."), code="too_little_history", field="symbol")
    return candles.index[-1]


def _recent_votes(exchange: str, symbol: str, timeframe: str, end: datetime) -> tuple[pd.Series, float]:
    candles = load_candles(exchange, symbol, timeframe, None, end, limit=RECENT_BARS)
    votes = signal.stances(candles)
    return votes.iloc[-1], float(candles["close"].iloc[-1])


def _phrase(part: signal.Contribution, row: dict[str, float]) -> str:
    name = part.name
    if name == "votes_net":
        longs = sum(1 for k, v in row.items() if k in _slugs() and v > 0)
        shorts = sum(1 for k, v in row.items() if k in _slugs() and v < 0)
        return _("%(longs)d of the six strategies would hold long and %(shorts)d short") % {
            "longs": longs,
            "shorts": shorts,
        }
    if name in _slugs():
        stance = row[name]
        if stance > 0:
            return _("%(strategy)s would hold long") % {"strategy": strategy_name(name)}
        if stance < 0:
            return _("%(strategy)s would hold short") % {"strategy": strategy_name(name)}
        return _("%(strategy)s would stay out") % {"strategy": strategy_name(name)}
    if name.startswith("p_"):
        return _("the regime model gives %(regime)s %(p)d %%") % {
            "regime": regime_label(name[2:]),
            "p": round(100 * row[name]),
        }
    if name == "f_median":
        return _("the 1-day forecast's median is %(pct)s %%") % {"pct": f"{100 * math.expm1(row[name]):+.1f}"}
    if name == "f_width":
        return _("the 1-day forecast's 80 %% interval is %(pct)s %% wide") % {"pct": f"{100 * row[name]:.1f}"}
    return name


def _slugs() -> set[str]:
    from strategies.builtin import REGISTRY

    return set(REGISTRY)


def regime_label(name: str) -> str:
    return {
        "trending_up": _("trending up"),
        "trending_down": _("trending down"),
        "ranging": _("ranging"),
        "volatile": _("volatile"),
    }.get(name, name)


def signal_label(name: str) -> str:
    return {"buy": _("buy"), "hold": _("hold"), "sell": _("sell")}.get(name, name)


def explain(name: str, confidence: float, parts: list[signal.Contribution], row: dict[str, float]) -> str:
    """The signal in a plain sentence: what it says, how sure, and the inputs that pushed hardest toward it."""
    toward = [p for p in parts if p.push > 0][:3]
    reasons = "; ".join(_phrase(p, row) for p in toward) or _("no input stood out")
    return _("%(signal)s, %(confidence)d %% sure. It leans on: %(reasons)s.") % {
        "signal": signal_label(name).capitalize(),
        "confidence": round(100 * confidence),
        "reasons": reasons,
    }


def live_track_record(row: SignalModel) -> dict[str, Any]:
    """The signals recorded since this market's first record whose horizon has passed, against what happened."""
    records = list(
        SignalRecord.objects.filter(exchange=row.exchange, symbol=row.symbol, timeframe=row.timeframe).order_by(
            "bar_close"
        )
    )
    if not records:
        return {"signals": 0}
    step = timedelta(milliseconds=TIMEFRAME_MS[row.timeframe])
    first = records[0].bar_close - step
    candles = load_candles(row.exchange, row.symbol, row.timeframe, first, clock.closed_before(row.timeframe))
    closes = pd.Series(candles["close"].to_numpy(), index=candles.index + step)  # by close time
    done = []
    for record in records:
        end = record.bar_close + record.horizon * step
        if end in closes.index and record.bar_close in closes.index:
            done.append((record.signal, math.log(closes[end] / closes[record.bar_close])))
    if not done:
        return {"signals": len(records), "settled": 0}
    buys = [r for s, r in done if s == "buy"]
    sells = [r for s, r in done if s == "sell"]
    return {
        "signals": len(records),
        "settled": len(done),
        "buy_then_rise": (sum(r > 0 for r in buys) / len(buys)) if buys else None,
        "sell_then_fall": (sum(r < 0 for r in sells) / len(sells)) if sells else None,
        "since": records[0].bar_close.isoformat().replace("+00:00", "Z"),
    }


def market_signal(*, exchange: str, symbol: str, timeframe: str = "1h") -> dict[str, Any]:
    """The signal on the market's last closed bar: buy, hold or sell, its probability, why, and its track record."""
    from analytics.forecasts import price_forecast
    from analytics.market_regime import market_regime

    symbol = normalize_symbol(symbol)
    row = live_signal_model(exchange, symbol, timeframe)
    end = _recent_end(exchange, symbol, timeframe)
    bar_open = _last_bar(exchange, symbol, timeframe, end)  # one candle read: enough to find a cached answer
    # the explanation is in the request's language: one cached answer a language
    key = f"analytics:signal:{row.id}:{bar_open.value}:{get_language()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    votes, close = _recent_votes(exchange, symbol, timeframe, end)
    regime_answer = market_regime(exchange=exchange, symbol=symbol, timeframe=timeframe)
    values: dict[str, float] = {slug: float(v) for slug, v in votes.items()}
    values["votes_net"] = float(votes.sum()) / len(votes)
    for name, p in regime_answer["regime_probabilities"].items():
        values[f"p_{name}"] = float(p)
    if "f_median" in row.inputs:
        day = price_forecast(exchange=exchange, symbol=symbol)
        one = day["horizons"]["1d"]
        values["f_median"] = math.log(one["median"] / day["close"])
        values["f_width"] = math.log(one["high"] / day["close"]) - math.log(one["low"] / day["close"])
    payload = load(row)
    trained = signal.Trained(payload["model"], payload["names"], row.rows, row.coefficients)
    missing = [name for name in trained.names if name not in values]
    if missing:
        raise AnalysisError(
            _("The live signal model needs inputs this market lacks now; retrain it."),
            code="model_stale",
            field="symbol",
        )
    name, confidence, probs, parts = signal.decide(trained, values)
    bar_close = bar_open + pd.Timedelta(milliseconds=TIMEFRAME_MS[timeframe])
    answer = {
        "symbol": symbol.replace("/", ""),
        "market": symbol,
        "exchange": exchange,
        "timeframe": timeframe,
        "as_of": bar_close.isoformat().replace("+00:00", "Z"),
        "price": close,
        "signal": name,
        "confidence": round(confidence, 4),
        "probabilities": {k: round(v, 4) for k, v in probs.items()},
        "horizon_bars": row.horizon,
        "explanation": explain(name, confidence, parts, values),
        "drivers": [{"input": p.name, "value": round(values[p.name], 6), "push": round(p.push, 4)} for p in parts[:5]],
        "inputs": {k: round(v, 6) for k, v in values.items()},
        "regime": {"current": regime_answer["current_regime"], "model_version": regime_answer["model"]["version"]},
        "sentiment": _sentiment_beside(symbol),
        "track_record": {"walk_forward": row.evaluation, "live": live_track_record(row)},
        "model": {
            "version": row.version,
            "trained_at": row.created_at.isoformat().replace("+00:00", "Z"),
            "trained_through": row.last_bar.isoformat().replace("+00:00", "Z"),
            "bars_learnt_from": row.rows,
            "weights_learnt": "walk-forward",
        },
    }
    cache.set(key, answer, max(60, TIMEFRAME_MS[timeframe] // 1000))
    return answer


def _sentiment_beside(symbol: str) -> dict[str, Any]:
    from analytics.sentiments import market_sentiment

    mood = market_sentiment(symbol=symbol)
    return {
        "status": mood["status"],
        "overall_score": mood.get("overall_score"),
        "used_in_signal": False,
        "note": _("Shown beside the signal, not part of it: there is no sentiment history to learn its weight from."),
    }


def signals_record() -> int:
    """Record the signal of every market with a live signal model on its last closed bar (the hourly beat); a bar
    already recorded is left as it was. Returns how many were recorded."""
    done = 0
    for row in SignalModel.objects.filter(live=True):
        try:
            answer = market_signal(exchange=row.exchange, symbol=row.symbol, timeframe=row.timeframe)
        except AnalysisError as exc:
            logger.warning("signal: %s %s %s not recorded: %s", row.exchange, row.symbol, row.timeframe, exc.message)
            continue
        _record, created = SignalRecord.objects.get_or_create(
            exchange=row.exchange,
            symbol=row.symbol,
            timeframe=row.timeframe,
            bar_close=pd.Timestamp(answer["as_of"]).to_pydatetime(),
            defaults={
                "signal": answer["signal"],
                "confidence": answer["confidence"],
                "price": Decimal(str(answer["price"])),
                "horizon": row.horizon,
                "model": row,
            },
        )
        done += int(created)
    return done
