"""Payment providers for premium and pro listings (``TRENDY_PAYMENTS``): Stripe Checkout, or the embedded test-mode
provider. Both end in the same place: provider events, in Stripe's shape, handled by
``marketplace.subscriptions.event_handle`` — Stripe sends them to the webhook (signed), the test-mode provider builds
them when the buyer confirms its test checkout page or a monthly subscription comes due. So the test-mode provider
walks the same code and ledger as Stripe, and no money moves.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import reverse

from marketplace.models import Payment, Subscription

log = logging.getLogger(__name__)
TEST, STRIPE = "test", "stripe"
METADATA_KEY = "trendy_subscription"


class PaymentsOff(Exception):
    """Payments are not configured (``TRENDY_PAYMENTS=off``)."""


class ProviderUnavailable(Exception):
    """The provider refused or did not answer a call; nothing was charged or given back."""


@dataclass(frozen=True)
class Checkout:
    ref: str  # the provider's checkout session id
    url: str  # where the buyer pays


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def dollars(amount_cents: Any) -> Decimal:
    return (Decimal(int(amount_cents)) / 100).quantize(Decimal("0.01"))


class TestMode:
    """The embedded provider: a Trendy page stands for Stripe's checkout; confirming it builds Stripe's events."""

    name = TEST

    def checkout(self, subscription: Subscription, *, success_url: str, cancel_url: str) -> Checkout:
        return Checkout(
            ref=f"cs_test_{uuid.uuid4().hex}",
            url=reverse("marketplace:test_checkout", args=[subscription.id]),
        )

    def cancel_renewal(self, subscription: Subscription) -> list[dict[str, Any]]:
        """The events Stripe would send when a subscription is set to end at its period's end."""
        return [
            event(
                "customer.subscription.updated",
                {
                    "id": subscription.provider_subscription,
                    "object": "subscription",
                    "status": "active",
                    "cancel_at_period_end": True,
                    "metadata": {METADATA_KEY: str(subscription.id)},
                },
            )
        ]

    def refund(self, payment: Payment, amount: Decimal) -> None:
        """Nothing to send: the service records the refund."""

    def paid_events(self, subscription: Subscription, *, period_end: datetime | None) -> list[dict[str, Any]]:
        """What Stripe sends when the buyer pays at checkout (one-off: the session; monthly: the session and the
        first invoice) or when a monthly subscription renews (an invoice)."""
        amount = cents(subscription.price_usd)
        intent = f"pi_test_{uuid.uuid4().hex}"
        meta = {METADATA_KEY: str(subscription.id)}
        events = []
        first = subscription.status == Subscription.Status.PENDING
        provider_sub = subscription.provider_subscription or f"sub_test_{uuid.uuid4().hex}"
        if first:
            session = {
                "id": subscription.provider_checkout,
                "object": "checkout.session",
                "client_reference_id": str(subscription.id),
                "mode": "payment" if subscription.plan == Subscription.Plan.ONE_OFF else "subscription",
                "payment_status": "paid",
                "amount_total": amount,
                "currency": "usd",
                "metadata": meta,
            }
            if subscription.plan == Subscription.Plan.ONE_OFF:
                session["payment_intent"] = intent
            else:
                session["subscription"] = provider_sub
            events.append(event("checkout.session.completed", session))
        if subscription.plan == Subscription.Plan.MONTHLY:
            end = int(period_end.timestamp()) if period_end else int(time.time())
            events.append(
                event(
                    "invoice.paid",
                    {
                        "id": f"in_test_{uuid.uuid4().hex}",
                        "object": "invoice",
                        "amount_paid": amount,
                        "currency": "usd",
                        "status": "paid",
                        "payment_intent": intent,
                        "parent": {"subscription_details": {"subscription": provider_sub, "metadata": meta}},
                        "lines": {"data": [{"period": {"start": int(time.time()), "end": end}}]},
                    },
                )
            )
        return events


class Stripe:
    """Stripe Checkout through the ``stripe`` SDK (``STRIPE_API_BASE`` points it elsewhere: tests use a fake)."""

    name = STRIPE

    def __init__(self) -> None:
        import stripe

        base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
        self.client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)

    def checkout(self, subscription: Subscription, *, success_url: str, cancel_url: str) -> Checkout:
        listing = subscription.listing
        meta = {METADATA_KEY: str(subscription.id)}
        price: dict[str, Any] = {
            "currency": "usd",
            "unit_amount": cents(subscription.price_usd),
            "product_data": {"name": listing.name},
        }
        params: dict[str, Any] = {
            "client_reference_id": str(subscription.id),
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": meta,
            "line_items": [{"price_data": price, "quantity": 1}],
        }
        if subscription.user.email:
            params["customer_email"] = subscription.user.email
        if subscription.plan == Subscription.Plan.MONTHLY:
            price["recurring"] = {"interval": "month"}
            params.update(mode="subscription", subscription_data={"metadata": meta})
        else:
            params.update(mode="payment", payment_intent_data={"metadata": meta})
        # One session per subscription, however often the buyer clicks or the network retries.
        with _calling():
            session = self.client.v1.checkout.sessions.create(
                params, options={"idempotency_key": f"checkout-{subscription.id}"}
            )
        return Checkout(ref=session.id, url=session.url)

    def cancel_renewal(self, subscription: Subscription) -> list[dict[str, Any]]:
        """Stripe stops renewing at the period's end; its own event follows through the webhook."""
        if subscription.provider_subscription:
            self.client.v1.subscriptions.update(subscription.provider_subscription, {"cancel_at_period_end": True})
        return []

    def refund(self, payment: Payment, amount: Decimal) -> None:
        with _calling():
            self.client.v1.refunds.create(
                {"payment_intent": payment.provider_payment, "amount": cents(amount)},
                options={"idempotency_key": f"refund-{payment.id}-{cents(payment.refunded + payment.disputed)}"},
            )

    @staticmethod
    def verify(payload: bytes, signature: str) -> dict[str, Any]:
        """The event, if Stripe signed it with the webhook secret within the last five minutes (else ValueError)."""
        import stripe

        try:
            evt = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise ValueError(str(exc)) from exc
        return evt.to_dict()


@contextmanager
def _calling() -> Iterator[None]:
    import stripe

    try:
        yield
    except stripe.StripeError as exc:
        log.warning("Stripe call failed: %s", type(exc).__name__, extra={"stripe_code": getattr(exc, "code", None)})
        raise ProviderUnavailable(type(exc).__name__) from exc


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"evt_test_{uuid.uuid4().hex}", "type": kind, "created": int(time.time()), "data": {"object": obj}}


def provider(name: str | None = None) -> TestMode | Stripe:
    name = name or settings.TRENDY_PAYMENTS
    if name == TEST:
        return TestMode()
    if name == STRIPE:
        return Stripe()
    raise PaymentsOff
