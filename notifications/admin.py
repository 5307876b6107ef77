"""Staff read notifications, channels (never their addresses), deliveries and every attempt; they change only
through the services (the listener, mark read, sending a failed delivery again)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from notifications import delivery
from notifications.models import Channel, Delivery, DeliveryAttempt, Notification
from trading_site.admin_filters import ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "kind", "severity", "title_shown", "created_at", "read_at"]
    list_filter = ["severity", "kind", "created_at"]
    search_fields = ["user__email", "kind"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    readonly_fields = ["user", "kind", "severity", "title_shown", "body_shown", "data", "created_at", "read_at"]
    fields = readonly_fields

    @admin.display(description=_("title"))
    def title_shown(self, obj: Notification) -> str:
        return obj.title

    @admin.display(description=_("body"))
    def body_shown(self, obj: Notification) -> str:
        return obj.body


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "outcome", "error"]
    readonly_fields = fields

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Channel)
class ChannelAdmin(ReadOnlyAdmin):
    """A channel's address is sealed and never shown, here neither: staff see its hint."""

    list_display = ["id", "user", "kind", "label", "hint", "enabled", "disabled_reason", "last_sent_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["user__email", "label", "hint"]
    list_select_related = ["user"]
    fields = ["user", *Channel.SHOWN_FIELDS]
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "channel", "notification", "status", "attempts", "created_at", "sent_at", "last_error"]
    list_filter = ["status", "channel__kind", "created_at"]
    search_fields = ["channel__user__email", "last_error"]
    list_select_related = ["channel", "notification"]
    date_hierarchy = "created_at"
    fields = [
        "channel",
        "notification",
        "digest",
        "status",
        "attempts",
        "not_before",
        "created_at",
        "sent_at",
        "last_error",
    ]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["send_again"]

    @admin.action(description=_("Send the selected failed deliveries again"))
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = delivery.deliveries_retry([row.pk for row in queryset])
        self.message_user(request, _("%(count)d deliveries queued again.") % {"count": count})


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ["id", "delivery", "number", "outcome", "duration_ms", "started_at", "error"]
    list_filter = ["outcome", "delivery__channel__kind", "started_at"]
    search_fields = ["error", "delivery__channel__user__email"]
    list_select_related = ["delivery__channel"]
    date_hierarchy = "started_at"
    fields = ["delivery", "number", "started_at", "duration_ms", "outcome", "error"]
    readonly_fields = fields
