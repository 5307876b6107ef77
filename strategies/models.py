from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# The trader's money and risk inputs of a run, as named on the model, the forms and the API.
SETTINGS_FIELDS = (
    "initial_capital",
    "fee_rate",
    "slippage_bps",
    "leverage",
    "position_size_pct",
    "stop_loss_pct",
    "take_profit_pct",
    "trailing_stop_pct",
    "trailing_activation_pct",
    "pyramiding",
    "direction",
)


class BacktestRun(models.Model):
    """One backtest (or parameter optimisation) of a strategy on stored candles, run by a Celery task.

    The settings are the trader's money inputs and are Decimal; the results (trades, equity, metrics)
    are simulation output stored as JSON, like candles are analysis data.
    """

    class Kind(models.TextChoices):
        BACKTEST = "backtest", _("Backtest")
        OPTIMISATION = "optimisation", _("Optimisation")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Direction(models.TextChoices):
        LONG = "long", _("Long only")
        SHORT = "short", _("Short only")
        BOTH = "both", _("Long and short")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtest_runs", verbose_name=_("user")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.BACKTEST)
    strategy = models.CharField(_("strategy"), max_length=64)
    params = models.JSONField(_("parameters"), default=dict, blank=True)  # a script without inputs has none
    exchange = models.CharField(_("exchange"), max_length=32)
    symbol = models.CharField(_("symbol"), max_length=32)
    timeframe = models.CharField(_("timeframe"), max_length=8)
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    initial_capital = models.DecimalField(
        _("initial capital"), max_digits=20, decimal_places=2, validators=[MinValueValidator(Decimal("10"))]
    )
    fee_rate = models.DecimalField(
        _("fee rate"), max_digits=7, decimal_places=6, validators=[MinValueValidator(0), MaxValueValidator(0.05)]
    )
    slippage_bps = models.DecimalField(
        _("slippage (bps)"), max_digits=7, decimal_places=2, validators=[MinValueValidator(0), MaxValueValidator(500)]
    )
    leverage = models.PositiveSmallIntegerField(_("leverage"), validators=[MinValueValidator(1), MaxValueValidator(10)])
    position_size_pct = models.DecimalField(
        _("position size (%)"), max_digits=5, decimal_places=2, validators=[MinValueValidator(5), MaxValueValidator(20)]
    )
    stop_loss_pct = models.DecimalField(
        _("stop loss (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(50)],
    )
    take_profit_pct = models.DecimalField(
        _("take profit (%)"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(500)],
    )
    trailing_stop_pct = models.DecimalField(
        _("trailing stop (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(50)],
    )
    trailing_activation_pct = models.DecimalField(
        _("trailing stop starts after a gain of (%)"),
        max_digits=6,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(0), MaxValueValidator(500)],
    )
    pyramiding = models.PositiveSmallIntegerField(
        _("entries per position (pyramiding)"), default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    levels_by_bar = models.BooleanField(
        _("stop loss and take profit set by the script bar by bar"),
        default=False,
        help_text=_("The script's strategy.exit moves them from bar to bar; the percentages do not apply."),
    )
    direction = models.CharField(_("direction"), max_length=8, choices=Direction.choices, default=Direction.LONG)
    # Optimisation only: the search.
    search = models.JSONField(_("search"), default=dict, blank=True)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    error = models.TextField(_("error"), blank=True)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("backtest run")
        verbose_name_plural = _("backtest runs")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(leverage__gte=1, leverage__lte=10), name="backtest_leverage_range"),
            models.CheckConstraint(
                condition=Q(position_size_pct__gte=5, position_size_pct__lte=20), name="backtest_size_range"
            ),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="backtest_end_after_start"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="backtest_progress_range"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy} {self.symbol} {self.timeframe} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class PineScript(models.Model):
    """A trader's Pine Script strategy; its text lives in immutable, numbered versions."""

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pine_scripts", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Pine script")
        verbose_name_plural = _("Pine scripts")
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="pine_script_name_per_user")]

    def __str__(self) -> str:
        return self.name

    @property
    def latest(self) -> PineScriptVersion | None:
        return self.versions.order_by("-number").first()


class PineScriptVersion(models.Model):
    """One saved text of a script. Never edited: a bot runs the version it was created with (its strategy slug
    is ``pine-<id hex>``) until its owner moves it to a newer one."""

    SLUG_PREFIX = "pine-"

    id = models.UUIDField(_("ID"), primary_key=True, default=uuid.uuid4, editable=False)
    script = models.ForeignKey(PineScript, on_delete=models.CASCADE, related_name="versions", verbose_name=_("script"))
    number = models.PositiveIntegerField(_("version"))
    source = models.TextField(_("source"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    pine_version = models.PositiveSmallIntegerField(_("Pine version"))
    title = models.CharField(_("title in the script"), max_length=200, blank=True)
    report = models.JSONField(_("validation report"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("Pine script version")
        verbose_name_plural = _("Pine script versions")
        ordering = ["script", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["script", "number"], name="pine_version_number_per_script"),
            models.CheckConstraint(condition=Q(number__gte=1), name="pine_version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.script.name} v{self.number}"

    @property
    def slug(self) -> str:
        return f"{self.SLUG_PREFIX}{self.id.hex}"

    @property
    def inputs(self) -> list[dict]:
        return list(self.report.get("inputs", []))
