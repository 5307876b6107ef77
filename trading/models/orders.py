"""Orders (with an append-only event history), positions, fills (trades) and equity snapshots. Money and
amounts are ``Decimal``."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import ExchangeAccount
from trading.models.bots import Bot
from trading.models.fields import money


class Position(models.Model):
    """A position on an exchange account, opened by an entry fill and closed by an exit fill."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    class Side(models.TextChoices):
        LONG = "long", _("Long")
        SHORT = "short", _("Short")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="positions", verbose_name=_("user")
    )
    exchange_account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="positions", verbose_name=_("exchange account")
    )
    bot = models.ForeignKey(
        Bot, on_delete=models.SET_NULL, null=True, blank=True, related_name="positions", verbose_name=_("bot")
    )
    symbol = models.CharField(_("symbol"), max_length=32)
    side = models.CharField(_("side"), max_length=8, choices=Side.choices)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    amount = money(_("amount"))
    entry_price = money(_("entry price"))
    leverage = models.PositiveSmallIntegerField(_("leverage"), default=1)
    margin = money(_("margin"), default=Decimal(0))
    stop_loss = money(_("stop loss"), null=True, blank=True)
    take_profit = money(_("take profit"), null=True, blank=True)
    # A bot's trailing stop: the best price of the closed candles since the entry (the stop follows it).
    trail_best = money(_("best price since the entry"), null=True, blank=True)
    entries = models.PositiveSmallIntegerField(_("entries"), default=1)  # more than 1: a bot's pyramiding
    liquidation_price = money(_("liquidation price"), null=True, blank=True)
    mark_price = money(_("mark price"), null=True, blank=True)
    fees = money(_("fees"), default=Decimal(0))
    exit_price = money(_("exit price"), null=True, blank=True)
    realized_pnl = money(_("realised PnL"), null=True, blank=True)
    exit_reason = models.CharField(_("exit reason"), max_length=16, blank=True)
    opened_at = models.DateTimeField(_("opened at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("position")
        verbose_name_plural = _("positions")
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["user", "status"]),
            models.Index(fields=["exchange_account", "symbol", "status"]),
            models.Index(fields=["bot", "opened_at"]),
            # The dashboard's win rate and realised PnL: an index-only scan of the closed positions.
            models.Index(
                fields=["user"],
                name="position_closed_pnl",
                condition=Q(status="closed"),
                include=["realized_pnl"],
            ),
        ]
        constraints = [
            # One open position per account and market (net mode, as Trendy trades).
            models.UniqueConstraint(
                fields=["exchange_account", "symbol"], condition=Q(status="open"), name="position_one_open_per_market"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="position_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol}"

    @property
    def unrealized_pnl(self) -> Decimal | None:
        if self.status != self.Status.OPEN or self.mark_price is None:
            return None
        sign = 1 if self.side == self.Side.LONG else -1
        return sign * self.amount * (self.mark_price - self.entry_price)


class Order(models.Model):
    """An order we sent (or are about to send). The row commits before the exchange is called, so a
    crash in between leaves a ``pending`` order that reconciliation looks up by its client order id."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")  # stored, not yet acknowledged by the exchange
        OPEN = "open", _("Open")
        FILLED = "filled", _("Filled")
        CANCELED = "canceled", _("Canceled")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")

    class Purpose(models.TextChoices):
        ENTRY = "entry", _("Entry")
        EXIT = "exit", _("Exit")
        STOP_LOSS = "stop_loss", _("Stop loss")
        TAKE_PROFIT = "take_profit", _("Take profit")

    class Source(models.TextChoices):
        BOT = "bot", _("Bot")
        WEBHOOK = "webhook", _("TradingView alert")
        MANUAL = "manual", _("Manual")
        SYSTEM = "system", _("Risk / reconciliation")

    OPEN_STATUSES = (Status.PENDING, Status.OPEN)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders", verbose_name=_("user")
    )
    exchange_account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="orders", verbose_name=_("exchange account")
    )
    bot = models.ForeignKey(
        Bot, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders", verbose_name=_("bot")
    )
    position = models.ForeignKey(
        Position, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders", verbose_name=_("position")
    )
    symbol = models.CharField(_("symbol"), max_length=32)
    side = models.CharField(_("side"), max_length=4)
    type = models.CharField(_("type"), max_length=16)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.BOT)
    amount = money(_("amount"))
    price = money(_("price"), null=True, blank=True)
    trigger_price = money(_("trigger price"), null=True, blank=True)
    reduce_only = models.BooleanField(_("reduce only"), default=False)
    client_order_id = models.CharField(_("client order id"), max_length=36)
    exchange_order_id = models.CharField(_("exchange order id"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    filled = money(_("filled"), default=Decimal(0))
    average_price = money(_("average price"), null=True, blank=True)
    fee = money(_("fee"), default=Decimal(0))
    candle_open = models.DateTimeField(_("candle open time"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["exchange_account", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["exchange_account", "client_order_id"], name="order_unique_client_id"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} ({self.client_order_id})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class OrderEvent(models.Model):
    """The append-only history of an order: created, sent, acknowledged, filled, canceled, errors."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events", verbose_name=_("order"))
    time = models.DateTimeField(_("time"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=32)
    message = models.CharField(_("message"), max_length=500, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        ordering = ["time", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.message}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Order events are append-only.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("Order events are append-only.")


class Trade(models.Model):
    """One fill of an order."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trades", verbose_name=_("user")
    )
    exchange_account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="trades", verbose_name=_("exchange account")
    )
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="trades", verbose_name=_("order"))
    position = models.ForeignKey(
        Position, on_delete=models.SET_NULL, null=True, blank=True, related_name="trades", verbose_name=_("position")
    )
    bot = models.ForeignKey(
        Bot, on_delete=models.SET_NULL, null=True, blank=True, related_name="trades", verbose_name=_("bot")
    )
    symbol = models.CharField(_("symbol"), max_length=32)
    side = models.CharField(_("side"), max_length=4)
    amount = money(_("amount"))
    price = money(_("price"))
    fee = money(_("fee"), default=Decimal(0))
    realized_pnl = money(_("realised PnL"), default=Decimal(0))
    time = models.DateTimeField(_("time"))

    class Meta:
        verbose_name = _("trade")
        verbose_name_plural = _("trades")
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["user", "-time"]), models.Index(fields=["bot", "-time"])]
        constraints = [models.UniqueConstraint(fields=["order"], name="trade_one_fill_per_order")]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} @ {self.price}"


class EquitySnapshot(models.Model):
    """Account equity at a candle close (or a tick): the equity curve and the drawdown come from these."""

    exchange_account = models.ForeignKey(
        ExchangeAccount,
        on_delete=models.CASCADE,
        related_name="equity_snapshots",
        verbose_name=_("exchange account"),
    )
    time = models.DateTimeField(_("time"))
    balance = money(_("balance"))
    equity = money(_("equity"))

    class Meta:
        verbose_name = _("equity snapshot")
        verbose_name_plural = _("equity snapshots")
        ordering = ["time"]
        constraints = [models.UniqueConstraint(fields=["exchange_account", "time"], name="equity_one_per_time")]

    def __str__(self) -> str:
        return f"{self.exchange_account_id} {self.time:%Y-%m-%d %H:%M} {self.equity}"
