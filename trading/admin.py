"""Staff views of trading: read-only records (orders and their history, positions, fills, paper books) and
bot actions that go through the services. Staff never place or edit orders here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from trading import services
from trading.models import Bot, MarketClock, Order, OrderEvent, PaperWallet, Position, Trade


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


def _set_status(modeladmin: admin.ModelAdmin, request: Any, queryset: Any, status: str) -> None:
    done = 0
    for bot in queryset:
        try:
            services.bot_set_status(bot=bot, status=status, reason=_("Set by staff (%(who)s).") % {"who": request.user})
            done += 1
        except ValidationError as exc:
            modeladmin.message_user(request, f"{bot}: {' '.join(exc.messages)}", messages.ERROR)
    modeladmin.message_user(
        request, ngettext("%(count)d bot updated.", "%(count)d bots updated.", done) % {"count": done}
    )


@admin.action(description=_("Pause selected bots"), permissions=["view"])
def pause_bots(modeladmin: admin.ModelAdmin, request: Any, queryset: Any) -> None:
    _set_status(modeladmin, request, queryset, Bot.Status.PAUSED)


@admin.action(description=_("Stop selected bots"), permissions=["view"])
def stop_bots(modeladmin: admin.ModelAdmin, request: Any, queryset: Any) -> None:
    _set_status(modeladmin, request, queryset, Bot.Status.STOPPED)


@admin.register(Bot)
class BotAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "name",
        "user",
        "exchange_account",
        "symbol",
        "timeframe",
        "status",
        "status_reason",
        "last_candle_open",
    ]
    list_filter = ["status", "strategy", "timeframe", "direction"]
    search_fields = ["user__email", "name", "symbol"]
    list_select_related = ["user", "exchange_account"]
    actions = [pause_bots, stop_bots]


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    readonly_fields = ["time", "kind", "message", "data"]

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "user",
        "exchange_account",
        "symbol",
        "side",
        "type",
        "purpose",
        "source",
        "amount",
        "status",
        "created_at",
    ]
    list_filter = ["status", "purpose", "source", "type"]
    search_fields = ["user__email", "symbol", "client_order_id", "exchange_order_id"]
    list_select_related = ["user", "exchange_account"]
    inlines = [OrderEventInline]


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "user",
        "exchange_account",
        "symbol",
        "side",
        "amount",
        "entry_price",
        "status",
        "realized_pnl",
        "opened_at",
        "closed_at",
    ]
    list_filter = ["status", "side", "exit_reason"]
    search_fields = ["user__email", "symbol"]
    list_select_related = ["user", "exchange_account"]


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "symbol", "side", "amount", "price", "fee", "realized_pnl", "time"]
    search_fields = ["user__email", "symbol"]
    list_select_related = ["user"]


@admin.register(PaperWallet)
class PaperWalletAdmin(ReadOnlyAdmin):
    list_display = ["account", "balance", "fee_rate", "slippage_bps"]
    list_select_related = ["account"]


@admin.register(MarketClock)
class MarketClockAdmin(ReadOnlyAdmin):
    list_display = ["mode", "timeframe", "cursor", "seconds_per_candle", "updated_at"]
