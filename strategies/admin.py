from __future__ import annotations

from django.contrib import admin

from strategies.models import BacktestRun


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    list_display = [
        "id", "user", "kind", "strategy", "exchange", "symbol", "timeframe", "status", "progress", "created_at",
        "finished_at",
    ]  # fmt: skip
    list_filter = ["kind", "status", "strategy", "exchange", "timeframe", "direction", "created_at"]
    search_fields = ["user__email", "strategy", "symbol", "error"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in BacktestRun._meta.fields]
    exclude = ["result"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
