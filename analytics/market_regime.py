"""What regime a stored market is in now: its live regime model version on the last closed candle, in the seed's
market-regime shape, with the strategies that did best in that regime (from the trades stored with the version)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.utils.translation import gettext as _

from analytics import regime
from analytics.errors import AnalysisError
from analytics.features import feature_frame, windows
from analytics.model_files import load
from analytics.models import RegimeModel
from analytics.regimes import MIN_EVIDENCE_TRADES, btc_closes
from market_data import clock
from market_data.selectors import last_open_time, load_candles, ms_to_datetime, to_ms
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import REGISTRY
from strategies.labels import strategy_name


def recommended(evidence: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Strategies (built-in or from the marketplace) whose trades made money on average in this regime (at least
    MIN_EVIDENCE_TRADES of them), best mean return first."""
    rows = []
    for slug, regimes in evidence.items():
        stats = regimes.get(name) or {}
        if stats.get("trades", 0) >= MIN_EVIDENCE_TRADES and stats.get("mean_return", 0.0) > 0:
            rows.append(
                {
                    "strategy": slug,
                    "name": strategy_name(slug),
                    "source": "builtin" if slug in REGISTRY else "marketplace",
                    "trades": stats["trades"],
                    "win_rate": round(stats["win_rate"], 4),
                    "mean_return_pct": round(100 * stats["mean_return"], 3),
                }
            )
    return sorted(rows, key=lambda row: -row["mean_return_pct"])


# --- answering -------------------------------------------------------------------------------------------------------


def live_model(*, exchange: str, symbol: str, timeframe: str) -> RegimeModel | None:
    """The version that answers: the live one — unless the market clock is behind what it learnt (a replay of the
    past), when the newest stored version whose labels all ended before the clock's now answers, or none."""
    symbol = normalize_symbol(symbol)
    row = RegimeModel.objects.filter(
        exchange=exchange, symbol=symbol, timeframe=timeframe, status=RegimeModel.Status.LIVE
    ).first()
    now = clock.now()
    if row is None or _knows_until(row) <= now:
        return row
    for older in (
        RegimeModel.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe, train_end__lt=now)
        .exclude(path="")
        .order_by("-version")
    ):
        if _knows_until(older) <= now:
            return older
    raise AnalysisError(
        _(
            "The market clock is at %(now)s, before the candles the regime model of %(symbol)s learnt from: it "
            "would know the future. Train one on the candles before that time."
        )
        % {"now": now.strftime("%Y-%m-%d %H:%M UTC"), "symbol": symbol},
        code="no_model",
        field="symbol",
    )


def _knows_until(row: RegimeModel) -> Any:
    """The close of the last bar any of the version's labels read."""
    horizon = int(row.label_rule.get("horizon", 0)) + 1
    return row.train_end + timedelta(milliseconds=horizon * TIMEFRAME_MS[row.timeframe])


def _recent(exchange: str, symbol: str, timeframe: str) -> tuple[pd.DataFrame, pd.Series | None]:
    """Enough of the newest closed candles for every feature window of the last bar."""
    tf_ms = TIMEFRAME_MS[timeframe]
    need = max(windows(tf_ms)) + 60
    last = last_open_time(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if last is None:
        raise AnalysisError(
            _("No %(tf)s candles of %(symbol)s on %(exchange)s are stored: import them on the markets page.")
            % {"tf": timeframe, "symbol": symbol, "exchange": exchange},
            code="unknown_symbol",
            field="symbol",
        )
    end = min(to_ms(last) + tf_ms, to_ms(clock.closed_before(timeframe)))
    candles = load_candles(exchange, symbol, timeframe, None, ms_to_datetime(end), limit=need)
    return candles, btc_closes(exchange, symbol, timeframe, candles)


def market_regime(*, exchange: str, symbol: str, timeframe: str) -> dict[str, Any]:
    """The seed's market-regime answer for the market's last closed candle, from its live model version. Cached per
    version and candle."""
    symbol = normalize_symbol(symbol)
    row = live_model(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if row is None:
        raise AnalysisError(
            _(
                "No regime model of %(symbol)s %(tf)s on %(exchange)s has been trained yet: models are trained "
                "nightly, or by `manage.py train_regime`."
            )
            % {"symbol": symbol, "tf": timeframe, "exchange": exchange},
            code="no_model",
            field="symbol",
        )
    candles, btc = _recent(exchange, symbol, timeframe)
    if not len(candles):
        raise AnalysisError(_("No closed candles yet."), code="too_little_history", field="symbol")
    as_of = candles.index[-1]
    key = f"analytics:regime:{row.id}:{as_of.value}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    frame = feature_frame(candles, timeframe_ms=TIMEFRAME_MS[timeframe], btc_close=btc)
    if btc is not None and (not len(frame) or frame.index[-1] != as_of) and "corr_btc" in row.features:
        raise AnalysisError(
            _(
                "The stored %(tf)s candles of BTC/USDT end before those of %(symbol)s: the correlation with BTC "
                "cannot be computed for the last bar. Fetch BTC/USDT's newer candles."
            )
            % {"tf": timeframe, "symbol": symbol},
            code="too_little_history",
            field="symbol",
        )
    if not len(frame) or frame.index[-1] != as_of:
        raise AnalysisError(
            _("Too few recent candles of %(symbol)s to compute the regime's features (gaps in the stored data).")
            % {"symbol": symbol},
            code="too_little_history",
            field="symbol",
        )
    payload = load(row)
    if list(frame.columns) != payload["features"]:
        raise AnalysisError(
            _("The live regime model was trained on other features; retrain it."), code="model_stale", field="symbol"
        )
    probs = regime.probabilities(payload["model"], frame.to_numpy()[-1:])[0]
    best = int(np.argmax(probs))
    current = regime.REGIMES[best]
    closes_at = as_of.to_pydatetime() + timedelta(milliseconds=TIMEFRAME_MS[timeframe])
    answer = {
        "symbol": symbol.replace("/", ""),
        "market": symbol,
        "exchange": exchange,
        "timeframe": timeframe,
        "as_of": closes_at.isoformat().replace("+00:00", "Z"),
        "current_regime": current,
        "confidence": round(float(probs[best]), 4),
        "regime_probabilities": {name: round(float(p), 4) for name, p in zip(regime.REGIMES, probs, strict=True)},
        "recommended_strategies": recommended(row.evidence, current),
        "features": {name: round(float(v), 6) for name, v in frame.iloc[-1].items()},
        "horizon_bars": row.label_rule.get("horizon"),
        "model": {
            "version": row.version,
            "kind": row.kind,
            "code_version": row.code_version,
            "trained_at": row.created_at.isoformat().replace("+00:00", "Z"),
            "trained_through": row.train_end.isoformat().replace("+00:00", "Z"),
            "validation_balanced_accuracy": round(row.validation.get(row.kind, {}).get("balanced_accuracy", 0.0), 4),
            "baseline_balanced_accuracy": round(row.baseline.get("balanced_accuracy", 0.0), 4),
            "walk_forward_balanced_accuracy": round(
                (row.walk_forward.get("overall") or {}).get("balanced_accuracy", 0.0), 4
            )
            if row.walk_forward
            else None,
        },
    }
    cache.set(key, answer, max(60, TIMEFRAME_MS[timeframe] // 1000))
    return answer
