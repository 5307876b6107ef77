"""Stripe, offline: the ``stripe`` SDK builds real requests against a local fake of Stripe's API on 127.0.0.1
(``fake_stripe.py``), and the webhook receives events signed with Stripe's scheme and a test secret. A forged, stale
or unsigned event is a 400 and changes nothing; a replayed one is applied once; a refund staff make through Stripe
is posted once, whatever Stripe's own event says after it."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from marketplace import ledger, subscriptions
from marketplace.models import LedgerEntry, Payment, ProviderEvent, Subscription
from marketplace.providers import event
from tests.marketplace.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, sign

pytestmark = pytest.mark.django_db
URL = "/marketplace/stripe/webhook/"


@pytest.fixture
def stripe_api(settings):
    with FakeStripe() as fake:
        settings.TRENDY_PAYMENTS = "stripe"
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_API_BASE = fake.url
        yield fake


def deliver(client, evt, *, secret=WEBHOOK_SECRET, at=None, signature=None):
    body = json.dumps(evt).encode()
    header = signature if signature is not None else sign(body, secret, at)
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def completed(subscription, intent="pi_1"):
    return event("checkout.session.completed", {
        "id": subscription.provider_checkout, "object": "checkout.session", "client_reference_id": str(subscription.id),
        "mode": "payment", "payment_status": "paid", "amount_total": 2000, "currency": "usd", "payment_intent": intent,
    })  # fmt: skip


def test_checkout_requests_stripe_builds(alice, bob, publish, stripe_api):
    one_off = publish(alice, "Once", tier="premium", price="20.00", billing="one_off")
    monthly = publish(alice, "Monthly", tier="pro", price="30.00", billing="monthly")
    subscription, url = subscriptions.subscription_start(
        user=bob, listing_id=one_off.id, success_url="https://t.example/ok", cancel_url="https://t.example/no"
    )
    assert url.startswith("https://checkout.stripe.test/cs_test_") and subscription.provider == "stripe"
    sent = stripe_api.requests[-1]
    assert sent["path"] == "/v1/checkout/sessions" and sent["idempotency_key"] == f"checkout-{subscription.id}"
    params = sent["params"]
    assert (params["mode"], params["client_reference_id"], params["metadata[trendy_subscription]"]) == (
        "payment", str(subscription.id), str(subscription.id),
    )  # fmt: skip
    assert params["line_items[0][price_data][unit_amount]"] == "2000"
    assert params["line_items[0][price_data][currency]"] == "usd" and params["customer_email"] == bob.email
    assert params["payment_intent_data[metadata][trendy_subscription]"] == str(subscription.id)
    subscriptions.subscription_start(user=bob, listing_id=monthly.id)
    params = stripe_api.requests[-1]["params"]
    assert params["mode"] == "subscription" and params["line_items[0][price_data][recurring][interval]"] == "month"
    assert params["line_items[0][price_data][unit_amount]"] == "3000"


def test_signed_events_are_applied_once_and_forged_or_stale_ones_refused(alice, bob, publish, stripe_api, client):
    listing = publish(alice, tier="premium", price="20.00", billing="one_off")
    subscription, _ = subscriptions.subscription_start(user=bob, listing_id=listing.id)
    evt = completed(subscription)
    for bad in (
        {"secret": "whsec_someone_else"},  # forged
        {"at": int(time.time()) - 600},  # replayed after Stripe's five minutes
        {"signature": ""},  # unsigned
        {"signature": "t=1,v1=abc"},
    ):
        answer = deliver(client, evt, **bad)
        assert answer.status_code == 400, bad
    assert not Payment.objects.exists() and not LedgerEntry.objects.exists() and not ProviderEvent.objects.exists()
    answer = deliver(client, evt)
    assert (answer.status_code, answer.content) == (200, b"processed")
    assert Subscription.objects.get(id=subscription.id).status == "active"
    assert ledger.creator_balance(alice) == Decimal("14.00")
    # The same event again, freshly signed (Stripe retries): applied once.
    assert deliver(client, evt).content == b"duplicate" and LedgerEntry.objects.count() == 3
    # A body changed after signing is refused.
    body = json.dumps(evt).encode()
    header = sign(body)
    tampered = body.replace(b"2000", b"9000")
    answer = client.post(URL, tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert answer.status_code == 400 and LedgerEntry.objects.count() == 3


def test_a_refund_made_through_stripe_is_posted_once(alice, bob, publish, stripe_api, client, staff):
    listing = publish(alice, tier="premium", price="20.00", billing="one_off")
    subscription, _ = subscriptions.subscription_start(user=bob, listing_id=listing.id)
    deliver(client, completed(subscription, intent="pi_refund_me"))
    payment = Payment.objects.get()
    subscriptions.payment_refund(staff=staff, payment_id=payment.id, amount="5.00")
    sent = stripe_api.requests[-1]
    assert sent["path"] == "/v1/refunds" and sent["params"] == {"payment_intent": "pi_refund_me", "amount": "500"}
    # Stripe's own event about it follows: nothing more to post.
    refunded = event("charge.refunded", {"object": "charge", "payment_intent": "pi_refund_me", "amount_refunded": 500})
    assert deliver(client, refunded).content == b"ignored"
    assert LedgerEntry.objects.filter(kind="refund").count() == 3
    assert ledger.balances()["refunds"] == Decimal("-5.00") and ledger.creator_balance(alice) == Decimal("10.50")
    # A refund made in Stripe's dashboard arrives as an event only, and is posted.
    more = event("charge.refunded", {"object": "charge", "payment_intent": "pi_refund_me", "amount_refunded": 800})
    assert deliver(client, more).content == b"processed"
    assert Payment.objects.get().refunded == Decimal("8.00")


def test_stripe_unreachable_saves_nothing(alice, bob, publish, settings):
    listing = publish(alice, tier="premium", price="20.00", billing="one_off")
    settings.TRENDY_PAYMENTS, settings.STRIPE_SECRET_KEY = "stripe", SECRET_KEY
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(ValidationError, match="did not answer"):
        subscriptions.subscription_start(user=bob, listing_id=listing.id)
    assert not Subscription.objects.exists()


def test_the_webhook_is_off_unless_stripe_takes_payments(client, settings):
    settings.TRENDY_PAYMENTS = "test"
    assert client.post(URL, b"{}", content_type="application/json").status_code == 404
    assert reverse("marketplace:stripe_webhook") == URL
