"""API token authentication: ``Authorization: Bearer tdy_…`` (or ``Token tdy_…``)."""

from __future__ import annotations

import hmac
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.models import ApiToken
from accounts.services import api_token_touch, hash_token_key


class ApiTokenAuthentication(BaseAuthentication):
    keywords = (b"bearer", b"token")

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as: Authorization: Bearer <token>."))
        token, refusal = token_for_key(parts[1].decode("ascii", errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed(refusal)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


def token_for_key(key: str) -> tuple[ApiToken | None, str]:
    """The live token a key opens (touched: its last use is now), or None and why not — for the API and the live
    stream's WebSocket alike."""
    pieces = key.split("_", 2)
    if len(pieces) != 3:
        return None, str(_("Invalid token."))
    token = ApiToken.objects.select_related("user").filter(prefix=pieces[1]).first()
    if token is None or not hmac.compare_digest(token.key_hash, hash_token_key(key)):
        return None, str(_("Invalid token."))
    if token.is_expired():
        return None, str(_("This token has expired. Sign in again for a new one."))
    if not token.user.is_active:
        return None, str(_("This account is disabled."))
    api_token_touch(token=token)
    return token, ""


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A token from POST /api/v1/auth/token/."}
