"""The AI signal: the strategies' stances bar by bar equal the dashboard's vote, every input is out of sample and
known at its bar, the walk-forward is purged, the track record is computed as stated; on PostgreSQL the signal is
trained, answers the API and the dashboard's panel, records itself hourly and refuses to read the future."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from analytics import regime, signal, signals
from analytics.models import SignalModel, SignalRecord
from tests.analytics.conftest import OHLCV
from trading_site.schedule import SCHEDULE

URL = "/api/v1/analytics/signal"
DAY = 86_400_000


def daily(coin: str) -> pd.DataFrame:
    return pd.read_csv(OHLCV / f"binance_{coin}USDT_1d.csv.gz", parse_dates=["timestamp"], index_col="timestamp")


@pytest.fixture(scope="module")
def eth():
    return daily("ETH")


@pytest.fixture(scope="module")
def votes(eth):
    return signal.stances(eth)


def test_stances_are_the_dashboards_vote_bar_by_bar(eth, votes):
    """At any bar, each strategy's stance equals what the dashboard's analysis computes on the candles up to it."""
    from strategies.builtin import REGISTRY
    from trading.bots import engine

    t = 900
    window = eth.iloc[: t + 1]
    for slug, strategy in REGISTRY.items():
        frame = strategy.signals(window, strategy.defaults())
        held = None
        for row in frame.itertuples(index=False):
            decision = engine.decide(row._asdict(), held=held, direction="both")
            if decision.exit:
                held = None
            if decision.entry and held is None:
                held = decision.entry
        want = 1 if held == "long" else -1 if held == "short" else 0
        assert votes[slug].iloc[t] == want, slug
    assert set(np.unique(votes.to_numpy())) <= {-1, 0, 1}


def test_labels_follow_the_regime_yardstick(eth):
    lab = signal.labels(eth["close"], horizon=5, trail=60)
    rule = regime.LabelRule(horizon=5, trail=60)
    reg = regime.labels(eth["close"], rule)
    both = lab.notna() & reg.notna()
    # buy exactly where the regime label is trending_up and not volatile-first … so compare on the non-volatile bars
    calm = both & (reg != 3)
    assert ((lab[calm] == 2) == (reg[calm] == 0)).all() and ((lab[calm] == 0) == (reg[calm] == 1)).all()
    assert lab.iloc[-5:].isna().all()


@pytest.fixture(scope="module")
def table(eth, votes):
    data = regime.dataset(eth, timeframe_ms=DAY, btc_close=daily("BTC")["close"])
    report = regime.walk_forward(data, kind="random_forest")
    probs = pd.DataFrame(report.probabilities, index=data.features.index[report.tested], columns=regime.REGIMES)
    forecast_days = pd.DataFrame({"q10": -0.03, "q50": np.sin(np.arange(len(eth))) / 100, "q90": 0.03}, index=eth.index)
    return (
        signal.inputs(eth, votes=votes, regime_probabilities=probs, forecast_daily=forecast_days, horizon=5, trail=60),
        report,
        data,
    )


def test_inputs_are_out_of_sample_and_known_at_their_bar(table, eth):
    inputs, report, data = table
    # only bars the regime model predicted out of sample
    tested_times = set(data.features.index[report.tested])
    assert set(inputs.x.index) <= tested_times
    # the forecast made at day D's close (D + 1 day) is used by the bars that close then or later: on daily bars,
    # bar D itself (it closes at that moment), never an earlier one
    from strategies.builtin import REGISTRY

    t = inputs.x.index[50]
    k = eth.index.get_loc(t)
    assert inputs.x.loc[t, "f_median"] == pytest.approx(np.sin(k) / 100)
    assert inputs.x.loc[t, "votes_net"] == pytest.approx(inputs.x.loc[t, list(REGISTRY)].sum() / 6)


def test_walk_forward_is_purged_and_the_record_is_as_stated(table, monkeypatch):
    inputs, _report, _data = table
    seen = []
    real = signal._fit

    def spy(data, rows, seed):
        seen.append(rows.copy())
        return real(data, rows, seed)

    monkeypatch.setattr(signal, "_fit", spy)
    ev = signal.walk_forward(inputs, folds=3)
    assert len(seen) == 3 == len(ev.blocks)
    for rows, block in zip(seen, ev.blocks, strict=True):
        assert inputs.pos[rows].max() + inputs.horizon < block["start_pos"]
    y = inputs.y.to_numpy()[ev.tested].astype(int)
    assert ev.model["rows"] == len(y) and ev.model["accuracy"] == pytest.approx(np.mean(y == ev.predicted))
    fwd = inputs.forward.to_numpy()[ev.tested]
    every = np.arange(0, len(fwd), inputs.horizon)
    side = np.where(ev.predicted == 2, 1.0, np.where(ev.predicted == 0, -1.0, 0.0))
    assert ev.model["follow_return"] == pytest.approx(np.expm1(np.sum(side[every] * fwd[every])))
    assert ev.hold["follow_return"] == 0 and ev.hold["shares"]["hold"] == 1
    votes = signal.vote_signal(inputs.x["votes_net"].to_numpy()[ev.tested])
    assert ev.votes["accuracy"] == pytest.approx(np.mean(votes == y))


def test_decisions_explain_themselves(table):
    inputs, _report, _data = table
    trained = signal.train(inputs)
    name, confidence, probs, parts = signal.decide(trained, inputs.x.iloc[-1].to_dict())
    assert name in signal.SIGNALS and confidence == max(probs.values())
    assert abs(sum(probs.values()) - 1) < 1e-9 and len(parts) == len(inputs.names)
    assert abs(parts[0].push) >= abs(parts[-1].push)
    assert set(trained.coefficients) == set(signal.SIGNALS)


# --- the service, the API, the dashboard ------------------------------------------------------------------


@pytest.fixture
def trained(stored):
    from analytics import forecasts, regimes

    regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
    forecasts.forecast_model_train(exchange="binance", symbol="ETH/USDT")
    return signals.signal_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d")


def test_the_signal_answers_with_its_reasons_and_track_record(trained, alice_api):
    row = trained
    assert row.version == 1 and row.live and "f_median" in row.inputs and "p_volatile" in row.inputs
    assert row.evaluation["model"]["rows"] > 100 and len(row.track) <= signals.TRACK_POINTS
    response = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["signal"] in ("buy", "hold", "sell") and body["confidence"] == max(body["probabilities"].values())
    assert body["as_of"] == "2025-01-01T00:00:00Z" and body["model"]["version"] == 1
    assert body["explanation"].split(",")[0].lower() == body["signal"]
    assert (
        body["track_record"]["walk_forward"]["votes"]["rows"] == body["track_record"]["walk_forward"]["model"]["rows"]
    )
    assert body["sentiment"]["used_in_signal"] is False
    assert set(body["inputs"]) == set(row.inputs)


def test_the_dashboard_shows_the_signal(trained, alice, client):
    from trading.dashboard.chart import MarketChoice, analysis

    result = analysis(choice=MarketChoice(exchange="binance", symbol="ETH/USDT", timeframe="1d"))
    ((title, _template, panel),) = result.extra_panels
    assert title == "AI signal" and panel["signal"]["signal"] in ("buy", "hold", "sell")
    missing = analysis(choice=MarketChoice(exchange="binance", symbol="BTC/USDT", timeframe="1d"))
    assert missing.extra_panels[0][2] == {"missing": True, "where": {"symbol": "BTCUSDT", "timeframe": "1d"}}


def test_signals_are_recorded_once_per_bar(trained, django_capture_on_commit_callbacks):
    from analytics.tasks import record_signals

    assert record_signals() == 1 and signals.signals_record() == 0  # the same bar: recorded once
    record = SignalRecord.objects.get()
    assert record.bar_close == datetime(2025, 1, 1, tzinfo=UTC) and record.model_id == trained.id
    assert signals.live_track_record(trained) == {"signals": 1, "settled": 0}
    entry = next(e for e in SCHEDULE if e.task == "analytics.record_signals")
    assert entry.crontab == "2 * * * *"


def test_no_model_and_the_replay_clock(stored, alice_api, django_capture_on_commit_callbacks):
    assert alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"}).status_code == 404
    SignalModel.objects.create(
        exchange="binance", symbol="ETH/USDT", timeframe="1d", version=1, live=True, code_version="x", inputs=[],
        horizon=5, rows=1, first_bar=datetime(2021, 1, 1, tzinfo=UTC), last_bar=datetime(2024, 12, 20, tzinfo=UTC),
        path="signal/x.joblib", sha256="0" * 64, training_seconds=1,
    )  # fmt: skip
    from trading import clock as trading_clock

    with django_capture_on_commit_callbacks(execute=True):
        trading_clock.replay_start(start=datetime(2024, 6, 1, tzinfo=UTC), timeframe="1d")
    response = alice_api.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 404 and "would know the future" in response.json()["error"]["message"]
