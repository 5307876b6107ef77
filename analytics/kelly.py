"""Kelly sizing (pure: no Django).

Two readings of the same idea, each on the returns it is given:

- **From trades** (a backtest's or a bot's): ``r`` is each trade's return on the margin it used (the backtest's
  ``return_pct / 100``), and ``f`` the share of the account one position takes as margin — the bot's position
  size. With win rate p, mean win a and mean loss l (both positive), the two-outcome Kelly fraction is
  f* = p / l - (1 - p) / a: it maximises p ln(1 + f a) + (1 - p) ln(1 - f l).
- **From return moments** (a market's or an equity curve's period returns, mean m and variance s2 per
  period, risk-free rate rf per period): f* = (m - rf) / s2, the exposure that maximises the continuous growth
  rate rf + f (m - rf) - f^2 s2 / 2.

Each choice (full, half and quarter Kelly, the capped recommendation, the size in use now) is then scored on
the returns themselves: the expected log growth per trade or period, mean(ln(1 + f r)) — minus infinity when a
single return of the history would wipe the account out — and the maximum drawdown over the next ``ahead``
trades or periods, from ``paths`` seeded resamplings of the history (median and 95th percentile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATHS = 2000


class KellyError(ValueError):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TradeStats:
    trades: int
    win_rate: float
    avg_win: float  # mean return of the winning trades (positive)
    avg_loss: float  # mean loss of the losing trades (positive)
    payoff: float | None  # avg_win / avg_loss


@dataclass(frozen=True)
class Choice:
    key: str  # full, half, quarter, recommended, current
    fraction: float
    growth: float  # expected log growth per trade / period; -inf: ruin possible
    drawdown_median: float
    drawdown_p95: float


@dataclass(frozen=True)
class Sizing:
    basis: str  # trades or moments
    kelly: float  # the full Kelly fraction (0 when there is no edge)
    recommended: float
    capped: bool  # the cap decided the recommendation
    cap: float
    kelly_multiplier: float
    stats: TradeStats | None
    mean: float | None  # per period, moments basis
    variance: float | None
    choices: tuple[Choice, ...]
    ahead: int
    paths: int
    seed: int


def trade_stats(returns: np.ndarray) -> TradeStats:
    returns = np.asarray(returns, dtype=np.float64)
    wins, losses = returns[returns > 0], returns[returns < 0]
    avg_win = float(wins.mean()) if len(wins) else 0.0
    avg_loss = float(-losses.mean()) if len(losses) else 0.0
    return TradeStats(
        trades=len(returns),
        win_rate=float(len(wins) / len(returns)) if len(returns) else 0.0,
        avg_win=avg_win,
        avg_loss=avg_loss,
        payoff=avg_win / avg_loss if avg_loss > 0 else None,
    )


def kelly_from_trades(stats: TradeStats) -> float | None:
    """The two-outcome Kelly fraction; None when no trade lost (the formula has no bound)."""
    if stats.avg_loss <= 0:
        return None if stats.avg_win > 0 else 0.0
    if stats.avg_win <= 0:
        return 0.0
    p = stats.win_rate
    return max(0.0, p / stats.avg_loss - (1.0 - p) / stats.avg_win)


def kelly_from_moments(mean: float, variance: float, risk_free: float = 0.0) -> float:
    if variance <= 0:
        raise KellyError("The returns do not vary: the moments give no Kelly fraction.", code="no_variance")
    return max(0.0, (mean - risk_free) / variance)


def growth(returns: np.ndarray, fraction: float) -> float:
    wealth = 1.0 + fraction * returns
    if np.any(wealth <= 0):
        return float("-inf")
    return float(np.log(wealth).mean())


def drawdowns(returns: np.ndarray, fraction: float, *, ahead: int, paths: int, seed: int) -> tuple[float, float]:
    """Median and 95th percentile of the maximum drawdown over ``ahead`` resampled returns at ``fraction``."""
    rng = np.random.default_rng(seed)
    picks = returns[rng.integers(0, len(returns), size=(paths, ahead))]
    wealth = np.clip(1.0 + fraction * picks, 0.0, None)
    with np.errstate(divide="ignore"):
        curve = np.cumsum(np.log(wealth), axis=1)
    peak = np.maximum.accumulate(np.maximum(curve, 0.0), axis=1)
    worst = -np.expm1((curve - peak).min(axis=1))
    return float(np.median(worst)), float(np.percentile(worst, 95))


def sizing(
    returns: np.ndarray,
    *,
    basis: str,
    cap: float,
    current: float | None = None,
    kelly_multiplier: float = 0.5,
    risk_free: float = 0.0,
    ahead: int = 100,
    paths: int = PATHS,
    seed: int = 0,
) -> Sizing:
    """The Kelly table for ``returns`` (trade returns on margin, or period returns for ``basis="moments"``)."""
    returns = np.asarray(returns, dtype=np.float64)
    returns = returns[np.isfinite(returns)]
    if basis not in ("trades", "moments"):
        raise KellyError(f"Unknown basis {basis!r}.", code="bad_basis")
    need = 10 if basis == "trades" else 30
    if len(returns) < need:
        what = "trades" if basis == "trades" else "periods of returns"
        raise KellyError(
            f"Kelly sizing needs at least {need} {what}; there are {len(returns)}.", code="too_little_history"
        )
    if not 0 < kelly_multiplier <= 1:
        raise KellyError("The Kelly multiplier is between 0 and 1 (0.5 is half Kelly).", code="bad_multiplier")
    stats = mean = variance = None
    unbounded = False
    if basis == "trades":
        stats = trade_stats(returns)
        found = kelly_from_trades(stats)
        unbounded = found is None  # no losing trade yet: the formula has no bound, the cap decides
        full = cap / kelly_multiplier if found is None else found
    else:
        mean, variance = float(returns.mean()), float(returns.var(ddof=1))
        full = kelly_from_moments(mean, variance, risk_free)
    target = full * kelly_multiplier
    recommended = min(target, cap)
    fractions = {"full": full, "half": full / 2, "quarter": full / 4, "recommended": recommended}
    if current is not None:
        fractions["current"] = current
    choices = []
    for key, fraction in fractions.items():
        median, p95 = drawdowns(returns, fraction, ahead=ahead, paths=paths, seed=seed)
        choices.append(Choice(key, fraction, growth(returns, fraction), median, p95))
    return Sizing(
        basis=basis,
        kelly=full,
        recommended=recommended,
        capped=unbounded or target > cap,
        cap=cap,
        kelly_multiplier=kelly_multiplier,
        stats=stats,
        mean=mean,
        variance=variance,
        choices=tuple(choices),
        ahead=ahead,
        paths=paths,
        seed=seed,
    )
