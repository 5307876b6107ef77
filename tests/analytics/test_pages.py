"""The analytics pages: drawn from the stored candles, bad input said on the page with a 400, nobody else's
accounts or bots, the market clock respected, Korean."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache

from accounts.models import ExchangeAccount
from market_data.services import candles_import_csv
from tests.analytics.conftest import COINS, OHLCV
from tests.analytics.test_allocation_kelly import NOW, bot, market, paper  # noqa: F401 - the fixture
from trading import clock
from trading.models import Bot

pytestmark = pytest.mark.django_db

PAGE = "/analytics/"
BOTS = "/analytics/bots/"


@pytest.fixture
def daily(db):
    for coin in COINS:
        candles_import_csv(
            path=OHLCV / f"binance_{coin}USDT_1d.csv.gz", exchange="binance", symbol=f"{coin}/USDT", timeframe="1d"
        )


def test_login_required(client):
    assert client.get(PAGE).status_code == 302
    assert client.get(BOTS).status_code == 302


def test_the_page_analyses_the_stored_markets_at_once(alice_client, daily):
    response = alice_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    for part in ("portfolio-result", "Efficient frontier", "monte-carlo", "Value at risk, 95", "fan-median", "365"):
        assert part in html, part
    result = response.context["result"]
    assert set(result["optimal_weights"]) == {f"{c}/USDT" for c in COINS}
    assert f"{result['monte_carlo']['var_95'] * 100:.1f}%" in html  # the figure on the page is the computed one


def test_bad_input_is_said_on_the_page(alice_client, daily):
    response = alice_client.get(PAGE, {"symbols": ["BTC/USDT", "DOGE/USDT"]})
    assert response.status_code == 400
    assert "No 1d candles of DOGE/USDT" in response.content.decode()
    negative = alice_client.get(PAGE, {"symbols": ["BTC/USDT"], "risk_tolerance": "-3"})
    assert negative.status_code == 400 and "analysis-errors" in negative.content.decode()


def test_another_users_account_is_404(alice_client, bob, daily):
    bobs = ExchangeAccount.objects.create(user=bob, exchange="paper", label="B", paper_balance=Decimal(1000))
    assert alice_client.get(PAGE, {"account_id": bobs.id}).status_code == 404
    assert alice_client.get(PAGE, {"account_id": "x"}).status_code == 404


def test_the_replay_clock_hides_the_stored_future(alice_client, daily):
    clock.replay_start(start=NOW)
    cache.clear()
    result = alice_client.get(PAGE).context["result"]
    assert result["conventions"]["end"] == "2024-06-29T00:00:00Z"  # the last daily candle closed by June 30


def test_korean(alice_client, daily):
    alice_client.cookies["django_language"] = "ko"
    html = alice_client.get(PAGE, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "포트폴리오" in html and "Efficient frontier" not in html


def test_the_bots_page_suggests_and_applies_a_split(alice, alice_client, bob, market):  # noqa: F811
    from accounts.models import RiskProfile

    RiskProfile.objects.update_or_create(user=alice, defaults={"position_size_pct": Decimal(20)})
    account = paper(alice)
    bots = [bot(account, "ema_crossover", "BTC/USDT"), bot(account, "supertrend", "ETH/USDT", "15")]
    page = alice_client.get(BOTS, {"bots": [b.id for b in bots], "lookback_days": 180})
    assert page.status_code == 200, page.content
    rows = page.context["result"]["bots"]
    assert "allocation-result" in page.content.decode()
    sizes = {f"size_{row['id']}": row["suggested_size_pct"] for row in rows}
    applied = alice_client.post("/analytics/bots/apply", {**sizes, "back": "/analytics/bots/?bots=1"})
    assert applied.status_code == 302
    for row in rows:
        assert str(Bot.objects.get(id=row["id"]).position_size_pct) == row["suggested_size_pct"]
    bobs = bot(paper(bob, "Bob"), "ema_crossover", "BTC/USDT")
    assert alice_client.get(BOTS, {"bots": [bots[0].id, bobs.id]}).status_code == 404
    refused = alice_client.post("/analytics/bots/apply", {f"size_{bobs.id}": "5"})
    assert refused.status_code == 404
    over = alice_client.post("/analytics/bots/apply", {f"size_{bots[0].id}": "25"}, follow=True)
    assert "risk profile" in over.content.decode()
    assert Bot.objects.get(id=bobs.id).position_size_pct == Decimal(10)


def test_the_bots_page_takes_candidate_backtests(alice, alice_client, market):  # noqa: F811
    from tests.analytics.test_allocation_kelly import finished_run

    runs = [finished_run(alice, slug, datetime(2024, 1, 1, tzinfo=UTC), NOW) for slug in ("ema_crossover", "bb_rsi")]
    query = {"backtests": [r.id for r in runs], "lookback_days": 150, "optimization_method": "min_risk"}
    page = alice_client.get(BOTS, query)
    assert page.status_code == 200, page.context["errors"]
    html = page.content.decode()
    assert "the stored backtest" in html and "size_" not in html and "Apply this split" not in html


def test_a_market_whose_history_stopped_long_ago_is_not_chosen_by_default(alice_client, daily):
    from market_data.models import Candle

    Candle.objects.filter(symbol="XRP/USDT", open_time__year__gte=2022).delete()
    page = alice_client.get(PAGE)
    assert page.status_code == 200 and "XRP/USDT" not in page.context["result"]["optimal_weights"]
    assert "XRP/USDT" in page.context["markets"]  # still offered
    old = alice_client.get(PAGE, {"symbols": ["BTC/USDT", "XRP/USDT"], "lookback_days": 365})
    assert old.context["result"]["conventions"]["end"].startswith("2021-12-31")  # the answer says when it ends
    Candle.objects.filter(symbol="BTC/USDT", open_time__year__lt=2022).delete()  # BTC: nothing in that window
    chosen = alice_client.get(PAGE, {"symbols": ["BTC/USDT", "XRP/USDT"], "lookback_days": 365})
    assert chosen.status_code == 400
    assert "The window ends where the stored 1d candles of XRP/USDT end, 2021-12-31" in chosen.content.decode()


def test_a_markets_own_bounds_on_the_page(alice_client, daily):
    query = {"symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT"], "min:ETH/USDT": "20", "max:SOL/USDT": "10"}
    page = alice_client.get(PAGE, query)
    assert page.status_code == 200, page.context["errors"]
    result = page.context["result"]
    assert result["conventions"]["weight_bounds"] == {
        "BTC/USDT": [0.0, 1.0], "ETH/USDT": [0.2, 1.0], "SOL/USDT": [0.0, 0.1]
    }  # fmt: skip
    weights = result["optimal_weights"]
    assert weights["ETH/USDT"] >= 0.2 - 1e-9 and weights["SOL/USDT"] <= 0.1 + 1e-9
    assert 'name="min:ETH/USDT"' in page.content.decode()
    bad = alice_client.get(PAGE, {**query, "min:BTC/USDT": "90"})
    assert bad.status_code == 400  # the minimums add up to more than 100 %
