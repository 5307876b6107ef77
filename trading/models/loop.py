"""One run of the trading loop per candle close: when it started and finished, how many shards it was split
into and how many are done, and whether it was still running when the next candle closed (it overran)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LoopTick(models.Model):
    """The loop's record of one candle close. Unique per ``candle_time``: a tick is never run twice for the
    same close (the beat firing twice, a coordinator redelivered after a crash)."""

    candle_time = models.DateTimeField(_("candle close"), unique=True)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    shards_total = models.PositiveIntegerField(_("shards"), default=0)
    shards_done = models.PositiveIntegerField(_("shards done"), default=0)
    done_shards = models.JSONField(_("finished shards"), default=list, blank=True)
    bots = models.PositiveIntegerField(_("bots"), default=0)
    overran = models.BooleanField(
        _("overran"), default=False, help_text=_("Still running when the next candle closed.")
    )
    phases = models.JSONField(_("phase timings (ms)"), default=dict, blank=True)

    class Meta:
        verbose_name = _("loop tick")
        verbose_name_plural = _("loop ticks")
        ordering = ["-candle_time"]
        indexes = [models.Index(fields=["finished_at"], name="trading_looptick_unfinished")]

    def __str__(self) -> str:
        return f"{self.candle_time:%Y-%m-%d %H:%M} UTC"
