"""The strategy marketplace's tables (issue 16). A listing offers one of its creator's Pine scripts (a
``strategies.PineScript``); each version it offers is one immutable script version, kept in order with the listing's
history. A listing moves draft → in review → published (or rejected, with the reason the creator reads) → unlisted;
only ``marketplace.services`` moves it, and the database holds the rules a row must keep (prices, ratings, counts).
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
        indexes = [models.Index(fields=["status", "-published_at"], name="listing_status_published")]

    def __str__(self) -> str:
        return self.name

    @property
    def current(self) -> ListingVersion | None:
        return self.versions.order_by("-number").first()


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
