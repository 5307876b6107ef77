"""Every write to marketplace reviews (issue 16). A trader reviews a listing once — when they have held it for at
least a day, or have run a backtest of it while subscribed — and may edit it; the creator replies once; staff hide an
abusive review with a reason. Each write recomputes the listing's average and count from its visible reviews while
holding the listing's row lock, so concurrent reviews never leave them out of step."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import Listing, ListingVersion, Review, Subscription
from strategies.models import BacktestRun, PineScriptVersion

HELD = timedelta(days=1)
MAX_TEXT = 4_000


def _listing_locked(listing_id: Any) -> Listing:
    listing = Listing.objects.select_for_update().filter(id=listing_id, status=Listing.Status.PUBLISHED).first()
    if listing is None:
        raise ValidationError({"listing": [_("No such listing.")]})
    return listing


def may_review(*, user: Any, listing: Listing, now: Any = None) -> bool:
    """Held a subscription for a day (now or before), or backtested the listing while subscribed."""
    now = now or timezone.now()
    held = list(Subscription.objects.filter(user=user, listing=listing, started_at__isnull=False))
    if any((subscription.ended_at or now) - subscription.started_at >= HELD for subscription in held):
        return True
    if not held:
        return False
    versions = ListingVersion.objects.filter(listing=listing).values_list("script_version_id", flat=True)
    slugs = [PineScriptVersion(id=version_id).slug for version_id in versions]
    return BacktestRun.objects.filter(user=user, strategy__in=slugs, status=BacktestRun.Status.DONE).exists()


def _clean(rating: Any, text: str) -> tuple[int, str]:
    errors: dict[str, list[str]] = {}
    if isinstance(rating, bool) or str(rating).strip() not in {"1", "2", "3", "4", "5"}:
        errors["rating"] = [_("One to five stars.")]
    words = (text or "").strip()
    if not 10 <= len(words) <= MAX_TEXT:
        errors["text"] = [_("A review of 10 to %(max)d characters.") % {"max": MAX_TEXT}]
    if errors:
        raise ValidationError(errors)
    return int(str(rating).strip()), words


def _recount(listing: Listing) -> None:
    """The listing's average and count from its visible reviews (its row is locked by the caller)."""
    found = Review.objects.filter(listing=listing, hidden=False).aggregate(count=Count("id"), average=Avg("rating"))
    average = Decimal(found["average"] or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    Listing.objects.filter(id=listing.id).update(rating_average=average, rating_count=found["count"])


@transaction.atomic
def review_create(*, user: Any, listing_id: Any, rating: Any, text: str) -> Review:
    stars, words = _clean(rating, text)
    listing = _listing_locked(listing_id)
    if listing.creator_id == user.pk:
        raise ValidationError({"listing": [_("You cannot review your own listing.")]})
    if not may_review(user=user, listing=listing):
        raise ValidationError(
            {"listing": [_("Reviews come from subscribers who have held the strategy for a day or backtested it.")]}
        )
    try:
        with transaction.atomic():
            review = Review.objects.create(listing=listing, author=user, rating=stars, text=words)
    except IntegrityError:
        raise ValidationError({"listing": [_("You have reviewed it already: change your review instead.")]}) from None
    _recount(listing)
    return review


@transaction.atomic
def review_update(*, user: Any, listing_id: Any, rating: Any, text: str) -> Review:
    stars, words = _clean(rating, text)
    listing = _listing_locked(listing_id)
    review = Review.objects.select_for_update().filter(listing=listing, author=user).first()
    if review is None:
        raise ValidationError({"review": [_("You have not reviewed it yet.")]})
    review.rating, review.text = stars, words
    review.save(update_fields=["rating", "text", "updated_at"])
    _recount(listing)
    return review


@transaction.atomic
def review_reply(*, creator: Any, review_id: Any, text: str) -> Review:
    review = Review.objects.select_for_update().select_related("listing").filter(id=review_id).first()
    if review is None or review.listing.creator_id != creator.pk:
        raise ValidationError({"review": [_("No such review.")]})
    if review.reply:
        raise ValidationError({"reply": [_("You have replied already.")]})
    words = (text or "").strip()
    if not 2 <= len(words) <= MAX_TEXT:
        raise ValidationError({"reply": [_("A reply of 2 to %(max)d characters.") % {"max": MAX_TEXT}]})
    review.reply, review.replied_at = words, timezone.now()
    review.save(update_fields=["reply", "replied_at", "updated_at"])
    return review


@transaction.atomic
def review_hide(*, staff: Any, review_id: Any, reason: str) -> Review:
    if not (staff and staff.is_active and staff.is_staff):
        raise PermissionDenied(_("Only staff hide reviews."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why.")]})
    review = Review.objects.filter(id=review_id).first()
    if review is None:
        raise ValidationError({"review": [_("No such review.")]})
    listing = Listing.objects.select_for_update().get(id=review.listing_id)  # listing first, as every writer
    review = Review.objects.select_for_update().get(id=review_id)
    review.hidden, review.hidden_reason = True, reason[:300]
    review.save(update_fields=["hidden", "hidden_reason", "updated_at"])
    _recount(listing)
    return review
