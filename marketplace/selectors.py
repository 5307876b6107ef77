"""Reads of the marketplace: what a trader may see of listings (published ones, and their own in any state)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from marketplace.models import Listing, ListingVersion, Payment, Review, Subscription

SORTS = {
    "newest": ("-published_at", "-created_at"),
    "rating": ("-rating_average", "-rating_count", "-published_at"),
    "popularity": ("-downloads_count", "-published_at"),
}


def display_name(user: Any) -> str:
    """A trader as others see them: their name, else the part of their e-mail before the @."""
    return user.get_full_name() or user.email.split("@", 1)[0]


def _with_versions(listings: QuerySet[Listing]) -> QuerySet[Listing]:
    versions = ListingVersion.objects.order_by("-number")
    return listings.select_related("creator").prefetch_related(Prefetch("versions", queryset=versions))


def listing_search(
    *,
    query: str = "",
    category: str | None = None,
    tier: str | None = None,
    timeframe: str | None = None,
    market: str | None = None,
    sort: str = "newest",
) -> QuerySet[Listing]:
    """Published listings matching the filters (name, description or a tag containing ``query``)."""
    listings = Listing.objects.filter(status=Listing.Status.PUBLISHED)
    if query:
        listings = listings.filter(
            Q(name__icontains=query) | Q(description__icontains=query) | Q(tags__icontains=query.lower())
        )
    if category:
        listings = listings.filter(category=category)
    if tier:
        listings = listings.filter(tier=tier)
    if timeframe:
        listings = listings.filter(timeframe=timeframe)
    if market:
        listings = listings.filter(markets__contains=[market])
    return _with_versions(listings.order_by(*SORTS.get(sort, SORTS["newest"]), "id"))


def listing_for(*, user: Any, listing_id: Any) -> Listing | None:
    """A published listing, or one of the user's own in any state; None for anything else (another's draft)."""
    visible = Q(status=Listing.Status.PUBLISHED) | Q(creator_id=user.pk)
    return _with_versions(Listing.objects.filter(visible, id=listing_id)).first()


def listings_of(*, creator: Any) -> QuerySet[Listing]:
    return _with_versions(Listing.objects.filter(creator=creator).order_by("-updated_at", "id"))


def subscription_has_access(subscription: Subscription, now: datetime | None = None) -> bool:
    """Active, and before its end when it has one (the beat marks it ended a little later)."""
    now = now or timezone.now()
    return subscription.status == Subscription.Status.ACTIVE and (
        subscription.expires_at is None or subscription.expires_at > now
    )


def subscriptions_of(*, user: Any) -> QuerySet[Subscription]:
    """The trader's subscriptions, newest first, with their receipts."""
    return (
        Subscription.objects.filter(user=user)
        .select_related("listing", "version")
        .prefetch_related(
            Prefetch("payments", queryset=Payment.objects.order_by("-created_at")),
            Prefetch("listing__versions", queryset=ListingVersion.objects.order_by("-number")),
        )
        .order_by("-created_at", "id")
    )


def subscription_open(*, user: Any, listing: Listing) -> Subscription | None:
    """The trader's subscription of the listing that has not ended (awaiting payment or active), if any."""
    return Subscription.objects.filter(user=user, listing=listing).exclude(status=Subscription.Status.ENDED).first()


def reviews_of(*, listing: Listing) -> QuerySet[Review]:
    """A listing's visible reviews, newest first."""
    return Review.objects.filter(listing=listing, hidden=False).select_related("author").order_by("-created_at", "id")


def review_of_creator(*, creator: Any, review_id: Any) -> bool:
    """Whether the review is of one of the creator's listings (another's is as unknown as a missing one)."""
    return Review.objects.filter(id=review_id, listing__creator=creator).exists()
