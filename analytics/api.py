"""Portfolio analytics API: optimal weights with Monte Carlo risk, Kelly sizing, and the capital split across the
user's bots (and applying it). A user reaches only their own accounts, bots and backtests (404 otherwise)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import RiskProfile
from analytics import allocation, analysis, commentaries, forecasts, market_regime, sentiments, signals
from analytics.errors import AnalysisError
from analytics.serializers import (
    AllocationApplySerializer,
    AllocationSerializer,
    CommentaryQuerySerializer,
    KellySerializer,
    MarketQuerySerializer,
    PortfolioOptimizeSerializer,
    PortfolioResultSerializer,
    PredictSerializer,
    SymbolQuerySerializer,
)
from trading.bots.services import bot_sizes_set
from trading.clock import data_exchange
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


NOT_FOUND = {"no_model", "unknown_symbol"}
UNAVAILABLE = {"model_corrupt", "model_stale"}


def _market(request: Request) -> dict[str, str]:
    serializer = MarketQuerySerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    v = serializer.validated_data
    return {"exchange": v["exchange"] or data_exchange("paper"), "symbol": v["symbol"], "timeframe": v["timeframe"]}


class ModelUnavailable(APIException):
    status_code = 503
    default_code = "model_unavailable"


def _answer(exc: AnalysisError) -> Exception:
    """A market or model that does not exist: 404; a stored model that cannot be used (a file that fails its
    checksum, features of older code): 503, the operator's to fix; the rest is the request's: 400."""
    if exc.code in NOT_FOUND:
        return NotFound(exc.message, code=exc.code)
    if exc.code in UNAVAILABLE:
        return ModelUnavailable(exc.message, code=exc.code)
    return refused(exc)


class MarketRegimeApi(APIView):
    """The market's regime on its last closed candle, from the live version of its regime model."""

    throttle_scope = "analytics"

    @extend_schema(
        parameters=[MarketQuerySerializer], responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR, 503: ERROR}
    )
    def get(self, request: Request) -> Response:
        market = _market(request)
        try:
            return Response(market_regime.market_regime(**market))
        except AnalysisError as exc:
            raise _answer(exc) from None


class SentimentApi(APIView):
    """The mood about a market's asset over the last 24 hours, from the configured sources' newest snapshot."""

    throttle_scope = "analytics"

    @extend_schema(parameters=[SymbolQuerySerializer], responses={200: OpenApiTypes.OBJECT, 400: ERROR})
    def get(self, request: Request) -> Response:
        serializer = SymbolQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        try:
            return Response(sentiments.market_sentiment(symbol=serializer.validated_data["symbol"]))
        except AnalysisError as exc:
            raise _answer(exc) from None


class PredictApi(APIView):
    """Forecast prices (1, 3 and 7 days, 80 % intervals with their measured coverage) and a trade's probability of
    profit, expected value and risk/reward; with a strategy, its win rate in the regime the market is in now."""

    throttle_scope = "analytics"

    @extend_schema(request=PredictSerializer, responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR, 503: ERROR})
    def post(self, request: Request) -> Response:
        v = _valid(PredictSerializer, request).validated_data
        exchange = v["exchange"] or data_exchange("paper")
        try:
            return Response(
                forecasts.predict(
                    exchange=exchange,
                    symbol=v["symbol"],
                    side=v["side"],
                    entry_price=v["entry_price"],
                    stop_loss=v["stop_loss"],
                    take_profit=v["take_profit"],
                    stop_loss_pct=v["stop_loss_pct"],
                    take_profit_pct=v["take_profit_pct"],
                    horizon_hours=v["horizon_hours"],
                    position_size=v["position_size"],
                    strategy=v["strategy"],
                )
            )
        except AnalysisError as exc:
            raise _answer(exc) from None


class SignalApi(APIView):
    """The market's AI signal on its last closed bar (the mobile app's trading signal): buy, hold or sell, how sure,
    why, and its track record."""

    throttle_scope = "analytics"

    @extend_schema(
        parameters=[MarketQuerySerializer], responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR, 503: ERROR}
    )
    def get(self, request: Request) -> Response:
        market = _market(request)
        try:
            return Response(signals.market_signal(**market))
        except AnalysisError as exc:
            raise _answer(exc) from None


class SignalCommentaryApi(APIView):
    """An optional language model's commentary on the market's AI signal, in English or Korean: it explains the
    signal and never changes it. ``status``: ``off`` (no commentator enabled), ``ok`` (with ``text``),
    ``unavailable`` (the language model failed or timed out: ``reason``) or ``pending`` (being written)."""

    throttle_scope = "analytics"

    @extend_schema(
        parameters=[CommentaryQuerySerializer],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR, 503: ERROR},
    )
    def get(self, request: Request) -> Response:
        serializer = CommentaryQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        try:
            return Response(
                commentaries.signal_commentary(
                    exchange=v["exchange"] or data_exchange("paper"),
                    symbol=v["symbol"],
                    timeframe=v["timeframe"],
                    language=v["lang"] or translation.get_language() or "en",
                )
            )
        except AnalysisError as exc:
            raise _answer(exc) from None
