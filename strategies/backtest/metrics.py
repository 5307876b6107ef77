"""Performance metrics of a backtest, from plain arrays (numpy, and one numba pass over the equity); JSON-safe.

Definitions (``r`` are the per-bar simple returns of the equity curve, ``P`` the bars per year,
``365 × 24 h / bar length``):

- ``total_return_pct``: final / initial − 1, in %.
- ``cagr_pct``: (final / initial) ** (1 / years) − 1, in %; years = (last bar open − first bar open
  + one bar) / 365 days.
- ``sharpe``: mean(r) / std(r, ddof=1) × √P (risk-free rate 0).
- ``sortino``: mean(r) / √mean(min(r, 0)²) × √P.
- ``max_drawdown_pct``: the largest fall from a running peak of the equity, in % of that peak
  (positive).
- ``calmar``: cagr_pct / max_drawdown_pct.
- ``win_rate_pct``: trades with pnl > 0 / trades, in %; ``profit_factor``: sum of winning pnl /
  |sum of losing pnl|; ``avg_win`` / ``avg_loss``: mean pnl of winners / losers (avg_loss ≤ 0).
- ``exposure_pct``: bars during which a position was open at any moment / bars, in %.

A value that is undefined (no trades, no losing trade, a flat curve, …) is ``None``, never NaN or inf.
"""

from __future__ import annotations

import math

import numpy as np

from ._core import equity_stats

MS_PER_YEAR = 365 * 24 * 3600 * 1000


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def equity_metrics(equity: np.ndarray, initial: float, span_ms: int, bar_ms: int) -> dict[str, float | None]:
    """Return, CAGR, Sharpe, Sortino, drawdown and Calmar of an equity curve sampled once per bar."""
    n = equity.shape[0]
    final = float(equity[-1]) if n else float(initial)
    total = (final / initial - 1.0) * 100.0
    years = span_ms / MS_PER_YEAR if span_ms > 0 else 0.0
    if years > 0 and final > 0:
        cagr = ((final / initial) ** (1.0 / years) - 1.0) * 100.0
    elif years > 0:
        cagr = -100.0
    else:
        cagr = math.nan
    sharpe = sortino = math.nan
    drawdown = 0.0
    if n:
        mean, std, downside, max_dd = equity_stats(equity)
        drawdown = max_dd * 100.0
        if n >= 3 and bar_ms > 0:
            per_year = math.sqrt(MS_PER_YEAR / bar_ms)
            if std > 0:
                sharpe = mean / std * per_year
            if downside > 0:
                sortino = mean / downside * per_year
    calmar = cagr / drawdown if drawdown > 0 else math.nan
    return {
        "total_return_pct": _num(total),
        "cagr_pct": _num(cagr),
        "sharpe": _num(sharpe),
        "sortino": _num(sortino),
        "max_drawdown_pct": _num(drawdown),
        "calmar": _num(calmar),
    }


def trade_metrics(pnl: np.ndarray, fees: np.ndarray) -> dict[str, float | int | None]:
    """Win rate, profit factor, trade count, average win and loss, fees paid."""
    count = int(pnl.shape[0])
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    gross_win = float(wins.sum())
    gross_loss = float(-losses.sum())
    return {
        "win_rate_pct": _num(wins.shape[0] / count * 100.0) if count else None,
        "profit_factor": _num(gross_win / gross_loss) if gross_loss > 0 else None,
        "trades": count,
        "avg_win": _num(wins.mean()) if wins.shape[0] else None,
        "avg_loss": _num(losses.mean()) if losses.shape[0] else None,
        "fees_paid": _num(fees.sum()) if count else 0.0,
    }
