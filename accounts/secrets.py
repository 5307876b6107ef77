"""The Django side of ``accounts.crypto``: the keyring from settings, and every sealed value.

``sealed_values()`` lists every place a secret is stored encrypted, so ``rotate_keys`` can
re-seal all of them. A model field that stores a sealed secret declares
``encrypted_secret = True`` and is found here without further wiring.

Every value sealed or opened here is remembered by ``trading_site.redact`` (in this process, the most recent
ones), so the logging filter and the error reports mask it wherever it shows up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from accounts.crypto import Keyring
from trading_site import redact

MFA_CONTEXT = "allauth.mfa"


@cache
def keyring() -> Keyring:
    return Keyring(settings.TRENDY_ENCRYPTION_KEYS)


@receiver(setting_changed)
def _reset_keyring(*, setting: str, **kwargs: Any) -> None:
    if setting == "TRENDY_ENCRYPTION_KEYS":
        keyring.cache_clear()


def encrypt(plaintext: str, *, context: str) -> str:
    redact.remember(plaintext)  # from now on this process's logs and error pages mask it
    return keyring().encrypt(plaintext, context=context)


def decrypt(token: str, *, context: str) -> str:
    plaintext = keyring().decrypt(token, context=context)
    redact.remember(plaintext)
    return plaintext


@dataclass(frozen=True)
class SealedColumn:
    model: Any
    field: str
    context: str
    bind: str | None = None  # a column whose value completes the context (the row's owner)

    def context_for(self, bound: Any) -> str:
        return self.context if self.bind is None else f"{self.context}:{bound}"


def sealed_columns() -> Iterator[SealedColumn]:
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if getattr(field, "encrypted_secret", False):
                yield SealedColumn(model, field.name, field.context, getattr(field, "bind", None))
