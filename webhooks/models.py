"""TradingView webhook endpoints (an unguessable URL and a sealed secret each) and the log of every request
they received, with its outcome and what it became."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, router
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import ExchangeAccount, SealedTextField
from trading.models import Bot, Order
from webhooks.hotpath import CompiledInsert


class WebhookEndpoint(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints", verbose_name=_("user")
    )
    exchange_account = models.ForeignKey(
        ExchangeAccount,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("exchange account"),
    )
    bot = models.ForeignKey(
        Bot,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
        verbose_name=_("bot"),
        help_text=_("Optional: its risk settings apply to the alerts, and its positions are the ones they trade."),
    )
    name = models.CharField(_("name"), max_length=100)
    token = models.CharField(_("token"), max_length=64, unique=True, editable=False)
    secret = SealedTextField(_("secret"), context="webhooks.WebhookEndpoint.secret")
    secret_hint = models.CharField(_("secret hint"), max_length=16, blank=True, editable=False)
    allowed_symbols = models.JSONField(
        _("allowed symbols"), default=list, blank=True, help_text=_("Empty: any market of the account.")
    )
    max_alerts_per_minute = models.PositiveIntegerField(
        _("maximum alerts per minute"), default=30, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    max_age_seconds = models.PositiveIntegerField(
        _("maximum alert age (s)"),
        default=60,
        validators=[MinValueValidator(5), MaxValueValidator(3600)],
        help_text=_("Alerts whose 'time' is older are refused."),
    )
    ip_allowlist = models.BooleanField(
        _("only TradingView's addresses"),
        default=False,
        help_text=_("Accept requests only from TradingView's servers."),
    )
    live = models.BooleanField(
        _("live trading"),
        default=False,
        help_text=_("Off: alerts trade only if the account is a paper account. On: real orders on a real exchange."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def path(self) -> str:
        from django.urls import reverse

        return reverse("webhooks:receive", args=[self.token])


class WebhookEventManager(models.Manager):
    def create(self, **fields: object) -> WebhookEvent:
        """``objects.create`` with the INSERT compiled once per process and prepared (``webhooks.hotpath``): the
        receiver stores every request it answers, and this is its one write. The ORM's save elsewhere."""
        event = self.model(**fields)
        alias = self._db or router.db_for_write(self.model, **self._hints)
        if not _EVENT_INSERT.save(event, alias):
            event.save(force_insert=True, using=alias)
        return event


class WebhookEvent(models.Model):
    """One received request. Its body is stored with the secret removed.

    Two times: ``received_at`` is the wall clock when the request arrived (staleness, rate limits, audits) and
    ``market_time`` the market clock's time then (``trading.clock.now()``: the replay's cursor on the replay
    clock), the time the pages show, as they show the orders the alert placed. ``reason`` and ``details`` name
    a refusal or a failure and hold its figures; ``message`` and ``result`` say it in English for the API and
    TradingView, and the pages write it in the reader's language (``webhooks.labels``)."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        DUPLICATE = "duplicate", _("Duplicate")
        REJECTED = "rejected", _("Rejected")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be traded")
        PROCESSING = "processing", _("Being traded")
        DONE = "done", _("Traded")
        NOTHING = "nothing", _("Nothing to do")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("endpoint"),
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    market_time = models.DateTimeField(_("market time"), default=timezone.now)
    source_ip = models.GenericIPAddressField(_("source IP"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    reason = models.CharField(_("reason"), max_length=32, blank=True)
    message = models.CharField(_("message"), max_length=300, blank=True)
    body = models.JSONField(_("body"), null=True, blank=True)
    body_size = models.PositiveIntegerField(_("body size (bytes)"), default=0)
    # A request that did not authenticate (unknown URL, wrong secret, unreadable body) keeps no body: only its
    # first characters with secrets masked, and its SHA-256 (to tell repeats apart).
    body_prefix = models.CharField(_("body prefix"), max_length=256, blank=True)
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64, blank=True)
    symbol = models.CharField(_("symbol"), max_length=32, blank=True)
    action = models.CharField(_("action"), max_length=16, blank=True)
    dedupe_key = models.CharField(_("duplicate check key"), max_length=64, null=True, blank=True)
    is_test = models.BooleanField(_("test"), default=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, blank=True)
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_events", verbose_name=_("order")
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    # What the risk envelope changed: [{"field", "action" (clamped, defaulted), "requested", "applied"}].
    adjustments = models.JSONField(_("risk adjustments"), default=list, blank=True)
    result = models.CharField(_("result"), max_length=300, blank=True)
    enqueued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    objects = WebhookEventManager()

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["endpoint", "-received_at"]),
            models.Index(fields=["status", "received_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "dedupe_key"],
                condition=Q(outcome="accepted"),
                name="webhookevent_one_accepted_per_alert",
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.reason} {self.received_at:%Y-%m-%d %H:%M:%S}"


_EVENT_INSERT = CompiledInsert(WebhookEvent)
