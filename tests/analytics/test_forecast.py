"""Forecasts and the probability of profit: the quantile models' coverage is measured walk-forward on held-out
days (purged), the barrier simulation follows its rules (checked against a hand-played path), and
POST /api/v1/analytics/predict answers the seed's shape from the stored candles."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from analytics import forecast as F
from analytics import forecasts, model_files, regimes
from analytics.models import ForecastModel
from market_data.services import candles_import_csv
from tests.analytics.conftest import OHLCV

URL = "/api/v1/analytics/predict"


def daily(coin: str) -> pd.DataFrame:
    return pd.read_csv(OHLCV / f"binance_{coin}USDT_1d.csv.gz", parse_dates=["timestamp"], index_col="timestamp")


@pytest.fixture(scope="module")
def eth_data():
    return F.dataset(daily("ETH"), btc_close=daily("BTC")["close"])


def test_targets_are_forward_returns_and_no_feature_reads_them(eth_data):
    close = daily("ETH")["close"]
    t = eth_data.features.index[100]
    for h, target in eth_data.targets.items():
        k = close.index.get_loc(t)
        assert target.loc[t] == pytest.approx(np.log(close.iloc[k + h] / close.iloc[k]))
        assert target.iloc[-h:].isna().all()  # the future of the last h days is unknown


def test_walk_forward_coverage_is_measured_on_purged_held_out_days(eth_data, monkeypatch):
    seen = []
    real = F._fit

    def spy(x, y, seed):
        seen.append(len(y))
        return real(x, y, seed)

    monkeypatch.setattr(F, "_fit", spy)
    report = F.walk_forward(eth_data, folds=3)
    assert set(report) == {1, 3, 7} and len(seen) == 9
    for cov in report.values():
        assert cov.nominal == pytest.approx(0.8)
        assert 0 <= cov.coverage <= 1 and cov.below + cov.coverage + cov.above == pytest.approx(1)
        assert len(cov.blocks) == 3 and cov.rows > 300
        assert 0.4 < cov.coverage < 0.95  # a real, imperfect interval
        assert 0 <= cov.direction <= 1
    # the purge: the first block's training rows end h days before it
    known = np.flatnonzero(~np.isnan(eth_data.targets[7].to_numpy()))
    first = known[int(len(known) * F.FIRST_TRAIN_FRACTION)]
    purged = known[eth_data.pos[known] + 7 < eth_data.pos[first]]
    assert seen[6] == len(purged)


def test_crossing_quantiles_are_sorted_and_prices_follow_the_close(eth_data):
    trained = F.train(eth_data)
    out = F.predict(trained, eth_data.features.to_numpy()[-1], 100.0)
    for h in (1, 3, 7):
        assert out[h]["low"] <= out[h]["median"] <= out[h]["high"]
        assert out[h]["low"] > 50 and out[h]["high"] < 200


def moves_of(closes, highs=None, lows=None):
    closes = np.asarray(closes, dtype=float)
    frame = pd.DataFrame(
        {"close": closes, "high": closes if highs is None else highs, "low": closes if lows is None else lows}
    )
    return F.bar_moves(frame)


def test_the_barrier_rules_on_one_path():
    # every bootstrapped bar is the same bar: +1 % a bar, its high 0.5 % above its close and its low 0.2 % below
    bar = np.array([[np.log(1.01), np.log(1.005), np.log(0.998)]] * 50)
    long = F.probability_of_profit(F.Trade("long", 100.0, 97.0, 103.5, 10, fee_rate=0.0), bar, paths=50)
    # closes 101, 102.01, 103.03 (its high 103.55 reaches 103.5): the target, on the third bar
    assert long.probability_take_profit == 1 and long.probability_of_profit == 1
    assert long.expected_return == pytest.approx(0.035) and long.median_bars_held == 3
    short = F.probability_of_profit(F.Trade("short", 100.0, 102.5, 90.0, 10, fee_rate=0.0), bar, paths=50)
    assert short.probability_stop_loss == 1 and short.expected_return == pytest.approx(-0.025)
    # no stop, no target: out at the horizon's close, fees on both sides
    out = F.probability_of_profit(F.Trade("long", 100.0, None, None, 5, fee_rate=0.001), bar, paths=10)
    gross = 1.01**5 - 1
    assert out.expected_return == pytest.approx(gross - 0.001 * (2 + gross))
    assert out.risk_reward_ratio is None


def test_a_bar_touching_both_counts_as_the_stop():
    bar = np.array([[0.0, np.log(1.05), np.log(0.95)]] * 40)
    out = F.probability_of_profit(F.Trade("long", 100.0, 97.0, 103.0, 5, fee_rate=0.0), bar, paths=20)
    assert out.probability_stop_loss == 1 and out.risk_reward_ratio == pytest.approx(1.0)


def test_bad_trades_are_refused():
    bar = np.zeros((40, 3))
    for trade, code in (
        (F.Trade("long", 100.0, 101.0, 110.0, 5), "bad_stop_loss"),
        (F.Trade("short", 100.0, 101.0, 102.0, 5), "bad_take_profit"),
        (F.Trade("flat", 100.0, None, None, 5), "bad_side"),
        (F.Trade("long", 0.0, None, None, 5), "bad_entry"),
        (F.Trade("long", 100.0, None, None, 0), "bad_horizon"),
    ):
        with pytest.raises(F.ForecastError) as exc:
            F.probability_of_profit(trade, bar)
        assert exc.value.code == code
    with pytest.raises(F.ForecastError):
        F.probability_of_profit(F.Trade("long", 100.0, None, None, 5), bar[:10])


def test_on_real_hourly_paths_the_odds_are_plausible_and_seeded():
    hourly = pd.read_csv(OHLCV / "binance_BTCUSDT_1h.csv.gz", parse_dates=["timestamp"], index_col="timestamp")
    moves = F.bar_moves(hourly.iloc[-24 * 365 :])
    trade = F.Trade("long", 100.0, 98.0, 104.0, 72)
    a = F.probability_of_profit(trade, moves, seed=3)
    assert a == F.probability_of_profit(trade, moves, seed=3)
    assert 0.2 < a.probability_of_profit < 0.6 and a.probability_take_profit + a.probability_stop_loss <= 1
    wider = F.probability_of_profit(F.Trade("long", 100.0, 90.0, 104.0, 72), moves, seed=3)
    assert wider.probability_stop_loss < a.probability_stop_loss  # a farther stop is hit less often


# --- the service and the API on PostgreSQL -----------------------------------------------------------------


@pytest.fixture
def stored(db, settings, tmp_path):
    settings.TRENDY_MODEL_DIR = tmp_path / "models"
    model_files._loaded.clear()
    for coin in ("BTC", "ETH"):
        candles_import_csv(
            path=OHLCV / f"binance_{coin}USDT_1d.csv.gz", exchange="binance", symbol=f"{coin}/USDT", timeframe="1d"
        )


def test_predict_answers_the_seed_shape(stored, alice_api):
    row = forecasts.forecast_model_train(exchange="binance", symbol="ETHUSDT")
    assert row.version == 1 and row.live and row.source_timeframe == "1d" and set(row.coverage) == {"1", "3", "7"}
    regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
    body = {"symbol": "ETHUSDT", "side": "buy", "stop_loss_pct": 3, "take_profit_pct": 6, "horizon_hours": 72}
    response = alice_api.post(URL, {**body, "position_size": "2500", "strategy": "supertrend"}, format="json")
    assert response.status_code == 200, response.content
    out = response.json()
    last_close = float(daily("ETH")["close"].iloc[-1])
    assert out["side"] == "long" and out["entry_price"] == pytest.approx(last_close)
    assert set(out["predicted_prices"]) == {"1d", "3d", "7d"}
    week = out["predicted_prices"]["7d"]
    assert week["low"] <= week["median"] <= week["high"] and week["interval"] == "80%"
    assert week["measured_coverage"] == round(row.coverage["7"]["coverage"], 4)
    assert 0 <= out["probability_of_profit"] <= 1 and out["risk_reward_ratio"] == pytest.approx(2.0)
    assert Decimal(out["expected_value"]) == (Decimal("2500") * Decimal(str(out["expected_return"]))).quantize(
        Decimal("0.01")
    )
    assert out["confidence"] == out["predicted_prices"]["3d"]["direction_hit_rate"]
    assert out["simulation"]["timeframe"] == "1d" and out["simulation"]["bars"] == 3
    rate = out["win_rate_forecast"]
    assert rate["strategy"] == "supertrend" and 0 <= rate["win_rate"] <= 1
    assert out["as_of"] == "2025-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"symbol": "ETHUSDT", "side": "buy", "stop_loss": "1000000"}, "stop_loss"),
        ({"symbol": "ETHUSDT", "side": "sell", "take_profit": "1000000"}, "take_profit"),
        ({"symbol": "ETHUSDT", "stop_loss": "100", "stop_loss_pct": 2}, "stop_loss"),
        ({"symbol": "ETHUSDT", "horizon_hours": 0}, "horizon_hours"),
        ({"symbol": "ETHUSDT", "position_size": "-1"}, "position_size"),
        ({"symbol": "ETHUSDT", "strategy": "nope"}, "strategy"),
        ({"symbol": "ETHUSDT", "side": "sideways"}, "side"),
        ({"symbol": "ETHUSDT", "side": "short", "take_profit_pct": 100}, "take_profit_pct"),
        ({}, "symbol"),
    ],
)
def test_bad_input_is_a_clear_400(stored, alice_api, body, field):
    if "_pct" not in str(body) and field in ("stop_loss", "take_profit"):  # checked against the entry: a model
        forecasts.forecast_model_train(exchange="binance", symbol="ETHUSDT")
    response = alice_api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_no_model_yet_and_too_little_history(stored, alice_api, api_client):
    response = alice_api.post(URL, {"symbol": "ETHUSDT"}, format="json")
    assert response.status_code == 404 and "trained" in response.json()["error"]["message"]
    assert alice_api.post(URL, {"symbol": "SOLUSDT"}, format="json").status_code == 404
    assert api_client.post(URL, {"symbol": "ETHUSDT"}, format="json").status_code == 401
    from market_data.models import Candle

    Candle.objects.filter(symbol="ETH/USDT", open_time__lt=pd.Timestamp("2024-06-01", tz="UTC")).delete()
    with pytest.raises(regimes.AnalysisError) as exc:
        forecasts.forecast_model_train(exchange="binance", symbol="ETH/USDT")
    assert exc.value.code == "too_little_data"
    assert not ForecastModel.objects.exists()


def test_hourly_candles_are_resampled_to_whole_days(db, settings, tmp_path):
    settings.TRENDY_MODEL_DIR = tmp_path
    candles_import_csv(path=OHLCV / "binance_SOLUSDT_1h.csv.gz", exchange="binance", symbol="SOL/USDT", timeframe="1h")
    days, tf = forecasts.daily_candles("binance", "SOL/USDT")
    assert tf == "1h" and days.index[-1] == pd.Timestamp("2024-12-31", tz="UTC")
    stored_1d = daily("SOL")
    common = days.index.intersection(stored_1d.index)[-300:]
    np.testing.assert_allclose(days.loc[common, "close"], stored_1d.loc[common, "close"])
    np.testing.assert_allclose(days.loc[common, "high"], stored_1d.loc[common, "high"])


def test_a_long_horizon_is_simulated_in_bounded_chunks(monkeypatch):
    bar = np.array([[0.0, np.log(1.001), np.log(0.999)]] * 100)
    monkeypatch.setattr(F, "CHUNK_CELLS", 1000)  # 720 bars: one path per chunk
    out = F.probability_of_profit(F.Trade("long", 100.0, 50.0, 200.0, 720), bar, paths=30)
    assert out.paths == 30 and out.probability_take_profit == 0 and out.median_bars_held == 720
    with pytest.raises(F.ForecastError) as exc:
        F.probability_of_profit(F.Trade("short", 100.0, 105.0, -5.0, 10), bar)
    assert exc.value.code == "bad_take_profit"


def test_the_forecast_reads_whole_days_only(db, django_capture_on_commit_callbacks):
    """Resampled from 1h: a day counts once its last hour has closed (not an hour later, not before)."""
    from datetime import UTC, datetime

    from trading import clock as trading_clock

    candles_import_csv(path=OHLCV / "binance_SOLUSDT_1h.csv.gz", exchange="binance", symbol="SOL/USDT", timeframe="1h")
    with django_capture_on_commit_callbacks(execute=True):
        trading_clock.replay_start(start=datetime(2024, 6, 2, 0, 0, tzinfo=UTC), timeframe="1h")
    days, _tf = forecasts.daily_candles("binance", "SOL/USDT")
    assert days.index[-1] == pd.Timestamp("2024-06-01", tz="UTC")  # 23:00's candle closed at midnight
