"""Portfolio analysis and Kelly sizing on stored prices and the user's own trades: the answers the API sends and
the analytics page draws (plain JSON-ready dicts; fractions, not percentages: 0.25 is 25 %)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from accounts.models import ExchangeAccount, RiskProfile
from analytics import data, kelly, montecarlo, portfolio
from analytics.errors import AnalysisError
from analytics.messages import translated
from strategies.labels import strategy_name
from strategies.models import BacktestRun
from trading import clock
from trading.models import Bot, Position

SCENARIOS = 10_000
MAX_HORIZON_DAYS = 730
TOLERANCE_RULE = "sigma_max = max_drawdown / sqrt(pi / 2)"


@dataclass(frozen=True)
class PortfolioRequest:
    symbols: list[str]
    exchange: str
    timeframe: str = "1d"
    lookback_days: int = 365
    method: str = "sharpe"
    risk_tolerance_pct: float | None = None  # a maximum drawdown, in %
    risk_free_pct: float = 0.0  # a year
    returns: str = "simple"
    covariance: str = "sample"
    min_weight_pct: float = 0.0
    max_weight_pct: float = 100.0
    weight_bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # per symbol, in %
    horizon_days: int = 30
    mc_method: str = "bootstrap"
    seed: int = 1


def account_exchange(*, user: Any, account_id: int | None) -> str:
    """The exchange whose stored candles the analysis reads: the account's (paper reads the paper data
    exchange), or the paper data exchange without an account. Another user's account is a 404."""
    if account_id is None:
        return clock.data_exchange("paper")
    account = ExchangeAccount.objects.filter(user=user, id=account_id).first()
    if account is None:
        from django.http import Http404

        raise Http404(_("No such exchange account."))
    return clock.data_exchange(account.exchange)


def _bounds(req: PortfolioRequest, symbols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    unknown = sorted(set(req.weight_bounds) - set(symbols))
    if unknown:
        raise AnalysisError(
            _("Weight bounds name markets that are not in the portfolio: %(names)s.") % {"names": ", ".join(unknown)},
            code="bad_bounds",
            field="weight_bounds",
        )
    low = np.array([req.weight_bounds.get(s, (req.min_weight_pct, req.max_weight_pct))[0] for s in symbols]) / 100
    high = np.array([req.weight_bounds.get(s, (req.min_weight_pct, req.max_weight_pct))[1] for s in symbols]) / 100
    return low, high


def _mix_payload(mix: portfolio.Mix, symbols: list[str]) -> dict[str, Any]:
    return {
        "weights": {symbol: round(float(w), 6) for symbol, w in zip(symbols, mix.weights, strict=True)},
        "cash": round(mix.cash, 6),
        "expected_return": mix.expected_return,
        "expected_risk": mix.volatility,
        "sharpe_ratio": mix.sharpe,
    }


def _round(values: np.ndarray, digits: int = 6) -> list[float]:
    return [round(float(v), digits) for v in values]


def portfolio_analysis(req: PortfolioRequest) -> dict[str, Any]:
    """Optimal weights, the frontier and the Monte Carlo risk of the chosen mix, with the conventions used."""
    symbols = data.clean_symbols(req.symbols)
    if not 1 <= req.horizon_days <= MAX_HORIZON_DAYS:
        raise AnalysisError(
            _("The horizon is from 1 to %(max)d days.") % {"max": MAX_HORIZON_DAYS},
            code="bad_horizon",
            field="horizon_days",
        )
    aligned = data.aligned_closes(
        exchange=req.exchange, symbols=symbols, timeframe=req.timeframe, days=req.lookback_days
    )
    prices = aligned.closes.to_numpy()
    per_year = data.periods_per_year(req.timeframe)
    simple = portfolio.returns_from_prices(prices, "simple")
    used = simple if req.returns == "simple" else portfolio.returns_from_prices(prices, "log")
    low, high = _bounds(req, symbols)
    rf = req.risk_free_pct / 100
    tolerance = None if req.risk_tolerance_pct is None else req.risk_tolerance_pct / 100
    try:
        est = portfolio.estimate(used, periods_per_year=per_year, covariance=req.covariance)
        optimum = portfolio.optimise(
            est, method=req.method, risk_free=rf, max_drawdown=tolerance, lower=low, upper=high
        )
        front = portfolio.frontier(est.mu, est.cov, lower=low, upper=high)
        period_log = montecarlo.portfolio_log_returns(
            simple, optimum.mix.weights, cash=optimum.mix.cash, cash_rate=rf / per_year
        )
        daily = period_log if req.timeframe == "1d" else data.daily_log_returns(aligned.closes.index[1:], period_log)
        risk = montecarlo.simulate(
            daily, horizon=req.horizon_days, scenarios=SCENARIOS, method=req.mc_method, seed=req.seed
        )
        sizing = kelly.sizing(
            np.expm1(daily), basis="moments", cap=math.inf, risk_free=rf / data.YEAR_DAYS, ahead=req.horizon_days
        )
    except (portfolio.PortfolioError, montecarlo.MonteCarloError, kelly.KellyError) as exc:
        raise translated(exc) from None
    vols = np.sqrt(np.clip(np.diag(est.cov), 0.0, None))
    answer = _mix_payload(optimum.mix, symbols)
    return {
        "optimal_weights": answer["weights"],
        "cash_weight": answer["cash"],
        "expected_return": answer["expected_return"],
        "expected_risk": answer["expected_risk"],
        "sharpe_ratio": answer["sharpe_ratio"],
        "method": req.method,
        "risky_portfolio": _mix_payload(optimum.risky, symbols),
        "monte_carlo": {
            "var_95": risk.var_95,
            "var_99": risk.var_99,
            "expected_shortfall": risk.expected_shortfall,
            "expected_shortfall_99": risk.expected_shortfall_99,
            "probability_positive": risk.probability_positive,
            "median_return": risk.median_return,
            "mean_return": risk.mean_return,
            "method": risk.method,
            "scenarios": risk.scenarios,
            "horizon_days": risk.horizon,
            "seed": risk.seed,
            "block_days": risk.block or None,
            "fan": {
                "percentiles": list(risk.fan_percentiles),
                "days": [int(s) for s in risk.fan_steps],
                "values": [_round(row) for row in risk.fan],
            },
        },
        "kelly": {
            "basis": "moments",
            "full_kelly_exposure": sizing.kelly,
            "half_kelly_exposure": sizing.kelly / 2,
            "daily_mean": sizing.mean,
            "daily_variance": sizing.variance,
        },
        "frontier": {
            "points": [
                {"risk": round(float(v), 6), "return": round(float(r), 6)}
                for v, r in zip(front.volatilities, front.returns, strict=True)
            ],
            "assets": [
                {"symbol": s, "risk": round(float(v), 6), "return": round(float(r), 6)}
                for s, v, r in zip(symbols, vols, est.mu, strict=True)
            ],
        },
        "conventions": {
            "exchange": req.exchange,
            "timeframe": req.timeframe,
            "start": aligned.start.isoformat().replace("+00:00", "Z"),
            "end": aligned.end.isoformat().replace("+00:00", "Z"),
            "periods": len(used),
            "periods_per_year": per_year,
            "returns": req.returns,
            "mean_estimator": "arithmetic mean x periods_per_year",
            "covariance": req.covariance,
            "risk_free_rate": rf,
            "risk_tolerance": tolerance,
            "volatility_budget": optimum.volatility_budget,
            "tolerance_rule": TOLERANCE_RULE,
            "rebalancing": "constant mix, rebalanced every period",
            "weight_bounds": {
                s: [round(float(a), 6), round(float(b), 6)] for s, a, b in zip(symbols, low, high, strict=True)
            },
        },
        "data": {"dropped_total": aligned.dropped_total, "missing_by_symbol": aligned.dropped},
        "notes": list(optimum.notes),
    }


# Kelly ---------------------------------------------------------------------------------------------------------


def _closed_returns(positions: Any) -> np.ndarray:
    """Each closed position's realised PnL (net of fees) over the margin it put up: its entry fills' amount times
    its average entry price over its leverage (a closed position keeps neither amount nor margin: both go to
    zero as it closes)."""
    entry_fills = Q(side=Position.Side.LONG, trades__side="buy") | Q(side=Position.Side.SHORT, trades__side="sell")
    rows = (
        positions.filter(status=Position.Status.CLOSED, realized_pnl__isnull=False)
        .annotate(opened=Sum("trades__amount", filter=entry_fills))
        .filter(opened__gt=0)
        .values_list("realized_pnl", "opened", "entry_price", "leverage")
    )
    return np.array(
        [float(pnl) / (float(opened) * float(price) / max(int(lev), 1)) for pnl, opened, price, lev in rows if price],
        dtype=np.float64,
    )


def _profile_cap(user: Any) -> Decimal:
    return RiskProfile.objects.get_or_create(user=user)[0].position_size_pct


def kelly_analysis(
    *,
    user: Any,
    bot_id: int | None = None,
    backtest_id: int | None = None,
    multiplier: float = 0.5,
    trades_ahead: int = 100,
    seed: int = 1,
) -> dict[str, Any]:
    """The Kelly table from a bot's closed positions or a finished backtest's trades, capped by the user's
    position-size limit and beside the size in use."""
    cap_pct = _profile_cap(user)
    if (bot_id is None) == (backtest_id is None):
        raise AnalysisError(_("Choose a bot or a backtest."), code="no_source", field="source")
    if bot_id is not None:
        bot = Bot.objects.filter(user=user, id=bot_id).first()
        if bot is None:
            from django.http import Http404

            raise Http404(_("No such bot."))
        returns = _closed_returns(Position.objects.filter(bot=bot))
        current = float(bot.position_size_pct) / 100
        source = {"kind": "bot", "id": bot.id, "name": bot.name}
    else:
        run = BacktestRun.objects.filter(user=user, id=backtest_id).first()
        if run is None:
            from django.http import Http404

            raise Http404(_("No such backtest."))
        if run.status != BacktestRun.Status.DONE or run.kind != BacktestRun.Kind.BACKTEST:
            raise AnalysisError(_("Choose a finished backtest."), code="not_finished", field="source")
        trades = (run.result or {}).get("trades", [])
        returns = np.array([t["return_pct"] / 100 for t in trades if t.get("return_pct") is not None], dtype=float)
        current = float(run.position_size_pct) / 100
        source = {
            "kind": "backtest",
            "id": run.id,
            "name": f"{strategy_name(run.strategy)} {run.symbol} {run.timeframe}",
        }
    if len(returns) < 10:
        raise AnalysisError(
            _("Kelly sizing needs at least %(need)d closed trades; there are %(have)d.")
            % {"need": 10, "have": len(returns)},
            code="too_little_history",
            field="source",
        )
    try:
        result = kelly.sizing(
            returns,
            basis="trades",
            cap=float(cap_pct) / 100,
            current=current,
            kelly_multiplier=multiplier,
            ahead=trades_ahead,
            seed=seed,
        )
    except kelly.KellyError as exc:
        raise translated(exc) from None
    stats = result.stats or kelly.trade_stats(returns)
    return {
        "source": source,
        "basis": "trades",
        "trades": stats.trades,
        "win_rate": stats.win_rate,
        "avg_win": stats.avg_win,
        "avg_loss": stats.avg_loss,
        "payoff": stats.payoff,
        "kelly_fraction": result.kelly,
        "kelly_multiplier": result.kelly_multiplier,
        "recommended_fraction": result.recommended,
        "capped_by_limit": result.capped,
        "position_size_limit": result.cap,
        "current_fraction": current,
        "trades_ahead": result.ahead,
        "paths": result.paths,
        "seed": result.seed,
        "choices": [
            {
                "key": c.key,
                "fraction": c.fraction,
                "growth_per_trade": None if math.isinf(c.growth) else c.growth,
                "ruin_possible": math.isinf(c.growth),
                "drawdown_median": c.drawdown_median,
                "drawdown_p95": c.drawdown_p95,
            }
            for c in result.choices
        ],
    }
