"""Regime models of stored markets: train and store a version (the one service that writes them), choose which
version answers, and answer "what regime is this market in" (the API and the pages read :func:`market_regime`).

The numbers come from the pure core, ``analytics/regime.py`` (definitions there and in the README). Here:

- **Data**: the market's stored candles up to the last one the market clock has closed (on the replay clock the
  stored future stays hidden), ``TRENDY_REGIME_DAYS`` days of them (3 years by default), and BTC/USDT's closes on
  the same exchange and timeframe for the correlation feature.
- **Versions**: each training run stores a joblib file (the refit model and the holdout model) under
  ``TRENDY_MODEL_DIR`` and a ``RegimeModel`` row (features, window, metrics, the code version, the file's sha256).
  The new version goes live only if it is not worse than the live one on the new version's validation window —
  scored by the live version's holdout model, which was trained before that window began, so neither has seen a
  label from it. A worse one is stored as rejected; the live one keeps answering.
- **One trainer per market**: a PostgreSQL advisory lock (the cache's add elsewhere) around the run; a second
  worker asking for the same market while one trains returns at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils.translation import gettext as _

from analytics import regime
from analytics.errors import AnalysisError
from analytics.model_files import load, model_dir, write_model_file
from analytics.models import RegimeModel
from market_data import clock
from market_data.exceptions import InvalidMarket
from market_data.selectors import last_open_time, load_candles, ms_to_datetime, to_ms
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import REGISTRY, find_strategy
from strategies.pine_services import studied_versions
from strategies.services import RiskSettings, backtest_window

logger = logging.getLogger(__name__)

BTC = "BTC/USDT"
KEEP_FILES = 3  # newest versions whose files are kept besides the live one
MIN_EVIDENCE_TRADES = 5
TIMELINE_DAYS = 120  # of the walk-forward's out-of-sample readings kept for the page's timeline


def code_version() -> str:
    """A hash of the code that defines features, labels and models: a change makes a new code version."""
    digest = hashlib.sha256()
    for module in ("features.py", "regime.py"):
        digest.update((Path(__file__).with_name(module)).read_bytes())
    return digest.hexdigest()[:16]


# --- data ------------------------------------------------------------------------------------------------


def _candles(exchange: str, symbol: str, timeframe: str, *, days: int | None) -> pd.DataFrame:
    last = last_open_time(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if last is None:
        raise AnalysisError(
            _("No %(tf)s candles of %(symbol)s on %(exchange)s are stored: import them on the markets page.")
            % {"tf": timeframe, "symbol": symbol, "exchange": exchange},
            code="unknown_symbol",
            field="symbol",
        )
    end_ms = min(to_ms(last) + TIMEFRAME_MS[timeframe], to_ms(clock.closed_before(timeframe)))
    start = None if days is None else ms_to_datetime(end_ms - days * 86_400_000)
    return load_candles(exchange, symbol, timeframe, start, ms_to_datetime(end_ms))


def btc_closes(exchange: str, symbol: str, timeframe: str, candles: pd.DataFrame) -> pd.Series | None:
    if symbol == BTC or not len(candles):
        return None
    if last_open_time(exchange=exchange, symbol=BTC, timeframe=timeframe) is None:
        return None
    btc = load_candles(
        exchange,
        BTC,
        timeframe,
        candles.index[0].to_pydatetime(),
        candles.index[-1].to_pydatetime() + timedelta(milliseconds=1),
    )
    return btc["close"] if len(btc) else None


def market_dataset(
    exchange: str, symbol: str, timeframe: str, *, days: int | None
) -> tuple[pd.DataFrame, regime.Dataset]:
    if timeframe not in TIMEFRAME_MS:
        raise AnalysisError(_("Unknown timeframe %(tf)r.") % {"tf": timeframe}, code="bad_timeframe", field="timeframe")
    candles = _candles(exchange, symbol, timeframe, days=days)
    btc = btc_closes(exchange, symbol, timeframe, candles)
    return candles, regime.dataset(candles, timeframe_ms=TIMEFRAME_MS[timeframe], btc_close=btc)


# --- one trainer per market --------------------------------------------------------------------------------


@contextmanager
def training_lock(key: str) -> Iterator[bool]:
    """Yields True when this process holds the market's training lock, False when another one does."""
    name = f"analytics.regime.train:{key}"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [name])
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [name])
        return
    held = cache.add(name, os.getpid(), timeout=3600)
    try:
        yield held
    finally:
        if held:
            cache.delete(name)


# --- evidence: the built-ins' trades by regime ----------------------------------------------------------------


def _evidence_strategies(timeframe: str) -> list[tuple[str, Any]]:
    """The six built-ins, then the marketplace's published strategies made for this timeframe (a hook the
    marketplace registers: analytics does not import it), at most TRENDY_REGIME_EVIDENCE_LISTINGS of them."""
    found: list[tuple[str, Any]] = list(REGISTRY.items())
    for slug in studied_versions(timeframe=timeframe, limit=settings.TRENDY_REGIME_EVIDENCE_LISTINGS):
        strategy = find_strategy(slug)
        if strategy is not None:
            found.append((slug, strategy))
    return found


def strategy_evidence(candles: pd.DataFrame, data: regime.Dataset, timeframe: str) -> dict[str, Any]:
    """Each built-in strategy and each published marketplace strategy for the timeframe (default parameters, the
    backtest page's default risk: 10 % of the account, 2 % stop, 4 % target, fees 0.1 %, slippage 5 bps, long and
    short) backtested over the candles, its trades split by the regime their entry bar turned out to be in."""
    label = regime.labels(candles["close"], data.rule)
    out: dict[str, Any] = {}
    risk = RiskSettings(direction="both")
    for slug, strategy in _evidence_strategies(timeframe):
        try:
            params = strategy.validate({})
            if len(candles) <= strategy.warmup(params) + 2:
                continue
            result = backtest_window(strategy=strategy, params=params, candles=candles, risk=risk, timeframe=timeframe)
        except Exception:  # one strategy failing never loses the model; logged for the operator
            logger.exception("regime evidence: %s backtest failed", slug)
            continue
        trades = result.trades
        if not len(trades):
            out[slug] = regime.by_regime(np.array([], dtype=np.int64), np.array([]), label)
            continue
        entry_pos = candles.index.get_indexer(pd.DatetimeIndex(trades["entry_time"]))
        out[slug] = regime.by_regime(entry_pos, trades["return_pct"].to_numpy(dtype=np.float64) / 100.0, label)
    return out


# --- files ---------------------------------------------------------------------------------------------------


def _prune_files(exchange: str, symbol: str, timeframe: str) -> None:
    rows = RegimeModel.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe).exclude(path="")
    keep = {row.id for row in rows.order_by("-version")[:KEEP_FILES]}
    for row in rows:
        if row.id in keep or row.status == RegimeModel.Status.LIVE:
            continue
        (model_dir() / row.path).unlink(missing_ok=True)
        RegimeModel.objects.filter(id=row.id).update(path="")


# --- training ------------------------------------------------------------------------------------------------------


def _comparison(
    live: RegimeModel | None, trained: regime.Trained, data: regime.Dataset, validation_start: datetime
) -> dict[str, Any]:
    """Candidate vs the live version on the candidate's validation window (see the module's docstring). The live
    version's holdout model scores that window when it was trained before it by the same code on the same features
    and labels; otherwise (a code change, a clock moved back) the live version's recorded validation score is
    used."""
    candidate = trained.validation[trained.kind]["balanced_accuracy"]
    if live is None:
        return {"live_version": None, "candidate": candidate, "live": None, "how": "first", "replace": True}
    live_score: float | None = None
    how = "recorded"
    same_recipe = (
        live.features == trained.features
        and live.code_version == code_version()
        and live.label_rule == data.rule.as_dict()
    )
    if same_recipe and live.validation_start <= validation_start and live.path:
        try:
            holdout = load(live)["holdout"]
            rows = regime.validation_rows(data, trained.validation_start_pos)
            live_score = regime.score(holdout, data, rows)["balanced_accuracy"]
            how = "same_window"
        except (OSError, AnalysisError, ValueError, KeyError):
            logger.warning("regime: live version %s could not be scored; its recorded score is used", live)
    if live_score is None:
        live_score = (live.validation.get(live.kind) or {}).get("balanced_accuracy", 0.0)
    return {
        "live_version": live.version,
        "candidate": candidate,
        "live": live_score,
        "how": how,
        "replace": candidate >= live_score,
    }


def _refusal(exc: regime.RegimeError, data: regime.Dataset, symbol: str, timeframe: str) -> AnalysisError:
    if exc.code == "too_little_data":
        message = _(
            "Only %(have)d %(tf)s bars of %(symbol)s have a regime label; at least %(need)d are needed to train and "
            "test a model. Import more history on the markets page."
        ) % {"have": int(data.labelled().sum()), "tf": timeframe, "symbol": symbol, "need": regime.MIN_ROWS}
    else:
        message = _("The training window of %(symbol)s holds a single regime: a model cannot learn from it.") % {
            "symbol": symbol
        }
    return AnalysisError(message, code=exc.code, field="symbol")


def regime_model_train(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    days: int | None = None,
    walk_forward: bool = True,
    seed: int = 0,
) -> RegimeModel | None:
    """Train, score and store a new version of the market's regime model; it goes live unless it is worse than the
    live one. None when another worker is training this market right now."""
    symbol = normalize_symbol(symbol)
    days = settings.TRENDY_REGIME_DAYS if days is None else days
    key = f"{exchange}:{symbol}:{timeframe}"
    with training_lock(key) as held:
        if not held:
            logger.info("regime: %s is being trained by another worker; skipped", key)
            return None
        started = time.perf_counter()
        candles, data = market_dataset(exchange, symbol, timeframe, days=days)
        try:
            trained = regime.train(data, seed=seed)
            report = regime.walk_forward(data, kind=trained.kind, seed=seed) if walk_forward else None
        except regime.RegimeError as exc:
            raise _refusal(exc, data, symbol, timeframe) from None
        evidence = strategy_evidence(candles, data, timeframe)
        live = RegimeModel.objects.filter(
            exchange=exchange, symbol=symbol, timeframe=timeframe, status=RegimeModel.Status.LIVE
        ).first()
        index = data.features.index
        labelled = data.labelled()
        validation_start = index[data.pos >= trained.validation_start_pos][0].to_pydatetime()
        comparison = _comparison(live, trained, data, validation_start)
        version = (
            RegimeModel.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
            .order_by("-version")
            .values_list("version", flat=True)
            .first()
            or 0
        ) + 1
        relative = f"regime/{exchange}/{symbol.replace('/', '')}_{timeframe}_v{version}.joblib"
        sha = write_model_file(
            model_dir() / relative,
            {"model": trained.model, "holdout": trained.holdout, "features": trained.features, "kind": trained.kind},
        )
        with transaction.atomic():
            if comparison["replace"] and live is not None:
                RegimeModel.objects.filter(id=live.id).update(status=RegimeModel.Status.RETIRED)
            row = RegimeModel.objects.create(
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                version=version,
                status=RegimeModel.Status.LIVE if comparison["replace"] else RegimeModel.Status.REJECTED,
                kind=trained.kind,
                code_version=code_version(),
                features=trained.features,
                label_rule=data.rule.as_dict(),
                train_start=index[0].to_pydatetime(),
                train_end=index[labelled][-1].to_pydatetime(),
                validation_start=validation_start,
                rows=trained.rows,
                train_rows=trained.train_rows,
                validation=trained.validation,
                baseline=trained.baseline,
                comparison=comparison,
                walk_forward=_walk_forward_payload(report, index, data, timeframe) if report else {},
                importances=trained.importances,
                evidence=evidence,
                path=relative,
                sha256=sha,
                training_seconds=round(time.perf_counter() - started, 2),
            )
        _prune_files(exchange, symbol, timeframe)
        logger.info(
            "regime: %s v%d %s (%s, validation balanced accuracy %.3f vs live %s) in %.1f s",
            key,
            version,
            row.status,
            trained.kind,
            comparison["candidate"],
            comparison["live"],
            row.training_seconds,
        )
        return row


def _walk_forward_payload(
    report: regime.WalkForward, index: pd.DatetimeIndex, data: regime.Dataset, timeframe: str
) -> dict[str, Any]:
    by_pos = pd.Series(index, index=data.pos)
    times = data.features.index[report.tested]
    recent = times >= times[-1] - pd.Timedelta(days=TIMELINE_DAYS)
    predicted = np.argmax(report.probabilities, axis=1).astype(np.float64)
    return {
        # the out-of-sample reading of the last TIMELINE_DAYS tested: the page's regime timeline
        "timeline": regime.runs(
            times[recent], predicted[recent], step=pd.Timedelta(milliseconds=TIMEFRAME_MS[timeframe])
        ),
        "kind": report.kind,
        "overall": report.overall,
        "baseline": report.baseline,
        "label_shares": report.label_shares,
        "seconds": round(report.seconds, 2),
        "blocks": [
            {
                "start": by_pos[block.start_pos].isoformat(),
                "end": by_pos[block.end_pos].isoformat(),
                "train_rows": block.train_rows,
                "test_rows": block.test_rows,
                "accuracy": block.model["accuracy"],
                "balanced_accuracy": block.model["balanced_accuracy"],
                "baseline_balanced_accuracy": block.baseline["balanced_accuracy"],
            }
            for block in report.blocks
        ],
    }


def parse_market(item: str) -> tuple[str, str, str] | None:
    """``binance:BTC/USDT:1h`` (or ``okx:BTC/USDT:USDT:1h``, a symbol with a colon) → its parts; None when it is
    not such a text."""
    exchange, _sep, rest = item.strip().partition(":")
    symbol, _sep, timeframe = rest.rpartition(":")
    if not exchange or not symbol or timeframe not in TIMEFRAME_MS:
        return None
    try:
        return exchange.lower(), normalize_symbol(symbol), timeframe
    except InvalidMarket:
        return None


def regime_markets() -> list[tuple[str, str, str]]:
    """The markets the nightly retrain covers: TRENDY_REGIME_MARKETS ("binance:BTC/USDT:1h,…"), or else every stored
    1h and 1d series of the paper data exchange with at least a year of candles, up to TRENDY_REGIME_MAX_MARKETS."""
    configured = settings.TRENDY_REGIME_MARKETS
    if configured:
        out = [market for item in configured if (market := parse_market(item)) is not None]
        return out[: settings.TRENDY_REGIME_MAX_MARKETS]
    from market_data.selectors import series_list

    exchange = settings.TRENDY_PAPER_DATA_EXCHANGE
    found = []
    for info in series_list():
        if info.exchange != exchange or info.timeframe not in ("1h", "1d"):
            continue
        if info.count * TIMEFRAME_MS[info.timeframe] >= 365 * 86_400_000:
            found.append((info.exchange, info.symbol, info.timeframe))
    return sorted(found)[: settings.TRENDY_REGIME_MAX_MARKETS]


def regime_models_retrain(*, markets: list[tuple[str, str, str]]) -> int:
    """Ask the analytics queue to train a new version of each market now (staff's admin action; the nightly beat
    does the same for every market). Distinct markets only; returns how many were sent."""
    from trading_site.dispatch import enqueue

    distinct = list(dict.fromkeys(markets))
    for exchange, symbol, timeframe in distinct:
        enqueue("analytics.train_regime_model", kwargs={"exchange": exchange, "symbol": symbol, "timeframe": timeframe})
    return len(distinct)
