"""Staff views of trading: read-only records (orders and their history, positions, fills, paper books) and
bot actions that go through the services. Staff never place or edit orders here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from trading.bots import services as bot_services
from trading.models import Bot, LoopTick, MarketClock, Order, OrderEvent, PaperWallet, Position, Trade
from trading_site.admin_filters import ReadOnlyAdmin, titled


def _set_status(modeladmin: admin.ModelAdmin, request: Any, queryset: Any, status: str) -> None:
    done = 0
    for bot in queryset:
        try:
            bot_services.bot_set_status(
                bot=bot, status=status, reason=_("Set by staff (%(who)s).") % {"who": request.user}
            )
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
        "created_at",
    ]
    list_filter = ["status", "strategy", "timeframe", "direction", "exchange_account__exchange", "leverage"]
    search_fields = ["user__email", "name", "symbol", "exchange_account__label", "status_reason"]
    list_select_related = ["user", "exchange_account"]
    date_hierarchy = "created_at"
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
    list_filter = ["status", "purpose", "source", "side", "type", "exchange_account__exchange"]
    # Exact ids: the exchange's and ours are what a trader quotes in a support request.
    search_fields = ["user__email", "symbol", "=client_order_id", "=exchange_order_id", "bot__name"]
    list_select_related = ["user", "exchange_account"]
    date_hierarchy = "created_at"
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
    list_filter = ["status", "side", "exit_reason", "exchange_account__exchange", "leverage"]
    search_fields = ["user__email", "symbol", "bot__name"]
    list_select_related = ["user", "exchange_account"]
    date_hierarchy = "opened_at"


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "user", "exchange_account", "symbol", "side", "amount", "price", "fee", "realized_pnl", "time",
    ]  # fmt: skip
    list_filter = ["side", "exchange_account__exchange", "time"]
    search_fields = ["user__email", "symbol", "=order__client_order_id", "=order__exchange_order_id", "bot__name"]
    list_select_related = ["user", "exchange_account"]
    date_hierarchy = "time"


@admin.register(PaperWallet)
class PaperWalletAdmin(ReadOnlyAdmin):
    list_display = ["account", "owner", "balance", "fee_rate", "slippage_bps", "exact"]
    list_filter = [
        ("exact", titled(_("unrounded amounts"))), "account__enabled", ("fee_rate", titled(_("fee rate"))),
    ]  # fmt: skip
    search_fields = ["account__user__email", "account__label"]
    list_select_related = ["account__user"]

    @admin.display(description=_("user"), ordering="account__user__email")
    def owner(self, wallet: PaperWallet) -> str:
        return wallet.account.user.email


@admin.register(MarketClock)
class MarketClockAdmin(ReadOnlyAdmin):
    """One row (trading.clock keeps a single clock): no filters or search; tests/trading_site allowlist it."""

    list_display = ["mode", "timeframe", "cursor", "seconds_per_candle", "updated_at"]


@admin.register(LoopTick)
class LoopTickAdmin(ReadOnlyAdmin):
    """Every candle close the loop ran: how long it took, its shards, and the ticks still running when the next
    candle closed (overran: also logged as a warning and counted on /metrics)."""

    list_display = ["candle_time", "started_at", "finished_at", "duration", "shards", "bots", "overran"]
    list_filter = ["overran", ("finished_at", admin.EmptyFieldListFilter)]
    search_fields = ["=id"]
    date_hierarchy = "candle_time"

    @admin.display(description=_("duration (s)"))
    def duration(self, tick: LoopTick) -> str:
        if tick.finished_at is None:
            return "—"
        return f"{(tick.finished_at - tick.started_at).total_seconds():.2f}"

    @admin.display(description=_("shards done"))
    def shards(self, tick: LoopTick) -> str:
        return f"{tick.shards_done} / {tick.shards_total}"
