"""The optimiser against PyPortfolioOpt (installed for this comparison only: requirements-dev.txt), on real daily
returns and a 20-asset universe, and its answers where the maths has none."""

import math

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, expected_returns, risk_models

from analytics import portfolio as P

TOL = 1e-4


def pypfopt_inputs(est: P.Estimates) -> tuple[pd.Series, pd.DataFrame]:
    names = [f"a{k}" for k in range(len(est.mu))]
    return pd.Series(est.mu, names), pd.DataFrame(est.cov, names, names)


def weights_of(ef_weights: dict) -> np.ndarray:
    return np.array(list(ef_weights.values()))


@pytest.fixture(scope="module", params=["sample", "ledoit_wolf"])
def real(request, closes):
    window = closes.iloc[-1000:]
    est = P.estimate(P.returns_from_prices(window.to_numpy()), periods_per_year=365, covariance=request.param)
    return window, est, request.param


def test_estimates_equal_pypfopt(real):
    window, est, kind = real
    mu = expected_returns.mean_historical_return(window, compounding=False, frequency=365)
    np.testing.assert_allclose(est.mu, mu.to_numpy(), rtol=1e-12)
    if kind == "sample":
        theirs = risk_models.sample_cov(window, frequency=365)
    else:
        theirs = risk_models.CovarianceShrinkage(window, frequency=365).ledoit_wolf()
    np.testing.assert_allclose(est.cov, theirs.to_numpy(), rtol=1e-10)


@pytest.mark.parametrize("risk_free", [0.0, 0.02, 0.3])
def test_max_sharpe_equals_pypfopt(real, risk_free):
    _window, est, _kind = real
    mine = P.max_sharpe(est.mu, est.cov, risk_free=risk_free)
    theirs = weights_of(EfficientFrontier(*pypfopt_inputs(est)).max_sharpe(risk_free_rate=risk_free))
    assert np.abs(mine - theirs).max() < TOL
    assert mine.sum() == pytest.approx(1.0, abs=1e-12)


def test_min_volatility_equals_pypfopt(real):
    _window, est, _kind = real
    theirs = weights_of(EfficientFrontier(*pypfopt_inputs(est)).min_volatility())
    assert np.abs(P.min_volatility(est.cov) - theirs).max() < TOL


def test_bounded_weights_equal_pypfopt(real):
    _window, est, _kind = real
    low, high = np.full(5, 0.05), np.full(5, 0.4)
    theirs = EfficientFrontier(*pypfopt_inputs(est), weight_bounds=(0.05, 0.4))
    mine = P.max_sharpe(est.mu, est.cov, lower=low, upper=high)
    assert np.abs(mine - weights_of(theirs.max_sharpe())).max() < TOL
    assert mine.min() >= 0.05 - 1e-9 and mine.max() <= 0.4 + 1e-9


def test_per_asset_bounds_equal_pypfopt(real):
    _window, est, _kind = real
    bounds = [(0.1, 0.5), (0.0, 0.2), (0.0, 1.0), (0.05, 0.3), (0.0, 0.1)]
    low, high = np.array(bounds).T
    theirs = weights_of(EfficientFrontier(*pypfopt_inputs(est), weight_bounds=bounds).min_volatility())
    assert np.abs(P.min_volatility(est.cov, lower=low, upper=high) - theirs).max() < TOL


def test_frontier_lies_on_pypfopts_frontier(real):
    _window, est, _kind = real
    front = P.frontier(est.mu, est.cov)
    assert len(front.returns) == 50
    assert np.all(np.diff(front.returns) > 0) and np.all(np.diff(front.volatilities) >= -1e-12)
    for k in range(1, 49):  # the ends are the min-volatility and the max-return mixes, checked apart
        ef = EfficientFrontier(*pypfopt_inputs(est))
        ef.efficient_return(float(front.returns[k]))
        _ret, vol, _sharpe = ef.portfolio_performance()
        assert abs(vol - front.volatilities[k]) < 1e-6, k
        assert np.abs(weights_of(ef.clean_weights(cutoff=0, rounding=None)) - front.weights[k]).max() < TOL, k
    assert front.returns[-1] == pytest.approx(est.mu.max(), abs=1e-9)


def test_max_return_under_a_budget_equals_pypfopts_efficient_risk(real):
    _window, est, _kind = real
    budget = 0.75
    theirs = weights_of(EfficientFrontier(*pypfopt_inputs(est)).efficient_risk(budget))
    mine = P.efficient_risk(est.mu, est.cov, budget)
    assert np.abs(mine - theirs).max() < TOL
    assert math.sqrt(mine @ est.cov @ mine) <= budget + 1e-9


def test_twenty_assets_equal_pypfopt(returns_20):
    est = P.estimate(returns_20, periods_per_year=365)
    inputs = pypfopt_inputs(est)
    assert np.abs(P.max_sharpe(est.mu, est.cov) - weights_of(EfficientFrontier(*inputs).max_sharpe())).max() < TOL
    assert np.abs(P.min_volatility(est.cov) - weights_of(EfficientFrontier(*inputs).min_volatility())).max() < TOL


def test_the_tolerance_becomes_a_volatility_budget_and_cash():
    mu = np.array([0.5, 0.3])
    cov = np.array([[0.64, 0.1], [0.1, 0.36]])
    est = P.Estimates(mu=mu, cov=cov)
    free = P.optimise(est, method="sharpe", risk_free=0.03)
    capped = P.optimise(est, method="sharpe", risk_free=0.03, max_drawdown=0.2)
    budget = 0.2 / math.sqrt(math.pi / 2)
    assert capped.volatility_budget == pytest.approx(budget)
    assert capped.mix.volatility == pytest.approx(budget)
    assert capped.mix.cash == pytest.approx(1 - budget / free.mix.volatility)
    assert capped.mix.sharpe == pytest.approx(free.mix.sharpe)  # cash keeps the Sharpe ratio
    assert capped.mix.weights.sum() + capped.mix.cash == pytest.approx(1.0)
    assert "cash_for_budget" in capped.notes
    loose = P.optimise(est, method="sharpe", risk_free=0.03, max_drawdown=1.0)
    assert loose.mix.cash == 0 and "cash_for_budget" not in loose.notes
    with pytest.raises(P.PortfolioError) as refused:
        P.optimise(est, method="sharpe", max_drawdown=-0.1)
    assert refused.value.code == "bad_tolerance"


def test_max_return_without_a_budget_fills_the_best_assets_first():
    mu = np.array([0.1, 0.5, 0.3])
    weights = P.max_return_weights(mu, lower=np.zeros(3), upper=np.array([1.0, 0.6, 0.3]))
    np.testing.assert_allclose(weights, [0.1, 0.6, 0.3])


def test_one_asset():
    est = P.Estimates(mu=np.array([0.4]), cov=np.array([[0.5]]))
    for method in P.METHODS:
        assert P.optimise(est, method=method).mix.weights.tolist() == [1.0]
    assert len(P.frontier(est.mu, est.cov).returns) == 1


def test_perfectly_correlated_assets_do_not_crash(closes):
    r = P.returns_from_prices(closes.iloc[-500:, :2].to_numpy())
    twin = np.column_stack([r, r[:, 0]])  # the third asset is the first one again
    est = P.estimate(twin, periods_per_year=365)
    assert np.linalg.matrix_rank(est.cov) == 2
    for method in P.METHODS:
        mix = P.optimise(est, method=method).mix
        assert mix.weights.sum() == pytest.approx(1.0) and np.all(mix.weights >= 0)
    alone = P.optimise(P.estimate(r, periods_per_year=365), method="sharpe").mix
    twin_mix = P.optimise(est, method="sharpe").mix
    assert twin_mix.sharpe == pytest.approx(alone.sharpe, rel=1e-6)  # the twin splits its asset's weight


def test_a_non_positive_definite_covariance_is_repaired_and_said():
    cov = np.array([[1.0, 0.9, 0.7], [0.9, 1.0, -0.4], [0.7, -0.4, 1.0]])  # an eigenvalue below zero
    assert np.linalg.eigvalsh(cov).min() < 0
    fixed, notes = P.repaired(cov)
    assert notes == ("covariance_repaired",)
    assert np.linalg.eigvalsh(fixed).min() > -1e-12
    mix = P.optimise(P.Estimates(mu=np.array([0.2, 0.3, 0.1]), cov=fixed, notes=notes), method="min_risk")
    assert "covariance_repaired" in mix.notes and mix.mix.weights.sum() == pytest.approx(1.0)


def test_no_asset_above_the_risk_free_rate_is_a_clear_answer():
    est = P.Estimates(mu=np.array([0.01, -0.2]), cov=np.array([[0.2, 0.05], [0.05, 0.3]]))
    with pytest.raises(P.PortfolioError) as refused:
        P.optimise(est, method="sharpe", risk_free=0.05)
    assert refused.value.code == "no_excess_return"
    assert P.optimise(est, method="min_risk", risk_free=0.05).mix.weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("lower", "upper"), [([0.6, 0.6], [1, 1]), ([0, 0], [0.3, 0.3]), ([-0.1, 0], [1, 1]), ([0.5, 0], [0.4, 1])]
)
def test_impossible_bounds_are_refused(lower, upper):
    with pytest.raises(P.PortfolioError) as refused:
        P.min_volatility(np.eye(2), lower=np.array(lower, float), upper=np.array(upper, float))
    assert refused.value.code == "bad_bounds"
