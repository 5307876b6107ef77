"""Every write to accounts goes through here (HTML views, API, admin actions, commands, tasks).

Why this file is long: every write of the accounts app (users, risk profiles, exchange accounts and their
keys, two-factor) in one place, as the style guide asks; each function is short."""

from __future__ import annotations

import hashlib
import re
import secrets as pysecrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import secrets
from accounts.crypto import is_sealed
from accounts.models import ApiToken, ExchangeAccount, RiskProfile, User

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
    """Create the demo user (verified e-mail, default risk profile, auto-trading on so that the demo trades at
    once) or reset its password (its auto-trading switch is left as the presenter set it).

    Returns the user and whether it was created.
    """
    from allauth.account.models import EmailAddress

    user = User.objects.filter(email=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email, password, auto_trading=True)
    else:
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
    EmailAddress.objects.filter(user=user).exclude(email__iexact=email).update(primary=False)
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user, created


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


@transaction.atomic
def api_token_rotate(*, token: ApiToken) -> IssuedToken:
    """A new key for the same client (same name, a full lifetime from now); the old key stops working at once. A
    phone rotates its token while it is still valid and never needs the password again while it is in use."""
    locked = ApiToken.objects.select_for_update().filter(pk=token.pk).first()
    if locked is None:
        raise ApiToken.DoesNotExist
    lifetime = max(1, round((locked.expires_at - locked.created_at).total_seconds() / 86_400))
    issued = api_token_issue(user=locked.user, name=locked.name, ttl_days=min(365, lifetime))
    locked.delete()
    return issued


def api_tokens_purge_expired() -> int:
    deleted, _details = ApiToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def api_token_touch(*, token: ApiToken) -> None:
    """Record use at most once a minute, so authentication does not write on every request."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        token.last_used_at = now


# --- exchange accounts -----------------------------------------------------------------------------

# ccxt exchange ids are lower-case letters and digits ("binance", "okx", "kraken", "binanceusdm"). Whether
# ccxt really knows an id is for the connection test to say: accounts does not import ccxt.
EXCHANGE_ID_RE = re.compile(r"[a-z0-9]{2,32}")
PASSPHRASE_EXCHANGES = frozenset({"okx"})  # their API keys come with a passphrase
PAPER_BALANCE_DEFAULT = Decimal(10_000)
PAPER_BALANCE_MAX = Decimal(10) ** 12
KEY_MAX_LENGTH = 512
SECRET_MAX_LENGTH = 4096  # room for a PEM private key (Binance RSA or Ed25519 keys)


KEY_FIELDS = ("api_key", "secret", "passphrase")
PEM_RE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END [A-Z0-9 ]*PRIVATE KEY-----")


def _key_field_name(name: str) -> str:
    return {"api_key": _("API key"), "secret": _("API secret"), "passphrase": _("Passphrase")}[name]


def clean_credential(name: str, value: str | None) -> tuple[str, str | None]:
    """A key, secret or passphrase as it is sent to the exchange, and the message when it cannot be.

    Exchange keys are printable ASCII (they travel in HTTP headers and signed query strings). Ordinary spaces
    and line breaks at either end are dropped (a careless copy); any other character outside printable ASCII
    is refused, anywhere: a zero-width space or a no-break space pasted from a web page, a tab, a line break
    inside, letters of other scripts. The one exception is a secret that is a PEM private key (Binance RSA and
    Ed25519 keys): its line breaks are kept.
    """
    value = (value or "").strip(" \r\n")
    if not value:
        return "", None
    candidate = value
    if name == "secret" and candidate.startswith("-----BEGIN "):
        candidate = candidate.replace("\r\n", "\n").strip("\n")
        if PEM_RE.fullmatch(candidate):
            return candidate, None
    bad = next((c for c in candidate if not " " <= c <= "~"), None)
    if bad is None:
        return candidate, None
    position = candidate.index(bad) + 1
    message = _(
        "The %(field)s contains a character that is not a plain letter, digit or symbol (%(character)s, "
        "position %(position)d): keys are printable ASCII only. Copy the key again from the exchange "
        "(a space or an invisible character from a web page is a common cause) or type it in."
    ) % {"field": _key_field_name(name), "character": _character_name(bad), "position": position}
    return candidate, message


def _character_name(char: str) -> str:
    """A refused character as the reader can recognise it, never the key itself: ``U+200B ZERO WIDTH SPACE``."""
    import unicodedata

    return f"U+{ord(char):04X} {unicodedata.name(char, '')}".strip()


def _paper_balance(value: Decimal | int | str | None, errors: dict[str, list[str]]) -> Decimal | None:
    if value is None or value == "":
        return PAPER_BALANCE_DEFAULT
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        errors["paper_balance"] = [_("Enter a number.")]
        return None
    if not number.is_finite() or number <= 0 or number > PAPER_BALANCE_MAX:
        errors["paper_balance"] = [_("Enter a starting balance above 0 and up to 1,000,000,000,000 USDT.")]
        return None
    if number != number.quantize(Decimal("0.01")):
        errors["paper_balance"] = [_("Use at most two decimal places.")]
        return None
    return number


def _label_taken(*, user: User, label: str) -> bool:
    return ExchangeAccount.objects.filter(user=user, label__iexact=label).exists()


def _label_taken_message(label: str) -> str:
    return _("You already have an account called “%(label)s”: choose another label.") % {"label": label}


@transaction.atomic
def exchange_account_create(
    *,
    user: User,
    exchange: str,
    label: str,
    testnet: bool = False,
    market_type: str = ExchangeAccount.MarketType.SPOT,
    api_key: str = "",
    secret: str = "",
    passphrase: str = "",
    paper_balance: Decimal | int | str | None = None,
) -> ExchangeAccount:
    """Add an exchange account; its keys are sealed to the owner and never shown again (only ``key_hint``).

    ``exchange`` is ``"paper"`` (simulated money, no keys, starts with ``paper_balance`` USDT, 10,000 by
    default) or a ccxt id such as ``"binance"`` or ``"okx"`` (API key and secret required; OKX also needs
    its passphrase). The label is unique per user (case-insensitive). Every problem is reported at once,
    keyed by field, in one ``ValidationError``; nothing is saved then.
    """
    errors: dict[str, list[str]] = {}
    exchange = (exchange or "").strip().lower()
    label = (label or "").strip()
    credentials: dict[str, str] = {}
    for name, value in (("api_key", api_key), ("secret", secret), ("passphrase", passphrase)):
        credentials[name], problem = clean_credential(name, value)
        if problem:
            errors[name] = [problem]
    api_key, secret, passphrase = credentials["api_key"], credentials["secret"], credentials["passphrase"]

    if not label:
        errors["label"] = [_("Give the account a label, so you can tell it apart later.")]
    elif len(label) > ExchangeAccount._meta.get_field("label").max_length:
        errors["label"] = [_("A label has at most 100 characters.")]
    elif _label_taken(user=user, label=label):
        errors["label"] = [_label_taken_message(label)]
    if market_type not in ExchangeAccount.MarketType.values:
        errors["market_type"] = [_("Choose spot or perpetual.")]

    balance: Decimal | None = None
    if exchange == ExchangeAccount.PAPER:
        testnet = False
        balance = _paper_balance(paper_balance, errors)
        if api_key or secret or passphrase:
            errors["api_key"] = [_("A paper account trades simulated money: it takes no API keys.")]
    else:
        if not EXCHANGE_ID_RE.fullmatch(exchange):
            errors["exchange"] = [
                _("Enter the exchange's ccxt id: lower-case letters and digits, such as binance, okx or kraken.")
            ]
        if paper_balance not in (None, ""):
            errors["paper_balance"] = [_("Only paper accounts have a starting balance.")]
        if "api_key" in errors:  # already refused for its characters
            pass
        elif not api_key:
            errors["api_key"] = [_("Enter the API key.")]
        elif len(api_key) > KEY_MAX_LENGTH:
            errors["api_key"] = [_("This API key is too long.")]
        if "secret" in errors:
            pass
        elif not secret:
            errors["secret"] = [_("Enter the API secret.")]
        elif len(secret) > SECRET_MAX_LENGTH:
            errors["secret"] = [_("This API secret is too long.")]
        if "passphrase" in errors:
            pass
        elif not passphrase and exchange in PASSPHRASE_EXCHANGES:
            errors["passphrase"] = [_("OKX API keys come with a passphrase: enter the one you set for this key.")]
        elif len(passphrase) > KEY_MAX_LENGTH:
            errors["passphrase"] = [_("This passphrase is too long.")]
    if errors:
        raise ValidationError(errors)

    account = ExchangeAccount(
        user=user, exchange=exchange, label=label, testnet=testnet, market_type=market_type, paper_balance=balance
    )
    account.set_credentials(api_key=api_key, secret=secret, passphrase=passphrase)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        if _label_taken(user=user, label=label):  # created a moment ago by a concurrent request
            raise ValidationError({"label": [_label_taken_message(label)]}) from None
        raise
    return account


@transaction.atomic
def exchange_account_set_enabled(*, account: ExchangeAccount, enabled: bool) -> ExchangeAccount:
    """Switch an account on or off. Bots do not trade on a disabled account."""
    ExchangeAccount.objects.filter(pk=account.pk).update(enabled=enabled)
    account.enabled = enabled
    return account


def exchange_account_delete(*, account: ExchangeAccount) -> None:
    """Delete an account and its sealed keys; refused (``ValidationError`` naming them) while bots use it
    (``Bot.exchange_account`` is PROTECT or RESTRICT: nothing is deleted then)."""
    try:
        with transaction.atomic():
            account.delete()
    except (ProtectedError, RestrictedError) as exc:
        blocking = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        names = sorted(str(obj) for obj in blocking)
        raise ValidationError(
            ngettext(
                "The bot %(bots)s trades on this account: delete the bot first.",
                "The bots %(bots)s trade on this account: delete them first.",
                len(names),
            )
            % {"bots": ", ".join(names)},
            code="protected",
        ) from None


@transaction.atomic
def exchange_account_record_test(
    *, account: ExchangeAccount, ok: bool, message: str, withdrawals_enabled: bool | None, detail: dict | None = None
) -> ExchangeAccount:
    """Store the outcome of a connection test. A failed test keeps what the last good one said about
    withdrawals (a network error tells nothing about the key)."""
    values: dict[str, Any] = {
        "last_test_at": timezone.now(),
        "last_test_ok": ok,
        "last_test_message": message[:2000],
        "last_test_detail": detail or {},
    }
    if ok:
        values["withdrawals_enabled"] = withdrawals_enabled
    ExchangeAccount.objects.filter(pk=account.pk).update(**values)
    for name, value in values.items():
        setattr(account, name, value)
    return account


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
