"""Channels, devices, the Telegram link and preferences through the API: addresses are write-only, bad input gets
a clear 400 with nothing saved, and no user sees or changes another user's rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Channel, Preference, TelegramLink
from tests.notifications.fakes import Reply

pytestmark = pytest.mark.django_db

BOT = "555:telegram-bot-token"
HOOK_SECRET = "hook-secret-123"
FCM_TOKEN = "fcm-token_" + "A1b2C3d4" * 20
SUBSCRIPTION = {"endpoint": "https://push.example.com/send/abc123", "keys": {"p256dh": "BPk3", "auth": "x9Yz"}}


@pytest.fixture
def telegram(service, settings):
    settings.TRENDY_TELEGRAM_BOT_TOKEN = BOT
    settings.TRENDY_TELEGRAM_BOT_NAME = "TrendyBot"
    settings.TRENDY_TELEGRAM_API_URL = service.url
    settings.TRENDY_TELEGRAM_WEBHOOK_SECRET = HOOK_SECRET
    service.route(f"/bot{BOT}/sendMessage", Reply(200, {"ok": True}))
    return service


@pytest.fixture
def update(api_client, django_capture_on_commit_callbacks):
    """Telegram calling the bot's webhook with a message from a chat (the bot's answer is sent on commit)."""

    def call(text: str, chat_id: int = 31337, secret: str = HOOK_SECRET):
        body = {"update_id": 1, "message": {"message_id": 5, "chat": {"id": chat_id, "type": "private"}, "text": text}}
        with django_capture_on_commit_callbacks(execute=True):
            return api_client.post(
                "/api/v1/notifications/telegram/webhook",
                body,
                format="json",
                HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
            )

    return call


def replies(service) -> list[str]:
    return [seen.json()["text"] for seen in service.hits(f"/bot{BOT}/sendMessage")]


# --- devices -------------------------------------------------------------------------------------------------


def test_a_device_registers_once_and_its_token_is_never_returned(alice_api):
    first = alice_api.post("/api/v1/devices", {"token": FCM_TOKEN, "label": "Pixel"}, format="json")
    assert first.status_code == 201, first.content
    again = alice_api.post("/api/v1/devices", {"token": FCM_TOKEN, "label": "Pixel 8"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["label"] == "Pixel 8" and again.json()["hint"] == "…" + FCM_TOKEN[-6:]
    listed = alice_api.get("/api/v1/devices").json()
    assert len(listed) == 1 and FCM_TOKEN not in json.dumps(listed) + first.content.decode()


def test_a_device_taken_over_by_another_account_leaves_the_first(alice_api, bob_api, alice, bob):
    mine = alice_api.post("/api/v1/devices", {"token": FCM_TOKEN}, format="json").json()
    theirs = bob_api.post("/api/v1/devices", {"token": FCM_TOKEN}, format="json")
    assert theirs.status_code == 201
    assert alice_api.get("/api/v1/devices").json() == []  # alice's messages no longer reach bob's phone
    assert [row["id"] for row in bob_api.get("/api/v1/devices").json()] == [theirs.json()["id"]]
    assert "alice" not in theirs.content.decode()
    assert bob_api.delete(f"/api/v1/devices/{mine['id']}").status_code == 404


def test_bad_device_tokens_and_anothers_device(alice_api, bob_api):
    for body in ({"token": "short"}, {"token": "has spaces in it and is long enough"}, {}):
        response = alice_api.post("/api/v1/devices", body, format="json")
        assert response.status_code == 400 and "token" in response.json()["error"]["fields"]
    assert not Channel.objects.exists()
    device = alice_api.post("/api/v1/devices", {"token": FCM_TOKEN}, format="json").json()
    assert bob_api.delete(f"/api/v1/devices/{device['id']}").status_code == 404
    assert alice_api.delete(f"/api/v1/devices/{device['id']}").status_code == 204
    assert not Channel.objects.exists()


def test_device_registration_is_idempotent_by_key(alice_api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "phone-retry-1"}
    first = alice_api.post("/api/v1/devices", {"token": FCM_TOKEN}, format="json", **headers)
    second = alice_api.post("/api/v1/devices", {"token": FCM_TOKEN}, format="json", **headers)
    assert first.status_code == second.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert Channel.objects.count() == 1


# --- channels ----------------------------------------------------------------------------------------------


def test_channels_are_write_only_and_private(alice_api, bob_api, settings, service):
    settings.TRENDY_NOTIFY_ALLOW_PRIVATE = True
    hook = service.url + "/services/T1/B1/zzz"
    made = alice_api.post("/api/v1/notifications/channels", {"kind": "slack", "webhook_url": hook}, format="json")
    assert made.status_code == 201, made.content
    mail = alice_api.post("/api/v1/notifications/channels", {"kind": "email"}, format="json").json()
    push = alice_api.post(
        "/api/v1/notifications/channels", {"kind": "webpush", "subscription": SUBSCRIPTION}, format="json"
    ).json()
    listed = alice_api.get("/api/v1/notifications/channels").content.decode()
    for secret in (hook, "alice@example.com", SUBSCRIPTION["endpoint"], "x9Yz"):
        assert secret not in listed and secret not in made.content.decode()
    assert mail["hint"] == "a…@example.com" and push["hint"] == "push.example.com"
    assert bob_api.get("/api/v1/notifications/channels").json() == []
    slack_id = made.json()["id"]
    for method, path in (
        ("patch", f"/api/v1/notifications/channels/{slack_id}"),
        ("delete", f"/api/v1/notifications/channels/{slack_id}"),
        ("post", f"/api/v1/notifications/channels/{slack_id}/test"),
    ):
        assert getattr(bob_api, method)(path, {"enabled": False}, format="json").status_code == 404
    assert Channel.objects.get(pk=slack_id).enabled
    off = alice_api.patch(f"/api/v1/notifications/channels/{slack_id}", {"enabled": False}, format="json")
    assert off.status_code == 200 and off.json()["enabled"] is False


def test_slack_urls_must_be_slacks_and_public_in_production(alice_api, settings, monkeypatch):
    settings.TRENDY_NOTIFY_ALLOW_PRIVATE = False
    for url in (
        "http://hooks.slack.com/services/T/B/x",
        "https://hooks.slack.com.evil.example/services/T/B/x",
        "https://127.0.0.1/services/T/B/x",
        "https://example.com/services/T/B/x",
        "file:///etc/passwd",
    ):
        response = alice_api.post(
            "/api/v1/notifications/channels", {"kind": "slack", "webhook_url": url}, format="json"
        )
        assert response.status_code == 400 and "webhook_url" in response.json()["error"]["fields"], url
    # a resolver that points Slack's name at the internal network (DNS rebinding) is refused as well
    import socket

    monkeypatch.setattr(
        "accounts.net.socket.getaddrinfo",
        lambda host, *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.8", 0))],
    )
    response = alice_api.post(
        "/api/v1/notifications/channels",
        {"kind": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/x"},
        format="json",
    )
    assert response.status_code == 400 and "private" in response.json()["error"]["fields"]["webhook_url"][0]
    assert not Channel.objects.exists()


def test_a_test_message_goes_through_the_channel(alice_api, alice, settings, service):
    settings.TRENDY_NOTIFY_ALLOW_PRIVATE = True
    service.route("/services/T1/B1/ok", Reply(200, "ok"))
    channel = services.channel_slack_add(user=alice, webhook_url=service.url + "/services/T1/B1/ok")
    response = alice_api.post(f"/api/v1/notifications/channels/{channel.pk}/test")
    assert response.status_code == 200 and response.json()["outcome"] == "sent"
    (seen,) = service.hits("/services/T1/B1/ok")
    assert "Test message from Trendy" in seen.json()["text"]


# --- Telegram link -----------------------------------------------------------------------------------------


def test_telegram_links_by_a_one_time_code(alice_api, alice, update, telegram):
    issued = alice_api.post("/api/v1/notifications/telegram-link").json()
    code = issued["code"]
    assert issued["link"] == f"https://t.me/TrendyBot?start={code}"
    assert not TelegramLink.objects.filter(code_hash=code).exists()  # only its hash is kept
    assert update(f"/start {code}").status_code == 200
    channel = Channel.objects.get(user=alice, kind="telegram")
    assert channel.hint == "chat …1337" and "31337" not in channel.address
    assert "Linked" in replies(telegram)[-1]
    # reused: refused, in the chat; nothing changes (not even by another chat)
    assert update(f"/start {code}", chat_id=999).status_code == 200
    assert "already used" in replies(telegram)[-1]
    assert list(Channel.objects.filter(kind="telegram").values_list("user", flat=True)) == [alice.pk]


def test_telegram_codes_expire_and_unknown_ones_are_refused(alice, update, telegram):
    issued = services.telegram_link_start(user=alice)
    TelegramLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    update(f"/start {issued.code}")
    assert "expired" in replies(telegram)[-1]
    update("/start not-a-code")
    assert "not one Trendy gave" in replies(telegram)[-1]
    update("/start")
    assert "Settings → Notifications" in replies(telegram)[-1]
    assert not Channel.objects.exists()


def test_the_telegram_webhook_needs_its_secret(alice, update, telegram):
    issued = services.telegram_link_start(user=alice)
    assert update(f"/start {issued.code}", secret="wrong").status_code == 403
    assert update(f"/start {issued.code}", secret="").status_code == 403
    assert not Channel.objects.exists() and replies(telegram) == []


def test_a_new_code_replaces_the_unused_one(alice, update, telegram):
    old = services.telegram_link_start(user=alice)
    services.telegram_link_start(user=alice)
    update(f"/start {old.code}")
    assert "not one Trendy gave" in replies(telegram)[-1] and not Channel.objects.exists()


# --- preferences ---------------------------------------------------------------------------------------------


def test_preferences_round_trip_and_unknown_event_types_are_refused(alice_api, bob_api, alice):
    body = {
        "preferences": [
            {"kind": "order_filled", "channels": ["telegram", "fcm"], "min_severity": "info"},
            {"kind": "*", "channels": ["email"], "quiet_start": "23:00", "quiet_end": "07:00"},
        ]
    }
    saved = alice_api.put("/api/v1/notifications/preferences", body, format="json")
    assert saved.status_code == 200, saved.content
    rows = {row["kind"]: row for row in saved.json()["preferences"]}
    assert rows["*"]["quiet_start"] == "23:00:00" and rows["order_filled"]["channels"] == ["telegram", "fcm"]
    assert any(kind["kind"] == "order_filled" for kind in saved.json()["kinds"])
    bad = {"preferences": [{"kind": "order_filled", "channels": ["email"]}, {"kind": "moon_landing", "channels": []}]}
    refused = alice_api.put("/api/v1/notifications/preferences", bad, format="json")
    assert refused.status_code == 400 and "Unknown event type: moon_landing." in refused.content.decode()
    assert Preference.objects.get(user=alice, kind="order_filled").channels == ["telegram", "fcm"]  # untouched
    for wrong in (
        {"preferences": [{"kind": "order_filled", "channels": ["pigeon"]}]},
        {"preferences": [{"kind": "order_filled", "channels": [], "min_severity": "loud"}]},
        {"preferences": [{"kind": "order_filled", "channels": [], "quiet_start": "23:00"}]},
        {"preferences": [{"kind": "*", "channels": []}, {"kind": "*", "channels": ["email"]}]},
    ):
        assert alice_api.put("/api/v1/notifications/preferences", wrong, format="json").status_code == 400, wrong
    assert Preference.objects.filter(user=alice).count() == 2
    assert bob_api.get("/api/v1/notifications/preferences").json()["preferences"] == []
    cleared = alice_api.put("/api/v1/notifications/preferences", {"preferences": []}, format="json")
    assert cleared.json()["preferences"] == [] and not Preference.objects.exists()
