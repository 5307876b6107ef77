"""The strategy marketplace's tables (issue 16). A listing offers one of its creator's Pine scripts (a
``strategies.PineScript``); each version it offers is one immutable script version, kept in order with the listing's
history. A listing moves draft → in review → published (or rejected, with the reason the creator reads) → unlisted;
only ``marketplace.services`` moves it, and the database holds the rules a row must keep (prices, ratings, counts).
A trader's ``Subscription`` (free, monthly or one-off) gives access to a listing; each ``Payment`` for it and each
``Payout`` to a creator is posted to the append-only, double-entry ``LedgerEntry`` table
(``marketplace.ledger``); ``ProviderEvent`` keeps each payment-provider event once.

Why this file is long: the marketplace's tables and the rules the database holds for each sit together, so one
page shows every constraint money depends on.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MIN_PRICE, MAX_PRICE = Decimal("1"), Decimal("10000")  # USD, for premium and pro listings


class Listing(models.Model):
    class Category(models.TextChoices):
        TREND = "trend", _("Trend")
        MEAN_REVERSION = "mean_reversion", _("Mean reversion")
        BREAKOUT = "breakout", _("Breakout")
        SCALPING = "scalping", _("Scalping")
        OTHER = "other", _("Other")

    class Tier(models.TextChoices):
        FREE = "free", _("Free")
        PREMIUM = "premium", _("Premium")
        PRO = "pro", _("Pro")

    class Billing(models.TextChoices):
        NONE = "", _("None (free)")
        MONTHLY = "monthly", _("Monthly subscription")
        ONE_OFF = "one_off", _("One-off purchase")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_REVIEW = "in_review", _("In review")
        PUBLISHED = "published", _("Published")
        REJECTED = "rejected", _("Rejected")
        UNLISTED = "unlisted", _("Unlisted")

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="listings", verbose_name=_("creator")
    )
    script = models.ForeignKey(
        "strategies.PineScript", on_delete=models.PROTECT, related_name="listings", verbose_name=_("script")
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description (Markdown)"), max_length=20_000, blank=True)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    exchange = models.CharField(_("exchange"), max_length=32, default="binance")
    markets = models.JSONField(_("markets"), default=list)
    timeframe = models.CharField(_("timeframe"), max_length=8)
    tier = models.CharField(_("tier"), max_length=8, choices=Tier.choices, default=Tier.FREE)
    price_usd = models.DecimalField(
        _("price (USD)"),
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_PRICE), MaxValueValidator(MAX_PRICE)],
    )
    billing = models.CharField(_("billing"), max_length=8, choices=Billing.choices, blank=True, default="")
    source_to_subscribers = models.BooleanField(
        _("subscribers may read the script"),
        default=False,
        help_text=_("Off: subscribers' backtests and bots run the script without showing it."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.TextField(_("reason"), max_length=2_000, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    published_at = models.DateTimeField(_("first published at"), null=True, blank=True)
    # The seed's fields.
    downloads_count = models.PositiveIntegerField(_("downloads"), default=0)
    rating_average = models.DecimalField(
        _("average rating"),
        max_digits=3,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(0), MaxValueValidator(5)],
    )
    rating_count = models.PositiveIntegerField(_("ratings"), default=0)
    backtest_results = models.JSONField(_("backtest results"), default=dict, blank=True)
    # Trendy's evidence of the released version, in columns for discovery's filters and sorts (from its result).
    trades = models.PositiveIntegerField(_("trades (all stored candles)"), null=True, blank=True)
    max_drawdown_pct = models.DecimalField(
        _("max drawdown (%, all stored candles)"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    oos_return_pct = models.DecimalField(
        _("out-of-sample return (%)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("listing")
        verbose_name_plural = _("listings")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["creator", "name"], name="listing_name_per_creator"),
            # Free: no price, no billing. Premium and pro: a price of 1–10,000 USD and how it is billed.
            models.CheckConstraint(
                condition=Q(tier="free", price_usd__isnull=True, billing="")
                | Q(
                    tier__in=["premium", "pro"],
                    price_usd__gte=MIN_PRICE,
                    price_usd__lte=MAX_PRICE,
                    billing__in=["monthly", "one_off"],
                ),
                name="listing_price_by_tier",
            ),
            models.CheckConstraint(
                condition=Q(rating_average__gte=0, rating_average__lte=5), name="listing_rating_0_to_5"
            ),
            models.CheckConstraint(
                condition=Q(rating_count__gt=0) | Q(rating_average=0), name="listing_no_average_without_ratings"
            ),
            # A rejection says why; a published listing has been reviewed.
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(status_reason=""), name="listing_rejection_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["published", "unlisted"]) | Q(published_at__isnull=False),
                name="listing_published_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-published_at"], name="listing_status_published"),
            models.Index(fields=["status", "-rating_average"], name="listing_status_rating"),
            models.Index(fields=["status", "-downloads_count"], name="listing_status_downloads"),
            # The out-of-sample sort's index (listings without the figure last) and the text search's trigram
            # indexes are PostgreSQL's own: migration 0008.
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def current(self) -> ListingVersion | None:
        """The newest version, verified or not (what the creator works on)."""
        return self.versions.order_by("-number").first()

    @property
    def released(self) -> ListingVersion | None:
        """The newest version Trendy verified: what a new subscriber gets and the evidence shown."""
        return self.versions.filter(verification=ListingVersion.Verification.PASSED).order_by("-number").first()


class ListingVersion(models.Model):
    """One script version a listing offers; its script never changes. The newest is the one buyers get. Trendy
    verifies each version itself (``marketplace.verification``): a backtest of the listed markets over every stored
    candle (the public set) and one of the most recent candles the creator's own backtests did not use."""

    class Verification(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        PASSED = "passed", _("Verified")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="versions", verbose_name=_("listing"))
    number = models.PositiveIntegerField(_("version"))
    script_version = models.ForeignKey(
        "strategies.PineScriptVersion", on_delete=models.PROTECT, related_name="+", verbose_name=_("script version")
    )
    notes = models.TextField(_("what changed"), max_length=2_000, blank=True)
    verification = models.CharField(
        _("verification"), max_length=8, choices=Verification.choices, default=Verification.QUEUED
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0, validators=[MaxValueValidator(100)])
    result = models.JSONField(_("verification result"), default=dict, blank=True)
    few_trades = models.BooleanField(_("fewer trades than the minimum"), default=False)
    error = models.TextField(_("error"), blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("listing version")
        verbose_name_plural = _("listing versions")
        ordering = ["listing", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["listing", "number"], name="listing_version_number"),
            models.UniqueConstraint(fields=["listing", "script_version"], name="listing_version_once"),
            models.CheckConstraint(condition=Q(number__gte=1), name="listing_version_positive"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="listing_version_progress_100"),
            models.CheckConstraint(
                condition=~Q(verification="failed") | ~Q(error=""), name="listing_version_failure_says_why"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.listing.name} v{self.number}"


class Subscription(models.Model):
    """A trader's access to a listing: a free subscription, a monthly one or a one-off purchase. Only
    ``marketplace.subscriptions`` creates or changes one. Access is ``active`` and, when it has an end, before
    ``expires_at`` — so it ends at expiry even before the beat marks it ended. ``version`` is the listing version the
    subscriber runs: a new version is offered, and they move when they choose."""

    class Plan(models.TextChoices):
        FREE = "free", _("Free")
        MONTHLY = "monthly", _("Monthly subscription")
        ONE_OFF = "one_off", _("One-off purchase")

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting payment")
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Ended")

    class EndReason(models.TextChoices):
        NONE = "", _("Not ended")
        EXPIRED = "expired", _("Access expired")
        CANCELLED = "cancelled", _("Cancelled by the subscriber")
        REFUNDED = "refunded", _("Refunded")
        CHARGED_BACK = "charged_back", _("Charged back")
        CHECKOUT_ABANDONED = "abandoned", _("Checkout not completed")

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    listing = models.ForeignKey(
        Listing, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("listing")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("subscriber")
    )
    version = models.ForeignKey(
        ListingVersion, on_delete=models.PROTECT, related_name="+", verbose_name=_("version in use")
    )
    plan = models.CharField(_("plan"), max_length=8, choices=Plan.choices)
    price_usd = models.DecimalField(_("price (USD)"), max_digits=8, decimal_places=2, null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    auto_renew = models.BooleanField(_("renews automatically"), default=False)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("access until"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("why it ended"), max_length=12, choices=EndReason.choices, blank=True)
    provider = models.CharField(_("payment provider"), max_length=8, blank=True)
    provider_checkout = models.CharField(_("checkout session"), max_length=255, blank=True)
    provider_subscription = models.CharField(_("provider subscription"), max_length=255, blank=True)
    # The newest provider event applied to the subscription's state: an older one arriving late is ignored.
    provider_event_at = models.DateTimeField(_("last provider event"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-created_at"]
        constraints = [
            # One open subscription per trader and listing (ended ones stay as history).
            models.UniqueConstraint(
                fields=["user", "listing"], condition=~Q(status="ended"), name="subscription_one_open"
            ),
            models.CheckConstraint(
                condition=Q(plan="free", price_usd__isnull=True) | Q(plan__in=["monthly", "one_off"], price_usd__gt=0),
                name="subscription_price_by_plan",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(started_at__isnull=False), name="subscription_active_started"
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="subscription_status_expiry")]

    def __str__(self) -> str:
        return f"{self.user} → {self.listing}"


class Payment(models.Model):
    """Money a buyer paid for a subscription (one checkout, or one monthly renewal), in USD. ``refunded`` and
    ``disputed`` are the parts given back so far by refunds and by chargebacks; the ledger holds every movement."""

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="payments", verbose_name=_("subscription")
    )
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments", verbose_name=_("buyer")
    )
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sales", verbose_name=_("creator")
    )
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="payments", verbose_name=_("listing"))
    amount = models.DecimalField(_("amount (USD)"), max_digits=10, decimal_places=2)
    refunded = models.DecimalField(_("refunded (USD)"), max_digits=10, decimal_places=2, default=Decimal(0))
    disputed = models.DecimalField(_("charged back (USD)"), max_digits=10, decimal_places=2, default=Decimal(0))
    creator_share = models.DecimalField(_("creator's share"), max_digits=5, decimal_places=4)
    provider = models.CharField(_("payment provider"), max_length=8)
    # The provider's id of what was paid (a checkout session or an invoice): one payment per id, however often the
    # provider tells us.
    provider_ref = models.CharField(_("provider reference"), max_length=255)
    provider_payment = models.CharField(_("provider payment"), max_length=255, blank=True)  # refunds name it
    period_end = models.DateTimeField(_("paid until"), null=True, blank=True)
    created_at = models.DateTimeField(_("paid at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_ref"], name="payment_once_per_provider_ref"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_positive"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0, disputed__gte=0, amount__gte=models.F("refunded") + models.F("disputed")),
                name="payment_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(creator_share__gte=0, creator_share__lte=1), name="payment_share_0_to_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} USD · {self.listing}"


class Payout(models.Model):
    """Money Trendy sent a creator (recorded by staff after the transfer)."""

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts", verbose_name=_("creator")
    )
    amount = models.DecimalField(_("amount (USD)"), max_digits=10, decimal_places=2)
    reference = models.CharField(_("transfer reference"), max_length=200)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_positive")]

    def __str__(self) -> str:
        return f"{self.amount} USD → {self.creator}"


class LedgerEntry(models.Model):
    """One line of the marketplace's double-entry ledger. Debits are positive, credits negative; the lines of one
    transaction (``txn``) sum to zero. PostgreSQL refuses to update or delete a line and refuses, at commit, a
    transaction that does not balance (migration 0003's triggers); SQLite refuses updates and deletes."""

    class Account(models.TextChoices):
        BUYER_PAYMENTS = "buyer_payments", _("Buyer payments")
        CREATOR_PAYABLE = "creator_payable", _("Creator payable")
        PLATFORM_REVENUE = "platform_revenue", _("Platform revenue")
        REFUNDS = "refunds", _("Refunds")
        PAYOUTS = "payouts", _("Payouts")

    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")
        CHARGEBACK = "chargeback", _("Chargeback")
        PAYOUT = "payout", _("Payout")

    id = models.BigAutoField(primary_key=True)
    txn = models.UUIDField(_("transaction"), db_index=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    account = models.CharField(_("account"), max_length=16, choices=Account.choices)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("creator")
    )
    amount = models.DecimalField(_("amount (USD)"), max_digits=12, decimal_places=2)
    share = models.DecimalField(_("creator's share in force"), max_digits=5, decimal_places=4)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="entries", verbose_name=_("payment")
    )
    payout = models.ForeignKey(
        Payout, on_delete=models.PROTECT, null=True, blank=True, related_name="entries", verbose_name=_("payout")
    )
    created_at = models.DateTimeField(_("posted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_not_zero"),
            models.CheckConstraint(
                condition=Q(payment__isnull=False) | Q(payout__isnull=False), name="ledger_entry_has_source"
            ),
        ]
        indexes = [models.Index(fields=["creator", "account"], name="ledger_creator_account")]

    def __str__(self) -> str:
        return f"{self.get_account_display()} {self.amount}"


class ProviderEvent(models.Model):
    """An event a payment provider sent (Stripe's webhook, or the test-mode provider): stored once by its id, so a
    replay is a no-op. One that names a payment not seen yet (a refund before its payment) waits as ``deferred``
    and is applied after the next event or by the beat."""

    class Status(models.TextChoices):
        PROCESSED = "processed", _("Processed")
        DEFERRED = "deferred", _("Waiting for an earlier event")
        IGNORED = "ignored", _("Ignored")

    id = models.CharField(_("event id"), max_length=255, primary_key=True)
    provider = models.CharField(_("payment provider"), max_length=8)
    type = models.CharField(_("type"), max_length=64)
    created = models.DateTimeField(_("sent at"))
    payload = models.JSONField(_("payload"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    note = models.CharField(_("note"), max_length=300, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment provider event")
        verbose_name_plural = _("payment provider events")
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "created"], name="provider_event_status")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Review(models.Model):
    """A subscriber's 1–5 stars and words on a listing: one per trader and listing, editable; the creator replies
    once; staff hide an abusive one (it then counts in no average). ``marketplace.reviews`` keeps the listing's
    ``rating_average`` and ``rating_count`` equal to its visible reviews, under the listing's row lock."""

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="reviews", verbose_name=_("listing"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews", verbose_name=_("author")
    )
    rating = models.PositiveSmallIntegerField(_("stars"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    text = models.TextField(_("review"), max_length=4_000)
    reply = models.TextField(_("creator's reply"), max_length=4_000, blank=True)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    hidden = models.BooleanField(_("hidden by staff"), default=False)
    hidden_reason = models.CharField(_("why hidden"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["listing", "author"], name="review_one_per_trader"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"),
            models.CheckConstraint(condition=~Q(hidden=True) | ~Q(hidden_reason=""), name="review_hidden_says_why"),
        ]
        indexes = [models.Index(fields=["listing", "hidden", "-created_at"], name="review_listing_visible")]

    def __str__(self) -> str:
        return f"{self.rating}★ · {self.listing}"
