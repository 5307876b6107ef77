"""Every write to marketplace subscriptions, payments, refunds and payouts (issue 16): pages, the API, the admin,
the webhook, the beat and commands call these.

A trader takes a free listing at once; a premium or pro one through the payment provider's checkout
(``marketplace.providers``). What the provider reports arrives as events in Stripe's shape, each applied once by its
id (``event_handle``): a checkout or an invoice paid records a ``Payment`` and posts it to the ledger (70/30 by
default, ``marketplace.ledger``) and opens or extends access; a refund or a chargeback reverses its part; a
subscription set to end stops renewing. Events may come late, twice or out of order: a replay is a no-op, an older
subscription update than the one applied is ignored, an invoice that comes before its checkout finds its
subscription by the metadata Trendy put on it, and a refund of a payment not seen yet waits (``deferred``) and is
applied once the payment is. Staff refund and record payouts; neither can give back or pay out more than there is.

Why this file is long: the provider events and the services they share (a payment recorded, access opened and
ended, a reversal posted) are one state machine; split, each half would need the other's private steps.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace import ledger
from marketplace.models import LedgerEntry, Listing, ListingVersion, Payment, Payout, ProviderEvent, Subscription
from marketplace.providers import METADATA_KEY, TEST, PaymentsOff, ProviderUnavailable, dollars, provider
from strategies.models import PineScriptVersion
from trading.execution.records import notify

log = logging.getLogger(__name__)
Status = Subscription.Status
Reason = Subscription.EndReason


def _unavailable() -> str:  # translated when it is raised
    return _("The payment provider did not answer: nothing was charged or changed. Try again in a moment.")


ENDING_SOON_DAYS = 3  # a subscription that will not renew: its subscriber is told this long before access ends
PENDING_HOURS = 24  # a checkout not paid within a day is dropped (Stripe's sessions expire after 24 hours too)


def access_q(now: datetime | None = None, *, prefix: str = "") -> Q:
    """Subscriptions that give access now: active, and before their end when they have one (``prefix``: the path
    to the subscription from another model, e.g. ``subscriptions__``)."""
    now = now or timezone.now()
    return Q(**{f"{prefix}status": Status.ACTIVE}) & (
        Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": now})
    )


def has_access(user: Any, listing: Listing) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return Subscription.objects.filter(access_q(), user=user, listing=listing).exists()


# --- Taking a listing ----------------------------------------------------------------------------------------


def subscription_start(
    *, user: Any, listing_id: Any, success_url: str = "", cancel_url: str = ""
) -> tuple[Subscription, str | None]:
    """Take a published listing: a free one at once (no URL); a paid one opens a checkout and answers its URL.
    The subscription gives access once the provider reports the payment."""
    listing = Listing.objects.filter(id=listing_id).first()
    if listing is None or (listing.status != Listing.Status.PUBLISHED and listing.creator_id != user.pk):
        raise ValidationError({"listing": [_("No such listing.")]})
    if listing.creator_id == user.pk:
        raise ValidationError({"listing": [_("This is your own listing: you have it already.")]})
    if listing.status != Listing.Status.PUBLISHED:
        raise ValidationError({"listing": [_("Only a published listing can be taken.")]})
    version = listing.released
    if version is None:
        raise ValidationError({"listing": [_("Only a published listing can be taken.")]})
    paid = listing.tier != Listing.Tier.FREE
    try:
        payments = provider() if paid else None
    except PaymentsOff:
        raise ValidationError(
            {"listing": [_("Payments are off on this Trendy: only free listings can be taken.")]}
        ) from None
    with transaction.atomic():
        _close_stale(user, listing)
        now = timezone.now()
        fields: dict[str, Any] = {"listing": listing, "user": user, "version": version}
        try:
            with transaction.atomic():
                if not paid:
                    subscription = Subscription.objects.create(
                        **fields, plan=Subscription.Plan.FREE, status=Status.ACTIVE, started_at=now
                    )
                else:
                    subscription = Subscription.objects.create(
                        **fields, plan=listing.billing, price_usd=listing.price_usd, provider=payments.name
                    )
        except IntegrityError:
            raise ValidationError({"listing": [_("You have this listing already.")]}) from None
        if not paid:
            Listing.objects.filter(id=listing.id).update(downloads_count=F("downloads_count") + 1)
            return subscription, None
        # The provider's call is inside the transaction: when it fails, no subscription is left behind.
        try:
            checkout = payments.checkout(subscription, success_url=success_url, cancel_url=cancel_url)
        except ProviderUnavailable:
            raise ValidationError({"listing": [_unavailable()]}) from None
        subscription.provider_checkout = checkout.ref
        subscription.save(update_fields=["provider_checkout"])
        return subscription, checkout.url


def _close_stale(user: Any, listing: Listing) -> None:
    """Before a new subscription: end the trader's open one of the listing whose access is over (expired, the beat
    not there yet) or whose checkout was never paid (they start again)."""
    now = timezone.now()
    for old in Subscription.objects.select_for_update().filter(user=user, listing=listing).exclude(status=Status.ENDED):
        if old.status == Status.PENDING:
            _end(old, Reason.CHECKOUT_ABANDONED, now)
        elif old.expires_at is not None and old.expires_at <= now:
            _end(old, Reason.EXPIRED, now)


def _end(subscription: Subscription, reason: str, now: datetime) -> None:
    had_access = subscription.status == Status.ACTIVE
    subscription.status, subscription.ended_at, subscription.end_reason = Status.ENDED, now, reason
    subscription.auto_renew = False
    subscription.save(update_fields=["status", "ended_at", "end_reason", "auto_renew"])
    if had_access:
        _pause_bots(subscription)


def _pause_bots(subscription: Subscription) -> None:
    """Copy trading: the trader's running bots on the listing's versions open no new position once access ends
    (paused, with the reason on the bots page); their open positions keep their stop loss and take profit orders."""
    from trading.bots.services import bot_set_status
    from trading.models import Bot

    versions = ListingVersion.objects.filter(listing_id=subscription.listing_id).values_list(
        "script_version_id", flat=True
    )
    slugs = [PineScriptVersion(id=version_id).slug for version_id in versions]
    for bot in Bot.objects.filter(user_id=subscription.user_id, strategy__in=slugs, status=Bot.Status.RUNNING):
        bot_set_status(
            bot=bot, status=Bot.Status.PAUSED, reason_code="subscription_ended",
            reason_data={"listing": subscription.listing.name},
        )  # fmt: skip


def _own(user: Any, subscription_id: Any) -> Subscription:
    subscription = Subscription.objects.select_for_update().filter(id=subscription_id, user=user).first()
    if subscription is None:
        raise ValidationError({"subscription": [_("No such subscription.")]})
    return subscription


def subscription_cancel(*, user: Any, subscription_id: Any) -> Subscription:
    """Stop a subscription: a monthly one stops renewing and gives access until the paid period's end; a free one,
    or a checkout not paid, ends now. A one-off purchase is the trader's for good: nothing to cancel."""
    with transaction.atomic():
        subscription = _own(user, subscription_id)
        now = timezone.now()
        if subscription.status == Status.ENDED:
            raise ValidationError({"subscription": [_("It has ended already.")]})
        if subscription.plan == Subscription.Plan.ONE_OFF and subscription.status == Status.ACTIVE:
            raise ValidationError({"subscription": [_("A one-off purchase has nothing to cancel.")]})
        if subscription.status == Status.PENDING:
            _end(subscription, Reason.CHECKOUT_ABANDONED, now)
            return subscription
        if subscription.plan == Subscription.Plan.FREE:
            _end(subscription, Reason.CANCELLED, now)
            return subscription
        if subscription.cancelled_at is not None:
            raise ValidationError({"subscription": [_("It is cancelled already; access lasts until it expires.")]})
        subscription.auto_renew, subscription.cancelled_at = False, now
        subscription.save(update_fields=["auto_renew", "cancelled_at"])
        try:
            events = provider(subscription.provider).cancel_renewal(subscription)
        except ProviderUnavailable:
            raise ValidationError({"subscription": [_unavailable()]}) from None
    for evt in events:
        event_handle(provider_name=subscription.provider, event=evt)
    return subscription


@transaction.atomic
def subscription_version_move(*, user: Any, subscription_id: Any) -> Subscription:
    """Move to the listing's newest verified version (subscribers choose when)."""
    subscription = _own(user, subscription_id)
    current = subscription.listing.released
    if current is None or current.number <= subscription.version.number:
        raise ValidationError({"subscription": [_("You use the newest version already.")]})
    subscription.version = current
    subscription.save(update_fields=["version"])
    return subscription


def test_checkout_pay(*, user: Any, subscription_id: Any) -> Subscription:
    """The test-mode provider's checkout, confirmed by the buyer: the events Stripe would send, handled as Stripe's."""
    with transaction.atomic():
        subscription = _own(user, subscription_id)
        if subscription.provider != TEST or subscription.status != Status.PENDING:
            raise ValidationError({"subscription": [_("This checkout is not open.")]})
        events = provider(TEST).paid_events(subscription, period_end=timezone.now() + relativedelta(months=1))
    for evt in events:
        event_handle(provider_name=TEST, event=evt)
    subscription.refresh_from_db()
    return subscription


# --- Provider events -----------------------------------------------------------------------------------------


def event_handle(*, provider_name: str, event: dict[str, Any]) -> str:
    """Apply one provider event once (by its id); answers its status. Verified by the caller (the webhook checks
    Stripe's signature)."""
    event_id, kind = str(event.get("id") or ""), str(event.get("type") or "")
    if not event_id or not kind:
        raise ValidationError({"event": [_("An event has an id and a type.")]})
    created = datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC)
    try:
        with transaction.atomic():
            row = ProviderEvent.objects.create(
                id=event_id, provider=provider_name, type=kind, created=created, payload=event,
                status=ProviderEvent.Status.DEFERRED,
            )  # fmt: skip
            status = _apply_into(row)
    except IntegrityError:  # a replay, or the same event at the same moment: applied once already
        return "duplicate"
    if status == ProviderEvent.Status.PROCESSED:
        retry_deferred(provider_name)
    return status


def _apply_into(row: ProviderEvent) -> str:
    status, note = _apply(row.provider, row.type, row.payload, row.created)
    row.status, row.note = status, note[:300]
    row.processed_at = timezone.now() if status != ProviderEvent.Status.DEFERRED else None
    row.save(update_fields=["status", "note", "processed_at"])
    return status


def retry_deferred(provider_name: str | None = None, limit: int = 100) -> int:
    """Apply the events that waited for an earlier one (after each processed event, and by the beat)."""
    waiting = ProviderEvent.objects.filter(status=ProviderEvent.Status.DEFERRED).order_by("created")
    if provider_name:
        waiting = waiting.filter(provider=provider_name)
    done = 0
    for event_id in list(waiting.values_list("id", flat=True)[:limit]):
        with transaction.atomic():
            row = (
                ProviderEvent.objects.select_for_update(skip_locked=True)
                .filter(id=event_id, status=ProviderEvent.Status.DEFERRED)
                .first()
            )
            if row is not None and _apply_into(row) == ProviderEvent.Status.PROCESSED:
                done += 1
    return done


def _apply(provider_name: str, kind: str, event: dict[str, Any], created: datetime) -> tuple[str, str]:
    obj = (event.get("data") or {}).get("object") or {}
    handler = _HANDLERS.get(kind)
    if handler is None:
        return ProviderEvent.Status.IGNORED, "not a type Trendy acts on"
    return handler(provider_name, obj, created)


def _subscription_of(obj: dict[str, Any], provider_sub: str = "") -> Subscription | None:
    details = (obj.get("parent") or {}).get("subscription_details") or obj.get("subscription_details") or {}
    meta = details.get("metadata") or obj.get("metadata") or {}
    ref = meta.get(METADATA_KEY) or obj.get("client_reference_id")
    found = Subscription.objects.select_for_update()
    if ref:
        try:
            return found.filter(id=ref).first()
        except ValidationError:  # not a UUID
            return None
    provider_sub = provider_sub or details.get("subscription") or obj.get("subscription") or ""
    return found.filter(provider_subscription=provider_sub).first() if provider_sub else None


def _on_checkout_completed(provider_name: str, obj: dict[str, Any], created: datetime) -> tuple[str, str]:
    subscription = _subscription_of(obj)
    if subscription is None:
        return ProviderEvent.Status.IGNORED, "no such subscription"
    if obj.get("mode") == "subscription":  # the invoice pays; the session names the provider's subscription
        if obj.get("subscription") and not subscription.provider_subscription:
            subscription.provider_subscription = str(obj["subscription"])
            subscription.save(update_fields=["provider_subscription"])
        return ProviderEvent.Status.PROCESSED, "monthly checkout: the invoice records the payment"
    if obj.get("payment_status") != "paid":
        return ProviderEvent.Status.IGNORED, "not paid"
    payment = _record_payment(
        subscription, provider_name, ref=str(obj.get("id")), intent=str(obj.get("payment_intent") or ""),
        amount=dollars(obj.get("amount_total") or 0), period_end=None,
    )  # fmt: skip
    _open(subscription, until=None, created=created)
    return ProviderEvent.Status.PROCESSED, f"payment {payment.id}" if payment else "payment recorded already"


def _on_invoice_paid(provider_name: str, obj: dict[str, Any], created: datetime) -> tuple[str, str]:
    subscription = _subscription_of(obj)
    if subscription is None:
        return ProviderEvent.Status.DEFERRED, "no subscription yet"
    lines = (obj.get("lines") or {}).get("data") or [{}]
    end = (lines[0].get("period") or {}).get("end")
    until = datetime.fromtimestamp(int(end), tz=UTC) if end else None
    intent = obj.get("payment_intent") or ""
    for item in (obj.get("payments") or {}).get("data") or ():  # Stripe's newer invoices list their payments
        intent = intent or ((item.get("payment") or {}).get("payment_intent") or "")
    payment = _record_payment(
        subscription, provider_name, ref=str(obj.get("id")), intent=str(intent),
        amount=dollars(obj.get("amount_paid") or 0), period_end=until,
    )  # fmt: skip
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    if details.get("subscription") and not subscription.provider_subscription:
        subscription.provider_subscription = str(details["subscription"])
    _open(subscription, until=until, created=created, renews=subscription.cancelled_at is None)
    return ProviderEvent.Status.PROCESSED, f"payment {payment.id}" if payment else "payment recorded already"


def _on_invoice_payment_paid(provider_name: str, obj: dict[str, Any], created: datetime) -> tuple[str, str]:
    """Stripe's newer API names an invoice's payment intent in its own event: refunds find the payment by it."""
    found = Payment.objects.select_for_update()
    payment = found.filter(provider=provider_name, provider_ref=str(obj.get("invoice") or "")).first()
    if payment is None:
        return ProviderEvent.Status.DEFERRED, "invoice not recorded yet"
    intent = (obj.get("payment") or {}).get("payment_intent") or ""
    if intent and not payment.provider_payment:
        payment.provider_payment = intent
        payment.save(update_fields=["provider_payment"])
    return ProviderEvent.Status.PROCESSED, ""


def _on_subscription_changed(provider_name: str, obj: dict[str, Any], created: datetime) -> tuple[str, str]:
    subscription = _subscription_of(obj, provider_sub=str(obj.get("id") or ""))
    if subscription is None:
        return ProviderEvent.Status.DEFERRED, "no subscription yet"
    if subscription.provider_event_at and created < subscription.provider_event_at:
        return ProviderEvent.Status.IGNORED, "older than the state applied"
    ending = obj.get("cancel_at_period_end") or obj.get("status") in ("canceled", "incomplete_expired", "unpaid")
    subscription.provider_subscription = subscription.provider_subscription or str(obj.get("id") or "")
    subscription.provider_event_at = created
    if ending:
        subscription.auto_renew = False
        subscription.cancelled_at = subscription.cancelled_at or timezone.now()
    elif obj.get("status") == "active":
        subscription.auto_renew, subscription.cancelled_at = True, None
    subscription.save(update_fields=["provider_subscription", "provider_event_at", "auto_renew", "cancelled_at"])
    return ProviderEvent.Status.PROCESSED, "ends at the period's end" if ending else "renews"


def _on_refunded(provider_name: str, obj: dict[str, Any], created: datetime) -> tuple[str, str]:
    payment = _payment_of(provider_name, obj)
    if payment is None:
        return ProviderEvent.Status.DEFERRED, "payment not recorded yet"
    total = dollars(obj.get("amount_refunded") or 0)  # cumulative: a late, older event asks for less
    more = total - payment.refunded
    if more <= 0:
        return ProviderEvent.Status.IGNORED, "recorded already"
    if more > payment.amount - payment.refunded - payment.disputed:
        log.error("provider refund over the payment", extra={"payment": str(payment.id), "refund": str(more)})
        return ProviderEvent.Status.IGNORED, "refund larger than what is left of the payment: refused"
    _reverse(payment, more, LedgerEntry.Kind.REFUND)
    return ProviderEvent.Status.PROCESSED, f"refund {more}"


def _on_dispute(provider_name: str, obj: dict[str, Any], created: datetime) -> tuple[str, str]:
    payment = _payment_of(provider_name, obj)
    if payment is None:
        return ProviderEvent.Status.DEFERRED, "payment not recorded yet"
    amount = min(dollars(obj.get("amount") or 0), payment.amount - payment.refunded - payment.disputed)
    if amount <= 0:
        return ProviderEvent.Status.IGNORED, "nothing left to charge back"
    _reverse(payment, amount, LedgerEntry.Kind.CHARGEBACK)
    return ProviderEvent.Status.PROCESSED, f"chargeback {amount}"


def _payment_of(provider_name: str, obj: dict[str, Any]) -> Payment | None:
    intent = obj.get("payment_intent") or ""
    if not intent:
        return None
    return Payment.objects.select_for_update().filter(provider=provider_name, provider_payment=intent).first()


_HANDLERS = {
    "checkout.session.completed": _on_checkout_completed,
    "invoice.paid": _on_invoice_paid,
    "invoice_payment.paid": _on_invoice_payment_paid,
    "customer.subscription.updated": _on_subscription_changed,
    "customer.subscription.deleted": _on_subscription_changed,
    "charge.refunded": _on_refunded,
    "charge.dispute.created": _on_dispute,
}


def _record_payment(
    subscription: Subscription, provider_name: str, *, ref: str, intent: str, amount: Decimal, period_end: Any
) -> Payment | None:
    """A payment, once per provider reference, posted to the ledger; None when it is recorded already."""
    if amount <= 0 or Payment.objects.filter(provider=provider_name, provider_ref=ref).exists():
        return None
    listing = subscription.listing
    payment = Payment.objects.create(
        subscription=subscription, buyer_id=subscription.user_id, creator_id=listing.creator_id, listing=listing,
        amount=amount, creator_share=ledger.creator_share(), provider=provider_name, provider_ref=ref,
        provider_payment=intent, period_end=period_end,
    )  # fmt: skip
    ledger.post_payment(payment)
    notify(
        listing.creator_id, "marketplace.sale", listing=str(listing.id), listing_name=listing.name,
        payment=str(payment.id), amount=amount, creator_amount=ledger.creator_part(amount, payment.creator_share),
    )  # fmt: skip
    return payment


def _open(subscription: Subscription, *, until: datetime | None, created: datetime, renews: bool = False) -> None:
    """Access from a payment: opened (or opened again), and extended to the paid period's end."""
    now = timezone.now()
    first = subscription.started_at is None
    if subscription.status != Status.ACTIVE:
        clash = (
            Subscription.objects.filter(user_id=subscription.user_id, listing_id=subscription.listing_id)
            .exclude(status=Status.ENDED)
            .exclude(id=subscription.id)
            .exists()
        )
        if clash:  # paid for an ended subscription while another is open: the money is recorded; staff refund it
            log.warning("payment for an ended subscription", extra={"subscription": str(subscription.id)})
            return
        subscription.status, subscription.ended_at, subscription.end_reason = Status.ACTIVE, None, ""
        subscription.started_at = subscription.started_at or now
    if subscription.plan == Subscription.Plan.MONTHLY and until is not None:
        subscription.expires_at = max(subscription.expires_at or until, until)
        subscription.auto_renew = renews
    subscription.save()
    if first:
        Listing.objects.filter(id=subscription.listing_id).update(downloads_count=F("downloads_count") + 1)


def _reverse(payment: Payment, amount: Decimal, kind: str) -> None:
    before = payment.refunded + payment.disputed
    ledger.post_reversal(payment, amount, kind=kind, refunded_before=before)
    if kind == LedgerEntry.Kind.CHARGEBACK:
        payment.disputed += amount
    else:
        payment.refunded += amount
    payment.save(update_fields=["refunded", "disputed"])
    if payment.refunded + payment.disputed == payment.amount:  # all of it given back: its access ends
        subscription = Subscription.objects.select_for_update().get(id=payment.subscription_id)
        if subscription.status == Status.ACTIVE:
            reason = Reason.CHARGED_BACK if kind == LedgerEntry.Kind.CHARGEBACK else Reason.REFUNDED
            _end(subscription, reason, timezone.now())
            notify(subscription.user, "marketplace.subscription_ended", subscription=str(subscription.id))


# --- Staff: refunds and payouts ------------------------------------------------------------------------------


def _staff(user: Any) -> None:
    if not (user and user.is_active and user.is_staff):
        raise PermissionDenied(_("Only staff do this."))


def _usd(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0 or amount != amount.quantize(ledger.CENT):
        raise ValidationError({field: [_("An amount in US dollars above zero, with at most two decimals.")]})
    return amount


def payment_refund(*, staff: Any, payment_id: Any, amount: Any) -> Payment:
    """Give back part or all of a payment (at most what is left of it), through its provider, and post it."""
    _staff(staff)
    amount = _usd(amount, "amount")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(id=payment_id).first()
        if payment is None:
            raise ValidationError({"payment": [_("No such payment.")]})
        left = payment.amount - payment.refunded - payment.disputed
        if amount > left:
            raise ValidationError(
                {"amount": [_("At most %(left)s USD: what is left of the payment.") % {"left": left}]}
            )
        try:  # Stripe's refund; its later event is then a no-op
            provider(payment.provider).refund(payment, amount)
        except ProviderUnavailable:
            raise ValidationError({"amount": [_unavailable()]}) from None
        _reverse(payment, amount, LedgerEntry.Kind.REFUND)
    return payment


def payout_check(*, creator: Any, amount: Any, reference: str) -> tuple[Decimal, str]:
    """A payout's amount and reference, or ValidationError: an amount of at most what Trendy owes the creator."""
    amount = _usd(amount, "amount")
    reference = (reference or "").strip()[:200]
    if not reference:
        raise ValidationError({"reference": [_("The transfer's reference, for the books.")]})
    owed = ledger.creator_balance(creator)
    if amount > owed:
        raise ValidationError({"amount": [_("At most %(owed)s USD: what Trendy owes them.") % {"owed": owed}]})
    return amount, reference


def payout_record(*, staff: Any, creator_id: Any, amount: Any, reference: str) -> Payout:
    """Record money sent to a creator: at most what Trendy owes them."""
    _staff(staff)
    with transaction.atomic():
        # The creator's row locked: two payouts at once cannot both pass the balance check.
        creator = get_user_model().objects.select_for_update().filter(pk=creator_id).first()
        if creator is None:
            raise ValidationError({"creator": [_("No such creator.")]})
        amount, reference = payout_check(creator=creator, amount=amount, reference=reference)
        payout = Payout.objects.create(creator=creator, amount=amount, reference=reference, recorded_by=staff)
        ledger.post_payout(payout)
    return payout


# --- The beat -------------------------------------------------------------------------------------------------


def subscriptions_expire(now: datetime | None = None) -> dict[str, int]:
    """Renew the test-mode provider's monthly subscriptions that come due (Stripe renews its own), end the ones
    whose access is over and drop checkouts not paid within a day."""
    now = now or timezone.now()
    renewed = ended = dropped = 0
    due = Subscription.objects.filter(
        status=Status.ACTIVE, plan=Subscription.Plan.MONTHLY, provider=TEST, auto_renew=True, expires_at__lte=now
    )
    for subscription in due:
        for evt in provider(TEST).paid_events(
            subscription, period_end=subscription.expires_at + relativedelta(months=1)
        ):
            event_handle(provider_name=TEST, event=evt)
        renewed += 1
    for subscription_id in Subscription.objects.filter(status=Status.ACTIVE, expires_at__lte=now).values_list(
        "id", flat=True
    ):
        with transaction.atomic():
            subscription = Subscription.objects.select_for_update().get(id=subscription_id)
            if subscription.status == Status.ACTIVE and subscription.expires_at <= now:
                _end(subscription, Reason.EXPIRED, now)
                notify(subscription.user, "marketplace.subscription_ended", subscription=str(subscription.id))
                ended += 1
    stale = now - relativedelta(hours=PENDING_HOURS)
    for subscription in Subscription.objects.filter(status=Status.PENDING, created_at__lt=stale):
        with transaction.atomic():
            _end(subscription, Reason.CHECKOUT_ABANDONED, now)
            dropped += 1
    ending = subscriptions_ending_tell(now)
    return {"renewed": renewed, "ended": ended, "dropped": dropped, "ending": ending}


def subscriptions_ending_tell(now: datetime | None = None) -> int:
    """Tell the subscribers whose access ends within ``ENDING_SOON_DAYS`` and will not renew
    (``marketplace.subscription_ending``), once per subscription and end date (a cache key that lives until the
    end: a renewal that moves the end, then a cancellation, tells again). Returns how many were told."""
    from django.core.cache import cache

    now = now or timezone.now()
    told = 0
    soon = Subscription.objects.filter(
        status=Status.ACTIVE, auto_renew=False, expires_at__gt=now,
        expires_at__lte=now + relativedelta(days=ENDING_SOON_DAYS),
    ).select_related("listing")  # fmt: skip
    for subscription in soon:
        ttl = int((subscription.expires_at - now).total_seconds()) + 86400
        key = f"marketplace:ending-told:{subscription.id}:{int(subscription.expires_at.timestamp())}"
        if cache.add(key, 1, timeout=ttl):
            notify(
                subscription.user_id, "marketplace.subscription_ending", subscription=str(subscription.id),
                listing=str(subscription.listing_id), listing_name=subscription.listing.name,
                expires_at=subscription.expires_at,
            )  # fmt: skip
            told += 1
    return told
