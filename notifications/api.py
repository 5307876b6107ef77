"""Notifications API for the mobile app: the list (cursor by id), the unread count, mark read."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import selectors, services
from notifications.models import Notification
from trading_site.api import ERROR, QuerySerializer, StrictBooleanField

MAX_PAGE = 100


class NotificationSerializer(serializers.ModelSerializer):
    title = serializers.CharField(read_only=True)
    body = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "label", "severity", "title", "body", "data", "created_at", "read_at"]
        read_only_fields = fields


class NotificationListApi(APIView):
    """The user's notifications, newest first. ``cursor``: the ``next_cursor`` of the previous page."""

    class FilterSerializer(QuerySerializer):
        unread = serializers.BooleanField(required=False, default=False)
        cursor = serializers.IntegerField(required=False, min_value=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE, default=selectors.PAGE)

    @extend_schema_serializer(component_name="NotificationPage")
    class OutputSerializer(serializers.Serializer):
        results = NotificationSerializer(many=True)
        next_cursor = serializers.IntegerField(allow_null=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only unread notifications."),
            OpenApiParameter("cursor", OpenApiTypes.INT, description="The previous page's next_cursor."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description=f"1 to {MAX_PAGE} ({selectors.PAGE})."),
        ],
        responses={200: OutputSerializer, 400: ERROR},
    )
    def get(self, request: Request) -> Response:
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows, older = selectors.notification_page(
            user=request.user,
            before=query.validated_data.get("cursor"),
            unread=query.validated_data["unread"],
            size=query.validated_data["page_size"],
        )
        return Response(self.OutputSerializer({"results": rows, "next_cursor": older}).data)


class NotificationUnreadCountApi(APIView):
    @extend_schema_serializer(component_name="NotificationUnreadCount")
    class OutputSerializer(serializers.Serializer):
        unread = serializers.IntegerField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return Response({"unread": selectors.notification_unread_count(user=request.user)})


class NotificationMarkReadApi(APIView):
    """Mark read the listed ``ids`` (another user's ids are ignored), or every unread one with ``all: true``."""

    @extend_schema_serializer(component_name="NotificationMarkRead")
    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=500)
        all = StrictBooleanField(required=False, default=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs["all"] and attrs.get("ids"):
                raise serializers.ValidationError({"ids": [_("Send either ids or all, not both.")]})
            if not attrs["all"] and not attrs.get("ids"):
                raise serializers.ValidationError({"ids": [_("Send the ids to mark read, or all: true.")]})
            return attrs

    @extend_schema_serializer(component_name="NotificationMarkedRead")
    class OutputSerializer(serializers.Serializer):
        marked = serializers.IntegerField()
        unread = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 400: ERROR})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = None if data.validated_data["all"] else data.validated_data["ids"]
        marked = services.notifications_mark_read(user=request.user, ids=ids)
        return Response({"marked": marked, "unread": selectors.notification_unread_count(user=request.user)})
