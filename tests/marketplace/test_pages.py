"""The marketplace's pages: discovery (htmx filters answer the results alone), a listing with Trendy's two
backtests side by side, another user's draft a 404, no Pine source anywhere, Korean."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketplace import services
from marketplace.models import ListingVersion
from marketplace.services import ListingDetails
from strategies.pine_services import pine_script_create

pytestmark = pytest.mark.django_db

SMA = (Path(__file__).parents[1] / "pine" / "corpus" / "sma_cross_inputs.pine").read_text()
HTMX = {"HTTP_HX_REQUEST": "true"}


def _listing(user, name, **changes):
    script = pine_script_create(user=user, name=name, source=SMA).script
    details = ListingDetails(
        **{"name": name, "category": "trend", "timeframe": "1h", "markets": ["BTC/USDT"], **changes}
    )
    return services.listing_create(creator=user, script_id=script.id, details=details)


def test_discovery_filters_without_a_reload_and_hides_drafts(
    alice, bob, staff, client, django_capture_on_commit_callbacks
):
    published = _listing(alice, "Trend rider", tags=["ema"])
    with django_capture_on_commit_callbacks(execute=False):
        services.listing_submit(creator=alice, listing_id=published.id)
    ListingVersion.objects.filter(listing=published).update(verification="passed")
    services.listing_review(staff=staff, listing_id=published.id, approve=True)
    _listing(alice, "Hidden draft")
    client.force_login(bob)
    page = client.get("/marketplace/").content.decode()
    assert "Trend rider" in page and "Hidden draft" not in page and "<h1>Marketplace</h1>" in page
    partial = client.get("/marketplace/?category=breakout", **HTMX)
    html = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in html and "No published strategy matches" in html
    assert "Trend rider" in client.get("/marketplace/?q=ema&market=btcusdt", **HTMX).content.decode()
    bad = client.get("/marketplace/?market=!!", **HTMX)
    assert bad.status_code == 400 and "Check the filters" in bad.content.decode()
    client.cookies["django_language"] = "ko"
    assert "마켓플레이스" in client.get("/marketplace/").content.decode()


@pytest.mark.usefixtures("stored_btc_1h")
def test_a_listing_shows_trendys_two_backtests_side_by_side_and_never_its_source(
    alice, bob, staff, client, django_capture_on_commit_callbacks
):
    listing = _listing(alice, "SMA trend", tier="pro", price_usd="25", billing="monthly")
    client.force_login(bob)
    assert client.get(f"/marketplace/{listing.id}/").status_code == 404  # another user's draft
    with django_capture_on_commit_callbacks(execute=True):
        services.listing_submit(creator=alice, listing_id=listing.id)
    services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    page = client.get(f"/marketplace/{listing.id}/").content.decode()
    assert "All stored candles" in page and "Out of sample" in page and "Max drawdown" in page
    assert "25.00 USD" in page and "Version 1" in page
    assert "strategy.entry" not in page and "//@version" not in page  # the script stays the creator's
    assert "s check of the script</summary>" in page and "fastLen" in page  # its report: the inputs, not the text
    client.force_login(alice)
    assert "Published" in client.get(f"/marketplace/{listing.id}/").content.decode()  # the creator sees its state


def test_signed_out_goes_to_sign_in(client):
    response = client.get("/marketplace/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
