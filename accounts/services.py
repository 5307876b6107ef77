"""Every write to accounts goes through here (HTML views, API, admin actions, commands, tasks)."""

from __future__ import annotations

import hashlib
import secrets as pysecrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import secrets
from accounts.crypto import is_sealed
from accounts.models import ApiToken, RiskProfile, User

RISK_FIELDS = ("leverage", "position_size_pct", "stop_loss_pct", "take_profit_pct", "max_drawdown_pct")
TOKEN_PREFIX = "tdy"  # noqa: S105 - a public marker, not a secret


@transaction.atomic
def user_update_settings(*, user: User, timezone_name: str | None = None, risk: dict[str, Any] | None = None) -> User:
    """Change the user's time zone and/or default risk settings: all of it is saved, or none."""
    if timezone_name is not None:
        user.timezone = timezone_name
        try:
            user.clean_fields(exclude=[f.name for f in User._meta.fields if f.name != "timezone"])
        except ValidationError as exc:
            raise ValidationError({"timezone": exc.message_dict["timezone"]}) from None
        user.save(update_fields=["timezone"])
    if risk:
        risk_profile_update(user=user, **risk)
    return user


@transaction.atomic
def risk_profile_update(*, user: User, **values: Any) -> RiskProfile:
    """Change some or all of the user's default risk settings; all or nothing."""
    unknown = set(values) - set(RISK_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown risk settings: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    profile, _created = RiskProfile.objects.select_for_update().get_or_create(user=user)
    for name, value in values.items():
        if value is None or value == "":
            raise ValidationError({name: [_("This field is required.")]})
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            raise ValidationError({name: [_("Enter a number.")]}) from None
        if name == "leverage":
            if number != number.to_integral_value():
                raise ValidationError({name: [_("Leverage is a whole number, from 1 to 10.")]})
            number = int(number)
        setattr(profile, name, number)
    profile.full_clean(exclude=["user"])
    profile.save()
    return profile


@transaction.atomic
def demo_user_ensure(*, email: str, password: str) -> tuple[User, bool]:
    """Create the demo user (verified e-mail, default risk profile) or reset its password.

    Returns the user and whether it was created.
    """
    from allauth.account.models import EmailAddress

    user = User.objects.filter(email=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email, password)
    else:
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
    EmailAddress.objects.filter(user=user).exclude(email__iexact=email).update(primary=False)
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user, created


MAX_SIGN_IN_FAILURES = 5
SIGN_IN_FAILURE_WINDOW = 300  # seconds


def _failure_key(key: str) -> str:
    return "sign-in-failures:" + hashlib.sha256(key.lower().encode()).hexdigest()


def sign_in_failures(*, key: str) -> int:
    """Failed API sign-ins (password or TOTP) for one account in the current window, from any address."""
    return int(cache.get(_failure_key(key), 0))


def sign_in_failed(*, key: str) -> None:
    cache_key = _failure_key(key)
    if not cache.add(cache_key, 1, timeout=SIGN_IN_FAILURE_WINDOW):
        try:
            cache.incr(cache_key)
        except ValueError:
            cache.set(cache_key, 1, timeout=SIGN_IN_FAILURE_WINDOW)


@transaction.atomic
def api_tokens_revoke_all(*, user: User) -> int:
    """Sign every API client of the user out (after a password change or reset, or new two-factor)."""
    deleted, _details = ApiToken.objects.filter(user=user).delete()
    return deleted


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # shown once; only its hash is stored


def hash_token_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_issue(*, user: User, name: str, ttl_days: int | None = None) -> IssuedToken:
    name = name.strip()
    if not name:
        raise ValidationError({"name": [_("Give the token a name, so you can tell it apart later.")]})
    ttl = settings.TRENDY_API_TOKEN_TTL_DAYS if ttl_days is None else ttl_days
    if not 1 <= ttl <= 365:
        raise ValidationError({"ttl_days": [_("A token lives between 1 and 365 days.")]})
    prefix = pysecrets.token_hex(4)
    key = f"{TOKEN_PREFIX}_{prefix}_{pysecrets.token_urlsafe(32)}"
    now = timezone.now()
    token = ApiToken(user=user, name=name[:100], prefix=prefix, key_hash=hash_token_key(key), created_at=now)
    token.expires_at = now + timedelta(days=ttl)
    token.save()
    return IssuedToken(token=token, key=key)


@transaction.atomic
def api_token_revoke(*, user: User, token_id: int) -> None:
    deleted, _details = ApiToken.objects.filter(user=user, id=token_id).delete()
    if not deleted:
        raise ApiToken.DoesNotExist


def api_tokens_purge_expired() -> int:
    deleted, _details = ApiToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def api_token_touch(*, token: ApiToken) -> None:
    """Record use at most once a minute, so authentication does not write on every request."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        token.last_used_at = now


@dataclass
class RotationReport:
    checked: int = 0
    rotated: int = 0


def _rotate_mfa(report: RotationReport) -> None:
    ring = secrets.keyring()
    for auth in Authenticator.objects.select_for_update().filter(
        type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
    ):
        data = dict(auth.data)
        changed = False
        for key in ("secret", "seed"):
            if is_sealed(data.get(key)):
                report.checked += 1
                if ring.needs_rotation(data[key]):
                    data[key] = ring.rotate(data[key], context=secrets.MFA_CONTEXT)
                    changed = True
        if isinstance(data.get("migrated_codes"), list):
            codes = []
            for code in data["migrated_codes"]:
                report.checked += 1
                if is_sealed(code) and ring.needs_rotation(code):
                    code = ring.rotate(code, context=secrets.MFA_CONTEXT)
                    changed = True
                codes.append(code)
            data["migrated_codes"] = codes
        if changed:
            report.rotated += 1
            Authenticator.objects.filter(id=auth.id).update(data=data)


@transaction.atomic
def secrets_rotate() -> RotationReport:
    """Re-seal every stored secret under the first key of TRENDY_ENCRYPTION_KEYS.

    Runs in one transaction: a secret that cannot be opened (its key was dropped from the
    keyring) stops the rotation and nothing is changed.
    """
    ring = secrets.keyring()
    report = RotationReport()
    for column in secrets.sealed_columns():
        rows = column.model._default_manager.select_for_update().exclude(**{column.field: ""})
        for pk, value, bound in rows.values_list("pk", column.field, column.bind or "pk"):
            report.checked += 1
            if ring.needs_rotation(value):
                column.model._default_manager.filter(pk=pk).update(
                    **{column.field: ring.rotate(value, context=column.context_for(bound))}
                )
                report.rotated += 1
    _rotate_mfa(report)
    return report
