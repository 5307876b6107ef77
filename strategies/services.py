"""Backtest and optimisation runs: create (validate everything, nothing half-saved), execute (in a task).

Why this file is long: creating a run validates settings, search spaces and data availability in one
transaction; execution and its failure paths stay next to the creation they mirror."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from market_data import clock as market_clock
from market_data.exceptions import MarketDataError
from market_data.models import Candle
from market_data.selectors import load_candles, ms_to_datetime, series_info, to_ms
from market_data.symbols import normalize_exchange, normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from strategies.backtest import BacktestError, BacktestResult, BacktestSettings, run_backtest
from strategies.builtin import get_strategy
from strategies.interface import Strategy, StrategyError
from strategies.messages import as_validation_error, strategy_error_message
from strategies.models import BacktestRun
from strategies.optimise import SearchSpec, optimise
from strategies.pine_services import check_strategy_usable
from trading_site.dispatch import enqueue

logger = logging.getLogger(__name__)

DEFAULT_PERIOD = timedelta(days=182)  # "the last six months of stored data"
MAX_ACTIVE_RUNS = 5  # queued or running per user
# A run still "running" this long after it started lost its worker (the task's hard limit is 900 s).
STALE_RUNNING = timedelta(minutes=20)
STALE_QUEUED = timedelta(hours=2)
EQUITY_POINTS = 1500  # equity curve points kept for charts


@dataclass(frozen=True)
class RiskSettings:
    initial_capital: Decimal = Decimal("10000")
    fee_rate: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal("5")
    leverage: int = 1
    position_size_pct: Decimal = Decimal("10")
    stop_loss_pct: Decimal | None = Decimal("2")
    take_profit_pct: Decimal | None = Decimal("4")
    direction: str = "long"
    trailing_stop_pct: Decimal | None = None
    trailing_activation_pct: Decimal = Decimal("0")
    pyramiding: int = 1
    levels_by_bar: bool = False  # the strategy's own stop and target bar by bar (its signal frame has them)

    def engine(self) -> BacktestSettings:
        return BacktestSettings(
            initial_capital=float(self.initial_capital),
            fee_rate=float(self.fee_rate),
            slippage_bps=float(self.slippage_bps),
            leverage=int(self.leverage),
            position_size_pct=float(self.position_size_pct),
            stop_loss_pct=None if self.stop_loss_pct is None else float(self.stop_loss_pct),
            take_profit_pct=None if self.take_profit_pct is None else float(self.take_profit_pct),
            direction=self.direction,
            trailing_stop_pct=None if self.trailing_stop_pct is None else float(self.trailing_stop_pct),
            trailing_activation_pct=float(self.trailing_activation_pct or 0),
            pyramiding=int(self.pyramiding),
        )


def _risk_from_run(run: BacktestRun) -> RiskSettings:
    return RiskSettings(
        initial_capital=run.initial_capital,
        fee_rate=run.fee_rate,
        slippage_bps=run.slippage_bps,
        leverage=run.leverage,
        position_size_pct=run.position_size_pct,
        stop_loss_pct=run.stop_loss_pct,
        take_profit_pct=run.take_profit_pct,
        direction=run.direction,
        trailing_stop_pct=run.trailing_stop_pct,
        trailing_activation_pct=run.trailing_activation_pct,
        pyramiding=run.pyramiding,
        levels_by_bar=run.levels_by_bar,
    )


def _resolve_market(exchange: str, symbol: str, timeframe: str) -> tuple[str, str, str]:
    try:
        exchange, symbol = normalize_exchange(exchange), normalize_symbol(symbol)
    except MarketDataError as exc:
        raise ValidationError({"symbol": [str(exc)]}) from None
    if timeframe not in TIMEFRAME_MS:
        raise ValidationError({"timeframe": [_("Unknown timeframe %(tf)s.") % {"tf": timeframe}]})
    return exchange, symbol, timeframe


def _resolve_period(
    *, exchange: str, symbol: str, timeframe: str, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    for name, value in (("start", start), ("end", end)):
        if value is not None and not 2000 <= value.year < 2100:
            raise ValidationError({name: [_("Choose a time between 2000 and 2100.")]})
    info = series_info(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if info is None:
        raise ValidationError(
            {
                "symbol": [
                    _("No %(tf)s candles are stored for %(symbol)s on %(exchange)s.")
                    % {"tf": timeframe, "symbol": symbol, "exchange": exchange}
                ]
            }
        )
    step = TIMEFRAME_MS[timeframe]
    last_close = info.last_open_time + timedelta(milliseconds=step)
    # Never past the market's now: on the replay clock a backtest (from a page, the API or a task) must not
    # use candles the replay has not reached.
    now = ms_to_datetime(to_ms(market_clock.now()) // step * step)
    end = end or last_close
    if end > now and (start is None or start < now):
        end = now  # (a period wholly after now is refused below: it holds no candles)
    start = start or max(info.first_open_time, end - DEFAULT_PERIOD)
    if end <= start:
        raise ValidationError({"end": [_("The end must be after the start.")]})
    return start, end


# The same limits as the API and the forms (strategies/serializers.py, BacktestRun's validators).
SETTING_LIMITS = {
    "initial_capital": (Decimal("10"), None),
    "fee_rate": (Decimal("0"), Decimal("0.05")),
    "slippage_bps": (Decimal("0"), Decimal("500")),
    "leverage": (1, 10),
    "position_size_pct": (Decimal("5"), Decimal("20")),
    "stop_loss_pct": (Decimal("0.1"), Decimal("50")),
    "take_profit_pct": (Decimal("0.1"), Decimal("500")),
    "trailing_stop_pct": (Decimal("0.1"), Decimal("50")),
    "trailing_activation_pct": (Decimal("0"), Decimal("500")),
    "pyramiding": (1, 10),
}
OPTIONAL_SETTINGS = ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct")  # None: none


def validate_settings(risk: RiskSettings) -> None:
    """Every setting within the limits the API and the forms apply; then the engine's own check."""
    errors = {}
    for name, (low, high) in SETTING_LIMITS.items():
        value = getattr(risk, name)
        if value is None and name in OPTIONAL_SETTINGS:
            continue
        if value is None or value < low or (high is not None and value > high):
            bounds = {"low": low, "high": high if high is not None else "∞"}
            errors[name] = [_("Must be between %(low)s and %(high)s.") % bounds]
    if risk.direction not in ("long", "short", "both"):
        errors["direction"] = [_("Choose long, short or both.")]
    if errors:
        raise ValidationError(errors)
    try:
        risk.engine().validate()
    except BacktestError as exc:
        raise ValidationError({"settings": [str(exc)]}) from None


def _validate_strategy(
    slug: str, params: Mapping[str, Any] | None, user: Any = None
) -> tuple[Strategy, dict[str, Any]]:
    if user is not None:
        check_strategy_usable(user=user, slug=slug)  # a built-in or one of the user's own Pine scripts
    try:
        strategy = get_strategy(slug)
    except StrategyError as exc:
        raise as_validation_error(exc, field="strategy") from None
    try:
        return strategy, strategy.validate(params)
    except StrategyError as exc:
        raise as_validation_error(exc) from None


def _check_enough_candles(strategy: Strategy, params: dict[str, Any], count: int) -> None:
    needed = strategy.warmup(params) + 2  # warm-up, one signal bar, one bar to fill it
    if count < needed:
        message = _("This period holds %(count)d candles; %(strategy)s needs at least %(needed)d (warm-up).")
        raise ValidationError({"start": [message % {"count": count, "strategy": strategy.name, "needed": needed}]})


def _check_active_runs(user: Any) -> None:
    active = BacktestRun.objects.filter(
        user=user, status__in=[BacktestRun.Status.QUEUED, BacktestRun.Status.RUNNING]
    ).count()
    if active >= MAX_ACTIVE_RUNS:
        message = _("You have %(count)d runs waiting or running; start another when one has finished.")
        raise ValidationError(message % {"count": active})


@transaction.atomic
def backtest_run_create(
    *,
    user: Any,
    strategy: str,
    params: Mapping[str, Any] | None,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    risk: RiskSettings | None = None,
    kind: str = BacktestRun.Kind.BACKTEST,
    search: SearchSpec | None = None,
) -> BacktestRun:
    """Validate a backtest (or optimisation) request completely, store it queued, enqueue it on commit."""
    risk = risk or RiskSettings()
    strategy_obj, clean = _validate_strategy(strategy, params, user)
    validate_settings(risk)
    exchange, symbol, timeframe = _resolve_market(exchange, symbol, timeframe)
    start, end = _resolve_period(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=end)
    count = Candle.objects.filter(
        exchange=exchange, symbol=symbol, timeframe=timeframe, open_time__gte=start, open_time__lt=end
    ).count()
    _check_enough_candles(strategy_obj, clean, count)
    _check_active_runs(user)
    if kind == BacktestRun.Kind.OPTIMISATION:
        if search is None:
            search = SearchSpec()
        try:
            search.check(strategy_obj, bars=count)
        except StrategyError as exc:
            raise as_validation_error(exc, field="search", prefix="search.") from None

    run = BacktestRun(
        user=user,
        kind=kind,
        strategy=strategy_obj.slug,
        params=clean,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        start=start,
        end=end,
        initial_capital=risk.initial_capital,
        fee_rate=risk.fee_rate,
        slippage_bps=risk.slippage_bps,
        leverage=risk.leverage,
        position_size_pct=risk.position_size_pct,
        stop_loss_pct=risk.stop_loss_pct,
        take_profit_pct=risk.take_profit_pct,
        trailing_stop_pct=risk.trailing_stop_pct,
        trailing_activation_pct=risk.trailing_activation_pct or 0,
        pyramiding=risk.pyramiding,
        direction=risk.direction,
        search=search.as_dict() if search else {},
    )
    run.full_clean()
    run.save()
    enqueue("strategies.execute_backtest_run", run.id)  # sent when this transaction commits
    return run


def _set_progress(run_id: int, progress: int) -> None:
    BacktestRun.objects.filter(id=run_id, status=BacktestRun.Status.RUNNING).update(progress=progress)


def intrabar_candles(exchange: str, symbol: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame | None:
    """The finest stored lower timeframe of the same market that covers the period, to order SL/TP touches."""
    bar_ms = TIMEFRAME_MS[timeframe]
    for lower in sorted((tf for tf, ms in TIMEFRAME_MS.items() if ms < bar_ms), key=TIMEFRAME_MS.get):
        info = series_info(exchange=exchange, symbol=symbol, timeframe=lower)
        if info is not None and info.first_open_time < end and info.last_open_time >= start:
            return load_candles(exchange, symbol, lower, start, end)
    return None


# What a script's level outside the limits reads as, per setting.
OUTSIDE = {
    "stop_loss_pct": gettext_noop("The script's stop loss of %(value)s%% is outside %(low)s–%(high)s%%."),
    "take_profit_pct": gettext_noop("The script's take profit of %(value)s%% is outside %(low)s–%(high)s%%."),
    "trailing_stop_pct": gettext_noop("The script's trailing stop of %(value)s%% is outside %(low)s–%(high)s%%."),
    "trailing_activation_pct": gettext_noop(
        "The gain of %(value)s%% after which the script's trailing stop starts is outside %(low)s–%(high)s%%."
    ),
    "pyramiding": gettext_noop("The script's pyramiding of %(value)s entries is outside %(low)s–%(high)s."),
}


def script_levels(strategy: Strategy, params: dict[str, Any], candles: pd.DataFrame) -> dict[str, Any] | None:
    """The stop loss, take profit and trailing stop a strategy sets itself (a Pine script's ``strategy.exit``), to
    0.01 % as the settings hold them; None when the trader's settings decide (the built-ins, a script without exit
    levels). A stop and target that move from bar to bar (``levels_by_bar``) are no percentage: both are None."""
    if strategy.exit_levels is None:
        return None
    found = dict(strategy.exit_levels(candles, strategy.validate(params)))  # as signals() runs it (memoised)
    by_bar = bool(found.pop("levels_by_bar", False))
    levels = {key: value for key, value in found.items() if value is not None}
    if not levels and not by_bar:
        return None
    found = {
        key: int(value) if key == "pyramiding" else Decimal(str(value)).quantize(Decimal("0.01"))
        for key, value in levels.items()
    }
    for key, value in found.items():  # the same limits as the trader's own settings
        low, high = SETTING_LIMITS[key]
        if not low <= value <= high:
            raise StrategyError(OUTSIDE[key], {"value": value, "low": low, "high": high or "∞"})
    if by_bar:
        found.update(stop_loss_pct=None, take_profit_pct=None, levels_by_bar=True)
    return found


def with_script_levels(strategy: Strategy, params: dict[str, Any], candles: pd.DataFrame, risk: RiskSettings):
    levels = script_levels(strategy, params, candles)
    return replace(risk, **levels) if levels else risk


def backtest_compute(
    *,
    strategy: Strategy,
    params: dict[str, Any],
    candles: pd.DataFrame,
    risk: RiskSettings,
    timeframe: str,
    intrabar: pd.DataFrame | None = None,
) -> BacktestResult:
    """Signals and the simulation on given candles: what the task, the command and the optimiser share."""
    signals = strategy.signals(candles, params)
    risk = with_script_levels(strategy, params, candles, risk)
    return run_backtest(candles, signals, risk.engine(), intrabar=intrabar, timeframe=timeframe)


def backtest_window(
    *,
    strategy: Strategy,
    params: dict[str, Any],
    candles: pd.DataFrame,
    risk: RiskSettings,
    timeframe: str,
    trade_from: pd.Timestamp | None = None,
) -> BacktestResult:
    """A backtest whose candles before ``trade_from`` only warm the indicators up (walk-forward windows)."""
    signals = strategy.signals(candles, params)
    risk = with_script_levels(strategy, params, candles, risk)
    if trade_from is not None:
        candles, signals = candles.loc[trade_from:], signals.loc[trade_from:]
    return run_backtest(candles, signals, risk.engine(), timeframe=timeframe)


def _json_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _series_points(series: pd.Series, limit: int) -> list[list[Any]]:
    step = max(1, int(np.ceil(len(series) / limit)))
    picked = series.iloc[::step]
    if len(series) and picked.index[-1] != series.index[-1]:
        picked = pd.concat([picked, series.iloc[-1:]])
    seconds = (picked.index.as_unit("s").asi8).tolist()
    return [[t, round(float(v), 2)] for t, v in zip(seconds, picked.to_numpy(), strict=True)]


def result_payload(result: BacktestResult) -> dict[str, Any]:
    """The JSON stored with a run (and printed by ``manage.py backtest --json``)."""
    trades = [{key: _json_value(value) for key, value in row.items()} for row in result.trades.to_dict("records")]
    return {
        "metrics": {key: _json_value(value) for key, value in result.metrics.items()},
        "trades": trades,
        "equity": _series_points(result.equity, EQUITY_POINTS),
        "buy_hold": _series_points(result.buy_hold, EQUITY_POINTS),
        "gaps": [
            {"after": _json_value(before), "before": _json_value(after), "missing": int(missing)}
            for before, after, missing in result.gaps
        ],
    }


def _claim(run_id: int) -> BacktestRun | None:
    """Take a queued run, or one whose worker died mid-run (Celery redelivers it: acks_late)."""
    abandoned = Q(status=BacktestRun.Status.RUNNING, started_at__lt=timezone.now() - STALE_RUNNING)
    claimed = BacktestRun.objects.filter(Q(status=BacktestRun.Status.QUEUED) | abandoned, id=run_id).update(
        status=BacktestRun.Status.RUNNING, started_at=timezone.now(), progress=1
    )
    return BacktestRun.objects.get(id=run_id) if claimed else None


def backtest_run_execute(*, run_id: int) -> str:
    """Run a queued backtest or optimisation once (a second call, or a retry after success, does nothing)."""
    run = _claim(run_id)
    if run is None:
        return "skipped"
    try:
        strategy = get_strategy(run.strategy)
        params = strategy.validate(run.params)
        candles = load_candles(run.exchange, run.symbol, run.timeframe, run.start, run.end)
        _set_progress(run.id, 10)
        if run.kind == BacktestRun.Kind.OPTIMISATION:
            payload = _execute_optimisation(run, strategy, params, candles)
            metrics = payload["best"]["out_of_sample"] if payload.get("best") else {}
        else:
            levels = script_levels(strategy, params, candles)
            if levels:  # the script's own exits replace the form's: the row shows what the run used
                BacktestRun.objects.filter(id=run.id).update(**levels)
            intrabar = intrabar_candles(run.exchange, run.symbol, run.timeframe, run.start, run.end)
            _set_progress(run.id, 30)
            result = backtest_compute(
                strategy=strategy,
                params=params,
                candles=candles,
                risk=_risk_from_run(run),
                timeframe=run.timeframe,
                intrabar=intrabar,
            )
            _set_progress(run.id, 80)
            payload = result_payload(result)
            payload["intrabar_timeframe"] = _intrabar_timeframe(intrabar)
            metrics = payload["metrics"]
    except (StrategyError, BacktestError, MarketDataError) as exc:
        message = strategy_error_message(exc) if isinstance(exc, StrategyError) else str(exc)
        _finish(run.id, status=BacktestRun.Status.FAILED, error=message)
        return "failed"
    except Exception:
        logger.exception("backtest run %s crashed", run.id)
        _finish(
            run.id,
            status=BacktestRun.Status.FAILED,
            error=_("The backtest failed unexpectedly; staff have the details."),
        )
        raise
    _finish(run.id, status=BacktestRun.Status.DONE, metrics=metrics, result=payload)
    return "done"


def backtest_runs_fail_stale() -> int:
    """Mark runs that no worker will finish as failed, so their pages stop waiting (periodic task)."""
    now = timezone.now()
    stale = BacktestRun.objects.filter(
        Q(status=BacktestRun.Status.RUNNING, started_at__lt=now - STALE_RUNNING)
        | Q(status=BacktestRun.Status.QUEUED, created_at__lt=now - STALE_QUEUED)
    )
    return stale.update(
        status=BacktestRun.Status.FAILED,
        error=_("The run did not finish (its worker stopped or the queue was lost); please start it again."),
        progress=100,
        finished_at=now,
    )


def _intrabar_timeframe(intrabar: pd.DataFrame | None) -> str | None:
    if intrabar is None or len(intrabar) < 2:
        return None
    step_ms = int(np.median(np.diff(intrabar.index.as_unit("ms").asi8)))
    return next((tf for tf, ms in TIMEFRAME_MS.items() if ms == step_ms), None)


def _finish(
    run_id: int, *, status: str, error: str = "", metrics: dict | None = None, result: dict | None = None
) -> None:
    BacktestRun.objects.filter(id=run_id).update(
        status=status,
        error=error,
        metrics=metrics or {},
        result=result or {},
        progress=100,
        finished_at=timezone.now(),
    )


def _execute_optimisation(
    run: BacktestRun, strategy: Strategy, params: dict[str, Any], candles: pd.DataFrame
) -> dict[str, Any]:
    spec = SearchSpec.from_dict(run.search)
    risk = _risk_from_run(run)

    def evaluate(window: pd.DataFrame, candidate: dict[str, Any], trade_from: pd.Timestamp | None) -> dict[str, Any]:
        result = backtest_window(
            strategy=strategy,
            params=candidate,
            candles=window,
            risk=risk,
            timeframe=run.timeframe,
            trade_from=trade_from,
        )
        return {key: _json_value(value) for key, value in result.metrics.items()}

    def progress(done: int, total: int) -> None:
        _set_progress(run.id, 10 + int(85 * done / max(total, 1)))

    return optimise(strategy=strategy, candles=candles, spec=spec, evaluate=evaluate, progress=progress)
