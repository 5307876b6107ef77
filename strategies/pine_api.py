"""Pine Script API: validate a script, save it, add versions, read the user's own scripts. A saved version's
``strategy`` slug goes into the strategy, backtest and bot endpoints like a built-in's slug."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from strategies import pine_services, selectors
from strategies.models import PineScript
from strategies.serializers import (
    PineReportSerializer,
    PineScriptCreateSerializer,
    PineScriptSerializer,
    PineSourceSerializer,
    PineVersionCreatedSerializer,
    pine_script_payload,
    pine_version_payload,
)
from trading_site.api import ERROR


def _version_created(version: Any) -> Response:
    body = {**pine_version_payload(version), "script": str(version.script_id)}
    body["report"] = pine_services.report_payload(version.report)
    return Response(body, status=status.HTTP_201_CREATED)


class PineValidateApi(APIView):
    """The validation report of a script, without saving it: ``can_run``, errors and left-out lines with their
    line and column, the inputs (the strategy's parameters) and the strategy() settings found."""

    throttle_scope = "backtests"

    @extend_schema(
        operation_id="pine_validate", request=PineSourceSerializer, responses={200: PineReportSerializer, 400: ERROR}
    )
    def post(self, request: Request) -> Response:
        data = PineSourceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = pine_services.pine_validate(source=data.validated_data["source"])
        return Response(pine_services.report_payload(report))


class PineScriptListCreateApi(APIView):
    throttle_scope = "backtests"

    @extend_schema(operation_id="pine_script_list", responses={200: PineScriptSerializer(many=True)})
    def get(self, request: Request) -> Response:
        scripts = selectors.pine_script_list(user=request.user)
        return Response([pine_script_payload(s, sorted(s.versions.all(), key=lambda v: -v.number)) for s in scripts])

    @extend_schema(
        operation_id="pine_script_create",
        request=PineScriptCreateSerializer,
        responses={201: PineVersionCreatedSerializer, 400: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = PineScriptCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = pine_services.pine_script_create(
            user=request.user, name=data.validated_data["name"], source=data.validated_data["source"]
        )
        return _version_created(version)


class PineScriptDetailApi(APIView):
    @extend_schema(operation_id="pine_script_detail", responses={200: PineScriptSerializer, 404: ERROR})
    def get(self, request: Request, script_id: Any) -> Response:
        script = get_object_or_404(PineScript, id=script_id, user=request.user)
        return Response(pine_script_payload(script, list(script.versions.order_by("-number")), source=True))


class PineVersionCreateApi(APIView):
    throttle_scope = "backtests"

    @extend_schema(
        operation_id="pine_version_create",
        request=PineSourceSerializer,
        responses={201: PineVersionCreatedSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request: Request, script_id: Any) -> Response:
        script = get_object_or_404(PineScript, id=script_id, user=request.user)
        data = PineSourceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = pine_services.pine_version_add(
            user=request.user, script_id=script.id, source=data.validated_data["source"]
        )
        return _version_created(version)
