"""The market clock: live, or a replay over stored candles (one row)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _


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
