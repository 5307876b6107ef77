"""Bots, orders (with an append-only event history), positions, fills, equity snapshots, the paper
exchange's own books, and the market clock. Money and amounts are ``Decimal``."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import ExchangeAccount
from accounts.risk import RISK_RANGES


def money(verbose: str = "", **kwargs: object) -> models.DecimalField:
    """Prices, amounts and balances: 40 digits, 18 after the point (satoshis and beyond)."""
    return models.DecimalField(verbose, max_digits=40, decimal_places=18, **kwargs)  # type: ignore[arg-type]


class Direction(models.TextChoices):
    LONG = "long", _("Long only")
    SHORT = "short", _("Short only")
    BOTH = "both", _("Long and short")


class Bot(models.Model):
    """A strategy trading one market on one exchange account, on every closed candle."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        STOPPED = "stopped", _("Stopped")
        HALTED = "halted", _("Halted by a risk limit")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots", verbose_name=_("user")
    )
    exchange_account = models.ForeignKey(
        ExchangeAccount, on_delete=models.RESTRICT, related_name="bots", verbose_name=_("exchange account")
    )
    name = models.CharField(_("name"), max_length=100)
    strategy = models.CharField(_("strategy"), max_length=64)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    symbol = models.CharField(_("symbol"), max_length=32, help_text=_("e.g. BTC/USDT"))
    timeframe = models.CharField(_("timeframe"), max_length=8)
    leverage = models.PositiveSmallIntegerField(
        _("leverage"), default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    position_size_pct = models.DecimalField(
        _("position size (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(10),
        validators=[MinValueValidator(Decimal(5)), MaxValueValidator(Decimal(20))],
    )
    stop_loss_pct = models.DecimalField(
        _("stop loss (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        default=Decimal(2),
        validators=[MinValueValidator(Decimal(1)), MaxValueValidator(Decimal(5))],
    )
    take_profit_pct = models.DecimalField(
        _("take profit (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        default=Decimal(4),
        validators=[MinValueValidator(Decimal(2)), MaxValueValidator(Decimal(10))],
    )
    max_drawdown_pct = models.DecimalField(
        _("maximum drawdown (%)"),
        max_digits=5,
        decimal_places=2,
        default=RISK_RANGES["max_drawdown_pct"].default,
        validators=[MinValueValidator(Decimal(5)), MaxValueValidator(Decimal(50))],
    )
    daily_loss_limit_pct = models.DecimalField(
        _("daily loss limit (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(1)), MaxValueValidator(Decimal(50))],
        help_text=_("Halt when the account loses this much since the start of the day (UTC)."),
    )
    direction = models.CharField(_("direction"), max_length=8, choices=Direction.choices, default=Direction.LONG)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PAUSED)
    status_reason = models.CharField(_("reason"), max_length=300, blank=True)
    # Why the bot is halted, as a code and its figures (trading.labels.status_reason writes the sentence in the
    # reader's language); status_reason keeps the text given by hand (an API client, older rows).
    status_detail = models.JSONField(_("status details"), default=dict, blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)  # market time
    # The last closed candle this bot acted on: the claim (a conditional update) moves it forward.
    last_candle_open = models.DateTimeField(_("last candle"), null=True, blank=True)
    last_tick_at = models.DateTimeField(_("last tick at"), null=True, blank=True)
    # Transient exchange failures in a row (time-outs, 5xx, 429) and when the next try may run (wall clock): the
    # tick's task backs off, the catch-up waits, and past a bound the bot halts (trading.services.bot_tick).
    transient_failures = models.PositiveIntegerField(_("exchange failures in a row"), default=0)
    retry_not_before = models.DateTimeField(_("next try not before"), null=True, blank=True)
    peak_equity = money(_("peak equity"), null=True, blank=True)
    day_start_equity = money(_("equity at the start of the day"), null=True, blank=True)
    day_start = models.DateField(_("trading day"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("bot")
        verbose_name_plural = _("bots")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "timeframe"])]
        constraints = [
            models.CheckConstraint(condition=Q(leverage__gte=1, leverage__lte=10), name="bot_leverage_range"),
            models.CheckConstraint(
                condition=Q(position_size_pct__gte=5, position_size_pct__lte=20), name="bot_position_size_range"
            ),
            models.CheckConstraint(
                condition=Q(stop_loss_pct__isnull=True) | Q(stop_loss_pct__gte=1, stop_loss_pct__lte=5),
                name="bot_stop_loss_range",
            ),
            models.CheckConstraint(
                condition=Q(take_profit_pct__isnull=True) | Q(take_profit_pct__gte=2, take_profit_pct__lte=10),
                name="bot_take_profit_range",
            ),
            models.CheckConstraint(
                condition=Q(max_drawdown_pct__gte=5, max_drawdown_pct__lte=50), name="bot_max_drawdown_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.symbol} {self.timeframe})"

    @property
    def reason_text(self) -> str:
        """Why the bot is in its state, in the reader's language."""
        from trading.labels import status_reason

        code = (self.status_detail or {}).get("code", "")
        return (status_reason(code, self.status_detail) if code else "") or self.status_reason


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


class PaperWallet(models.Model):
    """The paper exchange's side of a paper account: its USDT balance. Orders and positions are in
    ``PaperOrder`` / ``PaperPosition``: the "exchange" that reconciliation compares our records to."""

    account = models.OneToOneField(
        ExchangeAccount, on_delete=models.CASCADE, related_name="paper_wallet", verbose_name=_("exchange account")
    )
    balance = money(_("balance"))
    next_order_seq = models.PositiveBigIntegerField(_("next order number"), default=1)
    leverage = models.JSONField(_("leverage by market"), default=dict, blank=True)  # symbol → leverage set
    fee_rate = models.DecimalField(_("fee rate"), max_digits=7, decimal_places=6, default=Decimal("0.001"))
    slippage_bps = models.DecimalField(_("slippage (bps)"), max_digits=8, decimal_places=2, default=Decimal(5))
    # Amounts and prices unrounded (the backtest's arithmetic): for replays compared with a backtest.
    exact = models.BooleanField(_("unrounded amounts"), default=False)

    class Meta:
        verbose_name = _("paper wallet")
        verbose_name_plural = _("paper wallets")

    def __str__(self) -> str:
        return f"paper wallet of {self.account_id}: {self.balance}"


class PaperOrder(models.Model):
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="paper_orders", verbose_name=_("exchange account")
    )
    exchange_order_id = models.CharField(_("exchange order id"), max_length=32)
    client_order_id = models.CharField(_("client order id"), max_length=36)
    symbol = models.CharField(_("symbol"), max_length=32)
    side = models.CharField(_("side"), max_length=4)
    type = models.CharField(_("type"), max_length=16)
    status = models.CharField(_("status"), max_length=16)
    amount = money(_("amount"))
    filled = money(_("filled"), default=Decimal(0))
    average = money(_("average price"), null=True)
    fee = money(_("fee"), default=Decimal(0))
    price = money(_("price"), null=True)
    trigger_price = money(_("trigger price"), null=True)
    reduce_only = models.BooleanField(_("reduce only"), default=False)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_ms = models.BigIntegerField(_("created at (ms)"))
    updated_ms = models.BigIntegerField(_("updated at (ms)"))

    class Meta:
        verbose_name = _("paper order")
        verbose_name_plural = _("paper orders")
        constraints = [
            models.UniqueConstraint(fields=["account", "exchange_order_id"], name="paperorder_unique_id"),
            models.UniqueConstraint(fields=["account", "client_order_id"], name="paperorder_unique_client_id"),
        ]
        indexes = [models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return f"paper order {self.exchange_order_id} ({self.status})"


class PaperPosition(models.Model):
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, related_name="paper_positions", verbose_name=_("exchange account")
    )
    symbol = models.CharField(_("symbol"), max_length=32)
    side = models.CharField(_("side"), max_length=8)
    amount = money(_("amount"))
    entry_price = money(_("entry price"))
    margin = money(_("margin"))
    entry_fee = money(_("entry fee"), default=Decimal(0))
    leverage = models.PositiveSmallIntegerField(_("leverage"), default=1)
    opened_ms = models.BigIntegerField(_("opened at (ms)"))

    class Meta:
        verbose_name = _("paper position")
        verbose_name_plural = _("paper positions")
        constraints = [models.UniqueConstraint(fields=["account", "symbol"], name="paperposition_one_per_market")]

    def __str__(self) -> str:
        return f"paper {self.side} {self.amount} {self.symbol}"


class MarketClock(models.Model):
    """The one clock the trading loop and the paper exchange read: the wall clock (live), or a replay
    over stored candles (TradingView's bar replay) that moves one candle every ``seconds_per_candle``."""

    class Mode(models.TextChoices):
        LIVE = "live", _("Live")
        REPLAY = "replay", _("Replay")

    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.LIVE)
    timeframe = models.CharField(_("timeframe"), max_length=8, default="1h")
    cursor = models.DateTimeField(
        _("clock time"), null=True, blank=True, help_text=_("Replay: the candle close the clock is at.")
    )
    start = models.DateTimeField(_("replay start"), null=True, blank=True)
    seconds_per_candle = models.DecimalField(
        _("seconds per candle"), max_digits=8, decimal_places=2, default=Decimal(2)
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("market clock")
        verbose_name_plural = _("market clock")

    def __str__(self) -> str:
        return f"{self.mode} {self.cursor or ''}".strip()
