"""allauth hooks: TOTP secrets and recovery-code seeds are sealed with our keyring."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter

from accounts import secrets
from accounts.models import RiskProfile


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: Any, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            RiskProfile.objects.get_or_create(user=user)
        return user


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return secrets.encrypt(text, context=secrets.MFA_CONTEXT)

    def decrypt(self, encrypted_text: str) -> str:
        return secrets.decrypt(encrypted_text, context=secrets.MFA_CONTEXT)
