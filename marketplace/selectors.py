"""Reads of the marketplace: what a trader may see of listings (published ones, and their own in any state)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from marketplace.models import Listing, ListingVersion, Payment, Review, Subscription
from strategies.models import PineScriptVersion

SORTS = {
    "newest": ("-published_at", "-created_at"),
    "rating": ("-rating_average", "-rating_count", "-published_at"),
    "popularity": ("-downloads_count", "-published_at"),
    "oos_return": (F("oos_return_pct").desc(nulls_last=True), "-published_at"),
}
# What a list shows of a listing and its versions: the large JSON (equity curves, results) stays in the database.
LIST_DEFER = ("description", "backtest_results")


def display_name(user: Any) -> str:
    """A trader as others see them: their name, else the part of their e-mail before the @."""
    return user.get_full_name() or user.email.split("@", 1)[0]


def released_of(listing: Listing) -> ListingVersion | None:
    """The newest verified version, from the prefetched versions (newest first) when there are."""
    return next((v for v in listing.versions.all() if v.verification == ListingVersion.Verification.PASSED), None)


def _with_versions(listings: QuerySet[Listing], *, light: bool = False) -> QuerySet[Listing]:
    versions = ListingVersion.objects.order_by("-number")
    if light:
        versions = versions.defer("result")
    return listings.select_related("creator").prefetch_related(Prefetch("versions", queryset=versions))


def listing_search(
    *,
    query: str = "",
    category: str | None = None,
    tier: str | None = None,
    timeframe: str | None = None,
    market: str | None = None,
    price_max: Decimal | None = None,
    min_trades: int | None = None,
    max_drawdown: Decimal | None = None,
    min_oos_return: Decimal | None = None,
    min_rating: Decimal | None = None,
    sort: str = "newest",
    versions: bool = True,
) -> QuerySet[Listing]:
    """Published listings matching the filters (name, description or a tag containing ``query``, served by trigram
    indexes on PostgreSQL; a free listing is within any price), without their large JSON; ``versions``: with their
    versions (the API lists them; the page does not)."""
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
    if price_max is not None:
        listings = listings.filter(Q(price_usd__isnull=True) | Q(price_usd__lte=price_max))
    if min_trades is not None:
        listings = listings.filter(trades__gte=min_trades)
    if max_drawdown is not None:
        listings = listings.filter(max_drawdown_pct__lte=max_drawdown)
    if min_oos_return is not None:
        listings = listings.filter(oos_return_pct__gte=min_oos_return)
    if min_rating is not None:
        listings = listings.filter(rating_count__gt=0, rating_average__gte=min_rating)
    ordered = listings.defer(*LIST_DEFER).order_by(*SORTS.get(sort, SORTS["newest"]), "id")
    return _with_versions(ordered, light=True) if versions else ordered.select_related("creator")


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


def studied_versions(timeframe: str, limit: int) -> list[str]:
    """The regime evidence's marketplace strategies (``strategies.pine_services.study_register``): the newest
    verified version of each published listing made for ``timeframe``, most subscribed listings first."""
    if limit <= 0:
        return []
    listings = (
        _with_versions(Listing.objects.filter(status=Listing.Status.PUBLISHED, timeframe=timeframe), light=True)
        .annotate(subscribers=Count("subscriptions", filter=Q(subscriptions__status=Subscription.Status.ACTIVE)))
        .order_by("-subscribers", "created_at")
    )
    found = []
    for listing in listings:
        released = released_of(listing)
        if released is not None:
            found.append(PineScriptVersion(id=released.script_version_id).slug)
        if len(found) >= limit:
            break
    return found
