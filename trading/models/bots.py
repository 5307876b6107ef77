"""Bots: a strategy on a market with its risk settings, its status and the candle it last acted on."""

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
from trading.models.fields import money


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
    trailing_stop_pct = models.DecimalField(
        _("trailing stop (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(1)), MaxValueValidator(Decimal(5))],
    )
    trailing_activation_pct = models.DecimalField(
        _("trailing stop starts after a gain of (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    pyramiding = models.PositiveSmallIntegerField(
        _("entries per position (pyramiding)"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("More than 1: an entry signal in the direction held adds another entry of the position size."),
    )
    levels_by_bar = models.BooleanField(
        _("stop loss and take profit set by the script bar by bar"),
        default=False,
        help_text=_("The script's strategy.exit moves them from bar to bar; the percentages do not apply."),
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
                condition=Q(trailing_stop_pct__isnull=True) | Q(trailing_stop_pct__gte=1, trailing_stop_pct__lte=5),
                name="bot_trailing_stop_range",
            ),
            models.CheckConstraint(
                condition=Q(trailing_activation_pct__gte=0, trailing_activation_pct__lte=100),
                name="bot_trailing_activation_range",
            ),
            models.CheckConstraint(condition=Q(pyramiding__gte=1, pyramiding__lte=5), name="bot_pyramiding_range"),
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
