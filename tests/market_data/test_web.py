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
    assert "2020-09-20 00:00" in body and "2024-12-31 00:00" in body
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
    assert "2024-12-31 09:00" in body  # the table too
    assert "Asia/Seoul" in body


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
