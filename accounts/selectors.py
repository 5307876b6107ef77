from __future__ import annotations

from accounts.models import ApiToken, User


def user_with_profile(*, user_id: int) -> User:
    return User.objects.select_related("risk_profile").get(pk=user_id)


def api_token_list(*, user: User) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).order_by("-created_at"))
