"""The market intelligence page: every section from the same answers as the API, the regime timeline read out of
sample (the walk-forward's readings up to the version's last labelled bar, the live version after it), each section
failing on its own, and bad input refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from django.core.cache import cache

from analytics import forecasts, intelligence, regime, regimes, signals
from market_data.services import candles_import_csv
from tests.analytics.conftest import OHLCV
from tests.analytics.test_sentiment_service import _local_only, configured  # noqa: F401 (fixtures)
from tests.analytics.test_sources import NOW, server  # noqa: F401 (fixture)

URL = "/analytics/market/"


@pytest.fixture
def trained(stored):
    row = regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=True)
    forecasts.forecast_model_train(exchange="binance", symbol="ETH/USDT")
    signals.signal_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d")
    return row


def test_runs_split_on_a_change_a_gap_and_an_unknown_bar():
    times = pd.DatetimeIndex(
        ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08"], tz=UTC
    )
    codes = np.array([0, 0, 2, 2, np.nan, 3, 3], dtype=np.float64)
    assert regime.runs(times, codes, step=pd.Timedelta(days=1)) == [
        ["2024-01-01T00:00:00+00:00", "2024-01-03T00:00:00+00:00", "trending_up"],
        ["2024-01-03T00:00:00+00:00", "2024-01-04T00:00:00+00:00", "ranging"],  # 01-04 is missing: a gap
        ["2024-01-05T00:00:00+00:00", "2024-01-06T00:00:00+00:00", "ranging"],
        ["2024-01-07T00:00:00+00:00", "2024-01-09T00:00:00+00:00", "volatile"],
    ]
    assert regime.runs(times[:0], codes[:0], step=pd.Timedelta(days=1)) == []


def test_the_stored_timeline_is_the_walk_forwards_out_of_sample_reading(trained, settings):
    row = trained
    _candles, data = regimes.market_dataset("binance", "ETH/USDT", "1d", days=settings.TRENDY_REGIME_DAYS)
    report = regime.walk_forward(data, kind=row.walk_forward["kind"])
    read = np.argmax(report.probabilities, axis=1)
    times = data.features.index[report.tested]
    keep = times >= times[-1] - pd.Timedelta(days=regimes.TIMELINE_DAYS)
    expanded = []
    for start, end, name in row.walk_forward["timeline"]:
        days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="1D", inclusive="left")
        expanded += [(t, name) for t in days]
    assert expanded == [(t, regime.REGIMES[k]) for t, k in zip(times[keep], read[keep], strict=True)]
    # nothing in it is later than the last bar whose label the version learnt from
    assert pd.Timestamp(row.walk_forward["timeline"][-1][1]) <= pd.Timestamp(row.train_end) + pd.Timedelta(days=1)


def test_the_page_shows_every_section_from_the_apis_answers(trained, alice, client):
    from analytics.market_regime import market_regime

    client.force_login(alice)
    response = client.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 200
    html = response.content.decode()
    ctx = response.context
    # the signal, as the API answers it
    answer = signals.market_signal(exchange="binance", symbol="ETH/USDT", timeframe="1d")
    assert ctx["signal"]["answer"]["signal"] == answer["signal"] and answer["explanation"] in html
    wf = answer["track_record"]["walk_forward"]["model"]
    assert f"{100 * wf['balanced_accuracy']:.1f}%" in html
    # the regime, its model card and its confusion matrix
    regime_answer = market_regime(exchange="binance", symbol="ETH/USDT", timeframe="1d")
    assert ctx["regime"]["answer"] == regime_answer
    confusion = trained.walk_forward["overall"]["confusion"]
    cells = [[cell["count"] for cell in r["cells"]] for r in ctx["regime"]["confusion"]]
    assert cells == confusion and f"v{trained.version}" in html
    timeline = ctx["regime"]["timeline"]
    assert timeline["read"] and timeline["actual"] and html.count('class="regime-band') == len(timeline["read"])
    # the realised strip ends a label horizon before the last bar: what followed is not known yet after that
    last_actual = max(b["x"] + b["width"] for b in timeline["actual"])
    assert last_actual < timeline["plot"]["right"] - 1
    # the forecast with its measured coverage
    forecast = forecasts.price_forecast(exchange="binance", symbol="ETH/USDT")
    for row in ctx["forecast"]["rows"]:
        assert row["measured_coverage"] == forecast["horizons"][row["horizon"]]["measured_coverage"]
    assert re.search(r'<polygon class="fan-outer" points="[0-9., ]+"', html)
    # sentiment: no source is configured in tests, and the page says so instead of a number
    assert "No sentiment source is configured" in html


def test_each_section_fails_on_its_own(stored, alice, client):
    regimes.regime_model_train(exchange="binance", symbol="BTC/USDT", timeframe="1d", walk_forward=False)
    client.force_login(alice)
    response = client.get(URL, {"symbol": "BTC/USDT", "timeframe": "1d"})
    assert response.status_code == 200
    ctx = response.context
    assert "error" not in ctx["regime"] and ctx["regime"]["timeline"]["walk_forward_read"] is False
    assert "No signal model of BTC/USDT 1d" in ctx["signal"]["error"]
    assert "No forecast model" in ctx["forecast"]["error"]
    assert "This version holds no walk-forward timeline" in response.content.decode()


def test_the_market_choices_and_bad_input(stored, alice, client):
    assert intelligence.markets("binance") == [
        {"symbol": "BTC/USDT", "timeframe": "1d", "trained": False},
        {"symbol": "ETH/USDT", "timeframe": "1d", "trained": False},
    ]
    assert intelligence.default_market(intelligence.markets("binance"))["symbol"] == "BTC/USDT"
    regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=False)
    cache.clear()  # the choices are kept a minute
    assert intelligence.markets("binance")[1] == {"symbol": "ETH/USDT", "timeframe": "1d", "trained": True}
    assert intelligence.default_market(intelligence.markets("binance"))["symbol"] == "ETH/USDT"
    assert client.get(URL).status_code == 302  # sign in first
    client.force_login(alice)
    default = client.get(URL)
    assert default.status_code == 200 and default.context["symbol"] == "ETH/USDT"
    bad = client.get(URL, {"symbol": "not a market"})
    assert bad.status_code == 400 and "is not a market symbol" in bad.content.decode()
    unknown = client.get(URL, {"symbol": "DOGEUSDT", "timeframe": "1d"})
    assert unknown.status_code == 404 and "No 1d candles of DOGE/USDT are stored on binance" in unknown.content.decode()
    bad_tf = client.get(URL, {"symbol": "ETHUSDT", "timeframe": "7m"})
    assert bad_tf.status_code == 400
    assert client.post(URL, {"symbol": "ETHUSDT"}).status_code == 405


def test_the_page_reads_in_korean(trained, alice, client):
    client.force_login(alice)
    english = client.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"}, HTTP_ACCEPT_LANGUAGE="en")
    response = client.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"}, HTTP_ACCEPT_LANGUAGE="ko")
    html = response.content.decode()
    assert response.status_code == 200 and "시장 인텔리전스" in html
    # the signal's explanation is cached per language: an English reader first does not make it English here
    explanation = response.context["signal"]["answer"]["explanation"]
    assert explanation != english.context["signal"]["answer"]["explanation"] and "would" not in explanation
    for english in ("Market regime", "Model card", "Price forecast", "Track record", "Confusion matrix"):
        assert english not in html, english


def test_the_replay_clock_hides_models_that_learnt_the_future(
    trained, alice, client, django_capture_on_commit_callbacks
):
    from trading import clock as trading_clock

    with django_capture_on_commit_callbacks(execute=True):
        trading_clock.replay_start(start=datetime(2024, 6, 1, tzinfo=UTC), timeframe="1d")
    client.force_login(alice)
    response = client.get(URL, {"symbol": "ETHUSDT", "timeframe": "1d"})
    assert response.status_code == 200
    for section in ("signal", "regime", "forecast"):
        assert "error" in response.context[section], section


def test_sentiment_by_source_with_topics_and_headlines(configured, alice, client):  # noqa: F811
    from datetime import timedelta

    from analytics import sentiments
    from analytics.models import SentimentSnapshot

    sentiments.sentiment_refresh(now=NOW - timedelta(hours=1))
    sentiments.sentiment_refresh(now=NOW)
    candles_import_csv(path=OHLCV / "binance_BTCUSDT_1d.csv.gz", exchange="binance", symbol="BTC/USDT", timeframe="1d")
    client.force_login(alice)
    response = client.get(URL, {"symbol": "BTCUSDT", "timeframe": "1d"})
    assert response.status_code == 200
    section = response.context["sentiment"]
    latest = SentimentSnapshot.objects.filter(asset="BTC").latest("as_of")
    assert section["answer"]["overall_score"] == latest.overall
    lines = {line["name"] for line in section["chart"]["lines"]}
    assert lines == {"overall", "news", "reddit", "x"}  # one line a source, and the overall score
    html = response.content.decode()
    assert html.count('class="sentiment-line') == 4
    headline = latest.payload["headlines"][0]
    assert headline["url"] in html and 'rel="noopener noreferrer nofollow"' in html
    assert ", ".join(latest.payload["topics"][0]["keywords"]) in html
