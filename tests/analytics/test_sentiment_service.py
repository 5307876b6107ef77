"""Sentiment snapshots from the configured sources, served from 127.0.0.1 in their documented formats: one refresh
stores a snapshot per asset (news read once, Reddit and X per asset), a failing source is an issue beside the
others' numbers, the API answers the seed's shape — and with no source configured it says so, with no number."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analytics import sentiment, sentiments
from analytics.models import SentimentSnapshot
from analytics.tasks import refresh_sentiment
from tests.analytics.test_sources import ATOM, NOW, RSS, TOKEN, Reply, fixture, server  # noqa: F401  (fixture)
from trading_site.schedule import SCHEDULE

pytestmark = pytest.mark.django_db

URL = "/api/v1/analytics/sentiment"


@pytest.fixture(autouse=True)
def _local_only(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def configured(settings, server):  # noqa: F811
    settings.TRENDY_SENTIMENT_SOURCES = ["news", "reddit", "x"]
    settings.TRENDY_SENTIMENT_FEEDS = {
        "CoinDesk": server.route("/coindesk/rss", fixture("coindesk.xml", RSS)),
        "CoinTelegraph": server.route("/cointelegraph/rss", fixture("cointelegraph.xml", RSS)),
        "Desk": server.route("/desk/feed.atom", fixture("atom.xml", ATOM)),
    }
    settings.TRENDY_SENTIMENT_SUBREDDITS = ["Bitcoin"]
    settings.TRENDY_REDDIT_URL = server.url
    settings.TRENDY_REDDIT_MIN_INTERVAL = "0"
    settings.TRENDY_X_API_URL = server.url
    settings.TRENDY_X_BEARER_TOKEN = TOKEN
    settings.TRENDY_SENTIMENT_TIMEOUT = "2"
    settings.TRENDY_SENTIMENT_ASSETS = ["BTC", "ETH"]
    server.route("/r/Bitcoin/search.json", fixture("reddit_search.json"))
    server.route("/2/tweets/search/recent", fixture("x_recent_search.json"))
    return server


def test_one_refresh_stores_a_snapshot_per_asset_from_every_source(configured, alice_api):
    rows = sentiments.sentiment_refresh(now=NOW)
    assert [r.asset for r in rows] == ["BTC", "ETH"]
    # news once for both assets; Reddit and X once per asset, with the asset's own query
    assert len(configured.hits("/coindesk/rss")) == 1
    queries = [s.query["q"] for s in configured.hits("/r/Bitcoin/search.json")]
    assert queries == [sentiment_query("BTC", "reddit"), sentiment_query("ETH", "reddit")]
    x = configured.hits("/2/tweets/search/recent")
    assert len(x) == 2 and x[0].headers["Authorization"] == f"Bearer {TOKEN}"
    btc = SentimentSnapshot.objects.get(asset="BTC")
    assert btc.status == "ok" and btc.volume > 0 and -1 <= btc.overall <= 1
    assert btc.sources == ["reddit", "news", "x"]
    # the stored numbers are the core's on the same posts
    per_source = {s["source"]: s for s in btc.payload["sources"]}
    assert set(per_source) == {"reddit", "news", "x"}
    assert btc.volume == sum(s["volume"] for s in per_source.values())
    assert btc.payload["impact_basis"] == "reference"  # no history yet

    response = alice_api.get(URL, {"symbol": "BTCUSDT"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["symbol"] == "BTCUSDT" and body["asset"] == "BTC" and body["status"] == "ok"
    assert body["overall_score"] == btc.overall and body["sentiment"] in ("positive", "negative", "neutral")
    assert set(body["sources"]) == {"reddit", "news", "x"} and body["volume"] == btc.volume
    assert len(body["trend"]) == 24 and body["history"][-1]["overall_score"] == btc.overall
    assert body["headlines"] and body["stale"] is True  # NOW is in the past
    assert TOKEN not in response.content.decode()


def sentiment_query(asset: str, source: str) -> str:
    from analytics.sources import query_for

    return query_for(asset, source)


def test_a_failing_source_is_an_issue_and_the_others_still_count(configured):
    configured.route(
        "/2/tweets/search/recent", Reply(401, b'{"title": "Unauthorized"}', {"Content-Type": "application/json"})
    )
    configured.route("/cointelegraph/rss", Reply(500, b"oops"))
    rows = sentiments.sentiment_refresh(assets=["BTC"], now=NOW)
    issues = rows[0].payload["issues"]
    assert {i["source"] for i in issues} == {"x", "news"}
    assert all(TOKEN not in i["message"] for i in issues)
    per_source = {s["source"]: s for s in rows[0].payload["sources"]}
    assert per_source["x"]["volume"] == 0 and per_source["x"]["score"] is None
    assert per_source["reddit"]["volume"] > 0 and rows[0].overall is not None


def test_the_baseline_is_the_median_daily_volume_of_earlier_days(configured):
    for days, volume in ((1, 10), (2, 30), (3, 20), (4, 999)):
        SentimentSnapshot.objects.create(
            asset="BTC", as_of=NOW - timedelta(days=days), window_seconds=86400, status="ok", volume=volume
        )
    # the last snapshot of a day counts for that day
    SentimentSnapshot.objects.create(
        asset="BTC", as_of=NOW - timedelta(days=4, hours=1), window_seconds=86400, status="ok", volume=1
    )
    assert sentiments._baseline("BTC", NOW) == 25.0  # median of 10, 30, 20, 999
    row = sentiments.sentiment_refresh(assets=["BTC"], now=NOW)[0]
    assert row.payload["impact_basis"] == "baseline" and row.payload["baseline_volume"] == 25.0


def test_no_source_configured_says_so_with_no_number(settings, alice_api):
    settings.TRENDY_SENTIMENT_SOURCES = []
    assert sentiments.sentiment_refresh() == [] and refresh_sentiment() == 0
    body = alice_api.get(URL, {"symbol": "ETH/USDT"}).json()
    assert body["status"] == "no_sources" and body["overall_score"] is None and body["sources"] == {}
    assert "No sentiment source" in body["message"]


def test_configured_but_not_yet_read_says_pending(configured, alice_api, api_client):
    body = alice_api.get(URL, {"symbol": "SOLUSDT"}).json()
    assert body["status"] == "pending" and body["overall_score"] is None
    assert alice_api.get(URL, {}).status_code == 400
    assert alice_api.get(URL, {"symbol": "???"}).status_code == 400
    assert api_client.get(URL, {"symbol": "BTCUSDT"}).status_code == 401


def test_one_refresh_at_a_time_and_the_beat_entry(configured):
    from django.core.cache import cache

    cache.add("analytics:sentiment:refresh", 1, timeout=60)
    assert sentiments.sentiment_refresh(now=NOW) == []
    cache.delete("analytics:sentiment:refresh")
    assert len(sentiments.sentiment_refresh(now=NOW)) == 2
    entry = next(e for e in SCHEDULE if e.task == "analytics.refresh_sentiment")
    assert entry.crontab == "7-59/15 * * * *"


def test_old_snapshots_are_pruned(db):
    from django.utils import timezone

    SentimentSnapshot.objects.create(
        asset="BTC", as_of=timezone.now() - timedelta(days=91), window_seconds=86400, status="ok", volume=1
    )
    SentimentSnapshot.objects.create(asset="BTC", as_of=timezone.now(), window_seconds=86400, status="ok", volume=1)
    assert sentiments.sentiment_prune() == 1 and SentimentSnapshot.objects.count() == 1


def test_assets_default_to_the_stored_markets(settings):
    from market_data.services import candles_import_csv
    from tests.analytics.conftest import OHLCV

    settings.TRENDY_SENTIMENT_ASSETS = []
    candles_import_csv(path=OHLCV / "binance_SOLUSDT_1d.csv.gz", exchange="binance", symbol="SOL/USDT", timeframe="1d")
    assert sentiments.sentiment_assets() == ["SOL"]
    assert sentiment.base_asset("SOL/USDT:USDT") == "SOL"


def test_a_source_down_is_not_asked_again_and_all_down_is_unavailable(configured, settings):
    configured.route("/r/Bitcoin/search.json", Reply(503, b"down"))
    configured.route("/2/tweets/search/recent", Reply(503, b"down"))
    for path in ("/coindesk/rss", "/cointelegraph/rss", "/desk/feed.atom"):
        configured.route(path, Reply(503, b"down"))
    settings.TRENDY_SENTIMENT_RETRIES = 0
    rows = sentiments.sentiment_refresh(now=NOW)
    assert [r.status for r in rows] == ["unavailable", "unavailable"]
    assert rows[0].overall is None and rows[0].volume == 0
    # asked for the first asset only
    assert len(configured.hits("/r/Bitcoin/search.json")) == 1 and all(
        s.query["q"] == sentiment_query("BTC", "reddit") for s in configured.hits("/r/Bitcoin/search.json")
    )
    assert {i["source"] for i in rows[1].payload["issues"]} == {"reddit", "x", "news"}
    assert sentiments._baseline("BTC", NOW + timedelta(days=5)) is None  # unavailable days are no baseline


def test_todays_snapshots_are_not_part_of_the_baseline(db):
    for hours, volume in ((1, 500), (26, 10), (50, 20), (74, 30)):
        SentimentSnapshot.objects.create(
            asset="ETH", as_of=NOW - timedelta(hours=hours), window_seconds=86400, status="ok", volume=volume
        )
    assert sentiments._baseline("ETH", NOW) == 20.0  # 10, 20, 30: the 500 of an hour ago is today's
