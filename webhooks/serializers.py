"""Output shapes of the webhooks API and the endpoint-create input. An endpoint's secret appears in exactly
two answers, once each: the creation and a rotation (``WebhookEndpointSecretSerializer``); every other
answer carries ``secret_masked`` only."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trading.serializers import MoneyField
from trading_site.api import StrictBooleanField
from webhooks import services
from webhooks.models import WebhookEndpoint, WebhookEvent


class WebhookEndpointSerializer(serializers.ModelSerializer):
    exchange_account_label = serializers.CharField(source="exchange_account.label", read_only=True)
    bot_name = serializers.CharField(source="bot.name", read_only=True, allow_null=True, default=None)
    url = serializers.SerializerMethodField(help_text="The webhook URL to paste into the TradingView alert.")
    secret_masked = serializers.SerializerMethodField(help_text="The secret's last four characters: ••••••ab12.")

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "name", "url", "secret_masked", "exchange_account", "exchange_account_label", "bot", "bot_name",
            "allowed_symbols", "max_alerts_per_minute", "max_age_seconds", "ip_allowlist", "live", "active",
            "created_at", "revoked_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, endpoint: WebhookEndpoint) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(endpoint.path) if request is not None else endpoint.path

    @extend_schema_field(OpenApiTypes.STR)
    def get_secret_masked(self, endpoint: WebhookEndpoint) -> str:
        return services.masked_secret(endpoint)


class WebhookEndpointSecretSerializer(WebhookEndpointSerializer):
    """The endpoint with its secret: the answer to a creation or a rotation, and nothing else."""

    secret = serializers.SerializerMethodField(
        help_text="Shown this once: put it in the alert message. null in a replay (Idempotency-Key): never stored."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_secret(self, endpoint: WebhookEndpoint) -> str:
        return self.context["secret"]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    exchange_account = serializers.IntegerField(help_text="One of your enabled exchange accounts.")
    bot = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="A bot on that account.")
    allowed_symbols = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        max_length=100,
        help_text="BTCUSDT, BTC/USDT…; empty: any market of the account.",
    )
    max_alerts_per_minute = serializers.IntegerField(min_value=1, max_value=600, default=30)
    max_age_seconds = serializers.IntegerField(min_value=5, max_value=3600, default=60)
    ip_allowlist = StrictBooleanField(default=False, help_text="Accept only TradingView's addresses.")
    live = StrictBooleanField(default=False, help_text="Real orders; only on a real (not paper) account.")


class WebhookEventSerializer(serializers.ModelSerializer):
    endpoint_name = serializers.CharField(source="endpoint.name", read_only=True, allow_null=True, default=None)
    order_status = serializers.CharField(source="order.status", read_only=True, allow_null=True, default=None)
    order_filled = MoneyField(source="order.filled", read_only=True, allow_null=True, default=None)
    order_average_price = MoneyField(source="order.average_price", read_only=True, allow_null=True, default=None)
    status = serializers.ChoiceField(
        choices=[("", ""), *WebhookEvent.Status.choices],
        read_only=True,
        help_text="What an accepted alert became; empty for a refused request.",
    )
    body = serializers.JSONField(
        read_only=True,
        allow_null=True,
        help_text="The request body as received, the secret removed; null for a request that did not authenticate "
        "(unknown URL, wrong secret, unreadable body): see body_prefix.",
    )
    body_prefix = serializers.CharField(
        read_only=True,
        help_text="A request that did not authenticate: the first 256 characters of its body, secrets masked.",
    )
    body_sha256 = serializers.CharField(
        read_only=True, help_text="A request that did not authenticate: the SHA-256 of its body (hex)."
    )
    market_time = serializers.DateTimeField(
        read_only=True, help_text="The market clock's time when it arrived (the replay's time on the replay clock)."
    )
    adjustments = serializers.JSONField(
        read_only=True,
        help_text='What your risk limits changed: [{"field", "action" (clamped, defaulted), "requested", "applied"}].',
    )

    class Meta:
        model = WebhookEvent
        fields = [
            "id", "endpoint", "endpoint_name", "received_at", "market_time", "source_ip", "outcome", "reason",
            "message", "symbol", "action", "is_test", "status", "result", "order", "order_status", "order_filled",
            "order_average_price", "adjustments", "body", "body_prefix", "body_sha256", "processed_at",
        ]  # fmt: skip
        read_only_fields = fields
