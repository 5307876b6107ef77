from __future__ import annotations

from django.contrib import admin

from strategies.models import BacktestRun, PineScript, PineScriptVersion


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


class PineScriptVersionInline(admin.TabularInline):
    model = PineScriptVersion
    fields = ["number", "pine_version", "title", "sha256", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(PineScript)
class PineScriptAdmin(admin.ModelAdmin):
    """Read-only for staff: a script is the trader's; versions never change (bots run them)."""

    list_display = ["name", "user", "created_at", "updated_at"]
    list_filter = ["created_at", "updated_at"]
    search_fields = ["name", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["id", "user", "name", "created_at", "updated_at"]
    inlines = [PineScriptVersionInline]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False  # bots run its versions


@admin.register(PineScriptVersion)
class PineScriptVersionAdmin(admin.ModelAdmin):
    list_display = ["script", "number", "pine_version", "created_at"]
    list_filter = ["pine_version", "created_at"]
    search_fields = ["script__name", "script__user__email", "sha256"]
    list_select_related = ["script", "script__user"]
    readonly_fields = [field.name for field in PineScriptVersion._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
