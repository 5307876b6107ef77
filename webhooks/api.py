"""Webhooks API for the mobile app: the user's TradingView endpoints (list, create, rotate the secret,
revoke) and the activity log. A secret is in an answer only once: at creation and at a rotation. Writes
accept an ``Idempotency-Key`` (``trading_site.idempotency``) so the app may retry them."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading import selectors as trading_selectors
from trading.execution.api import ERROR, IDEMPOTENCY_HEADER
from trading_site.api import QuerySerializer
from trading_site.idempotency import idempotent
from webhooks import selectors, services
from webhooks.models import WebhookEndpoint, WebhookEvent
from webhooks.serializers import (
    WebhookEndpointCreateSerializer,
    WebhookEndpointSecretSerializer,
    WebhookEndpointSerializer,
    WebhookEventSerializer,
)

TAGS = ["webhooks"]


def _with_secret(request: Request, endpoint: WebhookEndpoint, secret: str) -> dict[str, Any]:
    return WebhookEndpointSecretSerializer(endpoint, context={"request": request, "secret": secret}).data


class EndpointListCreateApi(ListAPIView):
    """Your webhook endpoints, newest first (paginated), revoked ones included."""

    serializer_class = WebhookEndpointSerializer

    def get_queryset(self) -> Any:
        return selectors.endpoint_list(user=self.request.user)

    @extend_schema(operation_id="webhook_endpoint_list", tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhook_endpoint_create",
        tags=TAGS,
        request=WebhookEndpointCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: WebhookEndpointSecretSerializer, 400: ERROR},
    )
    # The answer holds the secret; ``idempotent`` stores the answer without it (``secret: null`` and a
    # ``secret_note`` on a replay): the cache is no place for a secret. An app whose first answer was lost
    # rotates the secret (POST …/rotate/) to get a new one.
    @idempotent
    def post(self, request: Request) -> Response:
        """Create an endpoint. The answer carries the URL and the secret, this once."""
        data = WebhookEndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        accounts = trading_selectors.exchange_accounts_enabled(user=request.user)
        account = accounts.filter(pk=values.pop("exchange_account")).first()
        if account is None:
            raise exceptions.ValidationError({"exchange_account": [_("Choose one of your enabled exchange accounts.")]})
        bot_id = values.pop("bot")
        bot = None
        if bot_id is not None:
            bot = trading_selectors.bot_list(user=request.user).filter(pk=bot_id).first()
            if bot is None:
                raise exceptions.ValidationError({"bot": [_("Choose one of your bots on this exchange account.")]})
        created = services.endpoint_create(user=request.user, exchange_account=account, bot=bot, **values)
        return Response(_with_secret(request, created.endpoint, created.secret), status=status.HTTP_201_CREATED)


class EndpointDetailApi(APIView):
    @extend_schema(
        operation_id="webhook_endpoint_retrieve", tags=TAGS, responses={200: WebhookEndpointSerializer, 404: ERROR}
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint, context={"request": request}).data)

    @extend_schema(
        operation_id="webhook_endpoint_revoke",
        tags=TAGS,
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={204: None, 404: ERROR},
    )
    @idempotent
    def delete(self, request: Request, endpoint_id: int) -> Response:
        """Revoke for good: the URL answers 404 like an unknown one. The activity log stays."""
        endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
        services.endpoint_revoke(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateApi(APIView):
    @extend_schema(
        operation_id="webhook_endpoint_rotate",
        tags=TAGS,
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: WebhookEndpointSecretSerializer, 400: ERROR, 404: ERROR},
    )
    # As for a creation, a replay repeats the new secret to the same user and key, rather than rotating twice.
    @idempotent
    def post(self, request: Request, endpoint_id: int) -> Response:
        """A new secret, in this answer only; the old one stops working at once."""
        endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
        secret = services.endpoint_rotate(endpoint=endpoint)
        return Response(_with_secret(request, endpoint, secret))


class EventFilterSerializer(QuerySerializer):
    outcome = serializers.ChoiceField(choices=WebhookEvent.Outcome.choices, required=False)
    symbol = serializers.CharField(
        required=False, min_length=1, max_length=32, help_text="BTCUSDT, BTC/USDT or a fragment."
    )
    endpoint = serializers.IntegerField(required=False, help_text="One of your endpoints' id.")
    since = serializers.DateTimeField(required=False, help_text="Market time at or after (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Market time at or before (ISO 8601).")


class EventListApi(ListAPIView):
    """Every request your endpoints received, newest first (paginated), with its outcome and reason, and
    what an accepted alert became (``status``, ``result``, the order and its fill). Test alerts have
    ``is_test``."""

    serializer_class = WebhookEventSerializer

    @extend_schema(operation_id="webhook_event_list", tags=TAGS, parameters=[EventFilterSerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        filters = EventFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        return selectors.events_for_user(
            user=self.request.user,
            outcome=values.get("outcome"),
            symbol=values.get("symbol"),
            since=values.get("since"),
            until=values.get("until"),
            endpoint_id=values.get("endpoint"),
        )
