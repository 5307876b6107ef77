"""Bots API and the auto-trading switch. One small view per action; every write accepts an ``Idempotency-Key``
(``trading_site.idempotency``) so the phone app may retry it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading import selectors
from trading.bots import services as bot_services
from trading.execution.api import ERROR, EXCHANGE_ERRORS, IDEMPOTENCY_HEADER, exchange_errors
from trading.models import Bot
from trading.serializers import (
    AutoTradingSerializer,
    BotCreateSerializer,
    BotMoveSerializer,
    BotSerializer,
)
from trading_site.idempotency import idempotent


class BotListCreateApi(ListAPIView):
    serializer_class = BotSerializer

    def get_queryset(self) -> Any:
        return selectors.bot_list(user=self.request.user)

    @extend_schema(
        request=BotCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: BotSerializer, 400: ERROR, **EXCHANGE_ERRORS},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = BotCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        account = selectors.exchange_accounts_enabled(user=request.user).filter(pk=values.pop("exchange_account"))
        if not account.exists():
            raise exceptions.ValidationError({"exchange_account": [_("Choose one of your enabled exchange accounts.")]})
        start = values.pop("start")
        with exchange_errors():
            bot = bot_services.bot_create(
                user=request.user,
                exchange_account=account.get(),
                settings_=bot_services.BotSettings(**values),
                start=start,
            )
        bot = selectors.bot_get_for_user(user=request.user, bot_id=bot.pk)
        return Response(BotSerializer(bot).data, status=status.HTTP_201_CREATED)


class BotDetailApi(APIView):
    @extend_schema(responses={200: BotSerializer, 404: ERROR})
    def get(self, request: Request, bot_id: int) -> Response:
        bot = selectors.bot_get_for_user(user=request.user, bot_id=bot_id)
        return Response(BotSerializer(bot).data)


class BotMoveApi(APIView):
    """Move a Pine bot to another version of its script; it runs the version it was created with until then."""

    @extend_schema(
        operation_id="bot_move_version",
        request=BotMoveSerializer,
        responses={200: BotSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request: Request, bot_id: int) -> Response:
        bot = selectors.bot_get_for_user(user=request.user, bot_id=bot_id)
        data = BotMoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        bot_services.bot_move_version(user=request.user, bot=bot, strategy=data.validated_data["strategy"])
        bot = selectors.bot_get_for_user(user=request.user, bot_id=bot_id)
        return Response(BotSerializer(bot).data)


class _BotStatusApi(APIView):
    target: str = ""

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: BotSerializer, 400: ERROR, 404: ERROR, **EXCHANGE_ERRORS},
    )
    @idempotent
    def post(self, request: Request, bot_id: int) -> Response:
        bot = selectors.bot_get_for_user(user=request.user, bot_id=bot_id)
        with exchange_errors():
            bot_services.bot_set_status(bot=bot, status=self.target)
        bot = selectors.bot_get_for_user(user=request.user, bot_id=bot_id)
        return Response(BotSerializer(bot).data)


class BotStartApi(_BotStatusApi):
    """Run the bot from the next closed candle."""

    target = Bot.Status.RUNNING


class BotPauseApi(_BotStatusApi):
    """Stop placing new orders; an open position keeps its stop loss and take profit."""

    target = Bot.Status.PAUSED


class BotStopApi(_BotStatusApi):
    target = Bot.Status.STOPPED


def real_user(user: Any) -> Any:
    """With session auth ``request.user`` is a lazy object, and the service calls ``type(user)``."""
    return get_user_model().objects.get(pk=user.pk)


class AutoTradingApi(APIView):
    """Off: no bot of yours places a new order (stop loss and take profit orders stay in place)."""

    @extend_schema(responses=AutoTradingSerializer)
    def get(self, request: Request) -> Response:
        return Response({"enabled": request.user.auto_trading})

    @extend_schema(
        request=AutoTradingSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: AutoTradingSerializer, 400: ERROR},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = AutoTradingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enabled = bot_services.auto_trading_set(user=real_user(request.user), enabled=data.validated_data["enabled"])
        request.user.auto_trading = enabled
        return Response({"enabled": enabled})
