"""The connection test of an exchange account: can Trendy read the balance with these keys, and may the key
withdraw (it never should)? The outcome is stored on the account (``accounts.services``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import services as account_services
from accounts.crypto import CryptoError
from accounts.models import ExchangeAccount
from trading.exchanges.base import Balance, KeyPermissions
from trading.exchanges.errors import (
    AuthenticationError,
    CredentialsUnusable,
    ExchangeError,
    RateLimited,
    TemporaryError,
)
from trading.execution.adapters import adapter_for
from trading_site import display

logger = logging.getLogger(__name__)

ASSETS_IN_MESSAGE = 5
STABLECOINS = ("USDT", "USDC", "FDUSD", "BUSD", "USD")
EXCHANGE_NAMES = {"binance": "Binance", "okx": "OKX"}


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str  # one translated sentence, without keys or secrets
    balances: dict[str, Balance] = field(default_factory=dict)
    withdrawals_enabled: bool | None = None  # None: the exchange does not say
    warnings: tuple[str, ...] = ()


def exchange_account_test(*, account: ExchangeAccount, api_urls: dict[str, str] | None = None) -> ConnectionResult:
    """Read the balance and the key's permissions through the account's adapter and record the outcome.

    Exchange errors become a failed result with a message saying what to do (keys rejected, exchange
    unreachable, rate limited, ...); a key that may withdraw gets a loud warning. ``api_urls`` points a
    ccxt account elsewhere (tests); by default ``adapter_for`` reads ``TRENDY_EXCHANGE_API_URLS``.
    """
    failure: Exception | None = None
    try:
        exchange = adapter_for(account, api_urls=api_urls)
        balances = exchange.fetch_balance()
        permissions = exchange.fetch_key_permissions()
    except CryptoError as exc:
        failure = exc
        detail = {"kind": "keys_unreadable"}
        result = ConnectionResult(ok=False, message=test_message(detail))
    except UnicodeError:  # an adapter that let it through: the keys cannot be sent (the error holds them: not kept)
        failure = CredentialsUnusable("", code="credentials_encoding")
        detail = {"kind": "keys_unusable", "exchange": account.exchange, "testnet": account.testnet}
        result = ConnectionResult(ok=False, message=test_message(detail))
    except ExchangeError as exc:
        failure = exc
        detail = _failure_detail(account, exc)
        detail["reason"] = _scrub(detail["reason"], account)
        result = ConnectionResult(ok=False, message=test_message(detail))
    else:
        detail = _success_detail(account, balances)
        result = ConnectionResult(
            ok=True,
            message=test_message(detail),
            balances=balances,
            withdrawals_enabled=None if account.is_paper else permissions.withdraw,
            warnings=_warnings(account, permissions),
        )
    account_services.exchange_account_record_test(
        account=account,
        ok=result.ok,
        message=result.message,
        withdrawals_enabled=result.withdrawals_enabled,
        detail=detail,
    )
    logger.info(
        "exchange account %s (%s) connection test: %s",
        account.pk,
        account.exchange,
        "ok" if failure is None else f"{type(failure).__name__} {getattr(failure, 'code', '')}".strip(),
    )
    return result


KEYS_FAILING = ("keys_rejected", "keys_unusable", "keys_unreadable")
KEYS_NOTICE_SECONDS = 3600  # while the keys keep failing, their owner is told at most once an hour


def account_keys_failing(*, account: ExchangeAccount, code: str, reason: str = "") -> bool:
    """Keys that failed outside a connection test (a bot's order, the reconciliation, a TradingView alert): recorded on
    the account as a failed test, and a live account's owner told (``exchange_key_failing``) at once when the keys
    worked before, then at most once an hour while they keep failing (a cache key; the account's row, locked, tells
    whether they worked before). Returns whether the owner was told."""
    from django.core.cache import cache
    from django.db import transaction

    from trading.execution.records import notify

    detail: dict[str, Any] = {"kind": code, "exchange": account.exchange, "testnet": account.testnet}
    if reason:
        detail["reason"] = reason
    with transaction.atomic():
        before = ExchangeAccount.objects.select_for_update().only("last_test_ok", "last_test_detail").get(pk=account.pk)
        failing_before = before.last_test_ok is False and (before.last_test_detail or {}).get("kind") in KEYS_FAILING
        account_services.exchange_account_record_test(
            account=account, ok=False, message=test_message(detail), withdrawals_enabled=None, detail=detail
        )
        if account.is_paper:
            return False
        key = f"trading:exchange-key-failing:{account.pk}"
        if failing_before:
            told = cache.add(key, 1, timeout=KEYS_NOTICE_SECONDS)
        else:  # a new failure: told now, and the hour starts again
            cache.set(key, 1, timeout=KEYS_NOTICE_SECONDS)
            told = True
        if told:
            notify(
                account.user, "exchange_key_failing", account=account.pk, label=account.label,
                exchange=exchange_name(account), code=code, error=reason[:200],
            )  # fmt: skip
    return told


def exchange_name(account: ExchangeAccount) -> str:
    if account.is_paper:
        return _("Paper")
    return EXCHANGE_NAMES.get(account.exchange, account.exchange)


def _reason(account: ExchangeAccount, exc: ExchangeError) -> str:
    """The adapter's one-line reason, without its ``"<exchange id>: "`` prefix."""
    return exc.message.removeprefix(f"{account.exchange}: ").strip().rstrip(".") or type(exc).__name__


def _failure_detail(account: ExchangeAccount, exc: ExchangeError) -> dict[str, Any]:
    if exc.code == "unknown_exchange":
        kind = "unknown_exchange"
    elif isinstance(exc, CredentialsUnusable):
        kind = "keys_unusable"
    elif isinstance(exc, AuthenticationError):
        kind = "keys_rejected"
    elif isinstance(exc, RateLimited):
        kind = "rate_limited"
    elif isinstance(exc, TemporaryError):
        kind = "unreachable"
    else:
        kind = "refused"
    return {"kind": kind, "exchange": account.exchange, "testnet": account.testnet, "reason": _reason(account, exc)}


def _success_detail(account: ExchangeAccount, balances: dict[str, Balance]) -> dict[str, Any]:
    held = [b for b in balances.values() if b.total > 0]
    rank = {asset: i for i, asset in enumerate(STABLECOINS)}  # stablecoins first, then by name
    held.sort(key=lambda b: (rank.get(b.asset, len(rank)), b.asset))
    return {
        "kind": "paper_ready" if account.is_paper else "connected",
        "exchange": account.exchange,
        "testnet": account.testnet,
        "balances": [[b.asset, plain_number(b.total)] for b in held[:ASSETS_IN_MESSAGE]],
        "more": max(len(held) - ASSETS_IN_MESSAGE, 0),
    }


def test_message(detail: dict[str, Any]) -> str:
    """The outcome of a connection test as one sentence in the active language (from the stored facts)."""
    kind = detail.get("kind", "")
    exchange = detail.get("exchange", "")
    name = str(_("Paper")) if exchange == ExchangeAccount.PAPER else EXCHANGE_NAMES.get(exchange, exchange)
    values = {
        "exchange": name,
        "network": _("testnet") if detail.get("testnet") else _("mainnet"),
        "reason": detail.get("reason", ""),
    }
    if kind == "keys_unreadable":
        return _("The stored keys cannot be opened. Delete this account and add it again with the keys.")
    if kind == "keys_unusable":
        return (
            _(
                "The API key, secret or passphrase of this account contains a character that is not printable ASCII "
                "(such as an invisible space copied from a web page), so it cannot be sent to %(exchange)s. Delete "
                "this account and add it again with the keys copied exactly."
            )
            % values
        )
    if kind == "unknown_exchange":
        return _(
            "ccxt does not know the exchange “%(exchange)s”. Delete this account and add it again with the "
            "exchange's ccxt id (for example binance, okx or kraken)."
        ) % {"exchange": exchange}
    if kind == "keys_rejected":
        return (
            _(
                "%(exchange)s rejected the keys (%(reason)s). Check the API key and the secret (and the passphrase "
                "on OKX), that the key was made for the %(network)s, and that its IP allowlist includes this server."
            )
            % values
        )
    if kind == "rate_limited":
        return _("%(exchange)s is limiting requests right now (%(reason)s). Wait a minute, then test again.") % values
    if kind == "unreachable":
        return (
            _("%(exchange)s could not be reached (%(reason)s). Check that the exchange is up, then test again.")
            % values
        )
    if kind == "refused":
        return _("%(exchange)s refused the request: %(reason)s.") % values
    summary = _balance_summary(detail.get("balances", []), detail.get("more", 0))
    if kind == "paper_ready":
        return _("Paper account ready. Balance: %(balances)s.") % {"balances": summary or display.amount(0)}
    if kind == "connected":
        if not summary:
            return _("Connected to %(exchange)s (%(network)s). The account holds no funds yet.") % values
        return _("Connected to %(exchange)s (%(network)s). Balance: %(balances)s.") % {**values, "balances": summary}
    return ""


def plain_number(number: Decimal) -> str:
    """``Decimal("1000.50")`` as ``"1000.5"`` for the API: no exponent, no trailing zeros."""
    return format(number.normalize(), "f") if number else "0"


def _balance_summary(held: list[list[str]], more: int) -> str:
    shown = ", ".join(
        display.amount(total, asset) if asset in STABLECOINS else display.quantity(total, asset)
        for asset, total in held
    )
    if more > 0:
        shown += " " + ngettext("and %(count)d more asset", "and %(count)d more assets", more) % {"count": more}
    return shown


def _warnings(account: ExchangeAccount, permissions: KeyPermissions) -> tuple[str, ...]:
    if account.is_paper:
        return ()
    name = exchange_name(account)
    warnings = []
    if permissions.withdraw:
        warnings.append(withdrawals_warning())
    elif permissions.withdraw is None and not account.testnet:
        warnings.append(
            _(
                "%(exchange)s does not say whether this key may withdraw. Make sure withdrawals are disabled on it "
                "and that it only works from your server's IP address."
            )
            % {"exchange": name}
        )
    if permissions.ip_restricted is False and not account.testnet:
        warnings.append(
            _(
                "This key works from any IP address: set an IP allowlist on %(exchange)s, so that a stolen key "
                "is useless elsewhere."
            )
            % {"exchange": name}
        )
    if permissions.trade is False:
        warnings.append(_("This key may not trade: enable trading on it, or bots on this account cannot place orders."))
    return tuple(warnings)


def withdrawals_warning() -> str:
    return _(
        "Withdrawals are enabled on this API key. Trendy never withdraws, but anyone who obtains this key could "
        "move your funds out. Create a new key with withdrawals disabled and restricted to your server's IP "
        "address (IP allowlist), add it here, and delete this account."
    )


def _scrub(text: str, account: ExchangeAccount) -> str:
    """Defence in depth: the adapter already keeps the keys out of its messages."""
    try:
        opened = account.credentials()
    except CryptoError:
        return text
    for value in sorted(filter(None, opened.values()), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text
