"""Read-only market data API: the stored series and the candles of one of them."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import numpy as np
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from market_data import clock, selectors
from market_data.exceptions import InvalidMarket
from market_data.models import Candle
from market_data.symbols import normalize_exchange, normalize_symbol
from market_data.timeframes import TIMEFRAMES
from market_data.validation import FIELDS
from trading_site.api import MarketDateTimeField, QuerySerializer

MAX_LIMIT = 5000
DEFAULT_LIMIT = 500


class SeriesSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    count = serializers.IntegerField()
    first_open_time = serializers.DateTimeField(default_timezone=UTC)
    last_open_time = serializers.DateTimeField(default_timezone=UTC)


class SeriesListApi(APIView):
    """Every stored candle series with its count and first/last open time (UTC)."""

    @extend_schema(responses=SeriesSerializer(many=True), summary="Stored candle series")
    def get(self, request: Request) -> Response:
        return Response(SeriesSerializer(selectors.series_list(), many=True).data)


class CandleSerializer(serializers.Serializer):
    time = serializers.DateTimeField(help_text="Open time, ISO-8601 UTC.")
    open = serializers.FloatField()
    high = serializers.FloatField()
    low = serializers.FloatField()
    close = serializers.FloatField()
    volume = serializers.FloatField(help_text="In units of the base asset.")


class CandlesSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    candles = CandleSerializer(many=True)


class CandlesQuerySerializer(QuerySerializer):
    exchange = serializers.CharField(max_length=32, help_text="ccxt exchange id, e.g. binance.")
    symbol = serializers.CharField(max_length=32, help_text="BTC/USDT (or BTCUSDT).")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    start = MarketDateTimeField(required=False, help_text="First open time, inclusive (ISO-8601; UTC when no zone).")
    end = MarketDateTimeField(
        required=False,
        help_text="Last open time, exclusive (ISO-8601; UTC when no zone). Never past the market clock's now: "
        "only closed candles are returned.",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        default=DEFAULT_LIMIT,
        help_text=f"At most {MAX_LIMIT}. With start: the first candles from start; without: the newest ones.",
    )

    def validate_exchange(self, value: str) -> str:
        try:
            return normalize_exchange(value)
        except InvalidMarket as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_symbol(self, value: str) -> str:
        try:
            return normalize_symbol(value)
        except InvalidMarket as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and end <= start:
            raise serializers.ValidationError({"end": [_("end must be later than start.")]})
        return attrs


class CandlesApi(APIView):
    """Candles of one series, oldest first: the newest ``limit`` before ``end``, or the first ``limit`` from ``start``.

    Only candles the market clock has closed: ``end`` is never later than the market's now minus one timeframe
    (``market_data.clock``; on the replay clock the stored candles after its time stay hidden, as on the live
    market the future does). 404 when nothing at all is stored for the series; an empty list when only the range
    is empty.
    """

    @extend_schema(
        parameters=[CandlesQuerySerializer],
        responses={
            200: CandlesSerializer,
            404: OpenApiResponse(description="Nothing at all is stored for this series."),
        },
        summary="Candles of one series",
    )
    def get(self, request: Request) -> Response:
        query = CandlesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        exchange, symbol, timeframe = params["exchange"], params["symbol"], params["timeframe"]
        if not Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe).exists():
            raise exceptions.NotFound(
                _("No candles are stored for %(exchange)s %(symbol)s %(timeframe)s.")
                % {"exchange": exchange, "symbol": symbol, "timeframe": timeframe}
            )
        start = params.get("start")
        end = clock.bounded_end(timeframe, params.get("end"))
        rows = selectors.series_rows(
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            start_ms=None if start is None else selectors.to_ms(start),
            end_ms=selectors.to_ms(end),
            limit=params["limit"],
            newest=start is None,
        )
        times = [f"{t}Z" for t in np.datetime_as_string(rows.time_ms.astype("datetime64[ms]"), unit="s").tolist()]
        candles = [
            dict(zip(("time", *FIELDS), (t, *values), strict=True))
            for t, values in zip(times, rows.values.tolist(), strict=True)
        ]
        return Response({"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "candles": candles})


class TickerSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField(help_text="The candles it was read from: the market's shortest stored series.")
    as_of = serializers.DateTimeField(default_timezone=UTC, help_text="The close of the last closed candle.")
    last = serializers.FloatField()
    change_pct = serializers.FloatField(allow_null=True, help_text="Against the close 24 hours earlier.")
    high = serializers.FloatField(help_text="Over the last 24 hours.")
    low = serializers.FloatField()
    volume = serializers.FloatField(help_text="Base asset, over the last 24 hours.")


class TickersQuerySerializer(QuerySerializer):
    exchange = serializers.CharField(max_length=32, required=False, help_text="Only this exchange's markets.")
    symbols = serializers.CharField(
        max_length=1000, required=False, help_text="Comma-separated markets (BTC/USDT or BTCUSDT); default: all."
    )

    def validate_exchange(self, value: str) -> str:
        try:
            return normalize_exchange(value)
        except InvalidMarket as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_symbols(self, value: str) -> list[str]:
        try:
            return [normalize_symbol(item) for item in value.split(",") if item.strip()]
        except InvalidMarket as exc:
            raise serializers.ValidationError(str(exc)) from None


class TickersApi(APIView):
    """Last price, 24-hour change, high, low and volume of the stored markets (the app's market list), from the
    candles the market clock has closed."""

    @extend_schema(parameters=[TickersQuerySerializer], responses=TickerSerializer(many=True), summary="Tickers")
    def get(self, request: Request) -> Response:
        query = TickersQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        found = selectors.tickers(exchange=params.get("exchange"), symbols=params.get("symbols"))
        return Response(TickerSerializer(found, many=True).data)
