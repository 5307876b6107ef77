from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from market_data.models import Candle


@admin.register(Candle)
class CandleAdmin(admin.ModelAdmin):
    """Read-only: candles are written by the import and fetch services only."""

    list_display = ["exchange", "symbol", "timeframe", "open_time", "open", "high", "low", "close", "volume"]
    list_filter = ["exchange", "timeframe", "symbol"]
    search_fields = ["symbol"]
    date_hierarchy = "open_time"
    ordering = ["exchange", "symbol", "timeframe", "-open_time"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Candle | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Candle | None = None) -> bool:
        return False
