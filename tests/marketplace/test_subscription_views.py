"""Taking a listing from its page and from the API (the seed's subscribe and my-subscriptions paths): a free one at
once, a paid one through the test-mode checkout; receipts on the trader's page; nobody sees or cancels another
trader's subscription or completes their checkout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace import ledger
from marketplace.models import Payment, Subscription

pytestmark = pytest.mark.django_db
BASE = "/api/v1/marketplace"


def test_buying_from_the_listings_page_through_the_test_mode_checkout(alice, bob_client, publish, client):
    listing = publish(alice, tier="premium", price="20.00", billing="one_off")
    page = bob_client.get(f"/marketplace/{listing.id}/")
    assert "Buy for 20.00 USD" in page.text and "70%" in page.text
    client.force_login(alice)  # the creator has no button
    assert "Buy for" not in client.get(f"/marketplace/{listing.id}/").text
    answer = bob_client.post(f"/marketplace/{listing.id}/subscribe/")
    subscription = Subscription.objects.get()
    assert answer.status_code == 302 and answer.url == f"/marketplace/checkout/{subscription.id}/test/"
    checkout = bob_client.get(answer.url)
    assert "Test mode: no card is charged" in checkout.text
    assert bob_client.post(answer.url).url == "/marketplace/subscriptions/"
    mine = bob_client.get("/marketplace/subscriptions/")
    assert "Receipts" in mine.text and "20.00" in mine.text and listing.name in mine.text
    assert ledger.creator_balance(alice) == Decimal("14.00")
    assert "You have this strategy." in bob_client.get(f"/marketplace/{listing.id}/").text
    # Buying again is refused with the reason, on the listing's page.
    again = bob_client.post(f"/marketplace/{listing.id}/subscribe/", follow=True)
    assert "You have this listing already." in again.text and Subscription.objects.count() == 1


def test_nobody_touches_another_traders_subscription_or_checkout(alice, bob_client, publish, client):
    listing = publish(alice, tier="pro", price="30.00", billing="monthly")
    bob_client.post(f"/marketplace/{listing.id}/subscribe/")
    subscription = Subscription.objects.get()
    client.force_login(alice)
    for answer in (
        client.get(f"/marketplace/checkout/{subscription.id}/test/"),
        client.post(f"/marketplace/checkout/{subscription.id}/test/"),
        client.post(f"/marketplace/subscriptions/{subscription.id}/cancel/"),
        client.post(f"/marketplace/subscriptions/{subscription.id}/newest-version/"),
    ):
        assert answer.status_code == 404
    assert Subscription.objects.get().status == "pending" and not Payment.objects.exists()
    assert listing.name not in client.get("/marketplace/subscriptions/").text
    # Bob abandons his checkout: it ends, and he may start again.
    bob_client.post(f"/marketplace/subscriptions/{subscription.id}/cancel/")
    assert Subscription.objects.get().end_reason == "abandoned"


def test_the_api_takes_free_and_paid_listings_and_lists_only_ones_own(alice, bob, bob_api, charlie_api, publish):
    free = publish(alice, "Free one")
    paid = publish(alice, "Paid one", tier="premium", price="12.50", billing="monthly")
    answer = bob_api.post(f"{BASE}/strategies/{free.id}/subscribe")
    assert answer.status_code == 201 and answer.json()["checkout_url"] is None
    assert answer.json()["subscription"]["has_access"] is True
    answer = bob_api.post(f"{BASE}/strategies/{paid.id}/subscribe")
    body = answer.json()
    assert answer.status_code == 201 and body["subscription"]["status"] == "pending"
    assert body["checkout_url"].startswith("http://testserver/marketplace/checkout/")
    again = bob_api.post(f"{BASE}/strategies/{free.id}/subscribe")
    assert again.status_code == 400 and "already" in again.text
    rows = bob_api.get(f"{BASE}/my-subscriptions").json()["results"]
    assert sorted(row["listing"]["name"] for row in rows) == ["Free one", "Paid one"]
    assert charlie_api.get(f"{BASE}/my-subscriptions").json()["results"] == []
    theirs = rows[0]["id"]
    assert charlie_api.post(f"{BASE}/subscriptions/{theirs}/cancel").status_code == 404
    assert bob_api.post(f"{BASE}/subscriptions/{theirs}/cancel").status_code == 200


def test_the_api_refuses_ones_own_listing_and_others_drafts(alice_api, charlie_api, alice, publish):
    listing = publish(alice, tier="premium", price="5.00", billing="one_off")
    own = alice_api.post(f"{BASE}/strategies/{listing.id}/subscribe")
    assert own.status_code == 400 and "your own listing" in own.text
    listing.status = "draft"
    listing.save(update_fields=["status"])
    assert charlie_api.post(f"{BASE}/strategies/{listing.id}/subscribe").status_code == 404
    assert not Subscription.objects.exists()
