"""Where notifications go, for the mobile app: push devices, channels (e-mail, Slack, web push, the Telegram link),
preferences per event type, and the Telegram bot's webhook. Addresses are write-only: an answer shows the hint."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import catalog, services
from notifications.models import Channel, Preference
from trading_site.api import ERROR, StrictBooleanField
from trading_site.idempotency import idempotent

log = logging.getLogger(__name__)

LANGUAGES = [code for code, _name in settings.LANGUAGES]


@extend_schema_serializer(component_name="NotificationChannel")
class ChannelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = ["id", *Channel.SHOWN_FIELDS]
        read_only_fields = fields


def _own(user: Any, channel_id: int, kinds: tuple[str, ...] | None = None) -> Channel:
    rows = Channel.objects.filter(user=user)
    if kinds:
        rows = rows.filter(kind__in=kinds)
    channel = rows.filter(pk=channel_id).first()
    if channel is None:
        raise Http404
    return channel


class DeviceListApi(APIView):
    """The user's phones (FCM registration tokens). POST registers one: the same token again answers 200 with the
    same device; a token another account registered moves to this one (201)."""

    @extend_schema_serializer(component_name="DeviceRegister")
    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=4096, write_only=True)
        label = serializers.CharField(max_length=80, required=False, default="", allow_blank=True)
        language = serializers.ChoiceField(choices=LANGUAGES, required=False)

    @extend_schema(responses={200: ChannelSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = Channel.objects.filter(user=request.user, kind=Channel.Kind.FCM)
        return Response(ChannelSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={200: ChannelSerializer, 201: ChannelSerializer, 400: ERROR})
    @idempotent
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        known = set(Channel.objects.filter(user=request.user, kind=Channel.Kind.FCM).values_list("pk", flat=True))
        device = services.device_register(user=request.user, **data.validated_data)
        code = status.HTTP_200_OK if device.pk in known else status.HTTP_201_CREATED
        return Response(ChannelSerializer(device).data, status=code)


class DeviceDetailApi(APIView):
    @extend_schema(responses={204: None, 404: ERROR})
    def delete(self, request: Request, device_id: int) -> Response:
        services.channel_delete(user=request.user, channel_id=_own(request.user, device_id, (Channel.Kind.FCM,)).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelListApi(APIView):
    """Every channel of the user. POST adds e-mail (``address``, the account's when empty), Slack (``webhook_url``)
    or web push (``subscription``, a browser's PushSubscription JSON); Telegram is linked by a code
    (``telegram-link``) and phones through ``/devices``."""

    @extend_schema_serializer(component_name="NotificationChannelCreate")
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=[Channel.Kind.EMAIL, Channel.Kind.SLACK, Channel.Kind.WEBPUSH])
        address = serializers.EmailField(required=False, allow_blank=True, write_only=True)
        webhook_url = serializers.CharField(required=False, max_length=500, write_only=True)
        subscription = serializers.JSONField(required=False, write_only=True)
        label = serializers.CharField(max_length=80, required=False, default="", allow_blank=True)
        language = serializers.ChoiceField(choices=LANGUAGES, required=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            needed = {Channel.Kind.SLACK: "webhook_url", Channel.Kind.WEBPUSH: "subscription"}.get(attrs["kind"])
            if needed and not attrs.get(needed):
                raise serializers.ValidationError({needed: [_("This field is required.")]})
            return attrs

    @extend_schema(responses={200: ChannelSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ChannelSerializer(Channel.objects.filter(user=request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ChannelSerializer, 400: ERROR})
    @idempotent
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        common = {"user": request.user, "label": values["label"], "language": values.get("language")}
        if values["kind"] == Channel.Kind.EMAIL:
            channel = services.channel_email_add(address=values.get("address", ""), **common)
        elif values["kind"] == Channel.Kind.SLACK:
            channel = services.channel_slack_add(webhook_url=values["webhook_url"], **common)
        else:
            subscription = values["subscription"]
            if not isinstance(subscription, dict):
                raise serializers.ValidationError({"subscription": [_("Send the subscription as a JSON object.")]})
            channel = services.channel_webpush_subscribe(subscription=subscription, **common)
        return Response(ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)


class ChannelDetailApi(APIView):
    @extend_schema_serializer(component_name="NotificationChannelUpdate")
    class InputSerializer(serializers.Serializer):
        enabled = StrictBooleanField(required=False)
        label = serializers.CharField(max_length=80, required=False, allow_blank=True)
        language = serializers.ChoiceField(choices=LANGUAGES, required=False)

    @extend_schema(request=InputSerializer, responses={200: ChannelSerializer, 400: ERROR, 404: ERROR})
    def patch(self, request: Request, channel_id: int) -> Response:
        channel = _own(request.user, channel_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = services.channel_update(user=request.user, channel_id=channel.pk, **data.validated_data)
        return Response(ChannelSerializer(channel).data)

    @extend_schema(responses={204: None, 404: ERROR})
    def delete(self, request: Request, channel_id: int) -> Response:
        services.channel_delete(user=request.user, channel_id=_own(request.user, channel_id).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTestApi(APIView):
    """Send a test message to the channel now; the answer says whether its service took it."""

    @extend_schema_serializer(component_name="NotificationChannelTested")
    class OutputSerializer(serializers.Serializer):
        outcome = serializers.ChoiceField(choices=["sent", "temporary", "permanent", "skipped"])
        channel = ChannelSerializer()

    @extend_schema(request=None, responses={200: OutputSerializer, 404: ERROR})
    def post(self, request: Request, channel_id: int) -> Response:
        channel = _own(request.user, channel_id)
        outcome = services.channel_test(user=request.user, channel_id=channel.pk)
        channel.refresh_from_db()
        return Response({"outcome": str(outcome), "channel": ChannelSerializer(channel).data})


class TelegramLinkApi(APIView):
    """A one-time code (15 minutes) to send the Trendy bot as ``/start <code>``; ``link`` opens the bot with it."""

    @extend_schema_serializer(component_name="TelegramLinkCode")
    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        link = serializers.CharField()
        expires_at = serializers.DateTimeField()

    @extend_schema(request=None, responses={201: OutputSerializer, 400: ERROR})
    def post(self, request: Request) -> Response:
        issued = services.telegram_link_start(user=request.user, language=request.LANGUAGE_CODE)
        body = {"code": issued.code, "link": issued.link, "expires_at": issued.expires_at}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema_serializer(component_name="NotificationPreference")
class PreferenceSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=64, help_text='An event kind (see "kinds"), or "*" for every other kind.')
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.Kind.choices), max_length=5)
    min_severity = serializers.ChoiceField(choices=catalog.SEVERITIES, default=catalog.INFO)
    quiet_start = serializers.TimeField(allow_null=True, required=False, default=None)
    quiet_end = serializers.TimeField(allow_null=True, required=False, default=None)


class PreferencesApi(APIView):
    """What the user is told where. Without a preference for an event kind (nor "*"), every enabled channel gets
    every severity at once. Quiet hours are in the user's time zone and hold messages (never critical ones) until
    they end, then send them as one digest. PUT replaces all preferences (an empty list: the defaults)."""

    @extend_schema_serializer(component_name="NotificationKind")
    class KindSerializer(serializers.Serializer):
        kind = serializers.CharField()
        label = serializers.CharField()
        severity = serializers.CharField()

    @extend_schema_serializer(component_name="NotificationPreferences")
    class OutputSerializer(serializers.Serializer):
        preferences = PreferenceSerializer(many=True)
        kinds = serializers.ListField(child=serializers.DictField())

    @extend_schema_serializer(component_name="NotificationPreferencesUpdate")
    class InputSerializer(serializers.Serializer):
        preferences = PreferenceSerializer(many=True, max_length=len(catalog.KINDS) + 1)

    def _answer(self, request: Request) -> Response:
        rows = Preference.objects.filter(user=request.user).order_by("kind")
        kinds = [
            {"kind": kind, "label": str(entry.label), "severity": entry.severity}
            for kind, entry in catalog.KINDS.items()
        ]
        return Response({"preferences": PreferenceSerializer(rows, many=True).data, "kinds": kinds})

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return self._answer(request)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 400: ERROR})
    def put(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.preferences_set(user=request.user, rows=data.validated_data["preferences"], replace_all=True)
        return self._answer(request)


class WebPushKeyApi(APIView):
    """The server's VAPID public key, for ``pushManager.subscribe({applicationServerKey})``; empty when web push
    is not set up."""

    @extend_schema_serializer(component_name="WebPushKey")
    class OutputSerializer(serializers.Serializer):
        public_key = serializers.CharField(allow_blank=True)

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return Response({"public_key": settings.TRENDY_VAPID_PUBLIC_KEY})


class TelegramWebhookApi(APIView):
    """Telegram's calls to the bot (setWebhook with ``secret_token``): refused without the secret; otherwise always
    200, so Telegram does not repeat an update Trendy has handled."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes: list[Any] = []

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        expected = settings.TRENDY_TELEGRAM_WEBHOOK_SECRET
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return Response(status=status.HTTP_403_FORBIDDEN)
        with transaction.atomic():
            outcome = services.telegram_update(request.data if isinstance(request.data, dict) else {})
        log.info("telegram update: %s", outcome)
        return Response({"ok": True})
