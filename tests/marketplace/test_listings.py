"""Marketplace listings (issue 16, first part): a creator lists one of their Pine scripts as a draft, offers newer
versions, sends it for review; staff approve or reject it with a reason (the admin's actions); the creator or staff
unlist it. Bad input saves nothing; another user's listing is unknown; the database keeps the price rules."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from marketplace import services
from marketplace.models import Listing, ListingVersion
from marketplace.services import ListingDetails
from strategies.pine_services import pine_script_create, pine_version_add

pytestmark = pytest.mark.django_db

SMA = (Path(__file__).parents[1] / "pine" / "corpus" / "sma_cross_inputs.pine").read_text()
DETAILS = ListingDetails(
    name="SMA trend", category="trend", timeframe="1h", markets=["btcusdt", "ETH/USDT", "BTC/USDT"],
    description="Two moving averages.", tags=["Trend", "trend", "moving  average"],
)  # fmt: skip


@pytest.fixture
def script(alice):
    return pine_script_create(user=alice, name="SMA", source=SMA).script


def verified(listing):
    """The state-machine tests' shortcut past Trendy's own backtests (``test_verification.py`` runs them)."""
    ListingVersion.objects.filter(listing=listing).update(verification="passed")


def test_a_listing_goes_from_draft_to_review_to_published(alice, bob, script, staff):
    listing = services.listing_create(creator=alice, script_id=script.id, details=DETAILS)
    assert (listing.status, listing.markets, listing.tags) == (
        "draft",
        ["BTC/USDT", "ETH/USDT"],
        ["trend", "moving average"],
    )
    assert listing.current.number == 1 and listing.current.script_version == script.latest
    with pytest.raises(ValidationError):  # in review only when sent
        services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    services.listing_submit(creator=alice, listing_id=listing.id)
    with pytest.raises(PermissionDenied):  # only staff decide
        services.listing_review(staff=bob, listing_id=listing.id, approve=True)
    with pytest.raises(ValidationError, match="Say why"):  # a rejection says why
        services.listing_review(staff=staff, listing_id=listing.id, approve=False)
    rejected = services.listing_review(staff=staff, listing_id=listing.id, approve=False, reason="Describe the exits.")
    assert (rejected.status, rejected.status_reason, rejected.reviewed_by) == ("rejected", "Describe the exits.", staff)
    # The creator mends it: a new version of the script, offered in the listing, sent again.
    pine_version_add(user=alice, script_id=script.id, source=SMA.replace("30,", "40,"))
    version = services.listing_version_add(creator=alice, listing_id=listing.id, notes="Slower average")
    assert version.number == 2 and list(listing.versions.values_list("number", flat=True)) == [2, 1]
    with pytest.raises(ValidationError, match="latest version already"):
        services.listing_version_add(creator=alice, listing_id=listing.id)
    services.listing_submit(creator=alice, listing_id=listing.id)
    with pytest.raises(ValidationError, match="not verified"):  # Trendy's backtests first
        services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    verified(listing)
    published = services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    assert published.status == "published" and published.published_at is not None and not published.status_reason
    with pytest.raises(ValidationError, match="while the listing is Published"):  # no change once published
        services.listing_update(creator=alice, listing_id=listing.id, details=DETAILS)


def test_unlisting_by_the_creator_is_undone_by_them_by_staff_only_through_a_review(alice, script, staff):
    listing = services.listing_create(creator=alice, script_id=script.id, details=DETAILS)
    verified(listing)
    services.listing_submit(creator=alice, listing_id=listing.id)
    services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    services.listing_unlist(user=alice, listing_id=listing.id)
    assert services.listing_relist(creator=alice, listing_id=listing.id).status == "published"
    with pytest.raises(ValidationError, match="Say why"):
        services.listing_unlist(user=staff, listing_id=listing.id)
    services.listing_unlist(user=staff, listing_id=listing.id, reason="Misleading description.")
    with pytest.raises(ValidationError, match="Staff unlisted it"):
        services.listing_relist(creator=alice, listing_id=listing.id)
    changed = services.listing_update(creator=alice, listing_id=listing.id, details=DETAILS)
    assert changed.status == "draft"  # changed: reviewed again before it is published
    # A listing the creator unlisted and then changed is not published again without a review either.
    services.listing_submit(creator=alice, listing_id=listing.id)
    services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    services.listing_unlist(user=alice, listing_id=listing.id)
    services.listing_update(creator=alice, listing_id=listing.id, details=DETAILS)
    with pytest.raises(ValidationError):
        services.listing_relist(creator=alice, listing_id=listing.id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tier": "free", "price_usd": "10"}, "price_usd"),
        ({"tier": "premium", "price_usd": None, "billing": "monthly"}, "price_usd"),
        ({"tier": "premium", "price_usd": "-5", "billing": "monthly"}, "price_usd"),
        ({"tier": "pro", "price_usd": "1000000", "billing": "monthly"}, "price_usd"),
        ({"tier": "pro", "price_usd": "9.999", "billing": "monthly"}, "price_usd"),
        ({"tier": "pro", "price_usd": "NaN", "billing": "monthly"}, "price_usd"),
        ({"tier": "premium", "price_usd": "20", "billing": ""}, "billing"),
        ({"tier": "gold"}, "tier"),
        ({"name": "x"}, "name"),
        ({"category": "magic"}, "category"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"markets": []}, "markets"),
        ({"markets": ["not a market!"]}, "markets"),
        ({"exchange": "kraken"}, "exchange"),
        ({"tags": [f"tag{i}" for i in range(11)]}, "tags"),
        ({"tags": ["<script>"]}, "tags"),
    ],
)
def test_bad_details_save_nothing(alice, script, changes, field):
    details = ListingDetails(**{**DETAILS.__dict__, **changes})
    with pytest.raises(ValidationError) as raised:
        services.listing_create(creator=alice, script_id=script.id, details=details)
    assert field in raised.value.message_dict, raised.value.message_dict
    assert not Listing.objects.exists() and not ListingVersion.objects.exists()


def test_a_paid_listing_keeps_its_price_and_billing(alice, script):
    details = ListingDetails(**{**DETAILS.__dict__, "tier": "premium", "price_usd": "29.90", "billing": "monthly"})
    listing = services.listing_create(creator=alice, script_id=script.id, details=details)
    assert (listing.tier, listing.price_usd, listing.billing) == ("premium", Decimal("29.90"), "monthly")


def test_the_database_keeps_the_rules_a_service_could_forget(alice, script):
    listing = services.listing_create(creator=alice, script_id=script.id, details=DETAILS)
    for changes in (
        {"price_usd": Decimal(5)},  # free with a price
        {"tier": "pro", "price_usd": Decimal("0.50"), "billing": "monthly"},  # below the minimum
        {"rating_average": Decimal("4.5")},  # an average without ratings
        {"status": "rejected", "status_reason": ""},  # a rejection without its reason
        {"status": "published"},  # published without a date
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Listing.objects.filter(id=listing.id).update(**changes)


def test_another_users_script_and_listing_are_unknown(alice, bob, script, staff):
    with pytest.raises(ValidationError, match="Choose one of your scripts"):
        services.listing_create(creator=bob, script_id=script.id, details=DETAILS)
    listing = services.listing_create(creator=alice, script_id=script.id, details=DETAILS)
    for call in (
        lambda: services.listing_submit(creator=bob, listing_id=listing.id),
        lambda: services.listing_update(creator=bob, listing_id=listing.id, details=DETAILS),
        lambda: services.listing_version_add(creator=bob, listing_id=listing.id),
        lambda: services.listing_relist(creator=bob, listing_id=listing.id),
    ):
        with pytest.raises(ValidationError, match="No such listing"):
            call()
    verified(listing)
    services.listing_submit(creator=alice, listing_id=listing.id)
    services.listing_review(staff=staff, listing_id=listing.id, approve=True)
    with pytest.raises(ValidationError, match="No such listing"):
        services.listing_unlist(user=bob, listing_id=listing.id)
    listing.refresh_from_db()
    assert (listing.status, listing.name) == ("published", "SMA trend")
    with pytest.raises(ValidationError, match="already have a listing"):
        services.listing_create(creator=alice, script_id=script.id, details=DETAILS)


def test_staff_approve_and_reject_in_the_admin(alice, script, admin_client):
    first = services.listing_create(creator=alice, script_id=script.id, details=DETAILS)
    second = services.listing_create(
        creator=alice, script_id=script.id, details=ListingDetails(**{**DETAILS.__dict__, "name": "SMA two"})
    )
    draft = services.listing_create(
        creator=alice, script_id=script.id, details=ListingDetails(**{**DETAILS.__dict__, "name": "SMA three"})
    )
    for listing in (first, second):
        verified(listing)
        services.listing_submit(creator=alice, listing_id=listing.id)
    url = "/admin/marketplace/listing/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(f"{url}{first.id}/change/").status_code == 200
    response = admin_client.post(url, {"action": "approve", "_selected_action": [str(first.id), str(draft.id)]})
    assert response.status_code == 302
    first.refresh_from_db()
    draft.refresh_from_db()
    assert (first.status, draft.status) == ("published", "draft")  # a draft is not in review: left as it is
    asked = admin_client.post(url, {"action": "reject", "_selected_action": [str(second.id)]})
    assert asked.status_code == 200 and "Reason (its author reads it)" in asked.content.decode()
    second.refresh_from_db()
    assert second.status == "in_review"  # nothing before the reason
    done = admin_client.post(
        url, {"action": "reject", "_selected_action": [str(second.id)], "reason": "The description promises profit."}
    )
    assert done.status_code == 302
    second.refresh_from_db()
    assert (second.status, second.status_reason) == ("rejected", "The description promises profit.")
    assert admin_client.post(f"{url}{first.id}/delete/").status_code == 403
