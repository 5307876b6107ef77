"""Monte Carlo risk of a constant-mix portfolio (pure: no Django).

The mix is rebalanced every period to its weights (a constant mix), so a scenario's period return is the
weighted sum of the assets' returns on one historical period: the assets' period returns are first combined
into the portfolio's own series, and the scenarios are drawn from that one series. Drawing whole historical
periods keeps the assets' joint moves (their correlation); drawing blocks of consecutive periods (a moving
block bootstrap, blocks of ``block`` periods, by default the cube root of the history's length) keeps the
autocorrelation and volatility clustering inside each block. The parametric option draws normal log returns
with the portfolio's historical mean and standard deviation (geometric Brownian motion: thinner tails than
crypto's, which the page says).

Scenarios are seeded (numpy's PCG64): the same inputs and seed give the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("bootstrap", "parametric")
FAN_PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
FAN_STEPS = 64  # the fan chart's percentiles are taken at up to this many evenly spaced steps (and the last)


class MonteCarloError(ValueError):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Risk:
    method: str
    scenarios: int
    horizon: int
    seed: int
    block: int
    var_95: float  # a loss, as a positive fraction of the starting value
    var_99: float
    expected_shortfall: float  # mean loss beyond VaR 95
    expected_shortfall_99: float
    probability_positive: float
    median_return: float
    mean_return: float
    fan_percentiles: tuple[float, ...]
    fan_steps: np.ndarray  # the steps the fan is taken at, 0 first and ``horizon`` last
    fan: np.ndarray  # shape (len(fan_percentiles), len(fan_steps)): cumulative return at each step (0 at step 0)


def default_block(history: int) -> int:
    return max(1, round(history ** (1.0 / 3.0)))


def _block_indices(rng: np.random.Generator, history: int, horizon: int, scenarios: int, block: int) -> np.ndarray:
    """Indices into the history, shape (horizon, scenarios): blocks of consecutive periods from random starts."""
    count = -(-horizon // block)
    starts = rng.integers(0, history - block + 1, size=(count, 1, scenarios))
    steps = np.arange(block).reshape(1, block, 1)
    return (starts + steps).reshape(count * block, scenarios)[:horizon]


def portfolio_log_returns(
    returns: np.ndarray, weights: np.ndarray, *, cash: float = 0.0, cash_rate: float = 0.0
) -> np.ndarray:
    """The constant mix's period log returns: ``returns`` the assets' period simple returns (T, n), ``weights``
    their weights, ``cash`` the rest earning ``cash_rate`` per period."""
    portfolio = np.asarray(returns, dtype=np.float64) @ np.asarray(weights, dtype=np.float64) + cash * cash_rate
    if np.any(portfolio <= -1.0):
        raise MonteCarloError("A historical period lost the whole portfolio.", code="ruin")
    return np.log1p(portfolio)


def simulate(
    log_returns: np.ndarray,
    *,
    horizon: int,
    scenarios: int = 10_000,
    method: str = "bootstrap",
    seed: int = 0,
    block: int | None = None,
) -> Risk:
    """``scenarios`` paths of ``horizon`` steps drawn from the portfolio's historical log returns (one per step)."""
    log_returns = np.asarray(log_returns, dtype=np.float64)
    if method not in METHODS:
        raise MonteCarloError(f"Unknown method {method!r}: bootstrap or parametric.", code="bad_method")
    if horizon < 1 or scenarios < 100:
        raise MonteCarloError(
            "The horizon is at least one period and there are at least 100 scenarios.", code="bad_size"
        )
    history = log_returns.shape[0]
    block = default_block(history) if block is None else int(block)
    if history < 2 or not 1 <= block <= history:
        raise MonteCarloError("Too little history for this block length.", code="too_little_history")
    rng = np.random.default_rng(seed)
    if method == "bootstrap":
        steps = log_returns[_block_indices(rng, history, horizon, scenarios, block)]
    else:
        steps = rng.standard_normal((horizon, scenarios))
        steps *= log_returns.std(ddof=1)
        steps += log_returns.mean()
    paths = np.cumsum(steps, axis=0, out=steps)  # (horizon, scenarios) log growth, rows contiguous
    final = np.expm1(paths[-1])
    q5, q1 = np.percentile(final, [5.0, 1.0])
    fan_steps = np.unique(np.linspace(1, horizon, min(horizon, FAN_STEPS)).round().astype(np.int64))
    fan = np.zeros((len(FAN_PERCENTILES), len(fan_steps) + 1))
    fan[:, 1:] = np.expm1(np.percentile(paths[fan_steps - 1], FAN_PERCENTILES, axis=1))
    return Risk(
        method=method,
        scenarios=scenarios,
        horizon=horizon,
        seed=seed,
        block=block if method == "bootstrap" else 0,
        var_95=float(-q5),
        var_99=float(-q1),
        expected_shortfall=float(-final[final <= q5].mean()),
        expected_shortfall_99=float(-final[final <= q1].mean()),
        probability_positive=float((final > 0).mean()),
        median_return=float(np.median(final)),
        mean_return=float(final.mean()),
        fan_percentiles=FAN_PERCENTILES,
        fan_steps=np.concatenate([[0], fan_steps]),
        fan=fan,
    )
