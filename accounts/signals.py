"""Account events that must take effect everywhere: revoke API tokens, keep a risk profile."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import password_changed, password_reset, password_set
from allauth.mfa.signals import authenticator_added
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts import services
from accounts.models import RiskProfile, User


@receiver(password_changed)
@receiver(password_reset)
@receiver(password_set)
@receiver(authenticator_added)
def _revoke_api_tokens(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    # A token issued before the owner secured the account may be in someone else's hands.
    if user is not None:
        services.api_tokens_revoke_all(user=user)


@receiver(post_save, sender=User)
def _ensure_risk_profile(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    # Users made anywhere (admin, shell, allauth) get the default risk profile.
    if created:
        RiskProfile.objects.get_or_create(user=instance)
