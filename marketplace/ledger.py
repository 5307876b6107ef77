"""The marketplace's double-entry ledger (issue 16): what each payment, refund, chargeback and payout posts.

Debits are positive, credits negative, and the lines of one posting sum to zero (PostgreSQL checks it at commit).
Accounts, from Trendy's side:

- ``buyer_payments``: money received from buyers (a debit per payment).
- ``creator_payable``: what Trendy owes creators, per creator (credited by their share of each payment, debited by
  refunds' share and by payouts); a creator's balance is minus its sum.
- ``platform_revenue``: Trendy's share (credited per payment, debited by refunds' share); revenue is minus its sum.
- ``refunds``: money given back to buyers, refunds and chargebacks (credits).
- ``payouts``: money sent to creators (credits).

Rounding: the creator's part of a payment is the amount times the share in force, rounded down to the cent; the
cent left over goes to Trendy. A refund's creator part is computed on the running total refunded of that payment
(rounded down the same way) less what earlier refunds took, so refunding a payment in full, in any number of
parts, reverses its split to the cent. The share in force at the payment is stored on it and on every line that
comes from it.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum

from marketplace.models import LedgerEntry, Payment, Payout

CENT = Decimal("0.01")
Account = LedgerEntry.Account
Kind = LedgerEntry.Kind


def creator_share() -> Decimal:
    """The share in force (``TRENDY_CREATOR_SHARE``), checked: 0 to 1, at most four decimals."""
    share = Decimal(str(settings.TRENDY_CREATOR_SHARE))
    if not (0 <= share <= 1) or share != share.quantize(Decimal("0.0001")):
        raise ValueError("TRENDY_CREATOR_SHARE is a share from 0 to 1 with at most four decimals.")
    return share


def creator_part(amount: Decimal, share: Decimal) -> Decimal:
    return (amount * share).quantize(CENT, rounding=ROUND_DOWN)


def _post(kind: str, creator_id: Any, share: Decimal, lines: list[tuple[str, Decimal]], **source: Any) -> uuid.UUID:
    txn = uuid.uuid4()
    rows = [
        LedgerEntry(txn=txn, kind=kind, account=account, creator_id=creator_id, amount=amount, share=share, **source)
        for account, amount in lines
        if amount != 0
    ]
    if sum((row.amount for row in rows), Decimal(0)) != 0:  # the database checks it again at commit
        raise ValueError("A ledger posting must balance.")
    LedgerEntry.objects.bulk_create(rows)
    return txn


def post_payment(payment: Payment) -> uuid.UUID:
    """A buyer paid: the money in, the creator's share owed, Trendy's share earned."""
    creator = creator_part(payment.amount, payment.creator_share)
    return _post(
        Kind.PAYMENT,
        payment.creator_id,
        payment.creator_share,
        [
            (Account.BUYER_PAYMENTS, payment.amount),
            (Account.CREATOR_PAYABLE, -creator),
            (Account.PLATFORM_REVENUE, -(payment.amount - creator)),
        ],
        payment=payment,
    )


def post_reversal(payment: Payment, amount: Decimal, *, kind: str, refunded_before: Decimal) -> uuid.UUID:
    """Part of a payment given back (a refund or a chargeback), split as the payment was (module docstring)."""
    share = payment.creator_share
    creator = creator_part(refunded_before + amount, share) - creator_part(refunded_before, share)
    return _post(
        kind,
        payment.creator_id,
        share,
        [
            (Account.REFUNDS, -amount),
            (Account.CREATOR_PAYABLE, creator),
            (Account.PLATFORM_REVENUE, amount - creator),
        ],
        payment=payment,
    )


def post_payout(payout: Payout) -> uuid.UUID:
    """Trendy sent a creator money it owed them."""
    return _post(
        Kind.PAYOUT,
        payout.creator_id,
        creator_share(),
        [(Account.CREATOR_PAYABLE, payout.amount), (Account.PAYOUTS, -payout.amount)],
        payout=payout,
    )


def balances(**filters: Any) -> dict[str, Decimal]:
    """The sum of each account's lines (debits positive), for the lines ``filters`` select (e.g. ``creator=…``)."""
    sums = dict.fromkeys(Account.values, Decimal("0.00"))
    for row in LedgerEntry.objects.filter(**filters).values("account").annotate(total=Sum("amount")):
        sums[row["account"]] = row["total"]
    return sums


def creator_balance(creator: Any) -> Decimal:
    """What Trendy owes the creator now (their share of payments, less refunds' share and payouts)."""
    return -balances(creator=creator)[Account.CREATOR_PAYABLE]
