"""In-app notifications: one row per event told to a user. The text is not stored: kind + data are, and
``notifications.catalog`` renders them in the reader's language when shown."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

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
            models.Index(fields=["user"], condition=models.Q(read_at__isnull=True), name="notif_user_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def unread(self) -> bool:
        return self.read_at is None

    @property
    def label(self) -> str:
        return catalog.label(self.kind)

    @property
    def title(self) -> str:
        return catalog.render(self.kind, self.data)[0]

    @property
    def body(self) -> str:
        return catalog.render(self.kind, self.data)[1]
