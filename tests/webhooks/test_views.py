"""The Webhooks pages: endpoints (create, rotate, revoke, pause, reveal), the test tool, the activity log and
the setup guide. A secret reaches a page only in the answer to a POST, once; another user's rows are 404s."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from trading.models import Order
from webhooks import services
from webhooks.models import WebhookEndpoint, WebhookEvent

from .conftest import make_event

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def html(response) -> str:
    return response.content.decode()


def create_data(account, **overrides) -> dict:
    data = {
        "name": "My TV",
        "exchange_account": account.pk,
        "bot": "",
        "allowed_symbols": "BTCUSDT, ETH/USDT",
        "max_alerts_per_minute": 20,
        "max_age_seconds": 90,
    }
    data.update(overrides)
    return data


# --- login and the page ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/webhooks/", "/webhooks/events/", "/webhooks/new/fields/"])
def test_pages_need_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_actions_need_a_login(client, endpoint):
    pk = endpoint.endpoint.pk
    for url in (f"/webhooks/{pk}/guide/", "/webhooks/events/1/row/"):
        assert client.get(url).status_code == 302
    for action in ("rotate", "revoke", "active", "reveal", "test"):
        response = client.post(f"/webhooks/{pk}/{action}/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], action
    assert client.post("/webhooks/new/", {}).status_code == 302


def test_the_page_lists_my_endpoints_with_url_and_masked_secret(alice_client, endpoint):
    page = alice_client.get("/webhooks/")
    text = html(page)
    ep = endpoint.endpoint
    assert page.status_code == 200
    assert f'id="endpoint-{ep.pk}"' in text
    assert f"http://testserver/webhooks/tv/{ep.token}/" in text
    assert services.masked_secret(ep) in text and endpoint.secret not in text
    assert f'data-copy="url-{ep.pk}"' in text and "/static/js/behaviours.js" in text  # the copy buttons' script
    assert '<span translate="no">Paper</span>' in text and "paper</span>" in text and "active</span>" in text
    assert f'<span translate="no">{ep.name}</span>' in text and "No alert has arrived yet." in text
    assert 'hx-post="/webhooks/new/"' in text and 'name="allowed_symbols"' in text
    assert "no-store" in page.get("Cache-Control", "")


def test_the_nav_links_to_webhooks(alice_client):
    text = html(alice_client.get("/trading/bots/"))
    assert '<a href="/webhooks/"' in text and ">Webhooks</a>" in text


def test_i_do_not_see_bobs_endpoints(alice_client, endpoint, bob):
    from accounts.models import ExchangeAccount

    bob_paper = ExchangeAccount.objects.create(user=bob, exchange="paper", label="Bob paper")
    bobs = services.endpoint_create(user=bob, exchange_account=bob_paper, name="Bob hook")
    text = html(alice_client.get("/webhooks/"))
    assert "Bob hook" not in text and bobs.endpoint.token not in text and "Bob paper" not in text


# --- create -----------------------------------------------------------------------------------------------------


def test_create_shows_the_secret_once(alice_client, paper):
    response = alice_client.post("/webhooks/new/", create_data(paper), **HTMX)
    assert response.status_code == 200, html(response)
    ep = WebhookEndpoint.objects.get(user=paper.user)
    secret = services.endpoint_secret(ep)
    text = html(response)
    assert text.count(secret) == 1 and 'class="secret-once"' in text
    assert text.startswith('\n<div id="webhook-endpoints">') or '<div id="webhook-endpoints">' in text[:80]
    assert "<html" not in text
    assert ep.name == "My TV" and ep.allowed_symbols == ["BTC/USDT", "ETH/USDT"]
    assert ep.max_alerts_per_minute == 20 and ep.max_age_seconds == 90 and not ep.live
    assert "no-store" in response.get("Cache-Control", "")
    # Never again on a GET.
    assert secret not in html(alice_client.get("/webhooks/"))
    assert secret not in html(alice_client.get(f"/webhooks/{ep.pk}/guide/"))


def test_create_without_htmx_renders_the_page_with_the_secret(alice_client, paper):
    response = alice_client.post("/webhooks/new/", create_data(paper))
    ep = WebhookEndpoint.objects.get(user=paper.user)
    text = html(response)
    assert response.status_code == 200 and "<html" in text
    assert text.count(services.endpoint_secret(ep)) == 1


def test_create_refuses_a_bad_symbol_and_live_on_paper(alice_client, paper):
    response = alice_client.post("/webhooks/new/", create_data(paper, allowed_symbols="not a symbol!"), **HTMX)
    assert response.status_code == 400 and "is not a market symbol" in html(response)
    response = alice_client.post("/webhooks/new/", create_data(paper, live="on"), **HTMX)
    assert response.status_code == 400 and "A paper account cannot trade live." in html(response)
    assert not WebhookEndpoint.objects.exists()


def test_create_refuses_another_users_account_or_bot(alice_client, paper, bob):
    from accounts.models import ExchangeAccount
    from trading.models import Bot

    bob_paper = ExchangeAccount.objects.create(user=bob, exchange="paper", label="Bob paper")
    response = alice_client.post("/webhooks/new/", create_data(bob_paper), **HTMX)
    assert response.status_code == 400
    bob_bot = Bot.objects.create(
        user=bob, exchange_account=bob_paper, name="b", strategy="ema_crossover", symbol="BTC/USDT", timeframe="1h"
    )
    response = alice_client.post("/webhooks/new/", create_data(paper, bot=bob_bot.pk), **HTMX)
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_create_with_a_bot(alice_client, paper, alice_bot):
    response = alice_client.post("/webhooks/new/", create_data(paper, bot=alice_bot.pk), **HTMX)
    assert response.status_code == 200
    assert WebhookEndpoint.objects.get().bot == alice_bot
    assert "Alice EMA" in html(response)


def test_account_fields_offer_that_accounts_bots_and_live_only_for_a_real_account(
    alice_client, paper, real_account, alice_bot
):
    text = html(alice_client.get(f"/webhooks/new/fields/?exchange_account={paper.pk}", **HTMX))
    assert f'<option value="{alice_bot.pk}">' in text and 'name="live"' not in text
    text = html(alice_client.get(f"/webhooks/new/fields/?exchange_account={real_account.pk}", **HTMX))
    assert f'<option value="{alice_bot.pk}">' not in text
    assert 'name="live"' in text and "real orders with real money" in text


def test_create_live_on_a_real_account(alice_client, real_account):
    response = alice_client.post("/webhooks/new/", create_data(real_account, live="on", allowed_symbols=""), **HTMX)
    assert response.status_code == 200, html(response)
    assert WebhookEndpoint.objects.get().live is True
    assert "live</span>" in html(response)


# --- rotate, revoke, pause ----------------------------------------------------------------------------------------


def test_rotate_shows_the_new_secret_once(alice_client, endpoint):
    ep = endpoint.endpoint
    response = alice_client.post(f"/webhooks/{ep.pk}/rotate/", **HTMX)
    ep.refresh_from_db()
    new = services.endpoint_secret(ep)
    text = html(response)
    assert response.status_code == 200 and new != endpoint.secret
    assert text.count(new) == 1 and endpoint.secret not in text and "The old one no longer works" in text
    assert text.lstrip().startswith(f'<article class="card endpoint" id="endpoint-{ep.pk}">')
    assert new not in html(alice_client.get("/webhooks/"))


def test_rotate_and_revoke_ask_for_confirmation(alice_client, endpoint):
    text = html(alice_client.get("/webhooks/"))
    assert text.count("hx-confirm=") >= 2 and "Make a new secret?" in text and "Revoke this endpoint for good?" in text


def test_revoke(alice_client, endpoint, send):
    ep = endpoint.endpoint
    response = alice_client.post(f"/webhooks/{ep.pk}/revoke/", **HTMX)
    ep.refresh_from_db()
    assert response.status_code == 200 and ep.revoked_at is not None and not ep.active
    text = html(response)
    assert "revoked</span>" in text and "/rotate/" not in text and ep.token not in text
    assert alice_client.post(f"/webhooks/{ep.pk}/rotate/", **HTMX).status_code == 400


def test_revoke_without_htmx_redirects(alice_client, endpoint):
    response = alice_client.post(f"/webhooks/{endpoint.endpoint.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/webhooks/"


def test_pause_and_resume(alice_client, endpoint):
    ep = endpoint.endpoint
    text = html(alice_client.post(f"/webhooks/{ep.pk}/active/", **HTMX))
    ep.refresh_from_db()
    assert not ep.active and "paused</span>" in text and "Resume" in text
    alice_client.post(f"/webhooks/{ep.pk}/active/", {"active": "on"}, **HTMX)
    ep.refresh_from_db()
    assert ep.active


# --- reveal -------------------------------------------------------------------------------------------------------


def test_reveal_with_the_right_password(alice_client, endpoint, password):
    ep = endpoint.endpoint
    response = alice_client.post(f"/webhooks/{ep.pk}/reveal/", {"password": password}, **HTMX)
    assert response.status_code == 200 and html(response).count(endpoint.secret) == 1
    assert "no-store" in response.get("Cache-Control", "")


def test_reveal_with_a_wrong_password_is_400_without_the_secret(alice_client, endpoint):
    response = alice_client.post(f"/webhooks/{endpoint.endpoint.pk}/reveal/", {"password": "nope"}, **HTMX)
    text = html(response)
    assert response.status_code == 400 and "The password is wrong." in text and endpoint.secret not in text


def test_reveal_is_never_a_get(alice_client, endpoint):
    assert alice_client.get(f"/webhooks/{endpoint.endpoint.pk}/reveal/").status_code == 405


def test_reveal_attempts_are_limited(alice_client, endpoint, password):
    url = f"/webhooks/{endpoint.endpoint.pk}/reveal/"
    for _ in range(5):
        assert alice_client.post(url, {"password": "wrong"}, **HTMX).status_code == 400
    response = alice_client.post(url, {"password": password}, **HTMX)
    assert "Too many wrong passwords" in html(response) and endpoint.secret not in html(response)
    assert alice_client.post(url, {"password": password}).status_code == 429


def test_reveal_into_the_guide(alice_client, endpoint, password):
    ep = endpoint.endpoint
    response = alice_client.post(f"/webhooks/{ep.pk}/reveal/", {"password": password, "view": "guide"}, **HTMX)
    text = html(response)
    assert (
        response.status_code == 200
        and f"&quot;secret&quot;: &quot;{endpoint.secret}&quot;" in text
        and "YOUR_SECRET" not in text
    )
    wrong = alice_client.post(f"/webhooks/{ep.pk}/reveal/", {"password": "x", "view": "guide"}, **HTMX)
    assert wrong.status_code == 400 and endpoint.secret not in html(wrong) and "YOUR_SECRET" in html(wrong)


def test_a_revoked_endpoints_secret_is_not_revealed(alice_client, endpoint, password):
    services.endpoint_revoke(endpoint=endpoint.endpoint)
    response = alice_client.post(f"/webhooks/{endpoint.endpoint.pk}/reveal/", {"password": password}, **HTMX)
    assert response.status_code == 400 and endpoint.secret not in html(response)


# --- another user's endpoint: 404 everywhere --------------------------------------------------------------------


def test_bob_cannot_touch_alices_endpoint(bob_client, endpoint, password, paper):
    ep = endpoint.endpoint
    event = make_event(ep)
    assert bob_client.get(f"/webhooks/{ep.pk}/guide/").status_code == 404
    assert bob_client.get(f"/webhooks/events/{event.pk}/row/").status_code == 404
    for action, data in (
        ("reveal", {"password": password}),
        ("rotate", {}),
        ("revoke", {}),
        ("active", {}),
        ("test", {"action": "buy", "symbol": "BTCUSDT"}),
    ):
        response = bob_client.post(f"/webhooks/{ep.pk}/{action}/", data, **HTMX)
        assert response.status_code == 404, action
        assert endpoint.secret not in html(response)
    ep.refresh_from_db()
    assert ep.active and ep.revoked_at is None and services.endpoint_secret(ep) == endpoint.secret
    assert not WebhookEvent.objects.filter(is_test=True).exists()
    text = html(bob_client.get("/webhooks/events/"))
    assert f'id="event-{event.pk}"' not in text and "No event matches." in text
    assert f'id="event-{event.pk}"' not in html(bob_client.get(f"/webhooks/events/?endpoint={ep.pk}"))
    # Bob's create form does not offer Alice's account.
    bobs_page = html(bob_client.get("/webhooks/"))
    assert '<span translate="no">Paper</span>' not in bobs_page and f'<option value="{paper.pk}"' not in bobs_page
    assert bob_client.get(f"/webhooks/new/fields/?exchange_account={paper.pk}").content.count(b"<option") == 1


# --- the test tool -----------------------------------------------------------------------------------------------


def test_the_test_tool_sends_through_the_receiver_and_fills_on_paper(
    alice_client, endpoint, prices, django_capture_on_commit_callbacks
):
    ep = endpoint.endpoint
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            f"/webhooks/{ep.pk}/test/", {"action": "buy", "symbol": "BTCUSDT", "size_pct": "5"}, **HTMX
        )
    text = html(response)
    assert response.status_code == 200, text
    event = WebhookEvent.objects.get(endpoint=ep)
    assert event.is_test and event.outcome == "accepted" and event.source_ip == "127.0.0.1"
    assert event.body["secret"] == "***" and event.body["size_pct"] == "5"
    assert event.status == "done", event.result
    assert event.order.status == Order.Status.FILLED and event.order.source == Order.Source.WEBHOOK
    assert "HTTP 200" in text and f'id="event-{event.pk}"' in text and ">test</span>" in text
    assert f"Event {event.pk} in the activity log" in text and endpoint.secret not in text
    # The answer came before the task ran (on commit): the row shows it waiting, and polls until it is done.
    assert "Waiting to be traded" in text and f'hx-get="/webhooks/events/{event.pk}/row/"' in text
    row = html(alice_client.get(f"/webhooks/events/{event.pk}/row/", **HTMX))
    assert "hx-trigger" not in row and "Traded" in row and f"order {event.order.pk}: filled" in row.lower()


def test_a_test_alert_updates_the_page_without_a_reload(alice_client, endpoint, prices):
    """The answer swaps in, out of band, the page's recent activity (with the new event, polling until traded)
    and the endpoint card's count and last alert; the test result's own row has its own id and polls too."""
    ep = endpoint.endpoint
    page = html(alice_client.get("/webhooks/"))
    assert 'id="recent-events"' in page and f'id="endpoint-activity-{ep.pk}"' in page
    assert "No alert has arrived yet." in page
    response = alice_client.post(f"/webhooks/{ep.pk}/test/", {"action": "buy", "symbol": "BTCUSDT"}, **HTMX)
    text = html(response)
    event = WebhookEvent.objects.get(endpoint=ep)
    recent = re.search(r'<section class="card" id="recent-events" hx-swap-oob="true">.*?</section>', text, re.S)
    assert recent, text
    row = re.search(rf'<tr id="event-{event.pk}"[^>]*>', recent.group(0)).group(0)
    assert f'hx-get="/webhooks/events/{event.pk}/row/"' in row and 'hx-trigger="every 2s"' in row
    card = re.search(
        rf'<p class="endpoint-activity" id="endpoint-activity-{ep.pk}" hx-swap-oob="true">.*?</p>', text, re.S
    )
    assert card and "1 alert received, the last at" in card.group(0) and "Accepted" in card.group(0)
    own = re.search(rf'<tr id="test-event-{event.pk}"[^>]*>', text).group(0)
    assert f'hx-get="/webhooks/events/{event.pk}/row/?in=test"' in own
    assert text.count(f'id="event-{event.pk}"') == 1 and text.count(f'id="test-event-{event.pk}"') == 1
    # The test row's poll answers with the test row's id; the recent row's with its own.
    polled = html(alice_client.get(f"/webhooks/events/{event.pk}/row/?in=test", **HTMX))
    assert polled.lstrip().startswith(f'<tr id="test-event-{event.pk}"')
    assert (
        html(alice_client.get(f"/webhooks/events/{event.pk}/row/", **HTMX))
        .lstrip()
        .startswith(f'<tr id="event-{event.pk}"')
    )
    # A second test: two alerts.
    text = html(alice_client.post(f"/webhooks/{ep.pk}/test/", {"action": "close", "symbol": "BTCUSDT"}, **HTMX))
    assert "2 alerts received, the last at" in text and text.count('<tr id="event-') == 2


def test_the_test_tool_in_korean(alice_client, endpoint, prices):
    alice_client.cookies["django_language"] = "ko"
    response = alice_client.post(
        f"/webhooks/{endpoint.endpoint.pk}/test/", {"action": "buy", "symbol": "DOGEUSDT"}, **HTMX
    )
    text = html(response)
    assert "수신기 응답 HTTP 422:" in text
    assert "거부됨" in text and '모의 거래소에 <span translate="no">DOGE/USDT</span> 시장이 없습니다.' in text
    assert "알림 1건 수신, 마지막 알림" in text


def test_the_test_tool_shows_a_refusal(alice_client, endpoint, prices):
    response = alice_client.post(
        f"/webhooks/{endpoint.endpoint.pk}/test/", {"action": "buy", "symbol": "DOGEUSDT"}, **HTMX
    )
    text = html(response)
    assert response.status_code == 200 and "HTTP 422" in text and "unknown_symbol" not in text
    assert 'The paper exchange does not list <span translate="no">DOGE/USDT</span>.' in text
    event = WebhookEvent.objects.get()
    assert event.is_test and event.outcome == "rejected" and event.reason == "unknown_symbol"


def test_the_test_tool_refuses_bad_input_and_a_revoked_endpoint(alice_client, endpoint):
    url = f"/webhooks/{endpoint.endpoint.pk}/test/"
    assert alice_client.post(url, {"action": "moon", "symbol": "BTCUSDT"}, **HTMX).status_code == 400
    services.endpoint_revoke(endpoint=endpoint.endpoint)
    response = alice_client.post(url, {"action": "buy", "symbol": "BTCUSDT"}, **HTMX)
    assert response.status_code == 400 and "revoked" in html(response)
    assert not WebhookEvent.objects.exists()


def test_a_live_test_needs_the_confirmation(alice_client, live_endpoint):
    ep = live_endpoint.endpoint
    page = html(alice_client.get("/webhooks/"))
    assert 'name="confirm_live"' in page and "I understand this places a real order" in page
    response = alice_client.post(f"/webhooks/{ep.pk}/test/", {"action": "buy", "symbol": "BTCUSDT"}, **HTMX)
    assert response.status_code == 400 and "I understand this places a real order" in html(response)
    assert not WebhookEvent.objects.exists() and not Order.objects.exists()
    # Confirmed: accepted and waiting for the worker (the on-commit task is not run here), its row polling.
    response = alice_client.post(
        f"/webhooks/{ep.pk}/test/", {"action": "buy", "symbol": "BTCUSDT", "confirm_live": "on"}, **HTMX
    )
    event = WebhookEvent.objects.get()
    assert response.status_code == 200 and event.is_test and event.outcome == "accepted" and event.status == "pending"
    assert f'hx-get="/webhooks/events/{event.pk}/row/"' in html(response) and 'hx-trigger="every 2s"' in html(response)


def test_the_test_tool_without_htmx(alice_client, endpoint, prices):
    response = alice_client.post(f"/webhooks/{endpoint.endpoint.pk}/test/", {"action": "buy", "symbol": "BTCUSDT"})
    assert response.status_code == 200 and "<html" in html(response) and "HTTP 200" in html(response)


# --- the activity log -------------------------------------------------------------------------------------------


@pytest.fixture
def events(endpoint):
    ep = endpoint.endpoint
    base = datetime(2024, 3, 1, 12, tzinfo=UTC)
    return {
        "stale": make_event(ep, received_at=base),
        "eth": make_event(
            ep,
            received_at=base + timedelta(hours=1),
            symbol="ETH/USDT",
            reason="unknown_symbol",
            details={"symbol": "ETH/USDT", "allowed": ["BTC/USDT"]},
        ),
        "accepted": make_event(
            ep, received_at=base + timedelta(hours=2), outcome="accepted", reason="", status="done", result="buy 0.02"
        ),
        "duplicate": make_event(
            ep,
            received_at=base + timedelta(hours=3),
            outcome="duplicate",
            reason="duplicate",
            details={"original": 7},
        ),
    }


def shown(text: str, events: dict) -> set[str]:
    return {name for name, event in events.items() if f'id="event-{event.pk}"' in text}


def test_the_log_lists_every_event_with_its_reason(alice_client, events):
    text = html(alice_client.get("/webhooks/events/"))
    assert shown(text, events) == set(events)
    assert "The alert is 75 s old; this endpoint accepts alerts up to 60 s old." in text
    assert "is not among this endpoint&#x27;s allowed markets" in text and "Traded." in text
    assert "The same alert as event 7: it was not traded again." in text
    assert "<code>stale</code>" not in text and "unknown_symbol" not in text and "Too old." not in text
    assert 'class="badge badge-down">Rejected' in text and 'class="badge badge-ok">Accepted' in text


def test_the_log_filters(alice_client, events):
    def get(query: str) -> set[str]:
        return shown(html(alice_client.get(f"/webhooks/events/?{query}", **HTMX)), events)

    assert get("outcome=rejected") == {"stale", "eth"}
    assert get("outcome=accepted") == {"accepted"}
    assert get("symbol=BINANCE:ETHUSDT") == {"eth"}
    assert get("symbol=eth") == {"eth"}
    assert get("from=2024-03-01T13:30&to=2024-03-01T14:30") == {"accepted"}
    assert get(f"endpoint={events['stale'].endpoint_id}") == set(events)
    assert get("outcome=nope") == set(events)  # an invalid filter is ignored (and said)


def test_the_log_is_an_htmx_partial_and_a_page(alice_client, events):
    partial = html(alice_client.get("/webhooks/events/?outcome=rejected", **HTMX))
    assert partial.lstrip().startswith('<div id="events-body">') and "<html" not in partial
    page = html(alice_client.get("/webhooks/events/?outcome=rejected"))
    assert "<html" in page and 'hx-get="/webhooks/events/"' in page and 'name="from"' in page


def test_the_log_shows_times_in_my_time_zone(alice_client, alice, events):
    alice.timezone = "Asia/Seoul"
    alice.save(update_fields=["timezone"])
    # 12:00 UTC is 21:00 in Seoul: the project's one date style, with the seconds and the zone named.
    assert "1 Mar 2024, 21:00:00 KST" in html(alice_client.get("/webhooks/events/"))


def test_the_log_pages_by_fifty(alice_client, endpoint):
    for _ in range(55):
        make_event(endpoint.endpoint)
    first = html(alice_client.get("/webhooks/events/?outcome=rejected"))
    assert first.count('<tr id="event-') == 50 and "Page 1 of 2 (55 events)" in first
    assert 'href="?outcome=rejected&amp;page=2"' in first
    second = html(alice_client.get("/webhooks/events/?outcome=rejected&page=2", **HTMX))
    assert second.count('<tr id="event-') == 5


def test_the_page_shows_recent_activity(alice_client, events):
    text = html(alice_client.get("/webhooks/"))
    assert shown(text, events) == set(events) and "The whole activity log" in text


# --- the setup guide ------------------------------------------------------------------------------------------------


def test_the_guide(alice_client, endpoint):
    ep = endpoint.endpoint
    response = alice_client.get(f"/webhooks/{ep.pk}/guide/")
    text = html(response)
    assert response.status_code == 200
    assert f"http://testserver/webhooks/tv/{ep.token}/" in text
    assert "&quot;secret&quot;: &quot;YOUR_SECRET&quot;" in text and endpoint.secret not in text
    for placeholder in (
        "{{strategy.order.action}}",
        "{{ticker}}",
        "{{close}}",
        "{{strategy.market_position}}",
        "{{strategy.order.contracts}}",
        "{{strategy.order.id}}",
        "{{timenow}}",
        "{{strategy.order.alert_message}}",
    ):
        assert placeholder in text, placeholder
    assert "two-factor authentication" in text and "paid TradingView plan" in text
    assert "ports 80 and 443" in text and "3 seconds" in text
    assert 'data-copy="guide-json-' in text
    assert "Download the Pine Script" not in text
    # The alert's fields by their JSON names as code, each explained in words; the page has its own title.
    assert "<title>Setup guide · TV · Trendy</title>" in text
    for field in ("secret", "action", "symbol", "size_pct", "leverage", "stop_loss_pct", "take_profit_pct", "bot"):
        assert f"<td><code>{field}</code></td>" in text, field
    assert "The stop loss, in percent from the entry price." in text
    assert "Optional fields: size_pct" not in text


def test_the_guide_in_korean_explains_the_fields_in_words(alice_client, endpoint):
    alice_client.cookies["django_language"] = "ko"
    response = alice_client.get(f"/webhooks/{endpoint.endpoint.pk}/guide/")
    text = html(response)
    assert response.status_code == 200
    assert "<title>설정 안내 · TV · Trendy</title>" in text
    assert '<td><code>stop_loss_pct</code></td><td class="full">손절. 진입가 대비 퍼센트로 씁니다.</td>' in text
    assert "<code>{{strategy.order.action}}</code>" in text and "<code>buy</code> 또는 <code>sell</code>" in text


def test_the_guide_links_the_bots_pine_script(alice_client, alice, paper, alice_bot):
    created = services.endpoint_create(user=alice, exchange_account=paper, name="Bot hook", bot=alice_bot)
    text = html(alice_client.get(f"/webhooks/{created.endpoint.pk}/guide/"))
    assert 'href="/strategies/ema_crossover/pine/?fast=9"' in text and "Download the Pine Script" in text
    assert alice_client.get("/strategies/ema_crossover/pine/?fast=9").status_code == 200
