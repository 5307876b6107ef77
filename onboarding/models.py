"""The onboarding wizard's stored state: which step a trader is on and what they chose so far, so that
they can leave and resume. The rows it points at (exchange account, endpoint, backtest run, bot) belong
to the other apps; the state keeps only their ids and is re-checked against the owner on every use."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

STEPS = 5


class OnboardingState(models.Model):
    """One per user. ``step`` is the step the wizard shows (1–5); ``data`` holds the choices:

    ``account_id``, ``connection`` (the last connection test's ok/message/warnings), ``balance``,
    ``risk_level``, ``strategy``, ``params``, ``leverage``, ``position_size_pct``, ``stop_loss_pct``,
    ``take_profit_pct``, ``endpoint_id``, ``backtest_run_id``, ``bot_id`` and ``live``.
    Numbers are stored as strings (Decimal text), ids as integers.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="onboarding", verbose_name=_("user")
    )
    step = models.PositiveSmallIntegerField(
        _("step"), default=1, validators=[MinValueValidator(1), MaxValueValidator(STEPS)]
    )
    data = models.JSONField(_("choices"), default=dict, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    # "Not now": the trader left the wizard for the dashboard; signing in no longer leads to it.
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("onboarding state")
        verbose_name_plural = _("onboarding states")
        constraints = [
            models.CheckConstraint(condition=Q(step__gte=1, step__lte=STEPS), name="onboardingstate_step_range"),
        ]

    def __str__(self) -> str:
        return f"{self.user} onboarding (step {self.step})"

    @property
    def done(self) -> bool:
        return self.completed_at is not None

    @property
    def dismissed(self) -> bool:
        return self.dismissed_at is not None
