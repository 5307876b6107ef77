"""The creator's marketplace pages: list a script from a form (Markdown description rendered safely on the
listing), change it, send it for review, unlist and list again, offer a new version; earnings by month from the
ledger, subscribers, payouts. Nobody else reaches another creator's listing through them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace import subscriptions
from marketplace.models import Listing, ListingVersion, Payout
from strategies.pine_services import pine_script_create, pine_version_add
from tests.marketplace.conftest import SMA

pytestmark = pytest.mark.django_db
FORM = {
    "name": "Trend rider", "description": "## Rules\n\n- **Long** on a cross\n\n<script>alert(1)</script>",
    "category": "trend", "tags": "ema, trend", "exchange": "binance", "markets": "btcusdt, ETH/USDT",
    "timeframe": "1h", "tier": "premium", "price_usd": "19.90", "billing": "monthly",
}  # fmt: skip


def test_a_creator_lists_a_script_from_the_form(alice, alice_client, django_capture_on_commit_callbacks):
    script = pine_script_create(user=alice, name="SMA", source=SMA).script
    bad = alice_client.post("/marketplace/new/", {**FORM, "script": str(script.id), "tier": "free"})
    assert bad.status_code == 400 and "A free listing has no price." in bad.text and not Listing.objects.exists()
    answer = alice_client.post("/marketplace/new/", {**FORM, "script": str(script.id)})
    listing = Listing.objects.get()
    assert answer.status_code == 302 and answer.url == f"/marketplace/{listing.id}/"
    assert (listing.markets, listing.tags, listing.price_usd) == (
        ["BTC/USDT", "ETH/USDT"],
        ["ema", "trend"],
        Decimal("19.90"),
    )
    page = alice_client.get(answer.url).text
    assert "<h4>Rules</h4>" in page and "<strong>Long</strong>" in page and "<script>alert" not in page
    changed = alice_client.post(f"/marketplace/{listing.id}/edit/", {**FORM, "name": "Trend rider 2"})
    assert changed.status_code == 302 and Listing.objects.get().name == "Trend rider 2"
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(f"/marketplace/{listing.id}/do/submit/")
    assert Listing.objects.get().status == "in_review"
    assert "In review" in alice_client.get("/marketplace/mine/").text
    again = alice_client.post(f"/marketplace/{listing.id}/edit/", {**FORM, "name": "In review"})
    assert again.status_code == 400 and Listing.objects.get().name == "Trend rider 2"  # not while in review


def test_new_versions_unlisting_and_other_creators(alice, alice_client, client, bob, publish):
    listing = publish(alice)
    pine_version_add(user=alice, script_id=listing.script_id, source=SMA.replace("30,", "45,"))
    alice_client.post(f"/marketplace/{listing.id}/do/version/", {"notes": "Slower"})
    assert list(ListingVersion.objects.filter(listing=listing).values_list("number", "notes")) == [
        (2, "Slower"),
        (1, ""),
    ]
    alice_client.post(f"/marketplace/{listing.id}/do/unlist/")
    assert Listing.objects.get().status == "unlisted"
    alice_client.post(f"/marketplace/{listing.id}/do/relist/")
    assert Listing.objects.get().status == "published"
    client.force_login(bob)
    for url in (f"/marketplace/{listing.id}/edit/", f"/marketplace/{listing.id}/do/unlist/"):
        assert (client.post(url) if "do" in url else client.get(url)).status_code == 404
    assert client.post(f"/marketplace/{listing.id}/do/anything/").status_code == 404
    assert Listing.objects.get().status == "published"


def test_earnings_by_month_subscribers_and_payouts(alice, alice_client, bob, publish, staff, client):
    listing = publish(alice, tier="premium", price="10.00", billing="one_off")
    subscription, _ = subscriptions.subscription_start(user=bob, listing_id=listing.id)
    subscriptions.test_checkout_pay(user=bob, subscription_id=subscription.id)
    payment = subscription.payments.get()
    subscriptions.payment_refund(staff=staff, payment_id=payment.id, amount="2.00")
    subscriptions.payout_record(staff=staff, creator_id=alice.pk, amount="3.00", reference="wire 42")
    page = alice_client.get("/marketplace/earnings/").text
    assert "Trendy owes you: 2.60 USD" in page  # 7.00 − 1.40 − 3.00
    assert "7.00" in page and "−1.40" in page and "5.60" in page and "wire 42" in page
    assert Payout.objects.count() == 1
    client.force_login(bob)  # nothing of Alice's shows on Bob's page
    mine = client.get("/marketplace/earnings/").text
    assert "wire 42" not in mine and "Trendy owes you: 0.00 USD" in mine
