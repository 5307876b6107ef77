"""Strategies and backtests API: list strategies, export Pine, start and read backtest runs."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from strategies import selectors, services
from strategies.builtin import REGISTRY, get_strategy
from strategies.interface import StrategyError
from strategies.messages import as_validation_error
from strategies.models import BacktestRun
from strategies.optimise import SearchSpec
from strategies.pine_export import pine_filename, pine_script
from strategies.serializers import (
    SETTINGS_FIELDS,
    BacktestCreateSerializer,
    BacktestRunListSerializer,
    BacktestRunSerializer,
    OptimisationCreateSerializer,
    StrategySerializer,
    strategy_payload,
)


class StrategyListApi(APIView):
    @extend_schema(responses=StrategySerializer(many=True))
    def get(self, request: Request) -> Response:
        # The built-ins, then the latest version of each of the user's Pine scripts.
        found = [strategy_payload(strategy) for strategy in REGISTRY.values()]
        for script in selectors.pine_script_list(user=request.user):
            if script.latest_version is not None:
                found.append(strategy_payload(get_strategy(script.latest_version.slug)))
        return Response(found)


class StrategyPineApi(APIView):
    """The strategy as a Pine Script v6 strategy; query parameters override its parameters."""

    @extend_schema(
        parameters=[OpenApiParameter("<param>", OpenApiTypes.NUMBER, description="any strategy parameter")],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        strategy = REGISTRY.get(slug)  # the export is of a built-in
        if strategy is None:
            from rest_framework.exceptions import NotFound

            raise NotFound(_("Unknown strategy %(slug)s.") % {"slug": slug})
        params = {key: value for key, value in request.query_params.items() if key != "format"}
        try:
            script = pine_script(strategy, params)
        except StrategyError as exc:
            raise as_validation_error(exc) from None
        response = HttpResponse(script, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{pine_filename(strategy, strategy.validate(params))}"'
        return response


def _start_run(request: Request, serializer_class: type, **extra: Any) -> Response:
    """Validate the body, create the run through the service, answer 202 with where to poll."""
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    values = data.validated_data
    run = services.backtest_run_create(
        user=request.user,
        strategy=values["strategy"],
        params=values["params"],
        exchange=values["exchange"],
        symbol=values["symbol"],
        timeframe=values["timeframe"],
        start=values["start"],
        end=values["end"],
        risk=services.RiskSettings(**{name: values[name] for name in SETTINGS_FIELDS}),
        **{key: value(values) if callable(value) else value for key, value in extra.items()},
    )
    url = request.build_absolute_uri(reverse("api-backtest-detail", args=[run.id]))
    return Response(
        {"id": run.id, "status": run.status, "url": url}, status=status.HTTP_202_ACCEPTED, headers={"Location": url}
    )


class BacktestListCreateApi(ListAPIView):
    serializer_class = BacktestRunListSerializer
    throttle_scope = "backtests"

    def get_queryset(self) -> Any:
        return selectors.backtest_run_list(user=self.request.user)

    @extend_schema(request=BacktestCreateSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        return _start_run(request, BacktestCreateSerializer)


class OptimisationCreateApi(APIView):
    throttle_scope = "backtests"

    @extend_schema(request=OptimisationCreateSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        return _start_run(
            request,
            OptimisationCreateSerializer,
            kind=BacktestRun.Kind.OPTIMISATION,
            search=lambda values: SearchSpec(**values.get("search", {})),
        )


class BacktestDetailApi(APIView):
    @extend_schema(responses=BacktestRunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = selectors.backtest_run_get_for_user(user=request.user, run_id=run_id)
        return Response(BacktestRunSerializer(run).data)
