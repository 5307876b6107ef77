"""A creator's earnings, read from the ledger: each month's share of payments less the share of refunds and
chargebacks, subscribers per listing, what Trendy owes them now and the payouts recorded."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from marketplace import ledger
from marketplace.models import LedgerEntry, Listing, Payout
from marketplace.subscriptions import access_q


def of_creator(creator: Any) -> dict[str, Any]:
    lines = LedgerEntry.objects.filter(creator=creator, account=LedgerEntry.Account.CREATOR_PAYABLE)
    months = (
        lines.exclude(kind=LedgerEntry.Kind.PAYOUT)
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(
            earned=Sum("amount", filter=Q(kind=LedgerEntry.Kind.PAYMENT)),
            reversed=Sum("amount", filter=~Q(kind=LedgerEntry.Kind.PAYMENT)),
            payments=Count("id", filter=Q(kind=LedgerEntry.Kind.PAYMENT)),
        )
        .order_by("-month")
    )
    rows = [
        {
            "month": row["month"],
            "payments": row["payments"],
            "earned": -(row["earned"] or Decimal(0)),
            "given_back": row["reversed"] or Decimal("0.00"),
            "net": -((row["earned"] or Decimal(0)) + (row["reversed"] or Decimal(0))),
        }
        for row in months
    ]
    listings = (
        Listing.objects.filter(creator=creator)
        .annotate(subscribers=Count("subscriptions", filter=access_q(prefix="subscriptions__")))
        .order_by("name")
    )
    return {
        "months": rows,
        "listings": listings,
        "owed": ledger.creator_balance(creator),
        "payouts": Payout.objects.filter(creator=creator).order_by("-created_at"),
        "share": ledger.creator_share(),
    }
