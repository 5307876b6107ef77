"""Staff views of webhooks: endpoints with their token masked and the secret never shown (not even sealed),
revoking through the service; the event log read-only, filtered by outcome and reason."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.crypto import mask
from trading_site.admin_filters import ReadOnlyAdmin, titled
from webhooks import services
from webhooks.models import WebhookEndpoint, WebhookEvent


@admin.action(description=_("Revoke selected endpoints"), permissions=["view"])
def revoke_endpoints(modeladmin: admin.ModelAdmin, request: Any, queryset: Any) -> None:
    done = 0
    for endpoint in queryset.filter(revoked_at__isnull=True):
        services.endpoint_revoke(endpoint=endpoint)
        done += 1
    modeladmin.message_user(
        request, ngettext("%(count)d endpoint revoked.", "%(count)d endpoints revoked.", done) % {"count": done}
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "user", "exchange_account", "bot", "masked_token", "live", "active", "revoked_at"]
    list_filter = [
        "live", "active", "ip_allowlist", "exchange_account__exchange", ("created_at", titled(_("created at"))),
        ("revoked_at", titled(_("revoked at"))),
    ]  # fmt: skip
    search_fields = ["user__email", "name", "exchange_account__label", "bot__name"]
    list_select_related = ["user", "exchange_account", "bot"]
    date_hierarchy = "created_at"
    # Explicit fields: ``secret`` (sealed) and ``token`` (the URL) never reach the page.
    fields = [
        "name", "user", "exchange_account", "bot", "masked_token", "masked_secret", "allowed_symbols",
        "max_alerts_per_minute", "max_age_seconds", "ip_allowlist", "live", "active", "created_at", "revoked_at",
    ]  # fmt: skip
    readonly_fields = fields
    actions = [revoke_endpoints]

    @admin.display(description=_("token"))
    def masked_token(self, endpoint: WebhookEndpoint) -> str:
        return mask(endpoint.token)

    @admin.display(description=_("secret"))
    def masked_secret(self, endpoint: WebhookEndpoint) -> str:
        return services.masked_secret(endpoint)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "received_at", "endpoint", "outcome", "reason", "symbol", "action", "status", "is_test"]
    list_filter = ["outcome", "reason", "status", "action", "is_test"]
    search_fields = ["endpoint__user__email", "endpoint__name", "symbol", "message", "=source_ip"]
    list_select_related = ["endpoint"]
    date_hierarchy = "received_at"
    fields = [
        "endpoint", "received_at", "market_time", "source_ip", "outcome", "reason", "details", "message", "body",
        "body_size", "symbol", "action", "is_test", "status", "order", "adjustments", "result", "enqueued_at",
        "processed_at",
    ]  # fmt: skip
    readonly_fields = fields
