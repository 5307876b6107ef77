from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import SealedTextField


class RegimeModel(models.Model):
    """One trained version of a market's regime model: the joblib file (``path``, checked by ``sha256`` when it is
    loaded) and what it was trained on and scored. At most one version of a market is live: the one that answers."""

    class Status(models.TextChoices):
        LIVE = "live", _("live")
        REJECTED = "rejected", _("rejected (worse than the live version)")
        RETIRED = "retired", _("retired (replaced by a newer version)")

    exchange = models.CharField(_("exchange"), max_length=32)
    symbol = models.CharField(_("symbol"), max_length=32)
    timeframe = models.CharField(_("timeframe"), max_length=8)
    version = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    kind = models.CharField(_("model"), max_length=32)  # random_forest / gradient_boosting
    code_version = models.CharField(_("code version"), max_length=64)
    features = models.JSONField(_("features"), default=list)
    label_rule = models.JSONField(_("label rule"), default=dict)
    train_start = models.DateTimeField(_("first bar"))
    train_end = models.DateTimeField(_("last labelled bar"))
    validation_start = models.DateTimeField(_("validation from"))
    rows = models.PositiveIntegerField(_("labelled bars"))
    train_rows = models.PositiveIntegerField(_("bars before validation"))
    validation = models.JSONField(_("validation metrics"), default=dict)  # kind → metrics
    baseline = models.JSONField(_("baseline metrics"), default=dict)
    comparison = models.JSONField(_("comparison with the live version"), default=dict)
    walk_forward = models.JSONField(_("walk-forward metrics"), default=dict)
    importances = models.JSONField(_("feature importances"), default=dict)
    evidence = models.JSONField(_("strategies by regime"), default=dict)
    path = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64)
    training_seconds = models.FloatField(_("training time (s)"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("regime model")
        verbose_name_plural = _("regime models")
        ordering = ["exchange", "symbol", "timeframe", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe", "version"], name="analytics_regime_model_version"
            ),
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe"],
                condition=Q(status="live"),
                name="analytics_regime_model_one_live",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe} v{self.version} ({self.status})"

    @property
    def market(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe}"


class SentimentSnapshot(models.Model):
    """One asset's sentiment over a window, as the refresh computed it from the configured sources (the numbers'
    definitions: analytics/sentiment.py). ``payload`` is the whole snapshot (per-source scores, trend, topics,
    headlines, the sources that failed); the columns are what lists and baselines read."""

    asset = models.CharField(_("asset"), max_length=16)  # base asset: BTC, ETH …
    as_of = models.DateTimeField(_("as of"))
    window_seconds = models.PositiveIntegerField(_("window (s)"))
    status = models.CharField(_("status"), max_length=16)  # ok / no_posts / no_sources
    overall = models.FloatField(_("overall score"), null=True)
    volume = models.PositiveIntegerField(_("posts"))
    impact = models.FloatField(_("impact"), null=True)
    sources = models.JSONField(_("sources asked"), default=list)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("sentiment snapshot")
        verbose_name_plural = _("sentiment snapshots")
        ordering = ["asset", "-as_of"]
        indexes = [models.Index(fields=["asset", "-as_of"], name="analytics_sentiment_asset_asof")]
        constraints = [models.UniqueConstraint(fields=["asset", "as_of"], name="analytics_sentiment_one_per_time")]

    def __str__(self) -> str:
        return f"{self.asset} {self.as_of:%Y-%m-%d %H:%M} ({self.status})"


class ForecastModel(models.Model):
    """One trained version of a market's price forecaster (quantile models for 1, 3 and 7 days on daily candles):
    the joblib file and the walk-forward coverage it was measured with. The newest version answers."""

    exchange = models.CharField(_("exchange"), max_length=32)
    symbol = models.CharField(_("symbol"), max_length=32)
    version = models.PositiveIntegerField(_("version"))
    live = models.BooleanField(_("answers"), default=True)
    code_version = models.CharField(_("code version"), max_length=64)
    features = models.JSONField(_("features"), default=list)
    source_timeframe = models.CharField(_("candles"), max_length=8)  # 1d, or the shorter one resampled to days
    first_day = models.DateTimeField(_("first day"))
    last_day = models.DateTimeField(_("last day"))
    rows = models.PositiveIntegerField(_("days"))
    coverage = models.JSONField(_("walk-forward coverage"), default=dict)  # horizon days → figures
    path = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64)
    training_seconds = models.FloatField(_("training time (s)"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("forecast model")
        verbose_name_plural = _("forecast models")
        ordering = ["exchange", "symbol", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol", "version"], name="analytics_forecast_model_version"),
            models.UniqueConstraint(
                fields=["exchange", "symbol"], condition=Q(live=True), name="analytics_forecast_model_one_live"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} v{self.version}"


class SignalModel(models.Model):
    """One trained version of a market's AI signal (analytics/signal.py): the logistic model's file, its learnt
    weights, and its walk-forward track record beside the strategies' majority vote and always-hold."""

    exchange = models.CharField(_("exchange"), max_length=32)
    symbol = models.CharField(_("symbol"), max_length=32)
    timeframe = models.CharField(_("timeframe"), max_length=8)
    version = models.PositiveIntegerField(_("version"))
    live = models.BooleanField(_("answers"), default=True)
    code_version = models.CharField(_("code version"), max_length=64)
    inputs = models.JSONField(_("inputs"), default=list)
    horizon = models.PositiveIntegerField(_("horizon (bars)"))
    rows = models.PositiveIntegerField(_("bars learnt from"))
    first_bar = models.DateTimeField(_("first bar"))
    last_bar = models.DateTimeField(_("last bar"))
    evaluation = models.JSONField(_("walk-forward track record"), default=dict)
    coefficients = models.JSONField(_("weights"), default=dict)
    track = models.JSONField(_("tested signals"), default=list)  # [time, signal, confidence, forward return], sampled
    path = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64)
    training_seconds = models.FloatField(_("training time (s)"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("signal model")
        verbose_name_plural = _("signal models")
        ordering = ["exchange", "symbol", "timeframe", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe", "version"], name="analytics_signal_model_version"
            ),
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe"],
                condition=Q(live=True),
                name="analytics_signal_model_one_live",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe} v{self.version}"


class SignalRecord(models.Model):
    """A signal as it was given, on a market's closed bar (the hourly beat records them), kept to compare with what
    happened: the live track record."""

    exchange = models.CharField(_("exchange"), max_length=32)
    symbol = models.CharField(_("symbol"), max_length=32)
    timeframe = models.CharField(_("timeframe"), max_length=8)
    bar_close = models.DateTimeField(_("bar close"))
    signal = models.CharField(_("signal"), max_length=8)  # buy / hold / sell
    confidence = models.FloatField(_("confidence"))
    price = models.DecimalField(_("price"), max_digits=24, decimal_places=10)
    horizon = models.PositiveIntegerField(_("horizon (bars)"))
    model = models.ForeignKey(SignalModel, on_delete=models.SET_NULL, null=True, related_name="records")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("signal given")
        verbose_name_plural = _("signals given")
        ordering = ["exchange", "symbol", "timeframe", "-bar_close"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "timeframe", "bar_close"], name="analytics_signal_record_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} {self.bar_close:%Y-%m-%d %H:%M} {self.signal}"


class Commentator(models.Model):
    """A language model that may add a commentary beside the AI signal (analytics/commentary.py): an
    OpenAI-compatible chat API (which also serves Llama and other local models) or Anthropic's. Staff configure it
    in the admin; none is enabled by default, and at most one is enabled at a time (the one that answers). The API
    key is sealed like the exchange keys and never shown again; a local server needs none."""

    class Provider(models.TextChoices):
        OPENAI = "openai", _("OpenAI-compatible chat API (OpenAI, Llama and other local servers)")
        ANTHROPIC = "anthropic", _("Anthropic")

    name = models.CharField(_("name"), max_length=100)
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices, default=Provider.OPENAI)
    base_url = models.URLField(
        _("base URL"),
        max_length=300,
        help_text=_(
            "OpenAI-compatible: the URL before /chat/completions, such as https://api.openai.com/v1 or "
            "http://127.0.0.1:11434/v1; Anthropic: https://api.anthropic.com."
        ),
    )
    model = models.CharField(_("model"), max_length=100)
    # Sealed with the server's keys, bound to no owner: commentators belong to the operator, not to a trader.
    api_key = SealedTextField(_("API key"), context="analytics.Commentator.api_key", bind=None)
    enabled = models.BooleanField(
        _("enabled"),
        default=False,
        help_text=_("At most one commentator is enabled: enabling one disables the others."),
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        _("timeout (s)"),
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("The longest wait for an answer; after it the signal is shown without a commentary."),
    )
    max_tokens = models.PositiveIntegerField(
        _("maximum tokens"), default=400, validators=[MinValueValidator(16), MaxValueValidator(4000)]
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    last_ok_at = models.DateTimeField(_("last answer"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)

    class Meta:
        verbose_name = _("language model commentator")
        verbose_name_plural = _("language model commentators")
        ordering = ["-enabled", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["enabled"], condition=Q(enabled=True), name="analytics_commentator_one_on"),
            models.CheckConstraint(
                condition=Q(timeout_seconds__gte=1, timeout_seconds__lte=60), name="analytics_commentator_timeout"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider}: {self.model})"
