"""One clock: an alert is stamped with the market clock's time when it arrives (``WebhookEvent.market_time``,
from ``trading.clock.now()``), like the orders it places, and every screen shows that time in the trader's
zone; ``received_at`` stays the wall clock (the alert's age, the rate limit, audits). Reading the clock costs
the receiver no query."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from trading import clock
from trading.dashboard import selectors as dashboard
from trading_site import display
from webhooks.models import WebhookEvent

from .conftest import alert

pytestmark = pytest.mark.django_db

REPLAY_AT = datetime(2024, 3, 3, 10, tzinfo=UTC)  # 19:00 in Seoul
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def replay(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the clock's cache is refreshed on commit
        clock.replay_start(start=REPLAY_AT, timeframe="1h")
    return REPLAY_AT


@pytest.fixture
def seoul(alice):
    alice.timezone = "Asia/Seoul"
    alice.save(update_fields=["timezone"])
    return alice


def test_an_alert_on_the_replay_clock_is_stamped_with_market_time(endpoint, send, replay):
    before = timezone.now()
    response = send(endpoint.endpoint, alert(endpoint.secret))
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert event.market_time == REPLAY_AT
    assert event.received_at >= before  # the wall clock, for the alert's age and audits
    # The order it placed is stamped by the same clock.
    assert event.status == "done", event.result
    assert event.order.events.filter(kind="filled").get().time == REPLAY_AT


def test_a_refused_alert_is_stamped_too(endpoint, send, replay):
    response = send(endpoint.endpoint, alert(endpoint.secret, symbol="DOGEUSDT"))
    assert response.status_code == 422
    assert WebhookEvent.objects.get(pk=response.json()["event"]).market_time == REPLAY_AT


def test_the_log_and_the_page_show_market_time_in_my_zone(alice_client, seoul, endpoint, send, replay):
    event = WebhookEvent.objects.get(pk=send(endpoint.endpoint, alert(endpoint.secret)).json()["event"])
    for url in ("/webhooks/events/", "/webhooks/"):
        text = alice_client.get(url).content.decode()
        cell = re.search(rf'<tr id="event-{event.pk}".*?<td class="event-time">(.*?)</td>', text, re.S).group(1)
        assert "3 Mar 2024, 19:00:00 KST" in cell, cell
        assert timezone.localtime(event.received_at).strftime("%H:%M:%S") not in cell
    # The endpoint card's last alert too.
    page = alice_client.get("/webhooks/").content.decode()
    card = re.search(r'<p class="endpoint-activity".*?</p>', page, re.S).group(0)
    assert "1 alert received, the last at" in card and "3 Mar 2024, 19:00:00 KST" in card


def test_the_log_filters_on_market_time(alice_client, endpoint, send, replay):
    send(endpoint.endpoint, alert(endpoint.secret))
    # Typed in the trader's zone (UTC here): the replay's 10:00, not the wall clock's today.
    inside = alice_client.get("/webhooks/events/?from=2024-03-03T09:30&to=2024-03-03T10:30", **HTMX)
    assert inside.content.decode().count('<tr id="event-') == 1
    today = timezone.now().strftime("%Y-%m-%dT00:00")
    assert alice_client.get(f"/webhooks/events/?from={today}", **HTMX).content.decode().count('<tr id="event-') == 0


def test_the_dashboard_feed_shows_alerts_at_market_time(alice_client, seoul, endpoint, send, replay):
    send(endpoint.endpoint, alert(endpoint.secret))
    items = dashboard.activity(user=seoul)
    alerts = [item for item in items if item.kind == "alert"]
    assert len(alerts) == 1 and alerts[0].time == REPLAY_AT
    assert alerts[0].text.startswith("TradingView alert Buy BTC/USDT, then long: Traded. Opened a long: bought ")
    # The fill it placed sits at the same moment: one clock in the feed.
    assert {item.time for item in items} == {REPLAY_AT}
    feed = alice_client.get("/trading/dashboard/?part=activity", **HTMX).content.decode()
    assert "3 Mar 2024, 19:00 KST" in feed and "TradingView alert Buy BTC/USDT" in feed
    with timezone.override("Asia/Seoul"):
        assert display.day(timezone.now()) not in feed  # not the wall clock's day


def test_the_feed_in_korean(alice_client, seoul, endpoint, send, replay):
    send(endpoint.endpoint, alert(endpoint.secret, symbol="DOGEUSDT"))
    alice_client.cookies["django_language"] = "ko"
    feed = alice_client.get("/trading/dashboard/?part=activity", **HTMX).content.decode()
    assert "TradingView 알림 매수 DOGE/USDT, 이후 롱 거부: 모의 거래소에 DOGE/USDT 시장이 없습니다." in feed
    assert "2024년 3월 3일 19:00 KST" in feed


def test_the_clock_read_costs_the_receiver_no_query(endpoint, client, replay, django_assert_max_num_queries):
    """The hot path stays one SELECT and one INSERT on the replay clock (not pinned): the market clock comes
    from the cache, which the first alert warmed."""
    first = alert(endpoint.secret, order_id="warm-up")
    assert client.post(endpoint.endpoint.path, json.dumps(first), content_type="application/json").status_code == 200
    with django_assert_max_num_queries(4) as captured:  # SELECT, SAVEPOINT, INSERT, RELEASE in a test
        response = client.post(endpoint.endpoint.path, json.dumps(alert(endpoint.secret)), "application/json")
    assert response.status_code == 200, response.content
    statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    assert statements.count("SELECT") == 1 and statements.count("INSERT") == 1, statements
    assert WebhookEvent.objects.get(pk=response.json()["event"]).market_time == REPLAY_AT


def test_on_the_live_clock_market_time_is_the_receive_time(endpoint, send):
    response = send(endpoint.endpoint, alert(endpoint.secret, symbol="DOGEUSDT"))  # refused: nothing trades
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert not clock.is_replay() and abs(event.market_time - event.received_at) < timedelta(seconds=5)
