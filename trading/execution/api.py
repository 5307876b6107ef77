"""Positions, orders and trades API, and how an exchange's refusal or silence becomes an API error
(``exchange_errors``). Every write accepts an ``Idempotency-Key`` (``trading_site.idempotency``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading import selectors
from trading.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    TemporaryError,
)
from trading.execution import orders as order_services
from trading.execution import positions as position_services
from trading.models import Order, Position
from trading.serializers import (
    OrderSerializer,
    PositionCloseSerializer,
    PositionSerializer,
    TradeSerializer,
)
from trading_site.api import ERROR, QuerySerializer, TradePagination  # ERROR re-exported for the trading APIs
from trading_site.idempotency import idempotent

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Send the same key again to retry safely: the first answer is replayed for 24 hours.",
)


EXCHANGE_ERRORS = {
    409: OpenApiResponse(OpenApiTypes.OBJECT, description="The exchange refused it (funds, order rules, keys)."),
    502: OpenApiResponse(OpenApiTypes.OBJECT, description="The exchange answered with an error."),
    503: OpenApiResponse(OpenApiTypes.OBJECT, description="The exchange did not answer or is rate-limiting: retry."),
}


class ExchangeRefused(exceptions.APIException):
    """The exchange will not do it as asked (funds, order rules, keys): a person has to change something."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "exchange_refused"


class ExchangeUnavailable(exceptions.APIException):
    """The exchange did not answer or is rate-limiting us: retry later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "exchange_unavailable"


class ExchangeFailed(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "exchange_error"


@contextmanager
def exchange_errors() -> Iterator[None]:
    """Exchange errors as API errors with the exchange's message (validation errors pass through: 400)."""
    try:
        yield
    except TemporaryError as exc:
        error = ExchangeUnavailable(exc.message)
        retry_after = getattr(exc, "retry_after", None) if isinstance(exc, RateLimited) else None
        error.wait = retry_after or 5  # DRF sends it as Retry-After
        raise error from None
    except (InvalidOrder, InsufficientFunds, AuthenticationError, OrderNotFound) as exc:
        raise ExchangeRefused(exc.message) from None
    except ExchangeError as exc:
        raise ExchangeFailed(exc.message) from None


class PositionFilterSerializer(QuerySerializer):
    status = serializers.ChoiceField(choices=[*Position.Status.values, "all"], default=Position.Status.OPEN)


class PositionListApi(ListAPIView):
    serializer_class = PositionSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=[*Position.Status.values, "all"], description="open (default)"
            )
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        filters = PositionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        chosen = filters.validated_data["status"]
        return selectors.positions_for_user(user=self.request.user, status=None if chosen == "all" else chosen)


class PositionUpdateSerializer(serializers.Serializer):
    """Prices, not percentages. Leave a field out to keep it; ``null`` removes it."""

    stop_loss = serializers.DecimalField(max_digits=40, decimal_places=18, min_value=0, allow_null=True, required=False)
    take_profit = serializers.DecimalField(
        max_digits=40, decimal_places=18, min_value=0, allow_null=True, required=False
    )


class PositionDetailApi(APIView):
    @extend_schema(responses={200: PositionSerializer, 404: ERROR})
    def get(self, request: Request, position_id: int) -> Response:
        position = selectors.position_get_for_user(user=request.user, position_id=position_id)
        return Response(PositionSerializer(position).data)

    @extend_schema(
        request=PositionUpdateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: PositionSerializer, 400: ERROR, 404: ERROR, **EXCHANGE_ERRORS},
    )
    @idempotent
    def patch(self, request: Request, position_id: int) -> Response:
        position = selectors.position_get_for_user(user=request.user, position_id=position_id)
        data = PositionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        with exchange_errors():
            position = position_services.position_update_sl_tp(
                position=position,
                stop_loss=values.get("stop_loss", position.stop_loss),
                take_profit=values.get("take_profit", position.take_profit),
            )
        position = selectors.position_get_for_user(user=request.user, position_id=position_id)
        return Response(PositionSerializer(position).data)


class PositionCloseApi(APIView):
    """Close now with a market order; the position's stop loss and take profit orders are cancelled."""

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: PositionCloseSerializer, 400: ERROR, 404: ERROR, **EXCHANGE_ERRORS},
    )
    @idempotent
    def post(self, request: Request, position_id: int) -> Response:
        position = selectors.position_get_for_user(user=request.user, position_id=position_id)
        with exchange_errors():
            order = position_services.position_close(position=position, source=Order.Source.MANUAL)
        position = selectors.position_get_for_user(user=request.user, position_id=position_id)
        return Response({"position": PositionSerializer(position).data, "order": OrderSerializer(order).data})


class OrderFilterSerializer(QuerySerializer):
    status = serializers.ChoiceField(choices=Order.Status.values, required=False)


class OrderListApi(ListAPIView):
    serializer_class = OrderSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=Order.Status.values, description="open: pending and open orders"
            )
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        filters = OrderFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.orders_for_user(user=self.request.user, status=filters.validated_data.get("status"))


class OrderCancelApi(APIView):
    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: OrderSerializer, 400: ERROR, 404: ERROR, **EXCHANGE_ERRORS},
    )
    @idempotent
    def post(self, request: Request, order_id: int) -> Response:
        order = selectors.order_get_for_user(user=request.user, order_id=order_id)
        with exchange_errors():
            order = order_services.order_cancel(order=order)
        return Response(OrderSerializer(order).data)


class TradeFilterSerializer(QuerySerializer):
    symbol = serializers.CharField(required=False, max_length=32)
    side = serializers.ChoiceField(choices=["buy", "sell"], required=False)
    exchange_account = serializers.IntegerField(required=False, min_value=1)
    bot = serializers.IntegerField(required=False, min_value=1)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": [_("until must be after since.")]})
        return attrs


class TradeListApi(ListAPIView):
    """The user's fills, newest first, filtered. Pages by number (``page``), or — for an app scrolling a long
    history — by cursor: send ``cursor`` empty for the first page, then each answer's ``next`` (which new fills
    never shift)."""

    serializer_class = TradeSerializer
    pagination_class = TradePagination

    @extend_schema(
        parameters=[
            OpenApiParameter("symbol", OpenApiTypes.STR, description="A market, e.g. BTC/USDT."),
            OpenApiParameter("side", OpenApiTypes.STR, enum=["buy", "sell"]),
            OpenApiParameter("exchange_account", OpenApiTypes.INT, description="One of your exchange accounts."),
            OpenApiParameter("bot", OpenApiTypes.INT, description="One of your bots."),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Fills at or after this time."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Fills before this time."),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        filters = TradeFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.trades_for_user(user=self.request.user, **filters.validated_data)
