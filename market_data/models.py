from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Candle(models.Model):
    """One OHLCV candle. Prices are floats: candles are analysis data, not money.

    ``open_time`` is the candle's open time in UTC; a 1h candle stamped 10:00 covers [10:00, 11:00).
    """

    exchange = models.CharField(_("exchange"), max_length=32)
    symbol = models.CharField(_("symbol"), max_length=32)
    timeframe = models.CharField(_("timeframe"), max_length=8)
    open_time = models.DateTimeField(_("open time"))
    open = models.FloatField(_("open"))
    high = models.FloatField(_("high"))
    low = models.FloatField(_("low"))
    close = models.FloatField(_("close"))
    volume = models.FloatField(_("volume"))

    class Meta:
        verbose_name = _("candle")
        verbose_name_plural = _("candles")
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe", "open_time"], name="candle_unique_series_time"
            ),
            models.CheckConstraint(
                condition=Q(low__gt=0)
                & Q(high__gte=F("low"))
                & Q(open__gte=F("low"))
                & Q(open__lte=F("high"))
                & Q(close__gte=F("low"))
                & Q(close__lte=F("high"))
                & Q(volume__gte=0),
                name="candle_ohlcv_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class MarketDataSource(models.Model):
    """Where the candles the demo and the replay use came from, as ``seed_demo`` last loaded them: candle
    files from a folder, the exchange (live), or the sample bundled with Trendy. One row; the page header
    names it (``market_data.sources.source_label``)."""

    class Kind(models.TextChoices):
        FILES = "files", _("candle files")
        EXCHANGE = "exchange", _("exchange")
        SAMPLE = "sample", _("bundled sample")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    exchange = models.CharField(_("exchange"), max_length=32, default="binance")
    folder = models.CharField(_("folder"), max_length=500, blank=True, help_text=_("Candle files: their folder."))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("market data source")
        verbose_name_plural = _("market data source")

    def __str__(self) -> str:
        return f"{self.kind} {self.exchange} {self.folder}".strip()
