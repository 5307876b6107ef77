"""POST /api/v1/portfolio/optimize on the real daily candles stored in PostgreSQL: the seed's shape, the stated
conventions, gaps, and every kind of bad input (a clear 4xx, nothing written)."""

from decimal import Decimal

import numpy as np
import pytest
from pypfopt import EfficientFrontier

from accounts.models import ExchangeAccount
from analytics import portfolio as P
from market_data.models import Candle
from market_data.services import candles_import_csv
from tests.analytics.conftest import COINS, OHLCV

pytestmark = pytest.mark.django_db

URL = "/api/v1/portfolio/optimize"
THREE = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


@pytest.fixture
def daily(db):
    for coin in COINS:
        candles_import_csv(
            path=OHLCV / f"binance_{coin}USDT_1d.csv.gz", exchange="binance", symbol=f"{coin}/USDT", timeframe="1d"
        )


def post(client, **body):
    return client.post(URL, {"symbols": THREE, **body}, format="json")


def error_of(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["message"]
    if field:
        assert field in error["fields"], error
    return error


def test_the_seed_shape_and_the_conventions(alice_api, daily):
    response = post(alice_api, optimization_method="sharpe", risk_tolerance=None, lookback_days=730)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body["optimal_weights"]) == set(THREE)
    assert sum(body["optimal_weights"].values()) + body["cash_weight"] == pytest.approx(1.0, abs=1e-5)
    for key in ("expected_return", "expected_risk", "sharpe_ratio"):
        assert isinstance(body[key], float)
    mc = body["monte_carlo"]
    assert {"var_95", "expected_shortfall", "probability_positive"} <= set(mc)
    assert mc["scenarios"] == 10_000 and mc["seed"] == 1 and mc["horizon_days"] == 30
    assert mc["expected_shortfall"] > mc["var_95"]
    assert len(body["frontier"]["points"]) == 50 and len(body["frontier"]["assets"]) == 3
    conventions = body["conventions"]
    assert conventions["periods_per_year"] == 365 and conventions["returns"] == "simple"
    assert conventions["covariance"] == "sample" and conventions["end"].startswith("2024-12-31")
    assert conventions["periods"] == 729  # 730 daily closes, 729 returns


def test_the_answer_equals_pypfopt_on_the_same_stored_prices(alice_api, daily):
    body = post(alice_api, lookback_days=1000, covariance="ledoit_wolf", risk_free_rate="2").json()
    closes = (
        Candle.objects.filter(symbol__in=THREE, timeframe="1d", open_time__gte=body["conventions"]["start"])
        .values_list("open_time", "symbol", "close")
        .order_by("open_time")
    )
    table: dict = {}
    for time, symbol, close in closes:
        table.setdefault(time, {})[symbol] = float(close)
    prices = np.array([[row[s] for s in THREE] for row in table.values() if len(row) == 3])
    est = P.estimate(P.returns_from_prices(prices), periods_per_year=365, covariance="ledoit_wolf")
    theirs = EfficientFrontier(est.mu, est.cov).max_sharpe(risk_free_rate=0.02)
    mine = [body["optimal_weights"][s] for s in THREE]
    assert np.abs(np.array(mine) - np.array(list(theirs.values()))).max() < 1e-4


def test_the_tolerance_holds_cash_and_the_seed_reproduces(alice_api, daily):
    first = post(alice_api, risk_tolerance="10", seed=42).json()
    assert first["cash_weight"] > 0 and "cash_for_budget" in first["notes"]
    assert first["expected_risk"] == pytest.approx(first["conventions"]["volatility_budget"], rel=1e-6)
    again = post(alice_api, risk_tolerance="10", seed=42).json()
    assert again["monte_carlo"] == first["monte_carlo"]
    assert (
        post(alice_api, risk_tolerance="10", seed=43).json()["monte_carlo"]["var_95"] != first["monte_carlo"]["var_95"]
    )


def test_methods_and_hourly_data(alice_api, daily, tmp_path):
    for method in P.METHODS:
        body = post(alice_api, optimization_method=method, monte_carlo_method="parametric").json()
        assert body["method"] == method
    low = post(alice_api, optimization_method="min_risk").json()
    high = post(alice_api, optimization_method="max_return").json()
    assert low["expected_risk"] < high["expected_risk"] and low["expected_return"] < high["expected_return"]


def test_gaps_are_aligned_and_reported(alice_api, daily):
    gone = Candle.objects.filter(symbol="ETH/USDT", timeframe="1d", open_time__year=2024, open_time__month=6)
    assert gone.delete()[0] == 30
    body = post(alice_api, lookback_days=365).json()
    assert body["data"]["missing_by_symbol"] == {"BTC/USDT": 0, "ETH/USDT": 30, "SOL/USDT": 0}
    assert body["data"]["dropped_total"] == 30
    assert body["conventions"]["periods"] == 365 - 30 - 1


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"symbols": ["BTC/USDT", "DOGE/USDT"]}, "symbols", "DOGE/USDT"),
        ({"symbols": ["not a symbol!"]}, "symbols", ""),
        ({"symbols": [f"C{k}/USDT" for k in range(200)]}, "symbols", "30"),
        ({"symbols": []}, "symbols", ""),
        ({"risk_tolerance": "-5"}, "risk_tolerance", ""),
        ({"risk_tolerance": "NaN"}, "risk_tolerance", ""),
        ({"optimization_method": "yolo"}, "optimization_method", ""),
        ({"lookback_days": 10}, "lookback_days", ""),
        ({"min_weight": "50", "max_weight": "40"}, "min_weight", ""),
        ({"min_weight": "40"}, "weight_bounds", ""),
        ({"weight_bounds": {"XRP/USDT": ["0", "10"]}}, "weight_bounds", "XRP/USDT"),
        ({"horizon_days": 0}, "horizon_days", ""),
    ],
)
def test_bad_input_is_a_clear_400(alice_api, daily, body, field, says):
    error = error_of(alice_api.post(URL, {"symbols": THREE, **body}, format="json"), 400, field)
    assert says in " ".join(message for messages in error["fields"].values() for message in messages)


def test_a_bear_market_has_no_max_sharpe_mix_but_a_least_risk_one(alice_api, daily):
    Candle.objects.filter(open_time__year__gte=2023).delete()  # the window is 2022: every market fell
    error = error_of(post(alice_api, lookback_days=365), 400, "optimization_method")
    assert "risk-free rate" in error["message"]
    assert post(alice_api, lookback_days=365, optimization_method="min_risk").status_code == 200


def test_too_little_history_says_how_much_is_needed(alice_api, daily):
    Candle.objects.filter(symbol="SOL/USDT", open_time__year__lt=2024).delete()
    Candle.objects.filter(symbol="SOL/USDT", open_time__month__gt=2).delete()
    error = error_of(post(alice_api, lookback_days=1000), 400, "lookback_days")
    assert "SOL/USDT has 60" in error["message"] and "at least 61" in error["message"]


def test_one_market_and_perfect_correlation_answer(alice_api, daily):
    body = post(alice_api, symbols=["BTCUSDT"]).json()
    assert body["optimal_weights"] == {"BTC/USDT": 1.0}
    twins = post(alice_api, symbols=["BTC/USDT", "BTCUSDT", "btc/usdt"]).json()  # one market, named three ways
    assert twins["optimal_weights"] == {"BTC/USDT": 1.0}


def test_another_users_account_is_404_and_mine_reads_its_exchange(alice, alice_api, bob, daily):
    bobs = ExchangeAccount.objects.create(user=bob, exchange="paper", label="B", paper_balance=Decimal(1000))
    error_of(post(alice_api, account_id=bobs.id), 404)
    error_of(post(alice_api, account_id=999999), 404)
    mine = ExchangeAccount.objects.create(user=alice, exchange="paper", label="A", paper_balance=Decimal(1000))
    body = post(alice_api, account_id=mine.id).json()
    assert body["conventions"]["exchange"] == "binance"  # the paper exchange trades on Binance's prices
    okx = ExchangeAccount.objects.create(user=alice, exchange="okx", label="O")
    error = error_of(post(alice_api, account_id=okx.id), 400, "symbols")
    assert "on okx" in error["message"]


def test_anonymous_is_refused(api_client, daily):
    assert post(api_client).status_code == 401
