"""Object-level permissions on every marketplace path of the OpenAPI schema: for each operation, another trader's
object (a draft, a subscription, a review of someone else's listing, a script) is refused or unknown, and an unpaid
premium script never becomes usable. A new marketplace path without a case here fails the first test."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from marketplace import reviews, subscriptions
from marketplace.models import Listing, Review, Subscription
from strategies.pine_services import pine_script_create, strategy_usable
from tests.marketplace.conftest import SMA

pytestmark = pytest.mark.django_db
BASE = "/api/v1/marketplace"


@pytest.fixture
def world(alice, bob, charlie, publish):
    """Alice's draft and published listings; Bob's subscription and review of the published one; Bob's pending
    checkout of a premium listing; Alice's own script."""
    published = publish(alice, "Public")
    premium = publish(alice, "Premium", tier="premium", price="20.00", billing="one_off")
    draft = publish(alice, "Draft")
    Listing.objects.filter(id=draft.id).update(status="draft")
    held, _ = subscriptions.subscription_start(user=bob, listing_id=published.id)
    Subscription.objects.filter(id=held.id).update(started_at=held.started_at.replace(year=held.started_at.year - 1))
    review = reviews.review_create(user=bob, listing_id=published.id, rating=4, text="Good enough for me.")
    pending, _ = subscriptions.subscription_start(user=bob, listing_id=premium.id)
    script = pine_script_create(user=alice, name="Alice's own", source=SMA).script
    return {"published": published, "premium": premium, "draft": draft, "held": held, "review": review,
            "pending": pending, "script": script}  # fmt: skip


def _cases(world):
    draft, published, review = world["draft"].id, world["published"].id, world["review"].id
    held = world["held"].id
    body = {"name": "Mine now", "category": "trend", "timeframe": "1h", "markets": ["BTC/USDT"]}
    return {
        # (method, schema path): Charlie's request and what its refusal looks like
        ("get", "/strategies"): ("get", "/strategies", None, 200),
        ("post", "/strategies"): ("post", "/strategies", {**body, "script": str(world["script"].id)}, 400),
        ("get", "/strategies/{listing_id}"): ("get", f"/strategies/{draft}", None, 404),
        ("post", "/strategies/{listing_id}/submit"): ("post", f"/strategies/{draft}/submit", None, 404),
        ("post", "/strategies/{listing_id}/subscribe"): ("post", f"/strategies/{draft}/subscribe", None, 404),
        ("post", "/strategies/{listing_id}/review"): (
            "post", f"/strategies/{draft}/review", {"rating": 5, "text": "Never saw it."}, 404,
        ),
        ("put", "/strategies/{listing_id}/review"): (
            "put", f"/strategies/{published}/review", {"rating": 1, "text": "Not my review."}, 400,
        ),
        ("get", "/strategies/{listing_id}/reviews"): ("get", f"/strategies/{draft}/reviews", None, 404),
        ("post", "/reviews/{review_id}/reply"): ("post", f"/reviews/{review}/reply", {"text": "Hi"}, 404),
        ("get", "/my-strategies"): ("get", "/my-strategies", None, 200),
        ("get", "/my-subscriptions"): ("get", "/my-subscriptions", None, 200),
        ("post", "/subscriptions/{subscription_id}/cancel"): ("post", f"/subscriptions/{held}/cancel", None, 404),
    }  # fmt: skip


def test_every_marketplace_path_has_an_object_level_case(world):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        (method, path.removeprefix(BASE))
        for path, item in schema["paths"].items()
        if path.startswith(BASE)
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert operations == set(_cases(world)), "give each marketplace operation an object-level case below"


def test_another_traders_objects_are_refused_or_unknown(world, charlie_api):
    for (_, path), (method, url, data, status) in _cases(world).items():
        answer = getattr(charlie_api, method)(f"{BASE}{url}", data, format="json")
        assert answer.status_code == status, (path, answer.status_code, answer.content[:300])
        text = answer.content.decode()
        assert "strategy(" not in text and '"source"' not in text, path  # never a Pine source
        if status == 200:  # lists: nothing of anyone else's but published listings
            assert "Draft" not in text and str(world["held"].id) not in text, path
    # Nothing changed for their owners.
    assert Listing.objects.get(id=world["draft"].id).status == "draft"
    assert Subscription.objects.get(id=world["held"].id).status == "active"
    assert Review.objects.get(id=world["review"].id).reply == ""
    assert not Listing.objects.filter(name="Mine now").exists()


def test_an_unpaid_premium_script_is_never_usable(world, bob, bob_api):
    slug = world["premium"].released.script_version.slug
    assert world["pending"].status == "pending" and not strategy_usable(user=bob, slug=slug)
    body = {"strategy": slug, "symbol": "BTC/USDT", "timeframe": "1h", "start": "2024-01-01", "end": "2024-02-01"}
    backtest = bob_api.post("/api/v1/backtests/", body, format="json")
    assert backtest.status_code == 400 and "strategy" in backtest.json()["error"]["fields"], backtest.content
