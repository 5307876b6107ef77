"""Every write to the marketplace's listings (issue 16): pages, the API, the admin and commands call these.

A creator lists one of their own Pine scripts (its latest version) as a draft, offers newer versions while it is a
draft or was rejected, and sends it for review; staff approve it (published) or reject it with a reason the creator
reads; the creator (or staff) unlists a published listing and the creator lists it again. A script that cannot run
is never sent for review. Each service checks who asks, and the state the listing is in, under a row lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from market_data.exceptions import InvalidMarket
from market_data.symbols import normalize_exchange, normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from marketplace.models import MAX_PRICE, MIN_PRICE, Listing, ListingVersion, Subscription
from strategies.models import PineScript, PineScriptVersion
from trading.execution.records import notify
from trading_site.dispatch import enqueue

MAX_TAGS, MAX_TAG_LENGTH, MAX_MARKETS = 10, 30, 10
EXCHANGES = ("binance", "okx")
_TAG = re.compile(r"^[\w][\w -]*$")
# While a creator may change a listing and send it for review: not yet reviewed, rejected, or unlisted.
EDITABLE = (Listing.Status.DRAFT, Listing.Status.REJECTED, Listing.Status.UNLISTED)


@dataclass(frozen=True)
class ListingDetails:
    """What a creator writes about a listing (the script is chosen apart)."""

    name: str
    category: str
    timeframe: str
    markets: tuple[str, ...] | list[str]
    description: str = ""
    tags: tuple[str, ...] | list[str] = ()
    exchange: str = "binance"
    tier: str = Listing.Tier.FREE
    price_usd: Decimal | str | None = None
    billing: str = ""
    source_to_subscribers: bool = False


def _clean(details: ListingDetails) -> dict[str, Any]:
    """The listing's fields, or ValidationError naming each bad one."""
    errors: dict[str, list[str]] = {}
    name = (details.name or "").strip()
    if not 3 <= len(name) <= 100:
        errors["name"] = [_("A name of 3 to 100 characters.")]
    if details.category not in Listing.Category.values:
        errors["category"] = [_("Choose a category.")]
    if details.timeframe not in TIMEFRAME_MS:
        errors["timeframe"] = [_("Choose a timeframe.")]
    try:
        exchange = normalize_exchange(details.exchange)
        if exchange not in EXCHANGES:
            raise InvalidMarket(_("Binance or OKX."))
    except InvalidMarket as exc:
        errors["exchange"] = [str(exc)]
        exchange = ""
    markets: list[str] = []
    try:
        for symbol in details.markets or ():
            market = normalize_symbol(symbol)
            if market not in markets:
                markets.append(market)
    except InvalidMarket as exc:
        errors["markets"] = [str(exc)]
    if "markets" not in errors and not 1 <= len(markets) <= MAX_MARKETS:
        errors["markets"] = [_("One to %(count)d markets the strategy is meant for.") % {"count": MAX_MARKETS}]
    tags: list[str] = []
    for tag in details.tags or ():
        tag = " ".join(str(tag).split()).lower()
        if not tag or tag in tags:
            continue
        if len(tag) > MAX_TAG_LENGTH or not _TAG.match(tag):
            errors["tags"] = [
                _("Tags are words of up to %(length)d letters, digits, spaces or dashes.") % {"length": MAX_TAG_LENGTH}
            ]
            break
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        errors["tags"] = [_("At most %(count)d tags.") % {"count": MAX_TAGS}]
    price, billing = _price(details, errors)
    if errors:
        raise ValidationError(errors)
    return {
        "name": name, "description": (details.description or "").strip(), "category": details.category,
        "tags": tags, "exchange": exchange, "markets": markets, "timeframe": details.timeframe,
        "tier": details.tier, "price_usd": price, "billing": billing,
        "source_to_subscribers": bool(details.source_to_subscribers),
    }  # fmt: skip


def _price(details: ListingDetails, errors: dict[str, list[str]]) -> tuple[Decimal | None, str]:
    given = details.price_usd not in (None, "")
    if details.tier == Listing.Tier.FREE:
        if given:
            errors["price_usd"] = [_("A free listing has no price.")]
        if details.billing:
            errors["billing"] = [_("A free listing is not billed.")]
        return None, ""
    if details.tier not in Listing.Tier.values:
        errors["tier"] = [_("Choose free, premium or pro.")]
        return None, ""
    try:
        price = Decimal(str(details.price_usd).strip()) if given else None
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite() or price != price.quantize(Decimal("0.01")):
        errors["price_usd"] = [_("A price in US dollars, with at most two decimals.")]
        return None, ""
    if not MIN_PRICE <= price <= MAX_PRICE:
        errors["price_usd"] = [
            _("A price from %(low)s to %(high)s US dollars.") % {"low": MIN_PRICE, "high": f"{MAX_PRICE:,}"}
        ]
    if details.billing not in (Listing.Billing.MONTHLY, Listing.Billing.ONE_OFF):
        errors["billing"] = [_("Monthly or one-off.")]
    return price, details.billing


def _runs(version: PineScriptVersion) -> None:
    if not version.report.get("can_run", False):
        raise ValidationError({"script": [_("The script cannot run: mend it on its page first.")]})


@transaction.atomic
def listing_create(*, creator: Any, script_id: Any, details: ListingDetails) -> Listing:
    """A draft listing of one of the creator's scripts, offering its latest version."""
    fields = _clean(details)
    script = PineScript.objects.select_for_update().filter(id=script_id, user=creator).first()
    if script is None:
        raise ValidationError({"script": [_("Choose one of your scripts.")]})
    latest = script.latest
    if latest is None:
        raise ValidationError({"script": [_("Choose one of your scripts.")]})
    _runs(latest)
    if Listing.objects.filter(creator=creator, name=fields["name"]).exists():
        raise ValidationError({"name": [_("You already have a listing named %(name)s.") % {"name": fields["name"]}]})
    listing = Listing.objects.create(creator=creator, script=script, **fields)
    ListingVersion.objects.create(listing=listing, number=1, script_version=latest)
    return listing


def _own(creator: Any, listing_id: Any) -> Listing:
    """The creator's listing, locked; another user's is as unknown as a missing one."""
    listing = Listing.objects.select_for_update().filter(id=listing_id, creator=creator).first()
    if listing is None:
        raise ValidationError({"listing": [_("No such listing.")]})
    return listing


def _moves(listing: Listing, allowed: tuple[str, ...]) -> None:
    if listing.status not in allowed:
        raise ValidationError(
            {"status": [_("Not possible while the listing is %(status)s.") % {"status": listing.get_status_display()}]}
        )


@transaction.atomic
def listing_update(*, creator: Any, listing_id: Any, details: ListingDetails) -> Listing:
    """Change what the creator wrote, while the listing is not in review or published."""
    listing = _own(creator, listing_id)
    _moves(listing, EDITABLE)
    fields = _clean(details)
    if Listing.objects.filter(creator=creator, name=fields["name"]).exclude(id=listing.id).exists():
        raise ValidationError({"name": [_("You already have a listing named %(name)s.") % {"name": fields["name"]}]})
    for name, value in fields.items():
        setattr(listing, name, value)
    _back_to_draft(listing)
    listing.save()
    return listing


def _back_to_draft(listing: Listing) -> None:
    """An unlisted listing that changes needs a review again before it is published."""
    if listing.status == Listing.Status.UNLISTED:
        listing.status, listing.status_reason = Listing.Status.DRAFT, ""


@transaction.atomic
def listing_version_add(*, creator: Any, listing_id: Any, notes: str = "") -> ListingVersion:
    """Offer the script's latest version (saved on the script's page) in a listing not in review. A published
    listing stays published: Trendy verifies the new version at once, and releases it to subscribers when it passes
    (``listing_evidence_update``); until then they keep the version they have."""
    listing = _own(creator, listing_id)
    _moves(listing, (*EDITABLE, Listing.Status.PUBLISHED))
    latest = listing.script.latest
    current = listing.current
    if latest is None or (current is not None and current.script_version_id == latest.id):
        raise ValidationError({"script": [_("The listing offers the script's latest version already.")]})
    _runs(latest)
    number = (current.number if current else 0) + 1
    version = ListingVersion.objects.create(listing=listing, number=number, script_version=latest, notes=notes.strip())
    if listing.status == Listing.Status.PUBLISHED:
        enqueue("marketplace.verify_listing_version", str(version.id))  # sent when this transaction commits
    _back_to_draft(listing)
    listing.save(update_fields=["status", "status_reason", "updated_at"])
    return version


def _mean(values: list[Any]) -> Decimal | None:
    found = [Decimal(str(value)) for value in values if value is not None]
    return (sum(found, Decimal(0)) / len(found)).quantize(Decimal("0.01")) if found else None


@transaction.atomic
def listing_evidence_update(*, listing_id: Any) -> ListingVersion | None:
    """After a verification: the listing shows its newest verified version's evidence (the seed's
    ``backtest_results`` and the columns discovery filters on). A published listing's new version is thereby
    released; its subscribers are told and move when they choose. Answers the version newly released, if any."""
    listing = Listing.objects.select_for_update().filter(id=listing_id).first()
    released = listing.released if listing else None
    if released is None:
        return None
    markets = released.result.get("markets", [])
    worst = [row["public"]["metrics"].get("max_drawdown_pct") for row in markets]
    before = listing.backtest_results.get("version_id")
    listing.backtest_results = {**released.result, "version_id": str(released.id), "version": released.number}
    listing.trades = int(released.result.get("trades") or 0)
    listing.max_drawdown_pct = max((Decimal(str(w)) for w in worst if w is not None), default=None)
    listing.oos_return_pct = _mean(
        [(row.get("out_of_sample") or {}).get("metrics", {}).get("total_return_pct") for row in markets]
    )
    listing.save(update_fields=["backtest_results", "trades", "max_drawdown_pct", "oos_return_pct", "updated_at"])
    if listing.status != Listing.Status.PUBLISHED or before in (None, str(released.id)):
        return None
    for subscription in Subscription.objects.filter(listing=listing, status=Subscription.Status.ACTIVE).select_related(
        "user"
    ):
        if subscription.version_id != released.id:
            notify(subscription.user, "marketplace.new_version", listing=str(listing.id), version=released.number)
    return released


@transaction.atomic
def listing_submit(*, creator: Any, listing_id: Any) -> Listing:
    """Send a draft (or a rejected or unlisted listing, changed) for review."""
    listing = _own(creator, listing_id)
    _moves(listing, EDITABLE)
    current = listing.current
    if current is None:
        raise ValidationError({"script": [_("The listing offers no version.")]})
    _runs(current.script_version)
    listing.status, listing.status_reason = Listing.Status.IN_REVIEW, ""
    listing.save(update_fields=["status", "status_reason", "updated_at"])
    if current.verification != ListingVersion.Verification.PASSED:  # Trendy's own backtests, before staff decide
        ListingVersion.objects.filter(id=current.id).update(
            verification=ListingVersion.Verification.QUEUED, progress=0, error=""
        )
        enqueue("marketplace.verify_listing_version", str(current.id))  # sent when this transaction commits
    return listing


def _staff(user: Any) -> None:
    if not (user and user.is_active and user.is_staff):
        raise PermissionDenied(_("Only staff review listings."))


@transaction.atomic
def listing_review(*, staff: Any, listing_id: Any, approve: bool, reason: str = "") -> Listing:
    """Staff's decision on a listing in review: published, or rejected with the reason the creator reads."""
    _staff(staff)
    listing = Listing.objects.select_for_update().filter(id=listing_id).first()
    if listing is None:
        raise ValidationError({"listing": [_("No such listing.")]})
    _moves(listing, (Listing.Status.IN_REVIEW,))
    reason = (reason or "").strip()
    now = timezone.now()
    if approve:
        current = listing.current
        if current is None or current.verification != ListingVersion.Verification.PASSED:
            raise ValidationError({"verification": [_("Trendy has not verified the current version yet.")]})
        listing.status, listing.status_reason = Listing.Status.PUBLISHED, reason
        listing.published_at = listing.published_at or now
    else:
        if not reason:
            raise ValidationError({"reason": [_("Say why, for the creator.")]})
        listing.status, listing.status_reason = Listing.Status.REJECTED, reason
    listing.reviewed_by, listing.reviewed_at = staff, now
    listing.full_clean(exclude=["creator", "script", "reviewed_by"])
    listing.save()
    return listing


@transaction.atomic
def listing_unlist(*, user: Any, listing_id: Any, reason: str = "") -> Listing:
    """Take a published listing off the marketplace: its creator, or staff (who say why)."""
    listing = Listing.objects.select_for_update().filter(id=listing_id).first()
    staff = bool(user and user.is_active and user.is_staff)
    if listing is None or not (staff or listing.creator_id == user.pk):
        raise ValidationError({"listing": [_("No such listing.")]})
    _moves(listing, (Listing.Status.PUBLISHED,))
    mine = listing.creator_id == user.pk
    reason = reason or ""
    if not mine and not reason.strip():
        raise ValidationError({"reason": [_("Say why, for the creator.")]})
    # The creator's own unlisting can be undone by them (no reason kept); staff's says why, and stays.
    listing.status, listing.status_reason = Listing.Status.UNLISTED, "" if mine else reason.strip()
    listing.save(update_fields=["status", "status_reason", "updated_at"])
    return listing


@transaction.atomic
def listing_relist(*, creator: Any, listing_id: Any) -> Listing:
    """The creator lists an unlisted listing again (approved once, unchanged since); one staff unlisted stays off."""
    listing = _own(creator, listing_id)
    _moves(listing, (Listing.Status.UNLISTED,))
    if listing.status_reason:
        raise ValidationError({"status": [_("Staff unlisted it: send a changed version for review.")]})
    listing.status = Listing.Status.PUBLISHED
    listing.save(update_fields=["status", "updated_at"])
    return listing
