"""Marketplace reviews (issue 16): one per subscriber who held the strategy a day or backtested it, editable; the
creator replies once; staff hide abusive ones; the listing's average and count equal its visible reviews, also when
many traders review at the same moment."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from marketplace import reviews, subscriptions
from marketplace.models import Listing, Review, Subscription
from strategies.models import BacktestRun
from tests.factories import UserFactory

D = Decimal


def held(user, listing, days=2):
    """A free subscription started ``days`` ago."""
    subscription, _ = subscriptions.subscription_start(user=user, listing_id=listing.id)
    Subscription.objects.filter(id=subscription.id).update(started_at=subscription.started_at - timedelta(days=days))
    return subscription


@pytest.mark.django_db
def test_who_may_review_and_the_abuse_refused(alice, bob, charlie, publish):
    listing = publish(alice)
    good = "Clean entries, few false signals."
    with pytest.raises(ValidationError, match="held the strategy for a day"):  # no subscription
        reviews.review_create(user=bob, listing_id=listing.id, rating=5, text=good)
    with pytest.raises(ValidationError, match="your own listing"):
        reviews.review_create(user=alice, listing_id=listing.id, rating=5, text=good)
    subscription = held(bob, listing, days=0)  # subscribed just now
    with pytest.raises(ValidationError, match="held the strategy for a day"):
        reviews.review_create(user=bob, listing_id=listing.id, rating=5, text=good)
    BacktestRun.objects.create(  # or after a backtest of it
        user=bob, strategy=listing.current.script_version.slug, exchange="binance", symbol="BTC/USDT",
        timeframe="1h", start=subscription.started_at - timedelta(days=9), end=subscription.started_at,
        initial_capital=D(1000),
        fee_rate=D("0.001"), slippage_bps=D(5), leverage=1, position_size_pct=D(10), status="done",
    )  # fmt: skip
    for rating, text, field in [(0, good, "rating"), (6, good, "rating"), ("4.5", good, "rating"),
                                (True, good, "rating"), (4, "short", "text"), (4, "x" * 4001, "text")]:  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            reviews.review_create(user=bob, listing_id=listing.id, rating=rating, text=text)
        assert field in refused.value.message_dict
    review = reviews.review_create(user=bob, listing_id=listing.id, rating=4, text=good)
    with pytest.raises(ValidationError, match="reviewed it already"):
        reviews.review_create(user=bob, listing_id=listing.id, rating=1, text=good)
    reviews.review_update(user=bob, listing_id=listing.id, rating=2, text="Changed my mind after a month.")
    listing.refresh_from_db()
    assert (listing.rating_average, listing.rating_count) == (D("2.00"), 1)
    # The creator replies once; nobody else replies.
    with pytest.raises(ValidationError, match="No such review"):
        reviews.review_reply(creator=charlie, review_id=review.id, text="Thanks")
    reviews.review_reply(creator=alice, review_id=review.id, text="Thanks: version 2 fixes it.")
    with pytest.raises(ValidationError, match="replied already"):
        reviews.review_reply(creator=alice, review_id=review.id, text="Again")


@pytest.mark.django_db
def test_staff_hide_an_abusive_review_and_the_average_follows(alice, bob, charlie, publish, staff):
    listing = publish(alice)
    held(bob, listing)
    held(charlie, listing)
    reviews.review_create(user=bob, listing_id=listing.id, rating=5, text="Works as described on BTC.")
    abusive = reviews.review_create(user=charlie, listing_id=listing.id, rating=1, text="Scam!!! Go to my channel")
    listing.refresh_from_db()
    assert (listing.rating_average, listing.rating_count) == (D("3.00"), 2)
    with pytest.raises(PermissionDenied):
        reviews.review_hide(staff=bob, review_id=abusive.id, reason="spam")
    reviews.review_hide(staff=staff, review_id=abusive.id, reason="Advertising.")
    listing.refresh_from_db()
    assert (listing.rating_average, listing.rating_count) == (D("5.00"), 1)


@pytest.mark.django_db
def test_review_pages_and_api(alice, bob, publish, client, bob_client, bob_api, charlie_api):
    listing = publish(alice)
    held(bob, listing)
    page = bob_client.get(f"/marketplace/{listing.id}/")
    assert "Post my review" in page.text
    bob_client.post(f"/marketplace/{listing.id}/review/", {"rating": "4", "text": "Steady, low drawdown."})
    assert Review.objects.get().rating == 4
    bob_client.post(f"/marketplace/{listing.id}/review/", {"rating": "3", "text": "Steady, but slow in ranges."})
    assert (Review.objects.count(), Review.objects.get().rating) == (1, 3)  # edited, not a second one
    answer = bob_api.post(f"/api/v1/marketplace/strategies/{listing.id}/review", {"rating": 5, "text": "Again, more"})
    assert answer.status_code == 400 and "already" in answer.text
    answer = bob_api.put(f"/api/v1/marketplace/strategies/{listing.id}/review", {"rating": 5, "text": "Better now."})
    assert answer.status_code == 200 and answer.json()["rating"] == 5
    denied = charlie_api.post(
        f"/api/v1/marketplace/strategies/{listing.id}/review", {"rating": 1, "text": "Never had it"}
    )
    assert denied.status_code == 400
    rows = charlie_api.get(f"/api/v1/marketplace/strategies/{listing.id}/reviews").json()["results"]
    assert [row["rating"] for row in rows] == [5] and rows[0]["author"] == "bob"
    review = Review.objects.get()
    assert charlie_api.post(f"/api/v1/marketplace/reviews/{review.id}/reply", {"text": "Hi"}).status_code == 404
    client.force_login(alice)
    client.post(f"/marketplace/reviews/{review.id}/reply/", {"text": "Thank you for the review."})
    assert "Thank you for the review." in bob_client.get(f"/marketplace/{listing.id}/").text
    assert Listing.objects.get(id=listing.id).rating_average == D("5.00")


@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_keep_the_average_and_count_right(alice, publish):
    listing = publish(alice)
    traders = [UserFactory(email=f"t{i}@example.com") for i in range(12)]
    for trader in traders:
        held(trader, listing)
    ratings = [(i % 5) + 1 for i in range(len(traders))]
    barrier = threading.Barrier(len(traders))
    failures: list[BaseException] = []

    def write(trader, rating):
        try:
            barrier.wait()
            reviews.review_create(user=trader, listing_id=listing.id, rating=rating, text="A fair strategy overall.")
        except BaseException as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=pair) for pair in zip(traders, ratings, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    listing.refresh_from_db()
    expected = (D(sum(ratings)) / len(ratings)).quantize(D("0.01"))
    assert (listing.rating_count, listing.rating_average) == (12, expected)
