"""Bad input, attacks and load at the receiver (issue 5, "Bad input, attacks, load").

In every case: the HTTP answer, the stored event with its outcome and reason, the secret in neither the
stored event nor the answer, and zero orders — except where the alert is valid, and then exactly one
trade (entry or exit; the paper exchange's stop-loss / take-profit orders that protect it are not trades),
capped by the user's limits.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from accounts.models import ExchangeAccount
from tests.conftest import needs_postgres
from trading.models import Order, Position
from webhooks import hotpath, services
from webhooks.models import WebhookEvent
from webhooks.tasks import process_webhook_event
from webhooks.validation import MAX_BODY_BYTES, TRADINGVIEW_IPS

from .conftest import alert

pytestmark = pytest.mark.django_db

TEN_MB = 10 * 1024 * 1024
TRADES = (Order.Purpose.ENTRY, Order.Purpose.EXIT)


def trades():
    return Order.objects.filter(purpose__in=TRADES)


def last_event() -> WebhookEvent:
    return WebhookEvent.objects.order_by("-id").first()


def assert_secret_kept(response, *secrets: str) -> None:
    """No secret in the answer or anywhere in the event log."""
    stored = [
        json.dumps(e.body) + e.body_prefix + e.message + e.reason + e.result + e.symbol + e.action
        for e in WebhookEvent.objects.all()
    ]
    for secret in secrets:
        assert secret not in response.content.decode(errors="replace")
        assert all(secret not in text for text in stored)


def refused(response, status: int, reason: str, *secrets: str, stored_body: bool = True) -> WebhookEvent:
    """A refusal: the status, one more rejected event with its reason, the secret kept, no order at all."""
    assert response.status_code == status, response.content
    assert response["Cache-Control"] == "no-store"
    event = last_event()
    assert event.outcome == WebhookEvent.Outcome.REJECTED and event.reason == reason, (event.reason, event.message)
    assert event.message and event.status == "" and event.order is None
    if status != 404:
        answer = response.json()
        assert answer["status"] == "rejected" and answer["reason"] == reason and answer["event"] == event.pk
        assert answer["message"]
    if stored_body:
        assert event.body is not None and event.body.get("secret") in (None, "***")
    else:
        assert event.body is None
    assert_secret_kept(response, *secrets)
    assert Order.objects.count() == 0 and Position.objects.count() == 0
    return event


def accepted(response, *secrets: str) -> WebhookEvent:
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["status"] == "accepted"
    event = WebhookEvent.objects.get(pk=answer["event"])
    assert event.outcome == WebhookEvent.Outcome.ACCEPTED and event.body["secret"] == "***"
    assert_secret_kept(response, *secrets)
    return event


@pytest.fixture
def not_found(client, endpoint):
    """What an unknown token answers: every 404 of the receiver must be byte for byte the same."""
    response = client.post("/webhooks/tv/no-such-token/", json.dumps(alert("whs_x")), content_type="application/json")
    assert response.status_code == 404
    event = last_event()
    assert event.reason == "unknown_token" and event.endpoint is None and event.outcome == "rejected"
    assert "whs_x" not in json.dumps(event.body)
    return response.content


# --- size and shape ---------------------------------------------------------------------------------


def test_no_body(endpoint, send, prices):
    response = send(endpoint.endpoint, None, raw=b"")
    event = refused(response, 400, "empty", endpoint.secret, stored_body=False)
    assert event.endpoint == endpoint.endpoint and event.body_size == 0


def test_ten_megabytes_refused_by_the_declared_size(endpoint, send, prices):
    body = json.dumps({**alert(endpoint.secret), "padding": "x" * TEN_MB}).encode()  # a valid alert, too big
    response = send(endpoint.endpoint, None, raw=body)
    refused(response, 413, "too_large", endpoint.secret, stored_body=False)


def test_ten_megabytes_refused_when_read(endpoint, send, prices):
    """A Content-Length the size check does not read as a number (``+10485760``, which the WSGI layer still
    honours): the view reads at most 16 KB + 1 byte and refuses by what it read."""
    body = json.dumps({**alert(endpoint.secret), "padding": "x" * TEN_MB}).encode()
    response = send(endpoint.endpoint, None, raw=body, CONTENT_LENGTH=f"+{len(body)}")
    event = refused(response, 413, "too_large", endpoint.secret, stored_body=False)
    assert event.body_size == MAX_BODY_BYTES + 1


def test_ten_megabytes_with_a_lying_small_content_length(endpoint, send, prices):
    """Only the declared bytes are read: a truncated JSON document, refused as such."""
    body = json.dumps({**alert(endpoint.secret), "padding": "x" * TEN_MB}).encode()
    response = send(endpoint.endpoint, None, raw=body, CONTENT_LENGTH="200")
    event = refused(response, 400, "not_json", endpoint.secret, stored_body=False)
    assert event.body_size == 200


def test_invalid_json(endpoint, send, prices):
    raw = json.dumps(alert(endpoint.secret)).encode()[:-1]  # the closing brace is missing
    refused(send(endpoint.endpoint, None, raw=raw), 400, "not_json", endpoint.secret, stored_body=False)


def test_json_array(endpoint, send, prices):
    response = send(endpoint.endpoint, [alert(endpoint.secret)])
    refused(response, 400, "not_object", endpoint.secret, stored_body=False)


def test_not_utf8(endpoint, send, prices):
    raw = json.dumps(alert(endpoint.secret)).encode().replace(b'"buy"', b'"\xff\xfe"')
    refused(send(endpoint.endpoint, None, raw=raw), 400, "encoding", endpoint.secret, stored_body=False)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"action": 1}, "bad_action"),  # a number is read as text: "1" is no action
        ({"action": ["buy"]}, "bad_type"),
        ({"size": "abc"}, "bad_type"),
        ({"leverage": {"x": 50}}, "bad_type"),
        ({"time": {"at": "now"}}, "bad_time"),
        ({"symbol": 42}, "bad_symbol"),
        ({"position": "sideways"}, "bad_position"),
        ({"size": "-1"}, "bad_value"),
        ({"bot": "x"}, "bad_type"),
    ],
)
def test_wrong_types(endpoint, send, prices, fields, reason):
    response = send(endpoint.endpoint, alert(endpoint.secret, **fields))
    # A number no alert can mean (here a negative size) is a bad request (issue 13); the rest fail the schema.
    refused(response, 400 if reason == "bad_value" else 422, reason, endpoint.secret)


def test_unknown_action(endpoint, send, prices):
    response = send(endpoint.endpoint, alert(endpoint.secret, action="hodl"))
    event = refused(response, 422, "bad_action", endpoint.secret)
    assert "hodl" in event.message


def test_unknown_symbol_on_the_paper_exchange(endpoint, send, prices):
    response = send(endpoint.endpoint, alert(endpoint.secret, symbol="BINANCE:DOGEUSDT"))
    event = refused(response, 422, "unknown_symbol", endpoint.secret)
    assert event.symbol == "DOGE/USDT" and "DOGE/USDT" in event.message


def test_symbol_not_in_allowed_symbols(alice, paper, send, prices):
    created = services.endpoint_create(user=alice, exchange_account=paper, name="ETH only", allowed_symbols="ETHUSDT")
    response = send(created.endpoint, alert(created.secret))  # BTC, listed by the paper exchange
    event = refused(response, 422, "unknown_symbol", created.secret)
    assert "ETH/USDT" in event.message
    accepted(send(created.endpoint, alert(created.secret, symbol="ETHUSDT.P", order_id="eth")), created.secret)
    assert trades().count() == 1


# --- secrets and tokens -----------------------------------------------------------------------------


def test_missing_secret(endpoint, send, prices, not_found):
    response = send(endpoint.endpoint, alert(...))
    event = refused(response, 404, "missing_secret", endpoint.secret, stored_body=False)
    assert '"action": "buy"' in event.body_prefix  # a request that did not authenticate keeps a prefix only
    assert response.content == not_found


def test_wrong_secret(endpoint, send, prices, not_found):
    near_miss = endpoint.secret[:-1] + ("A" if endpoint.secret[-1] != "A" else "B")  # one character off
    response = send(endpoint.endpoint, alert(near_miss))
    event = refused(response, 404, "bad_secret", endpoint.secret, stored_body=False)
    # No body for a request that did not authenticate: a short prefix with the wrong secret masked too (it may
    # be a near miss), and the body's hash.
    assert '"secret": "***"' in event.body_prefix and len(event.body_sha256) == 64
    assert_secret_kept(response, near_miss)
    assert response.content == not_found
    # A secret of another type never matches and never raises.
    refused(send(endpoint.endpoint, alert([endpoint.secret])), 404, "bad_secret", endpoint.secret, stored_body=False)


def test_secret_of_another_users_endpoint(bob, endpoint, send, prices, not_found):
    bobs_paper = ExchangeAccount.objects.create(user=bob, exchange="paper", label="Paper", paper_balance=D(10_000))
    bobs = services.endpoint_create(user=bob, exchange_account=bobs_paper, name="Bob")
    response = send(endpoint.endpoint, alert(bobs.secret))  # bob's secret on alice's URL
    event = refused(response, 404, "bad_secret", bobs.secret, endpoint.secret, stored_body=False)
    assert event.endpoint == endpoint.endpoint and response.content == not_found
    response = send(bobs.endpoint, alert(endpoint.secret))  # and alice's on bob's
    refused(response, 404, "bad_secret", bobs.secret, endpoint.secret, stored_body=False)
    assert response.content == not_found


def test_revoked_endpoint_answers_like_an_unknown_one(endpoint, send, prices, not_found):
    services.endpoint_revoke(endpoint=endpoint.endpoint)
    response = send(endpoint.endpoint, alert(endpoint.secret))
    event = refused(response, 404, "revoked", endpoint.secret, stored_body=False)
    assert event.endpoint == endpoint.endpoint and response.content == not_found


def test_paused_endpoint_answers_like_an_unknown_one(endpoint, send, prices, not_found):
    services.endpoint_set_active(endpoint=endpoint.endpoint, active=False)
    response = send(endpoint.endpoint, alert(endpoint.secret))
    refused(response, 404, "revoked", endpoint.secret, stored_body=False)
    assert response.content == not_found


def test_rotated_secret_stops_working_at_once(endpoint, send, prices, not_found):
    new = services.endpoint_rotate(endpoint=endpoint.endpoint)
    response = send(endpoint.endpoint, alert(endpoint.secret))
    refused(response, 404, "bad_secret", endpoint.secret, new, stored_body=False)
    assert response.content == not_found
    accepted(send(endpoint.endpoint, alert(new)), endpoint.secret, new)
    assert trades().count() == 1


# --- time -------------------------------------------------------------------------------------------


def iso(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_stale_time(endpoint, send, prices):
    old = iso(timezone.now() - timedelta(seconds=120))
    event = refused(send(endpoint.endpoint, alert(endpoint.secret, time=old)), 422, "stale", endpoint.secret)
    assert "60 s" in event.message


def test_future_time(endpoint, send, prices):
    later = iso(timezone.now() + timedelta(minutes=5))
    refused(send(endpoint.endpoint, alert(endpoint.secret, time=later)), 422, "future", endpoint.secret)


def test_epoch_milliseconds_time_is_accepted(endpoint, send, prices):
    ms = int(timezone.now().timestamp() * 1000)
    accepted(send(endpoint.endpoint, alert(endpoint.secret, time=ms)), endpoint.secret)
    assert trades().count() == 1


# --- duplicates -------------------------------------------------------------------------------------


def test_duplicate_sent_twice(endpoint, send, prices):
    body = alert(endpoint.secret)
    first = accepted(send(endpoint.endpoint, body), endpoint.secret)
    response = send(endpoint.endpoint, body)
    assert response.status_code == 200 and response.json() == {"status": "duplicate", "event": first.pk}
    copy = last_event()
    assert copy.pk != first.pk and copy.outcome == "duplicate" and copy.reason == "duplicate"
    assert str(first.pk) in copy.message and copy.order is None and copy.body["secret"] == "***"
    assert_secret_kept(response, endpoint.secret)
    assert trades().count() == 1 and WebhookEvent.objects.filter(outcome="accepted").count() == 1


def test_duplicate_resent_with_a_moved_price(endpoint, send, prices):
    """TradingView resends the same alert; its {{close}} may differ. Same order id, time, action and symbol."""
    body = alert(endpoint.secret)
    first = accepted(send(endpoint.endpoint, body), endpoint.secret)
    response = send(endpoint.endpoint, {**body, "price": "50123.5", "symbol": "BTC/USDT"})
    assert response.json() == {"status": "duplicate", "event": first.pk}
    assert trades().count() == 1


def test_duplicate_without_order_id_or_time(endpoint, send, prices):
    body = alert(endpoint.secret, order_id=..., time=...)
    first = accepted(send(endpoint.endpoint, body), endpoint.secret)
    assert send(endpoint.endpoint, body).json() == {"status": "duplicate", "event": first.pk}
    assert trades().count() == 1


def post_concurrently(path: str, body: str, copies: int) -> list:
    """``copies`` threads, each with its own test client and database connection, released together."""
    barrier = threading.Barrier(copies)
    answers: list = [None] * copies

    def post(i: int) -> None:
        try:
            client = Client()
            barrier.wait(timeout=30)
            answers[i] = client.post(path, body, content_type="application/json")
        finally:
            connection.close()

    # Each thread runs in a copy of this context, so it sees the pinned prices.
    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(post, i), daemon=True) for i in range(copies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(a is not None for a in answers)
    return answers


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_copies(alice, paper, prices):
    # A rate limit high enough not to matter here (how copies meet the limit: the next test).
    created = services.endpoint_create(user=alice, exchange_account=paper, name="TV", max_alerts_per_minute=600)
    copies = 50
    answers = post_concurrently(created.endpoint.path, json.dumps(alert(created.secret)), copies)
    for answer in answers:
        assert_secret_kept(answer, created.secret)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * copies, statuses
    payloads = [a.json() for a in answers]
    assert sorted(p["status"] for p in payloads) == ["accepted"] + ["duplicate"] * (copies - 1)
    original = WebhookEvent.objects.get(outcome="accepted")
    assert {p["event"] for p in payloads} == {original.pk}
    assert WebhookEvent.objects.filter(outcome="duplicate").count() == copies - 1
    assert WebhookEvent.objects.filter(outcome="rejected").count() == 0
    original.refresh_from_db()
    assert original.status == "done", original.result
    assert trades().count() == 1 and original.order == trades().get()


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_do_not_use_up_the_rate_limit(alice, paper, prices):
    created = services.endpoint_create(user=alice, exchange_account=paper, name="TV", max_alerts_per_minute=5)
    answers = post_concurrently(created.endpoint.path, json.dumps(alert(created.secret)), 50)
    assert sorted(a.json()["status"] for a in answers) == ["accepted"] + ["duplicate"] * 49
    assert trades().count() == 1


# --- the account and the user -----------------------------------------------------------------------


def test_paused_account(endpoint, paper, send, prices):
    paper.enabled = False
    paper.save(update_fields=["enabled"])
    event = refused(send(endpoint.endpoint, alert(endpoint.secret)), 409, "account_paused", endpoint.secret)
    assert "Paper" in event.message


def test_auto_trading_off(alice, endpoint, send, prices):
    alice.auto_trading = False
    alice.save(update_fields=["auto_trading"])
    refused(send(endpoint.endpoint, alert(endpoint.secret)), 409, "auto_trading_off", endpoint.secret)


def test_fifty_x_leverage_and_hundred_percent_size_are_capped(endpoint, send, prices):
    response = send(endpoint.endpoint, alert(endpoint.secret, leverage=50, size_pct=100))
    event = accepted(response, endpoint.secret)
    event.refresh_from_db()
    assert event.status == "done", event.result
    assert trades().count() == 1 and event.order == trades().get()
    assert {"field": "leverage", "action": "clamped", "requested": "50", "applied": "3"} in event.adjustments
    assert {
        "field": "position_size_pct", "action": "clamped", "requested": "100", "applied": "10.00"
    } in event.adjustments  # fmt: skip
    position = Position.objects.get()
    # The profile's 3x and 10 %: 10 % of 10,000 as margin, times 3, at 50,000 (less slippage and rounding).
    assert D("0.059") <= position.amount <= D("0.06"), position.amount
    assert D(990) <= position.margin <= D(1000), position.margin


def test_the_capped_leverage_is_recorded_on_the_position(endpoint, send, prices):
    accepted(send(endpoint.endpoint, alert(endpoint.secret, leverage=50)), endpoint.secret)
    position = Position.objects.get()
    assert position.leverage == 3 and position.liquidation_price is not None


def test_an_amount_worth_the_whole_balance_is_capped(endpoint, send, prices):
    """``size`` in contracts (10 BTC = 500,000 USDT on a 10,000 account): asked as a share, capped to 10 %."""
    event = accepted(send(endpoint.endpoint, alert(endpoint.secret, size="10", leverage="20")), endpoint.secret)
    event.refresh_from_db()
    assert event.status == "done", event.result
    assert any(
        a["field"] == "position_size_pct" and a["action"] == "clamped" and a["applied"] == "10.00"
        for a in event.adjustments
    )
    assert {"field": "leverage", "action": "clamped", "requested": "20", "applied": "3"} in event.adjustments
    assert trades().count() == 1 and Position.objects.get().amount <= D("0.06")


# --- rate limit -------------------------------------------------------------------------------------


def test_burst_above_the_rate_limit(alice, paper, send, prices):
    created = services.endpoint_create(user=alice, exchange_account=paper, name="Burst", max_alerts_per_minute=5)
    if time.time() % 60 > 55:  # the counter is per calendar minute: do not straddle two
        time.sleep(60 - time.time() % 60 + 0.2)
    responses = [send(created.endpoint, alert(created.secret, order_id=f"L{i}")) for i in range(8)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 3
    assert [r.json()["status"] for r in responses] == ["accepted"] * 5 + ["rejected"] * 3
    assert {r.json().get("reason") for r in responses[5:]} == {"rate_limited"}
    for r in responses:
        assert_secret_kept(r, created.secret)
    events = WebhookEvent.objects.filter(endpoint=created.endpoint)
    assert events.filter(outcome="accepted").count() == 5
    assert events.filter(outcome="rejected", reason="rate_limited").count() == 3
    # The first opened the long; the other four asked for the long that was already there.
    assert trades().count() == 1
    assert events.filter(outcome="accepted", status="done").count() == 1
    assert events.filter(outcome="accepted", status="nothing").count() == 4


# --- content types ----------------------------------------------------------------------------------


def test_text_plain_with_a_json_body_is_accepted(endpoint, send, prices):
    response = send(endpoint.endpoint, alert(endpoint.secret), content_type="text/plain; charset=utf-8")
    event = accepted(response, endpoint.secret)
    event.refresh_from_db()
    assert event.status == "done" and trades().count() == 1


def test_text_plain_with_a_text_body_is_refused_with_a_clear_reason(endpoint, send, prices):
    raw = f"buy BTCUSDT secret={endpoint.secret}".encode()
    response = send(endpoint.endpoint, None, raw=raw, content_type="text/plain")
    refused(response, 400, "not_json", endpoint.secret, stored_body=False)
    assert "not JSON" in response.json()["message"] and "Message" in response.json()["message"]


# --- source address ---------------------------------------------------------------------------------


@pytest.fixture
def guarded(alice, paper):
    return services.endpoint_create(user=alice, exchange_account=paper, name="TV only", ip_allowlist=True)


def test_allowlist_refuses_other_addresses(guarded, send, prices):
    event = refused(
        send(guarded.endpoint, alert(guarded.secret)), 403, "ip_not_allowed", guarded.secret, stored_body=False
    )
    assert event.source_ip == "127.0.0.1"


def test_allowlist_ignores_forwarded_for_without_trusted_proxies(guarded, send, prices, settings):
    settings.TRENDY_NUM_PROXIES = 0
    response = send(guarded.endpoint, alert(guarded.secret), HTTP_X_FORWARDED_FOR=TRADINGVIEW_IPS[0])
    event = refused(response, 403, "ip_not_allowed", guarded.secret, stored_body=False)
    assert event.source_ip == "127.0.0.1"


def test_allowlist_reads_forwarded_for_behind_a_trusted_proxy(guarded, send, prices, settings):
    settings.TRENDY_NUM_PROXIES = 1
    response = send(guarded.endpoint, alert(guarded.secret), HTTP_X_FORWARDED_FOR=TRADINGVIEW_IPS[0])
    event = accepted(response, guarded.secret)
    assert event.source_ip == TRADINGVIEW_IPS[0] and trades().count() == 1


def test_allowlist_behind_a_proxy_ignores_a_hop_the_client_wrote(guarded, send, prices, settings):
    settings.TRENDY_NUM_PROXIES = 1
    spoofed = f"{TRADINGVIEW_IPS[0]}, 203.0.113.9"  # the client claims TradingView; the proxy saw 203.0.113.9
    response = send(guarded.endpoint, alert(guarded.secret), HTTP_X_FORWARDED_FOR=spoofed)
    event = refused(response, 403, "ip_not_allowed", guarded.secret, stored_body=False)
    assert event.source_ip == "203.0.113.9"


def test_allowlist_accepts_a_direct_tradingview_address(guarded, send, prices):
    response = send(guarded.endpoint, alert(guarded.secret), REMOTE_ADDR=TRADINGVIEW_IPS[3])
    accepted(response, guarded.secret)
    assert trades().count() == 1


# --- what an alert means ----------------------------------------------------------------------------


def test_null_stop_loss_and_take_profit_are_like_absent(endpoint, send, prices):
    event = accepted(
        send(endpoint.endpoint, alert(endpoint.secret, stop_loss_pct=None, take_profit_pct=None)), endpoint.secret
    )
    event.refresh_from_db()
    assert event.status == "done", event.result
    assert event.body["stop_loss_pct"] is None
    assert {(a["field"], a["action"], a["requested"]) for a in event.adjustments} >= {
        ("stop_loss_pct", "defaulted", "none"),
        ("take_profit_pct", "defaulted", "none"),
    }
    position = Position.objects.get()
    assert position.stop_loss < position.entry_price < position.take_profit
    assert trades().count() == 1


def test_position_flat_wins_over_sell_and_closes_the_long(endpoint, send, prices):
    accepted(send(endpoint.endpoint, alert(endpoint.secret, order_id="Long")), endpoint.secret)
    exit_ = accepted(
        send(endpoint.endpoint, alert(endpoint.secret, action="sell", position="flat", order_id="Exit")),
        endpoint.secret,
    )
    exit_.refresh_from_db()
    assert exit_.status == "done", exit_.result
    assert exit_.order.purpose == Order.Purpose.EXIT and exit_.order.side == "sell"
    assert not Position.objects.filter(status="open").exists()  # flat, not short
    assert trades().count() == 2


def test_reversal_long_to_short(endpoint, send, prices):
    accepted(send(endpoint.endpoint, alert(endpoint.secret, order_id="Long")), endpoint.secret)
    rev = accepted(
        send(endpoint.endpoint, alert(endpoint.secret, action="sell", position="short", order_id="Short")),
        endpoint.secret,
    )
    rev.refresh_from_db()
    assert rev.status == "done", rev.result
    assert Position.objects.get(status="closed").side == "long"
    short = Position.objects.get(status="open")
    assert short.side == "short"
    assert rev.order.purpose == Order.Purpose.ENTRY and rev.order.side == "sell"
    # One entry, then this alert's exit and entry.
    assert list(trades().order_by("id").values_list("purpose", "side")) == [
        ("entry", "buy"),
        ("exit", "sell"),
        ("entry", "sell"),
    ]


def test_close_long_when_flat_does_nothing(endpoint, send, prices):
    event = accepted(
        send(endpoint.endpoint, alert(endpoint.secret, action="close_long", position=...)), endpoint.secret
    )
    event.refresh_from_db()
    assert event.status == "nothing" and event.order is None and event.result
    assert Order.objects.count() == 0


def test_close_short_leaves_a_long_alone(endpoint, send, prices):
    accepted(send(endpoint.endpoint, alert(endpoint.secret, order_id="Long")), endpoint.secret)
    event = accepted(
        send(endpoint.endpoint, alert(endpoint.secret, action="close_short", position=..., order_id="x")),
        endpoint.secret,
    )
    event.refresh_from_db()
    assert event.status == "nothing"
    assert Position.objects.get(status="open").side == "long" and trades().count() == 1


# --- never lost, never twice ------------------------------------------------------------------------


def test_the_sweeper_trades_an_alert_no_task_picked_up(
    endpoint, send, prices, monkeypatch, django_capture_on_commit_callbacks
):
    with monkeypatch.context() as broker_down:
        broker_down.setattr(process_webhook_event, "delay", lambda *args, **kwargs: None)
        event = accepted(send(endpoint.endpoint, alert(endpoint.secret)), endpoint.secret)
    event.refresh_from_db()
    assert event.status == "pending" and Order.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.events_sweep() == 0  # not yet: it may still be in the broker
        assert services.events_sweep(older_than=timedelta(0)) == 1
    event.refresh_from_db()
    assert event.status == "done", event.result
    assert trades().count() == 1 and event.order == trades().get()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.events_sweep(older_than=timedelta(0)) == 0
    assert trades().count() == 1


def test_a_redelivered_task_places_one_order(endpoint, send, prices):
    event = accepted(send(endpoint.endpoint, alert(endpoint.secret)), endpoint.secret)
    event.refresh_from_db()
    assert event.status == "done"
    assert services.event_process(event_id=event.pk) == "skipped"
    assert process_webhook_event(event.pk) == "skipped"
    assert trades().count() == 1


def test_a_task_rerun_after_a_crash_places_one_order(endpoint, send, prices):
    """The worker died after the order and before recording it: the sweeper puts the event back to pending
    and it runs again. The router's client order id and the open position keep it to one order."""
    event = accepted(send(endpoint.endpoint, alert(endpoint.secret)), endpoint.secret)
    WebhookEvent.objects.filter(pk=event.pk).update(status="pending", order=None, result="")
    services.event_process(event_id=event.pk)
    assert trades().count() == 1


def test_a_task_rerun_after_a_crash_keeps_the_events_order(endpoint, send, prices):
    event = accepted(send(endpoint.endpoint, alert(endpoint.secret)), endpoint.secret)
    WebhookEvent.objects.filter(pk=event.pk).update(status="pending")  # the worker died before recording
    services.event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == "done" and event.order == trades().get()


# --- the database down ------------------------------------------------------------------------------


def _down(*args, **kwargs):
    raise OperationalError("could not connect to server: Connection refused")


def test_database_down_at_the_endpoint_lookup(endpoint, send, prices, monkeypatch):
    before = WebhookEvent.objects.count()
    monkeypatch.setattr(hotpath.CompiledSelect, "_fetch", _down)
    response = send(endpoint.endpoint, alert(endpoint.secret))
    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["status"] == "unavailable"
    assert_secret_kept(response, endpoint.secret)
    monkeypatch.undo()
    assert WebhookEvent.objects.count() == before and Order.objects.count() == 0


def test_database_down_when_storing_a_valid_alert(endpoint, send, prices, monkeypatch):
    """Never 2xx for an alert that was not stored: TradingView will not resend a 200."""
    monkeypatch.setattr(WebhookEvent.objects, "create", _down)
    response = send(endpoint.endpoint, alert(endpoint.secret))
    assert response.status_code == 503
    monkeypatch.undo()
    assert WebhookEvent.objects.count() == 0 and Order.objects.count() == 0


def test_cache_down_answers_503(endpoint, prices, monkeypatch):
    import redis
    from django.core.cache import cache

    def refused(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for name in ("get", "get_many", "add", "incr", "set"):
        monkeypatch.setattr(cache, name, refused)
    client = Client(raise_request_exception=False)
    response = client.post(endpoint.endpoint.path, json.dumps(alert(endpoint.secret)), content_type="application/json")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert Order.objects.count() == 0


def test_the_rate_counter_on_a_dead_redis_answers_503_and_keeps_no_accepted_event(endpoint, prices, monkeypatch):
    """A real refused connection (a closed port on 127.0.0.1) under the Redis pipeline of the rate counter."""
    import socket

    import redis

    from webhooks import services

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    monkeypatch.setattr(services, "_redis_client_and_key", lambda key: (dead, key))
    client = Client(raise_request_exception=False)
    response = client.post(endpoint.endpoint.path, json.dumps(alert(endpoint.secret)), content_type="application/json")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert WebhookEvent.objects.filter(outcome="accepted").count() == 0 and Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_broker_down_still_answers_accepted(endpoint, prices, monkeypatch):
    from kombu.exceptions import OperationalError as BrokerDown

    def refused(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(process_webhook_event, "delay", refused)
    client = Client(raise_request_exception=False)
    response = client.post(endpoint.endpoint.path, json.dumps(alert(endpoint.secret)), content_type="application/json")
    event = WebhookEvent.objects.get()
    assert event.outcome == "accepted" and event.status == "pending"  # stored: the sweeper will trade it
    assert response.status_code == 200 and response.json() == {"status": "accepted", "event": event.pk}
