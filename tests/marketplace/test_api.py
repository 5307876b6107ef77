"""The marketplace API (the seed's paths): published listings for everyone signed in, a creator's own in any state,
another user's draft a 404 like a missing one, bad input a 400 with nothing saved, and never a Pine source."""

from __future__ import annotations

import uuid

import pytest

from marketplace import services
from marketplace.models import Listing
from marketplace.services import ListingDetails
from strategies.pine_services import pine_script_create
from tests.marketplace.conftest import SMA, published

pytestmark = pytest.mark.django_db

BASE = "/api/v1/marketplace"


def test_discover_filters_and_sorts_the_published_listings_only(alice, staff, charlie_api):
    published(alice, staff, "EMA trend", tags=["ema"], description="Follows the trend")
    published(alice, staff, "Range fader", category="mean_reversion", tier="pro", price_usd="49", billing="monthly",
               markets=["ETH/USDT"])  # fmt: skip
    script = pine_script_create(user=alice, name="Draft", source=SMA).script
    services.listing_create(creator=alice, script_id=script.id, details=ListingDetails(
        name="Secret draft", category="trend", timeframe="1h", markets=["BTC/USDT"]))  # fmt: skip
    names = [row["name"] for row in charlie_api.get(f"{BASE}/strategies").json()["results"]]
    assert sorted(names) == ["EMA trend", "Range fader"]  # the draft is nobody else's business
    for query, expected in (
        ("q=trend", ["EMA trend"]), ("q=EMA", ["EMA trend"]), ("category=mean_reversion", ["Range fader"]),
        ("tier=pro", ["Range fader"]), ("market=ethusdt", ["Range fader"]), ("timeframe=4h", []),
    ):  # fmt: skip
        found = [row["name"] for row in charlie_api.get(f"{BASE}/strategies?{query}").json()["results"]]
        assert found == expected, (query, found)
    for bad in ("category=", "tier=gold", "sort=random", "market=!!", "page_size=0"):
        response = charlie_api.get(f"{BASE}/strategies?{bad}")
        assert response.status_code == 400 and response.json()["error"]["code"], bad
    row = charlie_api.get(f"{BASE}/strategies?tier=pro").json()["results"][0]
    assert (row["price_usd"], row["billing"], row["creator"], row["versions"][0]["number"]) == (
        "49.00", "monthly", "alice", 1
    )  # fmt: skip
    assert "source" not in row and "strategy(" not in str(row)  # no Pine source


def test_create_submit_and_read_my_listings(alice, alice_api, charlie_api):
    script = pine_script_create(user=alice, name="SMA", source=SMA).script
    body = {"script": str(script.id), "name": "SMA trend", "category": "trend", "timeframe": "1h",
            "markets": ["BTCUSDT"], "tier": "premium", "price_usd": "19.90", "billing": "one_off",
            "tags": ["sma"]}  # fmt: skip
    bad = alice_api.post(f"{BASE}/strategies", {**body, "tier": "free"}, format="json")  # a free listing with a price
    assert bad.status_code == 400 and "price_usd" in bad.json()["error"]["fields"]
    someone_elses = str(uuid.uuid4())  # no script of hers
    assert alice_api.post(f"{BASE}/strategies", {**body, "script": someone_elses}, format="json").status_code == 400
    assert not Listing.objects.exists()
    created = alice_api.post(f"{BASE}/strategies", body, format="json")
    assert created.status_code == 201, created.content
    listing = created.json()
    assert (listing["status"], listing["markets"], listing["price_usd"]) == ("draft", ["BTC/USDT"], "19.90")
    assert charlie_api.get(f"{BASE}/strategies/{listing['id']}").status_code == 404  # another's draft
    assert charlie_api.post(f"{BASE}/strategies/{listing['id']}/submit").status_code == 404
    assert charlie_api.get(f"{BASE}/my-strategies").json()["results"] == []
    assert alice_api.get(f"{BASE}/strategies/{listing['id']}").json()["name"] == "SMA trend"
    sent = alice_api.post(f"{BASE}/strategies/{listing['id']}/submit")
    assert sent.status_code == 200 and sent.json()["status"] == "in_review"
    again = alice_api.post(f"{BASE}/strategies/{listing['id']}/submit")
    assert again.status_code == 400  # already in review
    mine = alice_api.get(f"{BASE}/my-strategies").json()["results"]
    assert [row["status"] for row in mine] == ["in_review"]


def test_signed_out_is_refused(api_client):
    for path in ("strategies", "my-strategies"):
        assert api_client.get(f"{BASE}/{path}").status_code == 401


def test_discovery_filters_on_trendys_evidence_and_sorts_by_the_out_of_sample_return(
    alice, staff, charlie_api, charlie, client
):
    rows = {
        "Steady": (120, "12.5", "8.20", "4.50", {}),
        "Wild": (45, "48.0", "30.00", None, {"tier": "premium", "price_usd": "49", "billing": "monthly"}),
        "Thin": (8, "5.0", None, None, {}),
    }
    for name, (trades, drawdown, oos, rating, price) in rows.items():
        listing = published(alice, staff, name, **price)
        Listing.objects.filter(id=listing.id).update(
            trades=trades, max_drawdown_pct=drawdown, oos_return_pct=oos,
            rating_average=rating or 0, rating_count=3 if rating else 0,
        )  # fmt: skip

    def names(**query):
        answer = charlie_api.get(f"{BASE}/strategies", query)
        assert answer.status_code == 200, answer.content
        return [row["name"] for row in answer.json()["results"]]

    assert names(sort="oos_return") == ["Wild", "Steady", "Thin"]  # no out-of-sample figure: last
    assert sorted(names(min_trades=30)) == ["Steady", "Wild"]
    assert sorted(names(max_drawdown=20)) == ["Steady", "Thin"]
    assert names(min_oos_return=10) == ["Wild"]
    assert names(min_rating=4) == ["Steady"]
    assert sorted(names(price_max=10)) == ["Steady", "Thin"]  # free ones are within any price
    row = charlie_api.get(f"{BASE}/strategies", {"min_trades": 100}).json()["results"][0]
    assert (row["trades"], row["max_drawdown_pct"], row["oos_return_pct"]) == (120, "12.50", "8.20")
    for bad in ({"min_trades": -1}, {"max_drawdown": 101}, {"min_rating": 6}, {"price_max": "x"}):
        assert charlie_api.get(f"{BASE}/strategies", bad).status_code == 400, bad
    client.force_login(charlie)  # the page's filters, the same answers
    page = client.get("/marketplace/", {"min_trades": 30, "max_drawdown": 20}, HTTP_HX_REQUEST="true")
    assert "Steady" in page.text and "Wild" not in page.text and "Thin" not in page.text
    assert client.get("/marketplace/", {"min_trades": -5}).status_code == 400
