"""Staff's side of the money, in Django admin: refund a payment (the action asks the amount), record a payout (at
most what the creator is owed), read the ledger with its totals; each through ``marketplace.subscriptions``, and a
refused one leaves the ledger as it was."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace import ledger, subscriptions
from marketplace.models import LedgerEntry, Payment, Payout

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def paid(alice, bob, publish):
    listing = publish(alice, tier="premium", price="20.00", billing="one_off")
    subscription, _ = subscriptions.subscription_start(user=bob, listing_id=listing.id)
    subscriptions.test_checkout_pay(user=bob, subscription_id=subscription.id)
    return Payment.objects.get()


def test_staff_refund_a_payment_from_the_admin(paid, admin_client):
    url = "/admin/marketplace/payment/"
    asked = admin_client.post(url, {"action": "refund", "_selected_action": [str(paid.id)]})
    assert asked.status_code == 200 and "Amount (USD)" in asked.text
    too_much = {"action": "refund", "_selected_action": [str(paid.id)], "apply": "1", "amount": "25.00"}
    answer = admin_client.post(url, too_much, follow=True)
    assert "At most 20.00 USD" in answer.text and Payment.objects.get().refunded == 0
    assert not LedgerEntry.objects.filter(kind="refund").exists()
    admin_client.post(url, {**too_much, "amount": "5.00"})
    assert Payment.objects.get().refunded == D("5.00") and ledger.creator_balance(paid.creator) == D("10.50")
    admin_client.post(url, {**too_much, "amount": ""})  # empty: what is left
    assert Payment.objects.get().refunded == D("20.00") and ledger.balances()["refunds"] == D("-20.00")


def test_staff_record_a_payout_of_at_most_what_is_owed(paid, admin_client, alice):
    url = "/admin/marketplace/payout/add/"
    over = admin_client.post(url, {"creator": alice.pk, "amount": "14.01", "reference": "wire 7"})
    assert over.status_code == 200 and "At most 14.00 USD" in over.text and not Payout.objects.exists()
    done = admin_client.post(url, {"creator": alice.pk, "amount": "14.00", "reference": "wire 7"})
    assert done.status_code == 302
    payout = Payout.objects.get()
    assert (payout.amount, payout.reference, payout.recorded_by.is_superuser) == (D("14.00"), "wire 7", True)
    assert ledger.creator_balance(alice) == D("0.00")
    page = admin_client.get("/admin/marketplace/ledgerentry/")
    assert "Totals of the lines shown" in page.text and "-14.00 USD" in page.text  # the payouts account
    # Read-only: no change or delete of a ledger line, a payment or a payout from the admin.
    entry = LedgerEntry.objects.first()
    change = admin_client.post(f"/admin/marketplace/ledgerentry/{entry.pk}/change/", {"amount": "1"})
    assert LedgerEntry.objects.get(pk=entry.pk).amount == entry.amount and change.status_code in (200, 403)
    assert admin_client.get(f"/admin/marketplace/ledgerentry/{entry.pk}/delete/").status_code == 403
    assert admin_client.get(f"/admin/marketplace/payment/{paid.pk}/delete/").status_code == 403
