"""Monte Carlo and Kelly cores on real returns: reproducible, equal to the long way round, and the formulas
checked against brute force."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from analytics import kelly as K
from analytics import montecarlo as M
from analytics import portfolio as P

WEIGHTS = np.array([0.5, 0.3, 0.2])


@pytest.fixture(scope="module")
def returns(closes):
    return P.returns_from_prices(closes.iloc[-1000:, :3].to_numpy())


def test_the_same_seed_gives_the_same_figures_and_another_seed_others(returns):
    lr = M.portfolio_log_returns(returns, WEIGHTS)
    a, b = M.simulate(lr, horizon=60, seed=11), M.simulate(lr, horizon=60, seed=11)
    assert (a.var_95, a.expected_shortfall, a.probability_positive) == (
        b.var_95,
        b.expected_shortfall,
        b.probability_positive,
    )
    np.testing.assert_array_equal(a.fan, b.fan)
    assert M.simulate(lr, horizon=60, seed=12).var_95 != a.var_95


def test_bootstrap_equals_the_per_asset_simulation(returns):
    """Drawing the portfolio's own series equals drawing whole days of every asset and rebalancing each day."""
    horizon, scenarios, seed = 40, 2001, 3  # odd: the median is one scenario's
    risk = M.simulate(M.portfolio_log_returns(returns, WEIGHTS), horizon=horizon, scenarios=scenarios, seed=seed)
    idx = M._block_indices(np.random.default_rng(seed), len(returns), horizon, scenarios, risk.block)
    days = returns[idx]  # (horizon, scenarios, assets): the same historical days for every asset
    value = np.prod(1 + days @ WEIGHTS, axis=0) - 1
    q5 = np.percentile(value, 5)
    assert risk.var_95 == pytest.approx(-q5, rel=1e-9)
    assert risk.expected_shortfall == pytest.approx(-value[value <= q5].mean(), rel=1e-9)
    assert risk.probability_positive == pytest.approx((value > 0).mean())
    assert risk.fan[2, -1] == pytest.approx(np.median(value), rel=1e-9)


def test_blocks_are_runs_of_consecutive_days():
    idx = M._block_indices(np.random.default_rng(0), 500, 100, 50, 8)
    assert idx.shape == (100, 50) and idx.min() >= 0 and idx.max() < 500
    runs = np.diff(idx[:96].reshape(12, 8, 50), axis=1)
    assert np.all(runs == 1)


def test_shortfall_is_beyond_var_and_the_fan_is_ordered(returns):
    risk = M.simulate(M.portfolio_log_returns(returns, WEIGHTS), horizon=252, seed=1)
    assert risk.expected_shortfall > risk.var_95 > 0 and risk.var_99 > risk.var_95
    assert risk.fan.shape == (5, len(risk.fan_steps)) and risk.fan_steps[0] == 0 and risk.fan_steps[-1] == 252
    assert np.all(np.diff(risk.fan, axis=0)[:, 1:] > 0)
    assert np.all(risk.fan[:, 0] == 0)


def test_parametric_matches_the_lognormal_it_draws_from(returns):
    lr = M.portfolio_log_returns(returns, WEIGHTS)
    risk = M.simulate(lr, horizon=100, method="parametric", seed=5)
    mean, sd = lr.mean() * 100, lr.std(ddof=1) * 10
    assert risk.median_return == pytest.approx(np.expm1(mean), abs=0.02)
    assert risk.var_95 == pytest.approx(-np.expm1(mean - 1.6449 * sd), abs=0.02)


def test_cash_earns_the_rate_and_lowers_the_risk(returns):
    full = M.simulate(M.portfolio_log_returns(returns, WEIGHTS), horizon=30, seed=2)
    half = M.simulate(M.portfolio_log_returns(returns, WEIGHTS / 2, cash=0.5, cash_rate=0.0001), horizon=30, seed=2)
    assert half.var_95 < full.var_95
    with pytest.raises(M.MonteCarloError):
        M.simulate(np.zeros(5), horizon=30, block=10)


# --- Kelly --------------------------------------------------------------------------------------------------


def two_outcome_growth(f, p, a, loss):
    return p * np.log(1 + f * a) + (1 - p) * np.log(1 - f * loss)


def test_the_trade_formula_maximises_the_two_outcome_growth():
    rng = np.random.default_rng(4)
    trades = np.where(rng.random(300) < 0.45, rng.uniform(0.01, 0.09, 300), -rng.uniform(0.005, 0.04, 300))
    stats = K.trade_stats(trades)
    best = minimize_scalar(
        lambda f: -two_outcome_growth(f, stats.win_rate, stats.avg_win, stats.avg_loss),
        bounds=(0, 0.999 / stats.avg_loss),
        method="bounded",
        options={"xatol": 1e-10},
    ).x
    assert K.kelly_from_trades(stats) == pytest.approx(best, rel=1e-5)


def test_the_moment_formula_is_close_to_the_empirical_optimum(returns):
    daily = returns[:, 0]
    f = K.kelly_from_moments(daily.mean(), daily.var(ddof=1))
    best = minimize_scalar(lambda x: -K.growth(daily, x), bounds=(0, f * 2), method="bounded").x
    assert f == pytest.approx(best, rel=0.15)  # the quadratic approximation of log growth


def test_the_recommendation_is_capped_and_scored():
    rng = np.random.default_rng(9)
    trades = np.where(rng.random(200) < 0.55, rng.uniform(0.02, 0.1, 200), -rng.uniform(0.01, 0.05, 200))
    result = K.sizing(trades, basis="trades", cap=0.2, current=0.1, kelly_multiplier=0.5, seed=1)
    assert result.kelly > 0.4 and result.capped and result.recommended == 0.2
    by_key = {c.key: c for c in result.choices}
    assert set(by_key) == {"full", "half", "quarter", "recommended", "current"}
    assert by_key["full"].growth > by_key["quarter"].growth  # more growth ...
    assert by_key["full"].drawdown_p95 > by_key["half"].drawdown_p95 > by_key["quarter"].drawdown_p95  # ... more pain
    again = K.sizing(trades, basis="trades", cap=0.2, current=0.1, seed=1)
    assert again.choices == result.choices


def test_no_edge_means_no_position_and_too_few_trades_are_refused():
    losing = np.array([0.01, -0.02] * 10)
    assert K.sizing(losing, basis="trades", cap=0.2).kelly == 0
    with pytest.raises(K.KellyError) as refused:
        K.sizing(losing[:6], basis="trades", cap=0.2)
    assert refused.value.code == "too_little_history"


def test_no_losing_trade_sizes_by_the_cap():
    result = K.sizing(np.full(12, 0.02), basis="trades", cap=0.15)
    assert result.recommended == 0.15 and result.capped
