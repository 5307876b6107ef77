"""Staff read notifications; they change only through the services (the listener, mark read)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from notifications.models import Notification
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
