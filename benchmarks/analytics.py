#!/usr/bin/env python
"""Portfolio analytics benchmark (issue 17): the optimiser against PyPortfolioOpt, and the Monte Carlo against
naive numpy, in one run. Standalone (the cores import no Django)::

    .venv/bin/python benchmarks/analytics.py [--quick]

Targets: max-Sharpe for 20 assets × 1,000 days < 10 ms; the 50-point efficient frontier < 100 ms; Monte Carlo
of 10,000 scenarios × 252 days × 3 assets < 100 ms.

What is measured
- Data: daily returns of the real Binance BTC, ETH, SOL, BNB and XRP closes (``../shared/data/ohlcv``, the last
  1,000 days to 2024-12-31) and, for 20 assets, 15 more series each made of one of the five real ones scaled by a
  seeded factor plus seeded noise (numpy seed 7): correlations from strong to weak, as a universe of coins has.
- Max Sharpe: from the (1,000 × 20) returns to the weights — the annualised mean and sample covariance (365
  days), then the optimiser: ours (``analytics.portfolio``: quadprog) and PyPortfolioOpt 1.6 (``returns_data``
  in, ``EfficientFrontier.max_sharpe``: cvxpy and its default solver). Also ours with Ledoit–Wolf shrinkage.
  The largest weight difference between the two is printed (the tests require < 1e-4).
- Frontier: 50 points from the least volatile mix to the highest return, on the same estimates: ours
  (``portfolio.frontier``) and PyPortfolioOpt (``efficient_return`` at each of our 50 target returns, a new
  ``EfficientFrontier`` each time, as its documentation plots a frontier). The largest volatility difference
  at the same return is printed.
- Monte Carlo: 10,000 scenarios × 252 days of a constant mix (0.5/0.3/0.2) of BTC, ETH and SOL, VaR 95/99,
  expected shortfall, probability of a gain and the fan's five percentiles: ours (``analytics.montecarlo``:
  the mix's own history drawn in blocks, or normal draws; the fan at 64 steps) and the naive numpy way (each
  asset drawn — the same block indices, or correlated normals through a Cholesky factor — combined every day,
  ``cumprod``, and percentiles of every day of the (252, 10,000) paths). The bootstrap figures of both are
  checked equal (same seed and indices).
- Each figure is the median of REPEAT timed runs after one warm-up (``time.perf_counter``), in this process.

- ``--api`` (with ``DATABASE_URL``): the whole answer a trader waits for, ``POST /api/v1/portfolio/optimize``
  through DRF's ``APIClient`` in this process (authentication, validation, reading and aligning the stored
  candles, the optimisation, the frontier, 10,000 scenarios × 30 days, Kelly, the JSON): the five markets over
  365 days of 1d candles and of 1h candles (8,760 a market), a scratch user ``bench-analytics@bench.invalid``
  deleted at the end. The Binance 1d and 1h files of the five coins are imported when missing (and left, as
  the other benchmarks leave theirs). Then the analytics page itself (``GET /analytics/``: the same answer on the
  1d candles, drawn; the stored markets cached for a minute after the first request).

``--quick`` (``make bench-quick``): 5 runs instead of 30 (PyPortfolioOpt's frontier: 2 instead of 5); about
15 s. The full run takes about a minute.

    .venv/bin/python benchmarks/analytics.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python benchmarks/analytics.py --api
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import print_header, report  # noqa: E402

from analytics import montecarlo as M  # noqa: E402
from analytics import portfolio as P  # noqa: E402

OHLCV = ROOT.parent / "shared" / "data" / "ohlcv"
COINS = ("BTC", "ETH", "SOL", "BNB", "XRP")
DAYS, HORIZON, SCENARIOS = 1000, 252, 10_000
WEIGHTS = np.array([0.5, 0.3, 0.2])
PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)


def returns_universe() -> np.ndarray:
    frames = {
        coin: pd.read_csv(OHLCV / f"binance_{coin}USDT_1d.csv.gz", parse_dates=["timestamp"], index_col="timestamp")[
            "close"
        ]
        for coin in COINS
    }
    real = pd.concat(frames, axis=1).dropna().pct_change().dropna().to_numpy()[-DAYS:]
    rng = np.random.default_rng(7)
    extra = [real[:, k % 5] * rng.uniform(0.3, 1.2) + rng.normal(0.0005, 0.02, DAYS) for k in range(15)]
    return np.column_stack([real, *extra])


def timed(function, repeat: int) -> list[float]:
    function()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def naive_bootstrap(returns: np.ndarray, idx: np.ndarray) -> dict[str, float]:
    days = returns[idx]  # (horizon, scenarios, assets)
    value = np.cumprod(1.0 + days @ WEIGHTS, axis=0) - 1.0
    final = value[-1]
    q5, q1 = np.percentile(final, [5.0, 1.0])
    np.percentile(value, PERCENTILES, axis=1)  # the fan: every day
    return {"var_95": -q5, "var_99": -q1, "es": -final[final <= q5].mean(), "p": (final > 0).mean()}


def naive_parametric(returns: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(np.cov(returns, rowvar=False))
    draws = rng.standard_normal((HORIZON, SCENARIOS, 3)) @ chol.T + returns.mean(axis=0)
    value = np.cumprod(1.0 + draws @ WEIGHTS, axis=0) - 1.0
    final = value[-1]
    q5 = np.percentile(final, 5.0)
    np.percentile(value, PERCENTILES, axis=1)
    final[final <= q5].mean()


def api_timings(repeat: int) -> None:
    """POST /api/v1/portfolio/optimize end to end, on the database of DATABASE_URL."""
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
    import django

    django.setup()
    from rest_framework.test import APIClient

    from accounts.models import User
    from market_data.models import Candle
    from market_data.services import candles_import_csv

    for coin in COINS:
        for timeframe in ("1d", "1h"):
            if not Candle.objects.filter(exchange="binance", symbol=f"{coin}/USDT", timeframe=timeframe).exists():
                path = OHLCV / f"binance_{coin}USDT_{timeframe}.csv.gz"
                candles_import_csv(path=path, exchange="binance", symbol=f"{coin}/USDT", timeframe=timeframe)
    email = "bench-analytics@bench.invalid"
    User.objects.filter(email=email).delete()
    user = User.objects.create_user(email=email, password=None)
    try:
        client = APIClient()
        client.force_authenticate(user)
        for timeframe in ("1d", "1h"):
            body = {"symbols": [f"{c}/USDT" for c in COINS], "timeframe": timeframe, "lookback_days": 365}

            def call(body: dict = body) -> None:
                response = client.post("/api/v1/portfolio/optimize", body, format="json")
                assert response.status_code == 200, response.content

            report(f"POST /api/v1/portfolio/optimize 5 markets x 365 days of {timeframe}", timed(call, repeat), "s")
        from django.test import Client

        browser = Client()
        browser.force_login(user)

        def page() -> None:
            response = browser.get("/analytics/")
            assert response.status_code == 200 and b"portfolio-result" in response.content, response.content[:300]

        report("GET /analytics/ (the page: 5 markets x 365 days of 1d, drawn)", timed(page, repeat), "s")
    finally:
        User.objects.filter(email=email).delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs per figure instead of 30")
    parser.add_argument("--api", action="store_true", help="also the API end to end (needs DATABASE_URL)")
    args = parser.parse_args()
    print_header(args, uses_db=args.api)
    repeat, repeat_slow = (5, 2) if args.quick else (30, 5)
    warnings.filterwarnings("ignore")
    from pypfopt import EfficientFrontier, expected_returns, risk_models

    universe = returns_universe()
    names = [f"a{k}" for k in range(universe.shape[1])]
    frame = pd.DataFrame(universe, columns=names)

    def ours_sharpe(covariance: str = "sample") -> np.ndarray:
        est = P.estimate(universe, periods_per_year=365, covariance=covariance)
        return P.max_sharpe(est.mu, est.cov)

    def theirs_sharpe() -> np.ndarray:
        mu = expected_returns.mean_historical_return(frame, returns_data=True, compounding=False, frequency=365)
        cov = risk_models.sample_cov(frame, returns_data=True, frequency=365)
        return np.array(list(EfficientFrontier(mu, cov).max_sharpe().values()))

    difference = np.abs(ours_sharpe() - theirs_sharpe()).max()
    print(f"max Sharpe weights: largest difference ours vs PyPortfolioOpt {difference:.2e}")
    ours = report("max_sharpe 20x1000 ours (sample covariance)", timed(ours_sharpe, repeat), "s")
    report("max_sharpe 20x1000 ours (Ledoit-Wolf)", timed(lambda: ours_sharpe("ledoit_wolf"), repeat), "s")
    theirs = report("max_sharpe 20x1000 PyPortfolioOpt", timed(theirs_sharpe, repeat), "s")

    est = P.estimate(universe, periods_per_year=365)
    mu, cov = pd.Series(est.mu, names), pd.DataFrame(est.cov, names, names)
    front = P.frontier(est.mu, est.cov)

    def theirs_frontier() -> list[float]:
        vols = []
        for target in front.returns[:-1]:  # the last point is the single best asset (PyPortfolioOpt's bound)
            ef = EfficientFrontier(mu, cov)
            ef.efficient_return(float(target))
            vols.append(ef.portfolio_performance()[1])
        ef = EfficientFrontier(mu, cov)
        ef.efficient_return(float(front.returns[-1]) * (1 - 1e-9))
        return [*vols, ef.portfolio_performance()[1]]

    gap = np.abs(np.array(theirs_frontier()) - front.volatilities).max()
    print(f"frontier: largest volatility difference at the same return {gap:.2e}")
    ours_front = report("frontier 50 points ours", timed(lambda: P.frontier(est.mu, est.cov), repeat), "s")
    theirs_front = report("frontier 50 points PyPortfolioOpt", timed(theirs_frontier, repeat_slow), "s")

    three = universe[:, :3]
    log_returns = M.portfolio_log_returns(three, WEIGHTS)
    risk = M.simulate(log_returns, horizon=HORIZON, scenarios=SCENARIOS, seed=1)
    idx = M._block_indices(np.random.default_rng(1), len(three), HORIZON, SCENARIOS, risk.block)
    naive = naive_bootstrap(three, idx)
    assert abs(naive["var_95"] - risk.var_95) < 1e-9 and abs(naive["es"] - risk.expected_shortfall) < 1e-9
    print(f"Monte Carlo bootstrap: VaR 95 {risk.var_95:.4f}, ES {risk.expected_shortfall:.4f} — equal to the naive run")
    mc_boot = report(
        "monte_carlo 10000x252x3 ours (block bootstrap)",
        timed(lambda: M.simulate(M.portfolio_log_returns(three, WEIGHTS), horizon=HORIZON, seed=1), repeat),
        "s",
    )
    mc_param = report(
        "monte_carlo 10000x252x3 ours (parametric)",
        timed(
            lambda: M.simulate(M.portfolio_log_returns(three, WEIGHTS), horizon=HORIZON, method="parametric", seed=1),
            repeat,
        ),
        "s",
    )

    def naive_boot_run() -> None:
        naive_bootstrap(three, M._block_indices(np.random.default_rng(1), len(three), HORIZON, SCENARIOS, risk.block))

    report("monte_carlo 10000x252x3 naive numpy (bootstrap)", timed(naive_boot_run, repeat), "s")
    report("monte_carlo 10000x252x3 naive numpy (parametric)", timed(lambda: naive_parametric(three, 1), repeat), "s")

    if args.api:
        api_timings(repeat)

    checks = [
        ("max Sharpe 20x1000 < 10 ms", ours["median"] < 0.010),
        ("frontier 50 points < 100 ms", ours_front["median"] < 0.100),
        ("Monte Carlo 10000x252x3 < 100 ms", max(mc_boot["median"], mc_param["median"]) < 0.100),
    ]
    print(f"result  speed-up vs PyPortfolioOpt: max Sharpe {theirs['median'] / ours['median']:.0f}x, "
          f"frontier {theirs_front['median'] / ours_front['median']:.0f}x")  # fmt: skip
    failed = False
    for name, met in checks:
        print(f"result  target {name}: {'met' if met else 'NOT met'}")
        failed |= not met
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
