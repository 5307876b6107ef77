"""The market intelligence page of one stored market: what the AI signal says and its track record, the regime over
the price with the model's card, the price forecast's fan with its measured coverage, and sentiment by source.

Every section is built from the same answers the API gives (``market_signal``, ``market_regime``,
``price_forecast``, ``market_sentiment``); a section that cannot be answered (no model trained yet, too little
history, the clock before what a model learnt) says why and the others still show. Read-only: nothing is written.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics import market_charts, regime
from analytics.commentaries import enabled_commentator
from analytics.errors import AnalysisError
from analytics.features import feature_frame, windows
from analytics.model_files import load
from analytics.models import RegimeModel, SentimentSnapshot, SignalModel, SignalRecord
from analytics.signals import regime_label, signal_label
from market_data import clock
from market_data.selectors import last_open_time, load_candles, ms_to_datetime, series_list, to_ms
from market_data.timeframes import TIMEFRAME_MS

WINDOW_DAYS = 90  # the timeline's span
LIVE_RECORDS = 12  # the newest recorded signals listed with their outcome
SENTIMENT_POINTS = 96  # snapshots drawn in the sentiment trend (a day at one every 15 minutes)
TIMEFRAMES = ("1h", "4h", "1d")
MARKETS_CACHE_SECONDS = 60  # the stored series: one GROUP BY over every candle (about 100 ms at 200,000)


def markets(exchange: str) -> list[dict[str, Any]]:
    """The page's market choices: every stored market on 1h, 4h and 1d, each marked whether a regime or signal
    model of it is trained."""
    key = f"analytics:intelligence:markets:{exchange}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    trained = {
        (row["symbol"], row["timeframe"])
        for model in (RegimeModel, SignalModel)
        for row in model.objects.filter(exchange=exchange).values("symbol", "timeframe").distinct()
    }
    stored = {(s.symbol, s.timeframe) for s in series_list() if s.exchange == exchange and s.timeframe in TIMEFRAMES}
    found = [{"symbol": symbol, "timeframe": tf, "trained": (symbol, tf) in trained} for symbol, tf in sorted(stored)]
    cache.set(key, found, MARKETS_CACHE_SECONDS)
    return found


def default_market(choices: list[dict[str, Any]]) -> dict[str, Any]:
    """The first market with a model, hourly first; else the first hourly one; else the first."""
    for pick in (
        lambda c: c["trained"] and c["timeframe"] == "1h",
        lambda c: c["trained"],
        lambda c: c["timeframe"] == "1h",
    ):
        found = next((c for c in choices if pick(c)), None)
        if found is not None:
            return found
    return choices[0]


def _moment(iso: str) -> Any:
    return pd.Timestamp(iso).to_pydatetime()


def _section(build: Any, *args: Any) -> dict[str, Any]:
    try:
        return build(*args)
    except AnalysisError as exc:
        return {"error": exc.message}


def page(*, exchange: str, symbol: str, timeframe: str) -> dict[str, Any]:
    return {
        "signal": _section(signal_section, exchange, symbol, timeframe),
        "regime": _section(regime_section, exchange, symbol, timeframe),
        "forecast": _section(forecast_section, exchange, symbol),
        "sentiment": _section(sentiment_section, symbol),
        "regime_keys": [(name, regime_label(name)) for name in regime.REGIMES],
    }


# --- the signal ---------------------------------------------------------------------------------------------------


def signal_section(exchange: str, symbol: str, timeframe: str) -> dict[str, Any]:
    from analytics.signals import live_signal_model, market_signal

    answer = market_signal(exchange=exchange, symbol=symbol, timeframe=timeframe)
    row = live_signal_model(exchange, symbol, timeframe)
    wf = row.evaluation
    by_signal = []
    for name in ("buy", "hold", "sell"):
        mean = wf["model"]["mean_forward"].get(name)
        by_signal.append(
            {
                "name": name,
                "label": signal_label(name),
                "share": wf["model"]["shares"].get(name, 0.0),
                "mean_forward": None if mean is None else math.expm1(mean),
            }
        )
    return {
        "answer": answer,
        "as_of": _moment(answer["as_of"]),
        "label": signal_label(answer["signal"]),
        "probabilities": [{"name": k, "label": signal_label(k), "p": v} for k, v in answer["probabilities"].items()],
        "model": row,
        "wf": wf,
        "by_signal": by_signal,
        "live": answer["track_record"]["live"],
        "records": _recent_records(row),
        "blocks": wf.get("blocks", []),
        "commentator": enabled_commentator(),
    }


def _recent_records(row: SignalModel) -> list[dict[str, Any]]:
    """The newest recorded signals and, where the horizon has passed, what the price did over it."""
    records = list(
        SignalRecord.objects.filter(exchange=row.exchange, symbol=row.symbol, timeframe=row.timeframe).order_by(
            "-bar_close"
        )[:LIVE_RECORDS]
    )
    if not records:
        return []
    step = timedelta(milliseconds=TIMEFRAME_MS[row.timeframe])
    first = min(r.bar_close for r in records) - step
    candles = load_candles(row.exchange, row.symbol, row.timeframe, first, clock.closed_before(row.timeframe))
    closes = pd.Series(candles["close"].to_numpy(), index=candles.index + step)
    out = []
    for record in records:
        end = record.bar_close + record.horizon * step
        move = None
        if end in closes.index:
            move = float(closes[end]) / float(record.price) - 1
        right = None
        if move is not None and record.signal != "hold":
            right = (move > 0) == (record.signal == "buy")
        out.append({"record": record, "label": signal_label(record.signal), "move": move, "right": right, "end": end})
    return out


# --- the regime ---------------------------------------------------------------------------------------------------


def regime_section(exchange: str, symbol: str, timeframe: str) -> dict[str, Any]:
    from analytics.market_regime import live_model, market_regime

    answer = market_regime(exchange=exchange, symbol=symbol, timeframe=timeframe)
    row = live_model(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if row is None:  # trained away between the two reads
        raise AnalysisError(_("The regime model changed while the page was drawn; reload it."), code="no_model")
    wf = row.walk_forward or {}
    return {
        "answer": answer,
        "as_of": _moment(answer["as_of"]),
        "label": regime_label(answer["current_regime"]),
        "probabilities": [
            {"name": k, "label": regime_label(k), "p": v} for k, v in answer["regime_probabilities"].items()
        ],
        "model": row,
        "wf": wf,
        "per_class": [
            {"name": name, "label": regime_label(name), **stats}
            for name, stats in (wf.get("overall") or {}).get("per_class", {}).items()
        ],
        "confusion": _confusion((wf.get("overall") or {}).get("confusion")),
        "timeline": _cached_timeline(row, exchange, symbol, timeframe, answer["as_of"]),
    }


def _confusion(matrix: list[list[int]] | None) -> list[dict[str, Any]]:
    """Rows: the regime that followed; cells: how often each was read, as counts and shares of the row."""
    if not matrix:
        return []
    rows = []
    for k, counts in enumerate(matrix):
        total = sum(counts) or 1
        rows.append(
            {
                "label": regime_label(regime.REGIMES[k]),
                "cells": [{"count": c, "share": c / total, "hit": j == k} for j, c in enumerate(counts)],
            }
        )
    return rows


def _cached_timeline(row: RegimeModel, exchange: str, symbol: str, timeframe: str, as_of: str) -> Any:
    """The timeline is the same until the next candle closes (or another version answers)."""
    key = f"analytics:intelligence:timeline:{row.id}:{as_of}:{timezone.get_current_timezone_name()}"
    chart = cache.get(key)
    if chart is None:
        chart = _timeline(row, exchange, symbol, timeframe)
        cache.set(key, chart, max(60, TIMEFRAME_MS[timeframe] // 1000))
    return chart


def _timeline(row: RegimeModel, exchange: str, symbol: str, timeframe: str) -> dict[str, Any] | None:
    """The last WINDOW_DAYS of closes with the regime the model read out of sample (its walk-forward up to its
    training's end, then the live version on the bars after it) and the regime that followed."""
    from analytics.regimes import btc_closes

    tf_ms = TIMEFRAME_MS[timeframe]
    bar = pd.Timedelta(milliseconds=tf_ms)
    last = last_open_time(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if last is None:
        return None
    end = min(to_ms(last) + tf_ms, to_ms(clock.closed_before(timeframe)))
    start = end - WINDOW_DAYS * 86_400_000
    warm = (max(windows(tf_ms)) + 60) * tf_ms
    candles = load_candles(exchange, symbol, timeframe, ms_to_datetime(start - warm), ms_to_datetime(end))
    shown = candles[candles.index >= pd.Timestamp(ms_to_datetime(start))]
    if len(shown) < 2:
        return None
    rule = regime.LabelRule(**row.label_rule) if row.label_rule else regime.rule_for(tf_ms)
    actual = regime.labels(candles["close"], rule)
    actual = actual[actual.index >= shown.index[0]]
    stored = list((row.walk_forward or {}).get("timeline", []))
    read = list(stored)
    after = shown.index[shown.index > pd.Timestamp(row.train_end)]
    if len(after):
        frame = feature_frame(candles, timeframe_ms=tf_ms, btc_close=btc_closes(exchange, symbol, timeframe, candles))
        frame = frame[frame.index > pd.Timestamp(row.train_end)]
        payload = load(row)
        if len(frame) and list(frame.columns) == payload["features"]:
            codes = np.argmax(regime.probabilities(payload["model"], frame.to_numpy()), axis=1)
            read += regime.runs(frame.index, codes.astype(np.float64), step=bar)
    chart = market_charts.regime_timeline(
        shown["close"], read, regime.runs(actual.index, actual.to_numpy(), step=bar), bar=bar
    )
    chart["walk_forward_read"] = bool(stored)
    return chart


# --- the forecast -------------------------------------------------------------------------------------------------


def forecast_section(exchange: str, symbol: str) -> dict[str, Any]:
    from analytics.forecasts import daily_candles, live_forecaster, price_forecast

    answer = price_forecast(exchange=exchange, symbol=symbol)
    days, _tf = daily_candles(exchange, symbol, days=60)
    rows = [
        {"horizon": key, **value, "width": value["high"] / value["low"] - 1 if value["low"] else None}
        for key, value in answer["horizons"].items()
    ]
    return {
        "answer": answer,
        "as_of": _moment(answer["as_of"]),
        "rows": rows,
        "model": live_forecaster(exchange, symbol),
        "chart": market_charts.forecast_fan(days["close"], answer),
    }


# --- sentiment ----------------------------------------------------------------------------------------------------


def source_label(name: str) -> str:
    return {"overall": _("overall"), "news": _("news"), "reddit": "Reddit", "x": "X"}.get(name, name)


def _polarity(name: str | None) -> str:
    return {"positive": _("positive"), "negative": _("negative"), "neutral": _("neutral")}.get(
        name or "", _("no score")
    )


def sentiment_section(symbol: str) -> dict[str, Any]:
    from analytics.sentiments import market_sentiment

    answer = market_sentiment(symbol=symbol)
    chart = None
    if answer.get("asset") and answer["status"] not in ("no_sources", "pending"):
        snaps = list(
            SentimentSnapshot.objects.filter(asset=answer["asset"])
            .order_by("-as_of")
            .values_list("as_of", "overall", "payload")[:SENTIMENT_POINTS]
        )
        history = []
        for as_of, overall, payload in reversed(snaps):
            scores: dict[str, float | None] = {"overall": overall}
            for source in payload.get("sources", []):
                scores[source["source"]] = source.get("score")
            history.append((as_of, scores))
        chart = market_charts.sentiment_lines(history)
        for line in chart["lines"] if chart else []:
            line["label"] = source_label(line["name"])
    return {
        "answer": answer,
        "sources": [(name, source_label(name), stats) for name, stats in sorted(answer.get("sources", {}).items())],
        "chart": chart,
        "as_of": _moment(answer["as_of"]) if answer.get("as_of") else None,
        "headlines": [
            {**h, "at": _moment(h["published_at"]) if h.get("published_at") else None}
            for h in answer.get("headlines", [])
        ],
        "label": _polarity(answer.get("sentiment")),
    }
