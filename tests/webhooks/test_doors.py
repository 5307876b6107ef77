"""The receiver's public door (issue 13, "Abuse of the public doors"): requests that do not authenticate are
rate limited per address and per URL before anything is stored, kept as a short masked prefix and a hash,
capped per webhook and hour and pruned after a while; alerts without ``time`` are duplicates only within a
window; absurd numbers are refused by name."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from trading.models import Bot, Order
from webhooks import services
from webhooks.models import WebhookEvent
from webhooks.validation import MAX_BODY_BYTES, TRADINGVIEW_IPS

from .conftest import alert

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.9"


def post(path: str, body, ip: str = ATTACKER, **extra):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client(REMOTE_ADDR=ip).generic("POST", path, raw, content_type="application/json", **extra)


# --- rate limits before anything is stored ------------------------------------------------------------


def test_refused_requests_from_one_address_are_limited_before_the_database(
    endpoint, prices, settings, django_assert_num_queries
):
    settings.TRENDY_WEBHOOK_REFUSED_PER_IP = 10
    for i in range(10):
        assert post(f"/webhooks/tv/guess-{i}/", alert("whs_x")).status_code == 404
    assert WebhookEvent.objects.count() == 10
    with django_assert_num_queries(0):
        response = post("/webhooks/tv/guess-11/", alert("whs_x"))
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert response.json()["reason"] == "rate_limited"
    with django_assert_num_queries(0):  # the limited address gets nothing else through either
        assert post(endpoint.endpoint.path, alert(endpoint.secret)).status_code == 429
    assert WebhookEvent.objects.count() == 10
    # Another address is not affected.
    assert post(endpoint.endpoint.path, alert(endpoint.secret), ip="198.51.100.7").status_code == 200


def test_tradingviews_addresses_are_not_limited_per_address(endpoint, prices, settings):
    settings.TRENDY_WEBHOOK_REFUSED_PER_IP = 3
    settings.TRENDY_WEBHOOK_REFUSED_PER_URL = 100
    for _ in range(6):  # a trader whose alert still has an old secret: TradingView sends for everybody
        assert post(endpoint.endpoint.path, alert("whs_old"), ip=TRADINGVIEW_IPS[0]).status_code == 404
    assert post(endpoint.endpoint.path, alert(endpoint.secret), ip=TRADINGVIEW_IPS[0]).status_code == 200


def test_refused_requests_to_one_url_are_limited_and_the_owner_still_gets_through(endpoint, prices, settings):
    settings.TRENDY_WEBHOOK_REFUSED_PER_URL = 20
    answers = [post(endpoint.endpoint.path, alert("whs_guess"), ip=f"192.0.2.{i + 1}") for i in range(30)]
    assert [a.status_code for a in answers] == [404] * 20 + [429] * 10
    assert WebhookEvent.objects.filter(outcome="rejected").count() == 20
    response = post(endpoint.endpoint.path, alert(endpoint.secret), ip="192.0.2.200")
    assert response.status_code == 200 and response.json()["status"] == "accepted"


# --- what a refused request leaves behind ---------------------------------------------------------------


def test_a_wrong_secret_keeps_a_short_masked_prefix_and_a_hash(endpoint, prices):
    near_miss = endpoint.secret[:-1] + ("A" if endpoint.secret[-1] != "A" else "B")
    raw = json.dumps({**alert(near_miss), "padding": "x" * (MAX_BODY_BYTES - 600)}).encode()
    assert len(raw) <= MAX_BODY_BYTES
    response = post(endpoint.endpoint.path, raw)
    assert response.status_code == 404
    event = WebhookEvent.objects.get()
    assert event.reason == "bad_secret" and event.body is None
    assert 0 < len(event.body_prefix) <= 256 and near_miss not in event.body_prefix
    assert event.body_sha256 == hashlib.sha256(raw).hexdigest() and event.body_size == len(raw)


def test_a_plain_text_body_with_a_secret_is_masked_in_the_prefix(endpoint, prices):
    raw = f"buy BTCUSDT secret={endpoint.secret} please".encode()
    assert post(endpoint.endpoint.path, raw).status_code == 400
    event = WebhookEvent.objects.get()
    assert (
        event.reason == "not_json" and endpoint.secret not in event.body_prefix and "buy BTCUSDT" in event.body_prefix
    )


def test_refused_rows_are_capped_per_webhook_and_hour(endpoint, prices, settings):
    settings.TRENDY_WEBHOOK_REFUSED_ROWS_PER_HOUR = 5
    statuses = [post(endpoint.endpoint.path, alert("whs_guess"), ip=f"192.0.2.{i + 1}").status_code for i in range(8)]
    assert statuses == [404] * 8  # the same answer; only the row is not kept
    assert WebhookEvent.objects.filter(endpoint=endpoint.endpoint).count() == 5
    assert services.refused_not_stored(endpoint_id=endpoint.endpoint.pk) == 3
    # An accepted alert is always stored.
    assert post(endpoint.endpoint.path, alert(endpoint.secret), ip="192.0.2.100").status_code == 200
    assert WebhookEvent.objects.filter(outcome="accepted").count() == 1


def test_refused_events_are_pruned_after_the_retention(endpoint, prices, settings):
    from tests.webhooks.conftest import make_event
    from trading_site.schedule import SCHEDULE
    from webhooks.tasks import prune_refused_events

    settings.TRENDY_WEBHOOK_REFUSED_RETENTION_DAYS = 14
    now = timezone.now()
    old = make_event(endpoint.endpoint, received_at=now - timedelta(days=15))
    recent = make_event(endpoint.endpoint, received_at=now - timedelta(days=13))
    kept = make_event(endpoint.endpoint, outcome="accepted", reason="", received_at=now - timedelta(days=30))
    assert prune_refused_events() == 1
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {recent.pk, kept.pk}
    assert not WebhookEvent.objects.filter(pk=old.pk).exists()
    assert "webhooks.prune_refused_events" in {entry.task for entry in SCHEDULE}


# --- duplicates without a time ----------------------------------------------------------------------


def receive(endpoint, body: dict, now):
    return services.alert_receive(
        token=endpoint.endpoint.token, body=json.dumps(body).encode(), remote_addr="127.0.0.1", now=now
    )


def test_an_alert_without_time_is_a_duplicate_within_sixty_seconds_only(endpoint, prices):
    body = alert(endpoint.secret, time=..., order_id=...)
    start = timezone.now().replace(second=5, microsecond=0)
    first = receive(endpoint, body, start)
    assert first.status == 200 and first.payload["status"] == "accepted"
    again = receive(endpoint, body, start + timedelta(seconds=30))
    assert again.status == 200 and again.payload == {"status": "duplicate", "event": first.event_id}
    later = receive(endpoint, body, start + timedelta(seconds=61))
    assert later.status == 200 and later.payload["status"] == "accepted"
    next_week = receive(endpoint, body, start + timedelta(days=7))
    assert next_week.payload["status"] == "accepted"


def test_a_copy_just_across_a_minute_boundary_is_still_a_duplicate(endpoint, prices):
    body = alert(endpoint.secret, time=..., order_id=...)
    start = timezone.now().replace(second=59, microsecond=500_000)
    first = receive(endpoint, body, start)
    assert receive(endpoint, body, start + timedelta(seconds=1)).payload == {
        "status": "duplicate",
        "event": first.event_id,
    }


def test_a_bots_endpoint_deduplicates_within_the_bots_candle(alice, paper, prices):
    bot = Bot.objects.create(
        user=alice, exchange_account=paper, name="EMA", strategy="ema_crossover", params={"fast": 9},
        symbol="BTC/USDT", timeframe="1h",
    )  # fmt: skip
    created = services.endpoint_create(user=alice, exchange_account=paper, name="Bot TV", bot=bot)
    body = alert(created.secret, time=..., order_id=...)
    hour = timezone.now().replace(minute=0, second=3, microsecond=0)
    first = receive(created, body, hour)
    assert first.payload["status"] == "accepted"
    assert receive(created, body, hour + timedelta(minutes=40)).payload == {
        "status": "duplicate",
        "event": first.event_id,
    }
    assert receive(created, body, hour + timedelta(hours=1)).payload["status"] == "accepted"  # the next candle


# --- numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "-1"),
        ("price", "0"),
        ("price", "NaN"),
        ("price", "Infinity"),
        ("price", "1e13"),
        ("price", "50000.0000000000000000001"),
        ("size", "0"),
        ("size", "-0.5"),
        ("size", "1e13"),
        ("size_pct", "-10"),
        ("leverage", "0"),
        ("leverage", "1e5000"),
        ("stop_loss_pct", "-1"),
        ("take_profit_pct", "nan"),
    ],
)
def test_an_absurd_number_is_refused_with_400_naming_the_field(endpoint, send, prices, field, value):
    response = send(endpoint.endpoint, alert(endpoint.secret, **{field: value}))
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["reason"] == "bad_value" and f"'{field}'" in answer["message"]
    assert Order.objects.count() == 0
    assert WebhookEvent.objects.get().outcome == "rejected"
