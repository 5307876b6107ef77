"""Accounts API: token sign-in, the token's lifecycle (rotate, list and revoke the signed-in clients, sign out here
or everywhere), the signed-in user and their risk profile."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services, sign_in_limits
from accounts.selectors import user_with_profile
from accounts.serializers import MeSerializer, RiskProfileSerializer


@method_decorator(never_cache, name="dispatch")
class TokenObtainApi(APIView):
    """Exchange e-mail, password and (when two-factor is on) a TOTP code for an API token."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_scope = "auth"

    def get_authenticate_header(self, request: Request) -> str:
        # A failed sign-in is a 401 (with a challenge), not a 403.
        return 'Bearer realm="api"'

    @extend_schema_serializer(component_name="TokenObtain")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
        totp_code = serializers.CharField(required=False, allow_blank=True, max_length=10)
        name = serializers.CharField(required=False, max_length=100, default="API")

    @extend_schema_serializer(component_name="TokenIssued")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        email = data.validated_data["email"].lower()
        # Counted before the password is checked (accounts/sign_in_limits.py: the HTML login's policy too).
        attempt = sign_in_limits.attempt(login=email, ip=sign_in_limits.request_ip(request._request))
        if not attempt.allowed:
            raise exceptions.Throttled(
                wait=attempt.retry_after,
                detail=str(_("Too many failed sign-in attempts; wait a few minutes and try again.")),
            )
        user = authenticate(request._request, email=email, password=data.validated_data["password"])
        if user is None:
            raise exceptions.AuthenticationFailed(_("The e-mail address or password is not correct."))
        if (
            settings.ACCOUNT_EMAIL_VERIFICATION == "mandatory"
            and not EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()
        ):
            raise exceptions.PermissionDenied(_("Verify your e-mail address first: follow the link we sent you."))
        totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if totp is not None:
            code = data.validated_data.get("totp_code", "").strip()
            if not code:
                raise exceptions.ValidationError({"totp_code": [_("Two-factor authentication is on: enter the code.")]})
            if not TOTP(totp).validate_code(code):
                raise exceptions.AuthenticationFailed(_("The two-factor code is not correct."))
        attempt.succeeded()
        issued = services.api_token_issue(user=user, name=data.validated_data["name"])
        out = self.OutputSerializer({"token": issued.key, "expires_at": issued.token.expires_at})
        return Response(out.data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    """The signed-in user and their default risk settings."""

    class UpdateSerializer(serializers.Serializer):
        timezone = serializers.CharField(required=False, max_length=64)
        risk_profile = inline_serializer(
            "RiskProfileUpdate",
            {
                name: serializers.IntegerField()
                if name == "leverage"
                else serializers.DecimalField(max_digits=5, decimal_places=2)
                for name in services.RISK_FIELDS
            },
            required=False,
            partial=True,
        )

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(user_with_profile(user_id=request.user.pk)).data)

    @extend_schema(request=UpdateSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        data = self.UpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        risk = data.validated_data.get("risk_profile")
        if risk:
            # Validate through the model serializer too, so the range messages are the model's own.
            RiskProfileSerializer(request.user.risk_profile, data=risk, partial=True).is_valid(raise_exception=True)
        services.user_update_settings(
            user=request.user, timezone_name=data.validated_data.get("timezone"), risk=risk or {}
        )
        return Response(MeSerializer(user_with_profile(user_id=request.user.pk)).data)


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


def _token_auth(request: Request) -> Any:
    """The API token the request came with (rotation and sign-out act on it); a session-signed request has none."""
    from accounts.models import ApiToken

    if not isinstance(request.auth, ApiToken):
        raise exceptions.ValidationError(
            {"token": [_("Send this request with the API token it acts on (Authorization: Bearer …).")]}
        )
    return request.auth


class TokenRotateApi(APIView):
    """A new token for this client, with a full lifetime; the one sent stops working at once."""

    @extend_schema(request=None, responses={201: TokenOutputSerializer}, operation_id="auth_token_rotate")
    def post(self, request: Request) -> Response:
        issued = services.api_token_rotate(token=_token_auth(request))
        out = TokenOutputSerializer({"token": issued.key, "expires_at": issued.token.expires_at})
        return Response(out.data, status=status.HTTP_201_CREATED)


class SessionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="The token this request was sent with.")


class SessionListApi(APIView):
    """The user's signed-in API clients (their tokens; never a key)."""

    @extend_schema(responses={200: SessionSerializer(many=True)}, operation_id="auth_sessions_list")
    def get(self, request: Request) -> Response:
        from accounts.models import ApiToken

        current = getattr(request.auth, "pk", None) if isinstance(request.auth, ApiToken) else None
        rows = [
            {
                "id": t.pk,
                "name": t.name,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "expires_at": t.expires_at,
                "current": t.pk == current,
            }
            for t in request.user.api_tokens.order_by("-created_at")
        ]
        return Response(SessionSerializer(rows, many=True).data)


class SessionRevokeApi(APIView):
    """Sign one client out (its token stops working); another user's id is a 404."""

    @extend_schema(request=None, responses={204: None}, operation_id="auth_sessions_revoke")
    def delete(self, request: Request, token_id: int) -> Response:
        from accounts.models import ApiToken

        try:
            services.api_token_revoke(user=request.user, token_id=token_id)
        except ApiToken.DoesNotExist:
            raise exceptions.NotFound(_("No such signed-in client.")) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutApi(APIView):
    """Sign this client out: the token sent stops working."""

    @extend_schema(request=None, responses={204: None}, operation_id="auth_logout")
    def post(self, request: Request) -> Response:
        token = _token_auth(request)
        services.api_token_revoke(user=request.user, token_id=token.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutEverywhereApi(APIView):
    """Sign every API client of the user out (every token stops working, this one included)."""

    @extend_schema(
        request=None,
        responses={200: inline_serializer("LogoutEverywhere", {"revoked": serializers.IntegerField()})},
        operation_id="auth_logout_everywhere",
    )
    def post(self, request: Request) -> Response:
        return Response({"revoked": services.api_tokens_revoke_all(user=request.user)})
