"""Exchange accounts API, on the seed's paths ``/api/v1/accounts-secure/register|list|{id}|{id}/toggle``
(plus ``{id}/test``). Keys are write-only: answers carry ``key_hint`` (``••••••ab12``), never the API key,
the secret or the passphrase. Another user's account is a 404."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import ExchangeAccount
from trading.exchange_accounts.connection import ConnectionResult, exchange_account_test, plain_number
from trading_site.api import (
    ERROR,
    StrictBooleanField,
)

TAGS = ["exchange accounts"]


class ExchangeAccountSerializer(serializers.ModelSerializer):
    key_hint = serializers.SerializerMethodField(help_text="The API key's last four characters: ••••••ab12.")
    last_test_ok = serializers.BooleanField(allow_null=True, read_only=True)

    class Meta:
        model = ExchangeAccount
        fields = [
            "id", "exchange", "label", "testnet", "market_type", "key_hint", "paper_balance", "enabled",
            "created_at", "last_test_at", "last_test_ok", "last_test_message", "withdrawals_enabled",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_key_hint(self, account: ExchangeAccount) -> str:
        return selectors.exchange_account_masked_key(account)


class BalanceSerializer(serializers.Serializer):
    asset = serializers.CharField()
    total = serializers.CharField(help_text="A decimal string.")
    free = serializers.CharField()
    used = serializers.CharField()


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    withdrawals_enabled = serializers.BooleanField(allow_null=True, help_text="null: the exchange does not say.")
    warnings = serializers.ListField(child=serializers.CharField())
    balances = BalanceSerializer(many=True)
    account = ExchangeAccountSerializer()


class ExchangeAccountRegisterSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=32, help_text="paper, binance, okx or another ccxt id.")
    label = serializers.CharField(max_length=100, allow_blank=True)
    testnet = StrictBooleanField(default=False)
    market_type = serializers.ChoiceField(choices=ExchangeAccount.MarketType.choices, default="spot")
    # trim_whitespace=False: accounts.services.clean_credential decides (only ordinary spaces at the ends go).
    api_key = serializers.CharField(
        required=False, allow_blank=True, default="", write_only=True, trim_whitespace=False
    )
    secret = serializers.CharField(required=False, allow_blank=True, default="", write_only=True, trim_whitespace=False)
    passphrase = serializers.CharField(
        required=False, allow_blank=True, default="", write_only=True, trim_whitespace=False
    )
    paper_balance = serializers.DecimalField(
        max_digits=20, decimal_places=2, required=False, allow_null=True, default=None
    )


class ExchangeAccountToggleSerializer(serializers.Serializer):
    enabled = StrictBooleanField(required=False)


def _test_data(result: ConnectionResult, account: ExchangeAccount) -> dict[str, Any]:
    balances = [
        {"asset": b.asset, "total": plain_number(b.total), "free": plain_number(b.free), "used": plain_number(b.used)}
        for b in sorted(result.balances.values(), key=lambda b: b.asset)
        if b.total
    ]
    return ConnectionTestSerializer(
        {
            "ok": result.ok,
            "message": result.message,
            "withdrawals_enabled": result.withdrawals_enabled,
            "warnings": list(result.warnings),
            "balances": balances,
            "account": account,
        }
    ).data


class ExchangeAccountRegisterApi(APIView):
    """Add an exchange account. Paper accounts take no keys (``paper_balance`` USDT, 10000 by default);
    others need ``api_key`` and ``secret`` (OKX: also ``passphrase``), which are never returned."""

    @extend_schema(
        operation_id="exchange_account_register",
        tags=TAGS,
        request=ExchangeAccountRegisterSerializer,
        responses={201: ExchangeAccountSerializer, 400: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = ExchangeAccountRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.exchange_account_create(user=request.user, **data.validated_data)
        return Response(ExchangeAccountSerializer(account).data, status=status.HTTP_201_CREATED)


class ExchangeAccountListApi(ListAPIView):
    """Your exchange accounts, oldest first (paginated)."""

    serializer_class = ExchangeAccountSerializer

    def get_queryset(self) -> Any:
        return selectors.exchange_account_list(user=self.request.user)

    @extend_schema(operation_id="exchange_account_list", tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ExchangeAccountDeleteApi(APIView):
    """Delete an account and its keys; refused (400, naming them) while bots trade on it."""

    @extend_schema(operation_id="exchange_account_delete", tags=TAGS, responses={204: None, 400: ERROR, 404: ERROR})
    def delete(self, request: Request, account_id: int) -> Response:
        account = selectors.exchange_account_get_for_user(user=request.user, account_id=account_id)
        services.exchange_account_delete(account=account)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExchangeAccountToggleApi(APIView):
    """Switch an account on or off. Send ``enabled`` to set it (safe to repeat); without it, it flips."""

    @extend_schema(
        operation_id="exchange_account_toggle",
        tags=TAGS,
        request=ExchangeAccountToggleSerializer,
        responses={200: ExchangeAccountSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request: Request, account_id: int) -> Response:
        account = selectors.exchange_account_get_for_user(user=request.user, account_id=account_id)
        data = ExchangeAccountToggleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enabled = data.validated_data.get("enabled", not account.enabled)
        account = services.exchange_account_set_enabled(account=account, enabled=enabled)
        return Response(ExchangeAccountSerializer(account).data)


class ExchangeAccountTestApi(APIView):
    """Test the connection: read the balance and the key's permissions. A failed test is still a 200 with
    ``ok: false`` and a message saying what to fix; a key that may withdraw comes with a warning."""

    @extend_schema(
        operation_id="exchange_account_test",
        tags=TAGS,
        request=None,
        responses={200: ConnectionTestSerializer, 404: ERROR},
    )
    def post(self, request: Request, account_id: int) -> Response:
        account = selectors.exchange_account_get_for_user(user=request.user, account_id=account_id)
        result = exchange_account_test(account=account)
        return Response(_test_data(result, account))
