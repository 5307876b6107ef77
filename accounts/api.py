"""Accounts API: token sign-in, the signed-in user and their risk profile."""

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
from drf_spectacular.utils import extend_schema, inline_serializer
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

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
        totp_code = serializers.CharField(required=False, allow_blank=True, max_length=10)
        name = serializers.CharField(required=False, max_length=100, default="API")

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
