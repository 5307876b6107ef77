"""Notifications: one row per event told to a user (the text is not stored: kind + data are, and
``notifications.catalog`` renders them in the reader's language when shown); the user's channels outside Trendy
and preferences; one ``Delivery`` per message to a channel and one ``DeliveryAttempt`` per try."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from accounts.models import SealedTextField
from notifications import catalog


class Notification(models.Model):
    class Severity(models.TextChoices):
        INFO = catalog.INFO, _("Info")
        WARNING = catalog.WARNING, _("Warning")
        CRITICAL = catalog.CRITICAL, _("Critical")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("user")
    )
    kind = models.CharField(_("kind"), max_length=64)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, default=Severity.INFO)
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "-id"], name="notif_user_list"),
            # the unread count and the unread list, newest first (a user whose rows are all read costs nothing)
            models.Index(fields=["user", "-id"], condition=models.Q(read_at__isnull=True), name="notif_user_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def unread(self) -> bool:
        return self.read_at is None

    @property
    def label(self) -> str:
        return catalog.label(self.kind)

    @cached_property
    def text(self) -> tuple[str, str]:
        """Title and body in the active language, rendered once per row read."""
        return catalog.render(self.kind, self.data)

    @property
    def title(self) -> str:
        return self.text[0]

    @property
    def body(self) -> str:
        return self.text[1]


class Channel(models.Model):
    """Somewhere outside Trendy a user is told: an e-mail address, a linked Telegram chat, a Slack webhook, a
    browser's push subscription, a phone's FCM token. ``address`` is sealed like exchange keys and never shown
    again (``hint`` is); ``fingerprint`` (SHA-256 of the address) finds the same phone or chat registered twice.

    ``window_until`` and ``digest_due`` group bursts: the first message of a minute goes at once, the rest are held
    and go as one digest when the window closes (``notifications.delivery``)."""

    # What pages, the API and the admin may show of a channel: never its sealed address, its fingerprint or its
    # burst window.
    SHOWN_FIELDS = (
        "kind",
        "label",
        "hint",
        "language",
        "enabled",
        "disabled_reason",
        "disabled_at",
        "created_at",
        "last_sent_at",
    )

    class Kind(models.TextChoices):
        EMAIL = "email", _("E-mail")
        TELEGRAM = "telegram", "Telegram"
        SLACK = "slack", "Slack"
        WEBPUSH = "webpush", _("Browser push")
        FCM = "fcm", _("Mobile push")

    # One registration per phone, browser or chat across all accounts: a new sign-in takes it over.
    PER_DEVICE = (Kind.TELEGRAM, Kind.WEBPUSH, Kind.FCM)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_channels",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    label = models.CharField(_("label"), max_length=80, blank=True)
    address = SealedTextField(_("address"), context="notifications.Channel.address")
    fingerprint = models.CharField(_("fingerprint"), max_length=64, editable=False)
    hint = models.CharField(_("hint"), max_length=40, blank=True, editable=False)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="en")
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.CharField(_("why it was turned off"), max_length=300, blank=True)
    disabled_at = models.DateTimeField(_("turned off at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_sent_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    window_until = models.DateTimeField(null=True, blank=True, editable=False)
    digest_due = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "fingerprint"],
                condition=models.Q(kind__in=["telegram", "webpush", "fcm"]),
                name="channel_unique_device",
            ),
            models.UniqueConstraint(fields=["user", "kind", "fingerprint"], name="channel_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.hint}".strip()


class TelegramLink(models.Model):
    """A one-time code the user sends the Trendy bot as ``/start <code>``: it proves the chat is theirs. Only the
    code's SHA-256 is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_links", verbose_name=_("user")
    )
    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="en")

    class Meta:
        verbose_name = _("Telegram link code")
        verbose_name_plural = _("Telegram link codes")

    def __str__(self) -> str:
        return f"Telegram link #{self.pk}"


class Preference(models.Model):
    """What the user wants for one kind of event (``kind`` "*": every kind without a row of its own): the
    channel kinds to use, the least severity worth a message outside Trendy, and quiet hours in the user's time
    zone (critical messages are never held). The in-app list keeps every notification whatever this says."""

    ANY = "*"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preferences",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("event"), max_length=64)
    channels = models.JSONField(_("channels"), default=list, blank=True)
    min_severity = models.CharField(
        _("minimum severity"), max_length=10, choices=Notification.Severity.choices, default=catalog.INFO
    )
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="preference_unique_kind")]

    def __str__(self) -> str:
        return self.kind


class Delivery(models.Model):
    """One message to one channel: a notification, or a digest of held ones (``notification`` null, the held
    deliveries point at it through ``digest``)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        HELD = "held", _("Held for a digest")
        GROUPED = "grouped", _("Sent in a digest")
        SENDING = "sending", _("Sending")
        RETRYING = "retrying", _("Waiting to retry")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("channel"))
    notification = models.ForeignKey(
        Notification,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("notification"),
    )
    digest = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="grouped", verbose_name=_("digest")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [
            models.Index(fields=["channel", "not_before"], condition=models.Q(status="held"), name="delivery_held_due"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.pk} {self.status}"


class DeliveryAttempt(models.Model):
    """Every try to hand a delivery to its channel's service, kept for staff (admin)."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Sent")
        TEMPORARY = "temporary", _("Temporary failure")
        PERMANENT = "permanent", _("Permanent failure")

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_rows", verbose_name=_("delivery")
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"))
    duration_ms = models.PositiveIntegerField(_("duration in milliseconds"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} {self.outcome}"
