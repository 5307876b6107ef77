"""Delivery to the channels, against real local servers: every chosen channel gets one message; a burst is one
message and one digest; quiet hours, severity and channel choices hold; temporary failures are retried with
backoff and recorded; a permanent one turns the channel off and tells the user; a delivery is never sent twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import events
from notifications import delivery, services
from notifications.models import Channel, Delivery, DeliveryAttempt, Notification, Preference
from tests.notifications.fakes import Reply

pytestmark = pytest.mark.django_db

BOT = "777:bot-token-secret"
FILL = {"symbol": "BTC/USDT", "side": "buy", "amount": "0.01", "price": "64000", "realized_pnl": None}


@pytest.fixture
def channels(alice, service, smtp, settings):
    """alice is told on Telegram, Slack and by e-mail, each served on 127.0.0.1."""
    settings.TRENDY_TELEGRAM_BOT_TOKEN = BOT
    settings.TRENDY_TELEGRAM_API_URL = service.url
    settings.TRENDY_NOTIFY_ALLOW_PRIVATE = True
    settings.TRENDY_NOTIFY_RETRY_BASE = 0.0
    settings.TRENDY_NOTIFY_MAX_ATTEMPTS = 4
    service.route(f"/bot{BOT}/sendMessage", Reply(200, {"ok": True}))
    service.route("/services/T0/B0/slack", Reply(200, "ok"))
    telegram = services._channel_save(
        user=alice, kind=Channel.Kind.TELEGRAM, address="4242", hint="chat …4242", label="", language="en"
    )
    slack = services.channel_slack_add(user=alice, webhook_url=service.url + "/services/T0/B0/slack")
    email = services.channel_email_add(user=alice)
    return {"telegram": telegram, "slack": slack, "email": email}


def tell(user, kind="order_filled", count=1, callbacks=None, **data):
    with callbacks(execute=True):
        for _ in range(count):
            events.emit(user, kind, **(data or FILL))


def telegram_texts(service) -> list[str]:
    return [seen.json()["text"] for seen in service.hits(f"/bot{BOT}/sendMessage")]


def slack_texts(service) -> list[str]:
    return [seen.json()["text"] for seen in service.hits("/services/T0/B0/slack")]


def test_a_fill_reaches_every_channel_once(alice, bob, channels, service, smtp, django_capture_on_commit_callbacks):
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    (telegram,) = telegram_texts(service)
    (slack,) = slack_texts(service)
    (mail,) = smtp.messages
    assert "Buy BTC/USDT filled" in telegram and "Buy BTC/USDT filled" in slack
    assert mail["To"] == "alice@example.com" and "Buy BTC/USDT filled" in mail["Subject"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert DeliveryAttempt.objects.filter(outcome="sent").count() == 3
    assert service.hits(f"/bot{BOT}/sendMessage")[0].json()["chat_id"] == "4242"
    tell(bob, callbacks=django_capture_on_commit_callbacks)  # bob has no channel: nothing more goes out
    assert len(telegram_texts(service)) == 1 and len(smtp.messages) == 1


def test_a_burst_is_one_message_and_one_digest(alice, channels, service, django_capture_on_commit_callbacks):
    tell(alice, count=100, callbacks=django_capture_on_commit_callbacks)
    assert len(telegram_texts(service)) == 1  # the first at once; 99 wait for the window to close
    held = Delivery.objects.filter(channel=channels["telegram"], status="held")
    assert held.count() == 99
    assert delivery.flush_digests(timezone.now()) == []  # not due yet
    later = timezone.now() + timedelta(seconds=61)
    with django_capture_on_commit_callbacks(execute=True):
        digests = delivery.flush_digests(later)
    assert len(digests) == 3  # one per channel
    texts = telegram_texts(service)
    assert len(texts) == 2 and "99 notifications" in texts[1] and "Order filled × 99" in texts[1]
    assert "…and 89 earlier" in texts[1]
    assert len(slack_texts(service)) == 2
    assert Delivery.objects.filter(status="grouped").count() == 3 * 99
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.flush_digests(later) == []  # nothing twice


def test_a_critical_event_is_never_held(alice, channels, service, django_capture_on_commit_callbacks):
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    tell(alice, "unprotected_position_closed", callbacks=django_capture_on_commit_callbacks, position=7)
    texts = telegram_texts(service)
    assert len(texts) == 2 and "Unprotected position #7 closed" in texts[1]


def test_quiet_hours_hold_until_they_end_critical_goes_at_once(
    alice, channels, service, settings, django_capture_on_commit_callbacks
):
    alice.timezone = "Asia/Seoul"
    alice.save()
    local = timezone.now().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Seoul"))
    start = (local - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    services.preferences_set(
        user=alice, rows=[{"kind": "*", "channels": ["telegram"], "quiet_start": start, "quiet_end": end}]
    )
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    assert telegram_texts(service) == [] and slack_texts(service) == []  # held; Slack not chosen at all
    (held,) = Delivery.objects.filter(status="held")
    assert held.not_before > timezone.now() + timedelta(minutes=110)
    tell(alice, "unprotected_position_closed", callbacks=django_capture_on_commit_callbacks, position=3)
    assert len(telegram_texts(service)) == 1  # critical: now
    with django_capture_on_commit_callbacks(execute=True):
        delivery.flush_digests(held.not_before + timedelta(seconds=1))
    texts = telegram_texts(service)
    assert len(texts) == 2 and "Buy BTC/USDT filled" in texts[1]  # the one held message goes as itself


def test_minimum_severity_and_chosen_channels(alice, channels, service, smtp, django_capture_on_commit_callbacks):
    services.preferences_set(
        user=alice,
        rows=[
            {"kind": "order_filled", "channels": ["telegram"], "min_severity": "warning"},
            {"kind": "stop_loss_hit", "channels": ["email"]},
        ],
    )
    tell(alice, callbacks=django_capture_on_commit_callbacks)  # info < warning: in-app only
    tell(alice, "stop_loss_hit", callbacks=django_capture_on_commit_callbacks, **FILL)
    assert telegram_texts(service) == [] and slack_texts(service) == []
    (mail,) = smtp.messages
    assert "Stop loss hit on BTC/USDT" in mail["Subject"]
    assert Notification.objects.filter(user=alice).count() == 2  # the in-app list keeps both


def test_temporary_failures_are_retried_and_every_attempt_recorded(
    alice, channels, service, django_capture_on_commit_callbacks
):
    service.route("/services/T0/B0/slack", Reply(500, "oops"), Reply(429, "slow", {"Retry-After": "0"}), Reply(200))
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    slack = Delivery.objects.get(channel=channels["slack"])
    assert slack.status == "sent" and slack.attempts == 3
    outcomes = list(slack.attempt_rows.order_by("number").values_list("number", "outcome"))
    assert outcomes == [(1, "temporary"), (2, "temporary"), (3, "sent")]
    assert len(slack_texts(service)) == 3
    channels["slack"].refresh_from_db()
    assert channels["slack"].enabled


def test_it_gives_up_after_the_last_attempt_and_keeps_the_channel(
    alice, channels, service, django_capture_on_commit_callbacks
):
    service.route("/services/T0/B0/slack", Reply(503, "down"))
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    slack = Delivery.objects.get(channel=channels["slack"])
    assert slack.status == "failed" and slack.attempts == 4 and "HTTP 503" in slack.last_error
    channels["slack"].refresh_from_db()
    assert channels["slack"].enabled  # an outage is not the channel's fault


def test_a_permanent_failure_turns_the_channel_off_and_tells_the_user(
    alice, channels, service, smtp, django_capture_on_commit_callbacks
):
    service.route(f"/bot{BOT}/sendMessage", Reply(403, {"ok": False, "description": "Forbidden: bot was blocked"}))
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    telegram = Channel.objects.get(pk=channels["telegram"].pk)
    assert not telegram.enabled and "blocked" in telegram.disabled_reason
    assert Delivery.objects.get(channel=telegram).attempts == 1  # never retried
    notice = Notification.objects.get(user=alice, kind="notifications.channel_disabled")
    assert notice.title == "Telegram notifications turned off" and BOT not in notice.body
    with django_capture_on_commit_callbacks(execute=True):  # told elsewhere too (after the fill: in the window)
        delivery.flush_digests(timezone.now() + timedelta(seconds=61))
    assert any("Telegram notifications turned off" in m["Subject"] for m in smtp.messages)
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    assert len(service.hits(f"/bot{BOT}/sendMessage")) == 1  # an off channel gets nothing more


def test_a_delivery_is_sent_once_however_often_its_task_runs(
    alice, channels, service, django_capture_on_commit_callbacks
):
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    row = Delivery.objects.get(channel=channels["telegram"])
    assert delivery.send(row.pk) == "skipped"
    assert len(telegram_texts(service)) == 1


def test_nothing_is_sent_for_a_rolled_back_event(alice, channels, service, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        events.emit(alice, "order_filled", **FILL)
        raise RuntimeError
    assert telegram_texts(service) == [] and not Delivery.objects.exists()


def test_messages_are_written_in_the_channels_language(alice, channels, service, django_capture_on_commit_callbacks):
    services.channel_update(user=alice, channel_id=channels["telegram"].pk, language="ko")
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    (text,) = telegram_texts(service)
    assert "BTC/USDT" in text and "filled" not in text


def test_the_address_is_sealed_at_rest(alice, channels):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("select address from notifications_channel")
        stored = " ".join(row[0] for row in cursor.fetchall())
    assert "4242" not in stored and "/services/T0" not in stored and "alice@example.com" not in stored
    assert delivery.opened_address(channels["slack"]).endswith("/services/T0/B0/slack")


# --- pure parts ----------------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_within_its_jitter_and_an_hour():
    waits = [delivery.backoff(n, base=30, jitter=0) for n in range(1, 9)]
    assert waits[:5] == [30, 60, 120, 240, 480] and waits[-1] == delivery.MAX_WAIT
    for n in range(1, 6):
        assert 0.8 * 30 * 2 ** (n - 1) <= delivery.backoff(n, base=30) <= 1.2 * 30 * 2 ** (n - 1)
    assert delivery.backoff(1, base=30, retry_after=300, jitter=0) == 300
    assert delivery.backoff(1, base=30, retry_after=99999, jitter=0) == delivery.MAX_WAIT


@pytest.mark.parametrize(
    ("start", "end", "now", "until"),
    [
        (clock(22), clock(7), datetime(2026, 1, 1, 23, 30, tzinfo=UTC), datetime(2026, 1, 2, 7, tzinfo=UTC)),
        (clock(22), clock(7), datetime(2026, 1, 2, 3, 0, tzinfo=UTC), datetime(2026, 1, 2, 7, tzinfo=UTC)),
        (clock(22), clock(7), datetime(2026, 1, 2, 7, 0, tzinfo=UTC), None),
        (clock(22), clock(7), datetime(2026, 1, 2, 12, 0, tzinfo=UTC), None),
        (clock(9), clock(17), datetime(2026, 1, 2, 12, 0, tzinfo=UTC), datetime(2026, 1, 2, 17, tzinfo=UTC)),
        (clock(9), clock(17), datetime(2026, 1, 2, 8, 59, tzinfo=UTC), None),
        (None, None, datetime(2026, 1, 2, 12, 0, tzinfo=UTC), None),
    ],
)
def test_quiet_until(start, end, now, until):
    assert delivery.quiet_until(start, end, now) == until


def test_preferences_are_all_or_nothing(alice):
    services.preferences_set(user=alice, rows=[{"kind": "order_filled", "channels": ["email"]}])
    with pytest.raises(Exception) as caught:
        services.preferences_set(
            user=alice,
            rows=[{"kind": "order_filled", "channels": ["slack"]}, {"kind": "no_such_event", "channels": []}],
        )
    assert "Unknown event type: no_such_event." in str(caught.value)
    assert list(Preference.objects.filter(user=alice).values_list("channels", flat=True)) == [["email"]]


def test_browser_and_phone_push_go_through_the_same_delivery(
    alice, service, settings, django_capture_on_commit_callbacks
):
    """Web push (encrypted for the browser, VAPID-signed) and FCM (the service account's token) from a fill, with the
    server's keys from settings; a phone FCM no longer knows turns its channel off."""
    import base64
    import json

    import http_ece
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from py_vapid import Vapid01

    from notifications.channels import fcm
    from tests.notifications.test_channels import browser_subscription

    vapid = Vapid01()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    settings.TRENDY_VAPID_PRIVATE_KEY = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    settings.TRENDY_NOTIFY_ALLOW_PRIVATE = True
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    settings.TRENDY_FCM_SERVICE_ACCOUNT = json.dumps(
        {"project_id": "trendy-test", "client_email": "push@t.example", "private_key": pem.decode(),
         "token_uri": service.url + "/token"}
    )  # fmt: skip
    settings.TRENDY_FCM_API_URL = service.url
    fcm._tokens.clear()
    service.route("/token", Reply(200, {"access_token": "ya29.x", "expires_in": 3600}))
    service.route("/v1/projects/trendy-test/messages:send", Reply(200, {"name": "m/1"}))
    endpoint = service.route("/push/browser1", Reply(201, ""))
    subscription, browser_key, auth = browser_subscription(endpoint)
    services.channel_webpush_subscribe(user=alice, subscription=subscription)
    phone = services.device_register(user=alice, token="fcm_" + "x1Y2" * 10)
    tell(alice, callbacks=django_capture_on_commit_callbacks)
    (pushed,) = service.hits("/push/browser1")
    clear = json.loads(http_ece.decrypt(pushed.body, private_key=browser_key, auth_secret=auth, version="aes128gcm"))
    assert clear["title"] == "Buy BTC/USDT filled" and clear["url"].endswith("/notifications/")
    (sent,) = service.hits("/v1/projects/trendy-test/messages:send")
    message = sent.json()["message"]
    assert message["token"] == "fcm_" + "x1Y2" * 10 and message["notification"]["title"] == "Buy BTC/USDT filled"
    unregistered = {"error": {"status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}
    service.route("/v1/projects/trendy-test/messages:send", Reply(404, unregistered))
    tell(alice, "unprotected_position_closed", callbacks=django_capture_on_commit_callbacks, position=1)
    phone.refresh_from_db()
    assert not phone.enabled and "UNREGISTERED" in phone.disabled_reason
