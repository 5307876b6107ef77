"""Portfolio analytics API: optimal weights with Monte Carlo risk, Kelly sizing, and the capital split across the
user's bots (and applying it). A user reaches only their own accounts, bots and backtests (404 otherwise)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import RiskProfile
from analytics import allocation, analysis
from analytics.errors import AnalysisError
from analytics.serializers import (
    AllocationApplySerializer,
    AllocationSerializer,
    KellySerializer,
    PortfolioOptimizeSerializer,
    PortfolioResultSerializer,
)
from trading.bots.services import bot_sizes_set
from trading_site.api import ERROR


def refused(exc: AnalysisError) -> ValidationError:
    return ValidationError({exc.field: [exc.message]}, code=exc.code)


def _valid(serializer_class: type, request: Request) -> Any:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer


class PortfolioOptimizeApi(APIView):
    throttle_scope = "analytics"

    @extend_schema(
        request=PortfolioOptimizeSerializer, responses={200: PortfolioResultSerializer, 400: ERROR, 404: ERROR}
    )
    def post(self, request: Request) -> Response:
        serializer = _valid(PortfolioOptimizeSerializer, request)
        exchange = analysis.account_exchange(user=request.user, account_id=serializer.validated_data["account_id"])
        try:
            return Response(analysis.portfolio_analysis(serializer.to_request(exchange)))
        except AnalysisError as exc:
            raise refused(exc) from None


class PortfolioKellyApi(APIView):
    throttle_scope = "analytics"

    @extend_schema(request=KellySerializer, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR})
    def post(self, request: Request) -> Response:
        v = _valid(KellySerializer, request).validated_data
        try:
            return Response(
                analysis.kelly_analysis(
                    user=request.user,
                    bot_id=v["bot_id"],
                    backtest_id=v["backtest_id"],
                    multiplier=float(v["kelly_multiplier"]),
                    trades_ahead=v["trades_ahead"],
                    seed=v["seed"],
                )
            )
        except AnalysisError as exc:
            raise refused(exc) from None


class PortfolioAllocationApi(APIView):
    throttle_scope = "analytics"

    @extend_schema(request=AllocationSerializer, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR})
    def post(self, request: Request) -> Response:
        v = _valid(AllocationSerializer, request).validated_data
        limit = RiskProfile.objects.get_or_create(user=request.user)[0].position_size_pct
        try:
            return Response(
                allocation.allocation_analysis(
                    user=request.user,
                    bot_ids=v["bots"],
                    backtest_ids=v["backtests"],
                    method=v["optimization_method"],
                    lookback_days=v["lookback_days"],
                    profile_limit=limit,
                )
            )
        except AnalysisError as exc:
            raise refused(exc) from None


class PortfolioAllocationApplyApi(APIView):
    throttle_scope = "analytics"

    @extend_schema(request=AllocationApplySerializer, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR})
    def post(self, request: Request) -> Response:
        sizes = _valid(AllocationApplySerializer, request).validated_data["sizes"]
        bots = bot_sizes_set(user=request.user, sizes=sizes)
        return Response(
            {"bots": [{"id": b.id, "name": b.name, "position_size_pct": str(b.position_size_pct)} for b in bots]}
        )
