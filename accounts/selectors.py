from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import ApiToken, ExchangeAccount, User


def user_with_profile(*, user_id: int) -> User:
    return User.objects.select_related("risk_profile").get(pk=user_id)


def api_token_list(*, user: User) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).order_by("-created_at"))


def exchange_account_list(*, user: User) -> QuerySet[ExchangeAccount]:
    """The user's exchange accounts, oldest first."""
    return ExchangeAccount.objects.filter(user=user).order_by("created_at", "id")


def exchange_account_get_for_user(*, user: User, account_id: int) -> ExchangeAccount:
    """One of the user's exchange accounts; 404 for another user's (its existence is not revealed)."""
    return get_object_or_404(exchange_account_list(user=user), pk=account_id)


def exchange_account_masked_key(account: ExchangeAccount) -> str:
    """``••••••ab12``: the last four characters of the API key, never more ("" for a paper account)."""
    if account.key_hint:
        return "•" * 6 + account.key_hint
    return "" if account.is_paper else "•" * 8
