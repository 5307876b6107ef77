"""The Markets page and the read-only market data API."""

from __future__ import annotations

import json
import re

import pytest

from market_data.services import candles_import_csv
from tests.market_data.conftest import BTC_1D, write_csv

pytestmark = pytest.mark.django_db

SERIES_URL = "/api/v1/market-data/series/"
CANDLES_URL = "/api/v1/market-data/candles/"


@pytest.fixture
def stored(tmp_path, btc_1h_lines):
    candles_import_csv(path=BTC_1D, exchange="binance", symbol="BTC/USDT", timeframe="1d")
    candles_import_csv(
        path=write_csv(tmp_path / "h.csv", btc_1h_lines[:30]), exchange="binance", symbol="BTC/USDT", timeframe="1h"
    )


def _chart(response) -> dict:
    match = re.search(
        r'<script id="markets-candles" type="application/json">(.*?)</script>', response.content.decode(), re.S
    )
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def test_markets_page_needs_login(client):
    response = client.get("/markets/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_empty_database_tells_the_operator_what_to_run(alice_client):
    response = alice_client.get("/markets/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "python manage.py seed_demo" in body
    assert "import_candles" in body
    assert "markets-candles" not in body


def test_markets_page_lists_series_and_charts_the_first(alice_client, stored):
    response = alice_client.get("/markets/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "1,564" in body and ">30<" in body
    # First and last candle through the one date style, the zone named (alice reads UTC).
    assert "20 Sep 2020, 00:00 UTC" in body and "31 Dec 2024, 00:00 UTC" in body
    assert "2020-09-20" not in re.sub(r'datetime="[^"]*"', "", body)  # no hand-written dates on screen
    assert "lightweight-charts.standalone.production.js" in body
    chart = _chart(response)
    # First series: 1h sorts before 1d.
    assert len(chart["candles"]) == 30
    assert chart["candles"][0] == {
        "time": 1600560000,
        "open": 11080.64,
        "high": 11080.64,
        "low": 11042.7,
        "close": 11056.0,
        "volume": 1168.906046,
    }


def test_markets_page_chosen_series_last_500_in_the_users_time_zone(alice, alice_client, stored):
    alice.timezone = "Asia/Seoul"
    alice.save()
    response = alice_client.get("/markets/", {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1d"})
    assert response.status_code == 200
    chart = _chart(response)
    assert len(chart["candles"]) == 500
    last = chart["candles"][-1]
    assert last["time"] == 1735603200 + 9 * 3600  # 2024-12-31T00:00Z shown at 09:00 in Seoul
    body = response.content.decode()
    assert "31 Dec 2024, 09:00 KST" in body  # the table too
    assert chart["zones"] == [[0, "KST"]]  # the chart names the zone as the pages do


def test_markets_page_unknown_series(alice_client, stored):
    response = alice_client.get("/markets/", {"exchange": "binance", "symbol": "DOGEUSDT", "timeframe": "1h"})
    assert response.status_code == 404
    assert "No candles are stored for that market" in response.content.decode()


def test_api_requires_authentication(api_client, stored):
    assert api_client.get(SERIES_URL).status_code == 401
    assert (
        api_client.get(CANDLES_URL, {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1d"}).status_code == 401
    )


def test_api_series_list(alice_api, stored):
    response = alice_api.get(SERIES_URL)
    assert response.status_code == 200
    assert response.json() == [
        {
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "timeframe": "1h",
            "count": 30,
            "first_open_time": "2020-09-20T00:00:00Z",
            "last_open_time": "2020-09-21T05:00:00Z",
        },
        {
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "timeframe": "1d",
            "count": 1564,
            "first_open_time": "2020-09-20T00:00:00Z",
            "last_open_time": "2024-12-31T00:00:00Z",
        },
    ]


def test_api_candles_newest_by_default(alice_api, stored):
    response = alice_api.get(CANDLES_URL, {"exchange": "binance", "symbol": "BTCUSDT", "timeframe": "1d"})
    assert response.status_code == 200
    data = response.json()
    assert (data["exchange"], data["symbol"], data["timeframe"]) == ("binance", "BTC/USDT", "1d")
    assert len(data["candles"]) == 500
    assert data["candles"][-1]["time"] == "2024-12-31T00:00:00Z"
    assert set(data["candles"][0]) == {"time", "open", "high", "low", "close", "volume"}


def test_api_candles_range_and_limit(alice_api, stored):
    params = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1d", "start": "2024-01-01T00:00:00Z"}
    data = alice_api.get(CANDLES_URL, {**params, "end": "2024-02-01", "limit": 5000}).json()
    assert len(data["candles"]) == 31
    assert data["candles"][0]["time"] == "2024-01-01T00:00:00Z"
    assert data["candles"][-1]["time"] == "2024-01-31T00:00:00Z"
    data = alice_api.get(CANDLES_URL, {**params, "limit": 3}).json()
    assert [c["time"] for c in data["candles"]] == [
        "2024-01-01T00:00:00Z",
        "2024-01-02T00:00:00Z",
        "2024-01-03T00:00:00Z",
    ]
    data = alice_api.get(CANDLES_URL, {**params, "start": "2030-01-01"}).json()
    assert data["candles"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 5001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"timeframe": "1w"}, "timeframe"),
        ({"symbol": "BTC"}, "symbol"),
        ({"exchange": "no such"}, "exchange"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2024-02-01", "end": "2024-01-01"}, "end"),
    ],
)
def test_api_candles_bad_params(alice_api, stored, params, field):
    query = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1d", **params}
    response = alice_api.get(CANDLES_URL, query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert error["message"]


def test_api_candles_missing_params_and_unknown_series(alice_api, stored):
    response = alice_api.get(CANDLES_URL)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"exchange", "symbol", "timeframe"}
    response = alice_api.get(CANDLES_URL, {"exchange": "binance", "symbol": "ETH/USDT", "timeframe": "1d"})
    assert response.status_code == 404
    assert "No candles are stored for binance ETH/USDT 1d" in response.json()["error"]["message"]


def test_api_schema_documents_the_endpoints(alice_api):
    response = alice_api.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    candles = paths["/api/v1/market-data/candles/"]["get"]
    assert {p["name"] for p in candles["parameters"]} >= {"exchange", "symbol", "timeframe", "start", "end", "limit"}
    assert "/api/v1/market-data/series/" in paths


# --- The market clock: nothing after the market's now ------------------------------------------------------------

REPLAY_AT = "2024-03-03T10:00:00Z"


@pytest.fixture
def replay_at_10(db, tmp_path, btc_1h_lines, django_capture_on_commit_callbacks):
    """BTC/USDT 1h from 1 to 5 March 2024 stored, the market clock replaying at 3 March 2024, 10:00 UTC."""
    from datetime import UTC, datetime

    from trading import clock

    lines = [line for line in btc_1h_lines if "2024-03-01" <= line[:10] < "2024-03-06"]
    candles_import_csv(path=write_csv(tmp_path / "m.csv", lines), exchange="binance", symbol="BTC/USDT", timeframe="1h")
    with django_capture_on_commit_callbacks(execute=True):
        clock.replay_start(start=datetime(2024, 3, 3, 10, tzinfo=UTC), timeframe="1h")


def test_market_data_reads_the_trading_clock(replay_at_10):
    """trading hands its clock to market_data in its AppConfig.ready (market_data never imports trading)."""
    from datetime import UTC, datetime, timedelta

    from market_data import clock as market_data_clock

    assert market_data_clock.now() == datetime(2024, 3, 3, 10, tzinfo=UTC)
    # The 09:00 candle closed at 10:00: it is the last one shown; the 10:00 candle is still open.
    bound = market_data_clock.closed_before("1h")
    assert datetime(2024, 3, 3, 9, tzinfo=UTC) < bound <= datetime(2024, 3, 3, 9, tzinfo=UTC) + timedelta(hours=1)
    assert market_data_clock.closed_before("1d") <= datetime(2024, 3, 2, 10, 0, 0, 1000, tzinfo=UTC)


def test_market_data_clock_without_a_registration_is_the_wall_clock():
    from datetime import UTC, datetime

    from django.utils import timezone

    from market_data import clock as market_data_clock
    from trading import clock

    market_data_clock.register_now(None)
    try:
        before = timezone.now()
        assert before <= market_data_clock.now() <= timezone.now()
        market_data_clock.register_now(lambda: datetime(2024, 1, 1, tzinfo=UTC))
        assert market_data_clock.now() == datetime(2024, 1, 1, tzinfo=UTC)
    finally:
        market_data_clock.register_now(clock.now)


def test_api_candles_end_at_the_last_candle_closed_by_the_replay(alice_api, replay_at_10):
    query = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}
    newest = alice_api.get(CANDLES_URL, query).json()["candles"]
    assert newest[-1]["time"] == "2024-03-03T09:00:00Z"
    assert newest[0]["time"] == "2024-03-01T00:00:00Z"
    # An end, or a start without an end, asked past the market's now gives no candle after it either.
    later = alice_api.get(CANDLES_URL, {**query, "end": "2024-03-05T00:00:00Z"}).json()["candles"]
    assert later[-1]["time"] == "2024-03-03T09:00:00Z"
    from_start = alice_api.get(CANDLES_URL, {**query, "start": "2024-03-03T00:00:00Z", "limit": 100}).json()["candles"]
    assert [c["time"][11:13] for c in from_start] == [f"{h:02d}" for h in range(10)]
    # An end before the market's now is kept as asked.
    earlier = alice_api.get(CANDLES_URL, {**query, "end": "2024-03-02T00:00:00Z"}).json()["candles"]
    assert earlier[-1]["time"] == "2024-03-01T23:00:00Z"
    # In the replay's future there is nothing yet.
    assert alice_api.get(CANDLES_URL, {**query, "start": "2024-03-04T00:00:00Z"}).json()["candles"] == []


def test_markets_chart_ends_at_the_last_candle_closed_by_the_replay(alice, alice_client, replay_at_10):
    alice.timezone = "Asia/Seoul"
    alice.save()
    response = alice_client.get("/markets/")
    chart = _chart(response)
    nine_utc = 1709456400  # 2024-03-03T09:00Z
    assert chart["candles"][-1]["time"] == nine_utc + 9 * 3600  # shown at 18:00 in Seoul
    assert len(chart["candles"]) == 2 * 24 + 10
    body = response.content.decode()
    assert "closed by 3 Mar 2024, 19:00 KST" in body  # the market's now, in the trader's zone


def test_markets_page_in_korean(alice, alice_client, stored):
    alice.timezone = "Asia/Seoul"
    alice.save()
    alice_client.cookies["django_language"] = "ko"
    body = alice_client.get("/markets/").content.decode()
    assert "<title>마켓 · BTC/USDT" in body
    assert "BTC/USDT · 1시간 · Binance" in body
    assert "2020년 9월 20일 09:00 KST" in body
    assert "Candles" not in body and "Timeframe" not in body


TICKERS_URL = "/api/v1/market-data/tickers/"


def test_api_tickers_from_the_candles_the_replay_has_closed(alice_api, api_client, replay_at_10, btc_1h_lines):
    from datetime import UTC, datetime

    assert api_client.get(TICKERS_URL).status_code == 401
    response = alice_api.get(TICKERS_URL)
    assert response.status_code == 200, response.content
    (ticker,) = response.json()
    rows = {line[:13]: [float(v) for v in line.split(",")[1:6]] for line in btc_1h_lines}  # hour → o, h, l, c, v
    # the last closed candle opened at 09:00 on 3 March (the clock is at 10:00); 24 hours earlier: 2 March 09:00
    last, before = rows["2024-03-03T09"], rows["2024-03-02T09"]
    day = [rows[k] for k in rows if "2024-03-02T10" <= k <= "2024-03-03T09"]
    assert len(day) == 24
    assert ticker["symbol"] == "BTC/USDT" and ticker["timeframe"] == "1h" and ticker["last"] == last[3]
    assert ticker["as_of"] == datetime(2024, 3, 3, 10, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    assert abs(ticker["change_pct"] - (last[3] / before[3] - 1) * 100) < 1e-9
    assert ticker["high"] == max(r[1] for r in day) and ticker["low"] == min(r[2] for r in day)
    assert abs(ticker["volume"] - sum(r[4] for r in day)) < 1e-6
    assert alice_api.get(TICKERS_URL, {"symbols": "ETHUSDT"}).json() == []
    assert alice_api.get(TICKERS_URL, {"symbols": "BTCUSDT", "exchange": "binance"}).json()[0]["last"] == last[3]
    bad = alice_api.get(TICKERS_URL, {"symbols": "not a market"})
    assert bad.status_code == 400 and "symbols" in bad.json()["error"]["fields"]
