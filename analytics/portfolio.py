"""Modern portfolio theory on plain arrays (pure: no Django): estimates, the optimal mixes, the frontier.

Conventions (stated on the page and in the API answer):
- returns are per period (a day for 1d candles) simple returns ``p[t] / p[t-1] - 1`` unless log returns are
  asked for; crypto trades every day, so a year is 365 periods of 1d (``periods_per_year``);
- the expected return is the arithmetic mean of the period returns times ``periods_per_year``; the covariance
  is the sample covariance (ddof 1) times ``periods_per_year``, or Ledoit–Wolf shrinkage towards a constant
  variance (scikit-learn's estimator, as PyPortfolioOpt uses it);
- weights are long-only, sum to 1 across the risky assets plus cash, and stay inside per-asset bounds.

Every optimisation is a small dense quadratic programme solved exactly by quadprog (Goldfarb–Idnani active
set). The maximum-Sharpe mix uses the usual change of variables (y = w / (mu - rf)'w, k = sum y), which turns
the fractional objective into a quadratic one — the same formulation as PyPortfolioOpt, whose answers the
tests compare with. quadprog needs a positive definite matrix: a covariance that is only semi-definite
(perfectly correlated assets) gets a ridge of 1e-10 of its mean variance, and one that is not even that (an
estimate from misaligned data) is repaired first by clipping its negative eigenvalues, and the answer says so.

The risk tolerance is a maximum drawdown D. It becomes a volatility budget through the expected maximum
drawdown of a driftless random walk over one year, E[MDD] = sqrt(pi / 2) * sigma (Magdon-Ismail et al., 2004):
sigma_max = D / sqrt(pi / 2). A risky mix above the budget is held partly in cash (the rest earns the
risk-free rate), which keeps its Sharpe ratio; ``max_return`` instead picks the frontier mix at the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import quadprog

METHODS = ("sharpe", "min_risk", "max_return")
COVARIANCES = ("sample", "ledoit_wolf")
RETURN_KINDS = ("simple", "log")
MDD_PER_SIGMA = math.sqrt(math.pi / 2.0)  # expected max drawdown of a driftless walk, in sigmas over the horizon
FRONTIER_POINTS = 50


class PortfolioError(ValueError):
    """An optimisation that has no answer on these inputs; ``code`` names the case, the message says why."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Estimates:
    mu: np.ndarray  # annualised expected returns, shape (n,)
    cov: np.ndarray  # annualised covariance, shape (n, n)
    notes: tuple[str, ...] = ()  # codes: "covariance_repaired"


@dataclass(frozen=True)
class Mix:
    weights: np.ndarray  # risky weights, sum = 1 - cash
    cash: float
    expected_return: float
    volatility: float
    sharpe: float | None


@dataclass(frozen=True)
class Frontier:
    returns: np.ndarray
    volatilities: np.ndarray
    weights: np.ndarray  # shape (points, n)


@dataclass(frozen=True)
class Optimum:
    method: str
    mix: Mix  # the answer (with cash when the budget asks for it)
    risky: Mix  # the risky part alone, on the frontier
    volatility_budget: float | None
    notes: tuple[str, ...] = field(default=())


def returns_from_prices(prices: np.ndarray, kind: str = "simple") -> np.ndarray:
    """Period returns of aligned close prices, shape (T, n) -> (T - 1, n)."""
    prices = np.asarray(prices, dtype=np.float64)
    if kind == "log":
        return np.diff(np.log(prices), axis=0)
    if kind != "simple":
        raise ValueError(f"Unknown return kind {kind!r}.")
    return prices[1:] / prices[:-1] - 1.0


def estimate(returns: np.ndarray, *, periods_per_year: float, covariance: str = "sample") -> Estimates:
    """Annualised mean and covariance of period returns (T, n)."""
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 2 or returns.shape[0] < 2:
        raise PortfolioError("At least two periods of returns are needed.", code="too_little_history")
    mu = returns.mean(axis=0) * periods_per_year
    if covariance == "sample":
        cov = np.atleast_2d(np.cov(returns, rowvar=False, ddof=1))
    elif covariance == "ledoit_wolf":
        from sklearn.covariance import ledoit_wolf

        cov = ledoit_wolf(returns, assume_centered=False)[0]
    else:
        raise ValueError(f"Unknown covariance estimator {covariance!r}.")
    cov, notes = repaired(cov * periods_per_year)
    return Estimates(mu=mu, cov=cov, notes=notes)


def repaired(cov: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """A symmetric positive semi-definite covariance: negative eigenvalues clipped to zero when there are any."""
    cov = np.asarray(cov, dtype=np.float64)
    cov = (cov + cov.T) / 2.0
    if not np.all(np.isfinite(cov)):
        raise PortfolioError("The covariance has missing or infinite values.", code="bad_covariance")
    values, vectors = np.linalg.eigh(cov)
    if values.min() >= -1e-12 * max(1.0, abs(values.max())):
        return cov, ()
    fixed = (vectors * np.clip(values, 0.0, None)) @ vectors.T
    return (fixed + fixed.T) / 2.0, ("covariance_repaired",)


def check_bounds(n: int, lower: np.ndarray | None, upper: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    low = np.zeros(n) if lower is None else np.asarray(lower, dtype=np.float64)
    high = np.ones(n) if upper is None else np.asarray(upper, dtype=np.float64)
    if low.shape != (n,) or high.shape != (n,):
        raise PortfolioError("One minimum and one maximum weight per asset.", code="bad_bounds")
    if np.any(low < 0) or np.any(high > 1) or np.any(low > high + 1e-12):
        raise PortfolioError("Each weight bound must satisfy 0 <= min <= max <= 1.", code="bad_bounds")
    if low.sum() > 1 + 1e-9 or high.sum() < 1 - 1e-9:
        raise PortfolioError(
            "The minimum weights add up to more than 100 %, or the maximum weights to less.", code="bad_bounds"
        )
    return low, high


def _pd(cov: np.ndarray) -> np.ndarray:
    n = cov.shape[0]
    ridge = 1e-10 * max(float(np.trace(cov)) / n, 1e-12)
    return 2.0 * cov + ridge * np.eye(n)


def _qp(g: np.ndarray, a: np.ndarray, c: np.ndarray, b: np.ndarray, meq: int) -> np.ndarray:
    """min 1/2 x'Gx - a'x subject to C'x >= b (the first ``meq`` as equalities)."""
    try:
        return quadprog.solve_qp(g, a, c, b, meq)[0]
    except ValueError as exc:  # "constraints are inconsistent, no solution"
        raise PortfolioError("No mix satisfies these constraints.", code="infeasible") from exc


def _clean(weights: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    weights = np.clip(weights, low, high)
    weights[np.abs(weights) < 1e-12] = 0.0
    return weights / weights.sum()


def _box(n: int, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.hstack([np.eye(n), -np.eye(n)]), np.concatenate([low, -high])


def min_volatility(cov: np.ndarray, *, lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> np.ndarray:
    n = cov.shape[0]
    low, high = check_bounds(n, lower, upper)
    box_c, box_b = _box(n, low, high)
    c = np.hstack([np.ones((n, 1)), box_c])
    b = np.concatenate([[1.0], box_b])
    return _clean(_qp(_pd(cov), np.zeros(n), c, b, 1), low, high)


def efficient_return(
    mu: np.ndarray, cov: np.ndarray, target: float, *, lower: np.ndarray | None = None, upper: np.ndarray | None = None
) -> np.ndarray:
    """The least volatile mix whose expected return is ``target``."""
    n = cov.shape[0]
    low, high = check_bounds(n, lower, upper)
    box_c, box_b = _box(n, low, high)
    c = np.hstack([np.ones((n, 1)), mu.reshape(n, 1), box_c])
    b = np.concatenate([[1.0, target], box_b])
    return _clean(_qp(_pd(cov), np.zeros(n), c, b, 2), low, high)


def max_return_weights(
    mu: np.ndarray, *, lower: np.ndarray | None = None, upper: np.ndarray | None = None
) -> np.ndarray:
    """The highest expected return inside the bounds (a linear programme: fill the best assets first)."""
    n = mu.shape[0]
    low, high = check_bounds(n, lower, upper)
    weights = low.copy()
    room = 1.0 - weights.sum()
    for i in np.argsort(-mu, kind="stable"):
        add = min(high[i] - weights[i], room)
        weights[i] += add
        room -= add
        if room <= 1e-15:
            break
    return weights


def max_sharpe(
    mu: np.ndarray,
    cov: np.ndarray,
    *,
    risk_free: float = 0.0,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    n = cov.shape[0]
    low, high = check_bounds(n, lower, upper)
    excess = mu - risk_free
    if not np.any(excess > 0) or max_return_weights(excess, lower=low, upper=high) @ excess <= 0:
        raise PortfolioError(
            "No mix inside the bounds is expected to return more than the risk-free rate over this window, so none "
            "has a positive Sharpe ratio: hold cash, or choose the least-risk method.",
            code="no_excess_return",
        )
    # x = [y, k]: minimise y' S y subject to excess'y = 1, sum(y) = k, low*k <= y <= high*k, k >= 0.
    g = np.zeros((n + 1, n + 1))
    g[:n, :n] = _pd(cov)
    g[n, n] = 1e-10 * max(float(np.trace(cov)) / n, 1e-12)
    eq_return = np.concatenate([excess, [0.0]])
    eq_sum = np.concatenate([np.ones(n), [-1.0]])
    lows = np.vstack([np.eye(n), -low.reshape(1, n)])  # y_i - low_i k >= 0
    highs = np.vstack([-np.eye(n), high.reshape(1, n)])  # high_i k - y_i >= 0
    k_pos = np.concatenate([np.zeros(n), [1.0]]).reshape(n + 1, 1)
    c = np.hstack([eq_return.reshape(-1, 1), eq_sum.reshape(-1, 1), lows, highs, k_pos])
    b = np.concatenate([[1.0, 0.0], np.zeros(2 * n + 1)])
    x = _qp(g, np.zeros(n + 1), c, b, 2)
    if x[n] <= 0:
        raise PortfolioError("No mix has a positive Sharpe ratio inside these bounds.", code="no_excess_return")
    return _clean(x[:n] / x[n], low, high)


def performance(weights: np.ndarray, mu: np.ndarray, cov: np.ndarray, risk_free: float, cash: float = 0.0) -> Mix:
    ret = float(weights @ mu + cash * risk_free)
    vol = math.sqrt(max(float(weights @ cov @ weights), 0.0))
    sharpe = (ret - risk_free) / vol if vol > 1e-12 else None
    return Mix(weights=weights, cash=cash, expected_return=ret, volatility=vol, sharpe=sharpe)


def efficient_risk(
    mu: np.ndarray, cov: np.ndarray, budget: float, *, lower: np.ndarray | None = None, upper: np.ndarray | None = None
) -> np.ndarray:
    """The highest expected return whose volatility stays within ``budget`` (bisection along the frontier)."""
    low_w = min_volatility(cov, lower=lower, upper=upper)
    high_w = max_return_weights(mu, lower=lower, upper=upper)
    if math.sqrt(max(high_w @ cov @ high_w, 0.0)) <= budget:
        return high_w
    lo, hi, best = float(low_w @ mu), float(high_w @ mu), low_w
    for _ in range(60):
        mid = (lo + hi) / 2.0
        w = efficient_return(mu, cov, mid, lower=lower, upper=upper)
        if math.sqrt(max(w @ cov @ w, 0.0)) <= budget:
            lo, best = mid, w
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return best


def frontier(
    mu: np.ndarray,
    cov: np.ndarray,
    *,
    points: int = FRONTIER_POINTS,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> Frontier:
    """``points`` mixes from the least volatile to the highest expected return, each the least volatile for its
    return."""
    w_min = min_volatility(cov, lower=lower, upper=upper)
    w_max = max_return_weights(mu, lower=lower, upper=upper)
    r_min, r_max = float(w_min @ mu), float(w_max @ mu)
    targets = np.linspace(r_min, r_max, points) if r_max - r_min > 1e-12 else np.full(1, r_min)
    rows = []
    for k, target in enumerate(targets):
        if k == 0:
            rows.append(w_min)
        elif k == len(targets) - 1:
            rows.append(efficient_return(mu, cov, target - 1e-12 * max(1.0, abs(target)), lower=lower, upper=upper))
        else:
            rows.append(efficient_return(mu, cov, float(target), lower=lower, upper=upper))
    weights = np.vstack(rows)
    vols = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", weights, cov, weights), 0.0, None))
    return Frontier(returns=weights @ mu, volatilities=vols, weights=weights)


def volatility_budget(max_drawdown: float | None) -> float | None:
    """Annual volatility whose expected one-year maximum drawdown (driftless) equals ``max_drawdown`` (0.2 = 20 %)."""
    if max_drawdown is None:
        return None
    if not 0 < max_drawdown <= 1:
        raise PortfolioError("The risk tolerance is a drawdown between 0 and 100 %.", code="bad_tolerance")
    return max_drawdown / MDD_PER_SIGMA


def optimise(
    est: Estimates,
    *,
    method: str,
    risk_free: float = 0.0,
    max_drawdown: float | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> Optimum:
    """The mix ``method`` asks for, held partly in cash when it is more volatile than the tolerance allows."""
    if method not in METHODS:
        raise PortfolioError(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.", code="bad_method")
    mu, cov = est.mu, est.cov
    budget = volatility_budget(max_drawdown)
    if method == "sharpe":
        weights = max_sharpe(mu, cov, risk_free=risk_free, lower=lower, upper=upper)
    elif method == "min_risk":
        weights = min_volatility(cov, lower=lower, upper=upper)
    elif budget is None:
        weights = max_return_weights(mu, lower=lower, upper=upper)
    else:
        weights = efficient_risk(mu, cov, budget, lower=lower, upper=upper)
    risky = performance(weights, mu, cov, risk_free)
    notes = list(est.notes)
    mix = risky
    if budget is not None and risky.volatility > budget * (1 + 1e-9):
        invested = budget / risky.volatility
        mix = performance(weights * invested, mu, cov, risk_free, cash=1.0 - invested)
        notes.append("cash_for_budget")
    return Optimum(method=method, mix=mix, risky=risky, volatility_budget=budget, notes=tuple(notes))
