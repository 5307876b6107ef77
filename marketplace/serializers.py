"""The marketplace API's shapes. A listing never carries its Pine source: premium and pro scripts stay the
creator's, and the source of any listing is read on the creator's own script page only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from market_data.exceptions import InvalidMarket
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from marketplace.models import Listing, ListingVersion, Payment, Review, Subscription
from marketplace.selectors import SORTS, display_name, released_of, subscription_has_access
from trading_site.api import QuerySerializer, StrictCharField


class ListingVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ListingVersion
        fields = ["id", "number", "notes", "verification", "progress", "few_trades", "error", "verified_at",
                  "created_at"]  # fmt: skip
        read_only_fields = fields


class ListingVersionDetailSerializer(ListingVersionSerializer):
    """A version with Trendy's verification result (its backtests' metrics and equity curves)."""

    class Meta(ListingVersionSerializer.Meta):
        fields = [*ListingVersionSerializer.Meta.fields, "result"]
        read_only_fields = fields


class ListingSerializer(serializers.ModelSerializer):
    """A listing in a list: what discovery filters and sorts on; its description and full evidence are in the
    detail. Its versions are a nested serializer (one for the whole list), not one built per listing."""

    creator = serializers.SerializerMethodField()
    versions = ListingVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Listing
        fields = [
            "id", "name", "category", "tags", "exchange", "markets", "timeframe", "tier", "price_usd",
            "billing", "source_to_subscribers", "status", "status_reason", "creator", "downloads_count",
            "rating_average", "rating_count", "trades", "max_drawdown_pct", "oos_return_pct", "published_at",
            "created_at", "updated_at", "versions",
        ]  # fmt: skip
        read_only_fields = fields

    def get_creator(self, listing: Listing) -> str:
        return display_name(listing.creator)


class ListingDetailSerializer(ListingSerializer):
    """One listing: its description (Markdown, as written) and Trendy's evidence of its released version."""

    versions = ListingVersionDetailSerializer(many=True, read_only=True)

    class Meta(ListingSerializer.Meta):
        fields = [*ListingSerializer.Meta.fields, "description", "backtest_results"]
        read_only_fields = fields


class ListingCreateSerializer(serializers.Serializer):
    script = serializers.UUIDField(help_text="one of your Pine scripts (its latest version is offered)")
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=20_000, required=False, allow_blank=True, default="")
    category = serializers.ChoiceField(choices=Listing.Category.choices)
    tags = serializers.ListField(child=StrictCharField(max_length=30), max_length=10, required=False, default=list)
    exchange = serializers.ChoiceField(choices=["binance", "okx"], default="binance")
    markets = serializers.ListField(child=StrictCharField(max_length=40), min_length=1, max_length=10)
    timeframe = serializers.ChoiceField(choices=sorted(TIMEFRAME_MS))
    tier = serializers.ChoiceField(choices=Listing.Tier.choices, default=Listing.Tier.FREE)
    price_usd = serializers.DecimalField(max_digits=8, decimal_places=2, required=False, allow_null=True)
    billing = serializers.ChoiceField(choices=Listing.Billing.choices, required=False, default="")
    source_to_subscribers = serializers.BooleanField(
        required=False, default=False, help_text="subscribers may read the script (off: they run it unseen)"
    )


class ListingFilterSerializer(QuerySerializer):
    q = serializers.CharField(max_length=100, required=False)
    category = serializers.ChoiceField(choices=Listing.Category.choices, required=False)
    tier = serializers.ChoiceField(choices=Listing.Tier.choices, required=False)
    timeframe = serializers.ChoiceField(choices=sorted(TIMEFRAME_MS), required=False)
    market = serializers.CharField(max_length=40, required=False)
    price_max = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=Decimal(0), required=False, help_text="USD; free listings match"
    )
    min_trades = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)
    max_drawdown = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=Decimal(0), max_value=Decimal(100), required=False,
        help_text="%, on all stored candles",
    )  # fmt: skip
    min_oos_return = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=Decimal(-100), max_value=Decimal(100_000), required=False,
        help_text="%, out of sample",
    )  # fmt: skip
    min_rating = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=Decimal(1), max_value=Decimal(5), required=False
    )
    sort = serializers.ChoiceField(choices=sorted(SORTS), required=False, default="newest")

    def validate_market(self, value: str) -> str:
        try:
            return normalize_symbol(value)
        except InvalidMarket as exc:
            raise serializers.ValidationError(str(exc)) from None


class PaymentSerializer(serializers.ModelSerializer):
    """A receipt: what the buyer paid and got back (the creator's share is the creator's business)."""

    class Meta:
        model = Payment
        fields = ["id", "amount", "refunded", "disputed", "period_end", "created_at"]
        read_only_fields = fields


class SubscriptionSerializer(serializers.ModelSerializer):
    listing = serializers.SerializerMethodField()
    version = serializers.IntegerField(source="version.number", read_only=True)
    newest_version = serializers.SerializerMethodField()
    has_access = serializers.SerializerMethodField()
    payments = PaymentSerializer(many=True, read_only=True)

    class Meta:
        model = Subscription
        fields = [
            "id", "listing", "plan", "price_usd", "status", "has_access", "auto_renew", "started_at", "expires_at",
            "cancelled_at", "ended_at", "end_reason", "version", "newest_version", "payments", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_listing(self, subscription: Subscription) -> dict[str, Any]:
        listing = subscription.listing
        return {"id": str(listing.id), "name": listing.name, "tier": listing.tier, "status": listing.status}

    def get_newest_version(self, subscription: Subscription) -> int | None:
        released = released_of(subscription.listing)
        return released.number if released else None

    def get_has_access(self, subscription: Subscription) -> bool:
        return subscription_has_access(subscription)


class SubscribeResultSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()
    checkout_url = serializers.CharField(allow_null=True, help_text="where to pay; null for a free listing")


class ReviewSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = ["id", "rating", "text", "author", "reply", "replied_at", "created_at", "updated_at"]
        read_only_fields = fields

    def get_author(self, review: Review) -> str:
        return display_name(review.author)


class ReviewWriteSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    text = StrictCharField(max_length=4_000)


class ReplySerializer(serializers.Serializer):
    text = StrictCharField(max_length=4_000)
