from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.risk import RISK_RANGES


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value}, code="timezone")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        RiskProfile.objects.get_or_create(user=user)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A Trendy user; the e-mail address is the login."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("e-mail address"), unique=True)
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text=_("Times on every page are shown in this time zone."),
    )
    # Off for a new account: the trader turns it on in the onboarding's last step, beside what it means in money
    # (accounts/migrations/0003 keeps every existing user's setting as it was).
    auto_trading = models.BooleanField(
        _("auto-trading"),
        default=False,
        help_text=_("Off stops every bot of this user at once: no new orders until it is turned on again."),
    )

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email


def _risk_field(name: str, verbose: str, help_text: str) -> models.DecimalField:
    rng = RISK_RANGES[name]
    return models.DecimalField(
        verbose,
        max_digits=5,
        decimal_places=2,
        default=rng.default,
        validators=[MinValueValidator(rng.low), MaxValueValidator(rng.high)],
        help_text=help_text,
    )


class RiskProfile(models.Model):
    """A trader's default risk settings; bots and webhook alerts are capped by them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="risk_profile", verbose_name=_("user")
    )
    leverage = models.PositiveSmallIntegerField(
        _("leverage"),
        default=int(RISK_RANGES["leverage"].default),
        validators=[
            MinValueValidator(int(RISK_RANGES["leverage"].low)),
            MaxValueValidator(int(RISK_RANGES["leverage"].high)),
        ],
        help_text=_("Default leverage, 1 to 10x (whole numbers, as exchanges set it)."),
    )
    position_size_pct = _risk_field(
        "position_size_pct", _("position size (%)"), _("Share of the account each position uses, 5 to 20 %.")
    )
    stop_loss_pct = _risk_field("stop_loss_pct", _("stop loss (%)"), _("Distance of the stop loss, 1 to 5 %."))
    take_profit_pct = _risk_field("take_profit_pct", _("take profit (%)"), _("Distance of the take profit, 2 to 10 %."))
    max_drawdown_pct = _risk_field(
        "max_drawdown_pct",
        _("maximum drawdown (%)"),
        _("Trading halts when the account falls this far below its peak, 5 to 50 %."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("risk profile")
        verbose_name_plural = _("risk profiles")
        constraints = [
            models.CheckConstraint(
                condition=Q(**{f"{name}__gte": rng.low, f"{name}__lte": rng.high}),
                name=f"riskprofile_{name}_range",
            )
            for name, rng in RISK_RANGES.items()
        ]

    def __str__(self) -> str:
        return f"{self.user} risk profile"


class ApiToken(models.Model):
    """A bearer token for the API. Only a SHA-256 hash of the token is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="apitoken_expires_after")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())


class SealedTextField(models.TextField):
    """A secret sealed with ``accounts.crypto`` (AES-256-GCM). The stored text is the sealed token; the
    additional data binds it to ``context`` and to the row's owner (``bind``), so a sealed value copied
    to another user's row does not open. ``accounts.secrets.sealed_columns`` finds these fields for
    ``rotate_keys``."""

    encrypted_secret = True

    def __init__(self, *args: object, context: str = "", bind: str = "user_id", **kwargs: object) -> None:
        self.context = context
        self.bind = bind
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple:
        name, path, args, kwargs = super().deconstruct()
        kwargs["context"] = self.context
        kwargs["bind"] = self.bind
        for key, value in (("blank", True), ("default", ""), ("editable", False)):
            if kwargs.get(key) == value:
                kwargs.pop(key)
        return name, path, args, kwargs

    def context_for(self, owner_id: object) -> str:
        return f"{self.context}:{owner_id}"


class ExchangeAccount(models.Model):
    """An exchange connection: the built-in paper exchange, or Binance / OKX / another ccxt exchange.

    Keys are sealed (``SealedTextField``) and never shown again after creation: pages and the API show
    ``key_hint`` (the last four characters)."""

    PAPER = "paper"

    class MarketType(models.TextChoices):
        SPOT = "spot", _("Spot")
        SWAP = "swap", _("USDT-margined perpetual")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_accounts", verbose_name=_("user")
    )
    exchange = models.CharField(_("exchange"), max_length=32, help_text=_("paper, binance, okx or a ccxt exchange id."))
    label = models.CharField(_("label"), max_length=100)
    testnet = models.BooleanField(_("testnet"), default=False)
    market_type = models.CharField(_("market type"), max_length=8, choices=MarketType.choices, default=MarketType.SPOT)
    api_key = SealedTextField(_("API key"), context="accounts.ExchangeAccount.api_key")
    secret = SealedTextField(_("secret"), context="accounts.ExchangeAccount.secret")
    passphrase = SealedTextField(_("passphrase"), context="accounts.ExchangeAccount.passphrase")
    key_hint = models.CharField(_("key hint"), max_length=16, blank=True, editable=False)
    paper_balance = models.DecimalField(
        _("starting balance (USDT)"),
        max_digits=20,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Paper accounts only: the USDT the account starts with."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_test_at = models.DateTimeField(_("last connection test"), null=True, blank=True)
    last_test_ok = models.BooleanField(_("connection test passed"), null=True, blank=True)
    last_test_message = models.TextField(_("connection test message"), blank=True)
    # The same outcome as facts (kind, exchange, network, balances, reason), so each page writes the sentence in
    # its reader's language (trading.exchange_accounts.connection.test_message); last_test_message keeps the words
    # of the time.
    last_test_detail = models.JSONField(_("connection test details"), default=dict, blank=True)
    withdrawals_enabled = models.BooleanField(
        _("withdrawals enabled on the key"),
        null=True,
        blank=True,
        help_text=_("Unknown when the exchange does not say."),
    )

    class Meta:
        verbose_name = _("exchange account")
        verbose_name_plural = _("exchange accounts")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "label"], name="exchangeaccount_unique_label"),
            models.CheckConstraint(
                condition=Q(exchange="paper", paper_balance__gt=0) | ~Q(exchange="paper"),
                name="exchangeaccount_paper_balance",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange})"

    @property
    def is_paper(self) -> bool:
        return self.exchange == self.PAPER

    @property
    def exchange_name(self) -> str:
        """The exchange as a trader names it: "Paper exchange", "Binance", "OKX", or ccxt's id capitalised."""
        if self.is_paper:
            return str(_("Paper exchange"))
        return {"binance": "Binance", "okx": "OKX"}.get(self.exchange, self.exchange.capitalize())

    def _sealed(self, name: str) -> SealedTextField:
        return self._meta.get_field(name)  # type: ignore[return-value]

    def set_credentials(self, *, api_key: str = "", secret: str = "", passphrase: str = "") -> None:
        """Seal the keys into this row (the owner must be set)."""
        from accounts import secrets

        for name, value in (("api_key", api_key), ("secret", secret), ("passphrase", passphrase)):
            field = self._sealed(name)
            setattr(self, name, secrets.encrypt(value, context=field.context_for(self.user_id)) if value else "")
        self.key_hint = api_key[-4:] if len(api_key) >= 8 else ""

    def credentials(self) -> dict[str, str]:
        """The opened keys, for the adapter only: never log, render or return them."""
        from accounts import secrets

        opened = {}
        for name in ("api_key", "secret", "passphrase"):
            value = getattr(self, name)
            opened[name] = secrets.decrypt(value, context=self._sealed(name).context_for(self.user_id)) if value else ""
        return opened
