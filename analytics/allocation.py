"""Capital across the user's bots (and candidate strategies: their finished backtests): each one's daily returns
per unit of position size, the optimal split of the position sizes they use now, and the current split beside it.

A bot's return series comes from its own closed positions when it has traded on this account through the whole
window (realised PnL per UTC day over the account's equity that day, per unit of the bot's position size; open
positions' unrealised PnL is left out), and otherwise from a backtest of the bot's own settings over the window
(fees 0.1 %, slippage 5 bps, as the backtest page's defaults). A candidate backtest's series is its stored equity
curve at each day's end. All share one window of days: the bots' last days, or the last days the backtests all
cover when there are no bots.

The split keeps the total of the bots' position sizes (the share of the account they put to work) and moves
it between them: each bot stays between 5 % and the user's position-size limit, which are the optimiser's
per-asset bounds, so the suggestion never leaves the risk envelope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from analytics import portfolio
from analytics.data import DAY_MS, YEAR_DAYS
from analytics.errors import AnalysisError
from analytics.messages import translated
from market_data.selectors import last_open_time, load_candles, ms_to_datetime, to_ms
from market_data.timeframes import TIMEFRAME_MS
from strategies.builtin import get_strategy
from strategies.interface import StrategyError
from strategies.labels import strategy_name
from strategies.messages import strategy_error_message
from strategies.models import BacktestRun
from strategies.services import RiskSettings, backtest_window
from trading import clock
from trading.models import Bot, EquitySnapshot, Position

MIN_SIZE = Decimal(5)
MAX_BOTS = 20
MIN_DAYS = 30
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Series:
    kind: str  # bot, or backtest (a candidate strategy: one of the user's finished backtests)
    id: int
    name: str
    source: str  # live (a bot's closed positions), backtest (of a bot's settings), or run (a stored backtest)
    size: Decimal  # the position size it uses now (a backtest: the one it ran with)
    returns: np.ndarray  # per day, per unit of position size
    status: str = ""


def _window(bots: list[Bot], days: int) -> tuple[int, int]:
    """The last ``days`` whole UTC days up to now, or up to the newest candle all the bots' markets have stored
    (a demo on old data)."""
    end = clock.now_ms()  # the market's now: on the replay clock, the stored future stays hidden
    for bot in bots:
        last = last_open_time(
            exchange=clock.data_exchange(bot.exchange_account.exchange),
            symbol=clock.data_symbol(bot.symbol),
            timeframe=bot.timeframe,
        )
        if last is not None:
            end = min(end, to_ms(last) + TIMEFRAME_MS[bot.timeframe])
    end = end // DAY_MS * DAY_MS
    return end - days * DAY_MS, end


def _live(bot: Bot, start: int, end: int) -> np.ndarray | None:
    if bot.created_at.timestamp() * 1000 > start:
        return None
    closed = list(
        Position.objects.filter(
            bot=bot,
            status=Position.Status.CLOSED,
            closed_at__gte=ms_to_datetime(start),
            closed_at__lt=ms_to_datetime(end),
            realized_pnl__isnull=False,
        ).values_list("closed_at", "realized_pnl")
    )
    snapshots = list(
        EquitySnapshot.objects.filter(exchange_account_id=bot.exchange_account_id, time__lt=ms_to_datetime(end))
        .order_by("time")
        .values_list("time", "equity")
    )
    if not closed or not snapshots:
        return None
    days = pd.date_range(ms_to_datetime(start), periods=(end - start) // DAY_MS, freq="D")
    pnl = (
        pd.Series([float(p) for _t, p in closed], index=pd.DatetimeIndex([t for t, _p in closed]))
        .groupby(lambda t: t.floor("D"))
        .sum()
    )
    equity = pd.Series([float(e) for _t, e in snapshots], index=pd.DatetimeIndex([t for t, _e in snapshots]))
    equity = equity.groupby(equity.index.floor("D")).last().reindex(days, method="ffill").bfill()
    if (equity <= 0).any():
        return None
    daily = pnl.reindex(days, fill_value=0.0) / (equity * float(bot.position_size_pct) / 100)
    return daily.to_numpy(dtype=np.float64)


def _backtest(bot: Bot, start: int, end: int) -> np.ndarray:
    try:
        strategy = get_strategy(bot.strategy)
        params = strategy.validate(bot.params)
        step = TIMEFRAME_MS[bot.timeframe]
        candles = load_candles(
            clock.data_exchange(bot.exchange_account.exchange),
            clock.data_symbol(bot.symbol),
            bot.timeframe,
            ms_to_datetime(start - strategy.lookback(params) * step),
            ms_to_datetime(end),
        )
        trade_from = pd.Timestamp(ms_to_datetime(start))
        if len(candles.loc[trade_from:]) < 2:
            raise AnalysisError(
                _("No stored %(tf)s candles of %(symbol)s in this window to backtest the bot %(name)s on.")
                % {"tf": bot.timeframe, "symbol": bot.symbol, "name": bot.name},
                code="too_little_history",
                field="bots",
            )
        risk = RiskSettings(
            leverage=bot.leverage,
            position_size_pct=bot.position_size_pct,
            stop_loss_pct=bot.stop_loss_pct,
            take_profit_pct=bot.take_profit_pct,
            direction=bot.direction,
            trailing_stop_pct=bot.trailing_stop_pct,
            trailing_activation_pct=bot.trailing_activation_pct,
            pyramiding=bot.pyramiding,
            levels_by_bar=bot.levels_by_bar,
        )
        result = backtest_window(
            strategy=strategy, params=params, candles=candles, risk=risk, timeframe=bot.timeframe, trade_from=trade_from
        )
    except StrategyError as exc:
        raise AnalysisError(
            _("The bot %(name)s cannot be backtested: %(why)s")
            % {"name": bot.name, "why": strategy_error_message(exc)},
            code="strategy_error",
            field="bots",
        ) from None
    days = pd.date_range(ms_to_datetime(start), periods=(end - start) // DAY_MS + 1, freq="D")
    equity = result.equity.groupby(result.equity.index.floor("D")).last()
    initial = float(risk.initial_capital)
    closes = pd.concat([pd.Series([initial], index=days[:1]), equity]).groupby(level=0).last()
    closes = closes.reindex(days, method="ffill").fillna(initial)
    daily = closes.pct_change().iloc[1:] / (float(bot.position_size_pct) / 100)
    return daily.to_numpy(dtype=np.float64)


def _run_daily(run: BacktestRun) -> pd.Series:
    """A stored backtest's equity (its chart points) at each UTC day's end, from its start."""
    points = (run.result or {}).get("equity") or []
    if len(points) < 2:
        raise AnalysisError(
            _("Backtest #%(id)s has no equity curve.") % {"id": run.id}, code="too_little_history", field="backtests"
        )
    times = pd.to_datetime([t for t, _v in points], unit="s", utc=True)
    equity = pd.Series([float(v) for _t, v in points], index=times)
    return equity.groupby(equity.index.floor("D")).last()


def _run_window(runs: list[BacktestRun], days: int) -> tuple[int, int]:
    """The last ``days`` whole days the backtests all cover."""
    start = max(to_ms(r.start) for r in runs)
    end = min(to_ms(r.end) for r in runs) // DAY_MS * DAY_MS
    if end - start < MIN_DAYS * DAY_MS:
        raise AnalysisError(
            _("These backtests share fewer than %(days)d days: run them over one period.") % {"days": MIN_DAYS},
            code="too_little_history",
            field="backtests",
        )
    start = -(-start // DAY_MS) * DAY_MS
    return max(start, end - days * DAY_MS), end


def _run_returns(run: BacktestRun, start: int, end: int) -> np.ndarray:
    if to_ms(run.start) > start or to_ms(run.end) < end:
        raise AnalysisError(
            _("Backtest #%(id)s does not cover the window of the bots: run it over the last days.") % {"id": run.id},
            code="too_little_history",
            field="backtests",
        )
    days = pd.date_range(ms_to_datetime(start), periods=(end - start) // DAY_MS + 1, freq="D")
    closes = _run_daily(run).reindex(days, method="ffill").bfill()
    daily = closes.pct_change().iloc[1:] / (float(run.position_size_pct) / 100)
    return daily.to_numpy(dtype=np.float64)


def items_series(*, user: Any, bot_ids: list[int], backtest_ids: list[int], days: int) -> list[Series]:
    """The daily returns of the bots and candidate backtests over one window of days."""
    bot_ids = list(dict.fromkeys(int(i) for i in bot_ids))
    run_ids = list(dict.fromkeys(int(i) for i in backtest_ids))
    if not 2 <= len(bot_ids) + len(run_ids) <= MAX_BOTS:
        raise AnalysisError(
            _("Choose from 2 to %(max)d bots and backtests.") % {"max": MAX_BOTS}, code="bad_bot_count", field="bots"
        )
    if days < MIN_DAYS:
        raise AnalysisError(
            _("The window is at least %(days)d days.") % {"days": MIN_DAYS},
            code="too_little_history",
            field="lookback_days",
        )
    bots = {b.id: b for b in Bot.objects.filter(user=user, id__in=bot_ids).select_related("exchange_account")}
    runs = {
        r.id: r
        for r in BacktestRun.objects.filter(
            user=user, id__in=run_ids, status=BacktestRun.Status.DONE, kind=BacktestRun.Kind.BACKTEST
        )
    }
    if len(bots) != len(bot_ids) or len(runs) != len(run_ids):
        from django.http import Http404

        raise Http404(_("No such bot or finished backtest."))
    if len({b.exchange_account_id for b in bots.values()}) > 1:
        raise AnalysisError(
            _("Choose bots of one exchange account: the split is of that account's capital."),
            code="mixed_accounts",
            field="bots",
        )
    start, end = _window(list(bots.values()), days) if bots else _run_window(list(runs.values()), days)
    found = []
    for bot_id in bot_ids:
        bot = bots[bot_id]
        live = _live(bot, start, end)
        source, returns = ("live", live) if live is not None else ("backtest", _backtest(bot, start, end))
        found.append(Series("bot", bot.id, bot.name, source, bot.position_size_pct, returns, bot.status))
    for run_id in run_ids:
        run = runs[run_id]
        name = _("Backtest #%(id)s: %(strategy)s %(symbol)s %(tf)s") % {
            "id": run.id, "strategy": strategy_name(run.strategy), "symbol": run.symbol, "tf": run.timeframe
        }  # fmt: skip
        found.append(Series("backtest", run.id, name, "run", run.position_size_pct, _run_returns(run, start, end)))
    return found


def _split(weights: np.ndarray, total: Decimal, low: Decimal, high: Decimal) -> list[Decimal]:
    """Sizes in whole cents adding up to ``total`` (largest remainders), each within [low, high]."""
    raw = [Decimal(repr(float(w))) * total for w in weights]
    sizes = [min(max(r.quantize(CENT, rounding=ROUND_DOWN), low), high) for r in raw]
    left = total - sum(sizes)
    order = sorted(range(len(sizes)), key=lambda i: raw[i] - sizes[i], reverse=True)
    for i in order * 2:
        if left < CENT:
            break
        if sizes[i] + CENT <= high:
            sizes[i] += CENT
            left -= CENT
    return [s.quantize(CENT) for s in sizes]


def _stats(returns: np.ndarray, sizes: list[Decimal]) -> dict[str, float | None]:
    account = returns @ (np.array([float(s) for s in sizes]) / 100)
    mean, vol = float(account.mean() * YEAR_DAYS), float(account.std(ddof=1) * math.sqrt(YEAR_DAYS))
    curve = np.cumprod(1 + account)
    drawdown = float((1 - curve / np.maximum.accumulate(np.maximum(curve, 1.0))).max())
    return {
        "expected_return": mean,
        "expected_risk": vol,
        "sharpe_ratio": mean / vol if vol > 1e-12 else None,
        "max_drawdown": drawdown,
    }


def allocation_analysis(
    *,
    user: Any,
    bot_ids: list[int],
    backtest_ids: list[int] | None = None,
    method: str = "sharpe",
    lookback_days: int = 180,
    profile_limit: Decimal,
) -> dict[str, Any]:
    """The suggested position sizes of the bots (and candidate backtests) beside the current ones, with what each
    split would have done."""
    series = items_series(user=user, bot_ids=bot_ids, backtest_ids=backtest_ids or [], days=lookback_days)
    returns = np.column_stack([s.returns for s in series])
    current = [s.size for s in series]
    high = Decimal(profile_limit)
    total = min(sum(current), high * len(series))
    low_w = np.full(len(series), float(MIN_SIZE / total))
    high_w = np.full(len(series), min(1.0, float(high / total)))
    try:
        est = portfolio.estimate(returns, periods_per_year=YEAR_DAYS)
        optimum = portfolio.optimise(est, method=method, lower=low_w, upper=high_w)
    except portfolio.PortfolioError as exc:
        raise translated(exc) from None
    suggested = _split(optimum.mix.weights, total, MIN_SIZE, high)
    return {
        "method": method,
        "lookback_days": lookback_days,
        "total_size_pct": str(total.quantize(CENT)),
        "position_size_limit_pct": str(high),
        "bots": [
            {
                "kind": s.kind,
                "id": s.id,
                "name": s.name,
                "status": s.status,
                "source": s.source,
                "current_size_pct": str(cur),
                "suggested_size_pct": str(new),
                "weight": round(float(w), 6),
            }
            for s, cur, new, w in zip(series, current, suggested, optimum.mix.weights, strict=True)
        ],
        "current": _stats(returns, current),
        "suggested": _stats(returns, suggested),
        "notes": list(optimum.notes),
    }
