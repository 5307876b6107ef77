"""The webhook screens say what happened to an alert in sentences, in English and Korean: every refusal the
receiver stores (made here through the real receiver, so the code and its figures are the ones it stores),
every adjustment of the risk envelope, what an accepted alert became, and the dashboard feed's line. No raw
code (``stop_loss_pct``, ``unknown_symbol``) outside ``<code>``; a Korean sentence has no English words but
proper names and the alert's own text."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone, translation

from trading.models import Order
from webhooks import labels, services
from webhooks.models import WebhookEvent

from .conftest import alert, make_event

pytestmark = pytest.mark.django_db

# What a Korean sentence may keep in Latin letters: proper names and units.
PROPER = {
    "TradingView",
    "Trendy",
    "JSON",
    "UTF",
    "UTC",
    "KB",
    "URL",
    "API",
    "BTC",
    "USDT",
    "BTCUSDT",
    "ETH",
    "DOGE",
    "KST",
}


def korean_is_complete(html: str) -> None:
    """Nothing English left once the code samples and the alert's own text are taken out."""
    text = re.sub(r"<code>.*?</code>|<span translate=\"no\">.*?</span>|<q[^>]*>.*?</q>", " ", str(html))
    words = set(re.findall(r"[A-Za-z][A-Za-z_]+", text)) - PROPER
    assert not words, (words, html)
    assert re.search(r"[가-힣]", text), html


def received(endpoint, body=None, *, raw: bytes | None = None, **kwargs) -> WebhookEvent:
    data = raw if raw is not None else json.dumps(body).encode()
    answer = services.alert_receive(token=endpoint.endpoint.token, body=data, remote_addr="203.0.113.9", **kwargs)
    return WebhookEvent.objects.get(pk=answer.event_id)


def both(event) -> tuple[str, str]:
    """The page's sentence (HTML: entities read back, tags kept) in English and in Korean."""
    english = unescape(str(labels.reason_sentence(event)))
    with translation.override("ko"):
        korean = unescape(str(labels.reason_sentence(event)))
    return english, korean


SENT = timezone.now().replace(microsecond=0)

# (how to make the refusal, its code, the English sentence on the page, the Korean one)
REFUSALS = [
    (
        lambda ep, s: received(ep, raw=b"hello"),
        "not_json",
        "The message is not JSON. In TradingView, put Trendy's JSON in the alert's Message box: a "
        "plain-text message cannot be traded.",
        "메시지가 JSON이 아닙니다. TradingView 알림의 메시지 칸에 Trendy JSON을 넣으세요. 일반 텍스트 메시지로는 "
        "거래할 수 없습니다.",
    ),
    (lambda ep, s: received(ep, raw=b"  "), "empty", "The message is empty", "메시지가 비어 있습니다."),
    (lambda ep, s: received(ep, raw=b"[1]"), "not_object", "must be an object in braces", "중괄호로 된 객체"),
    (lambda ep, s: received(ep, raw=b"\xff\xfe"), "encoding", "The message is not UTF-8 text.", "UTF-8 텍스트가"),
    (
        lambda ep, s: received(ep, raw=b"x" * (17 * 1024)),
        "too_large",
        "The message is larger than 16 KB.",
        "메시지가 16 KB보다 큽니다.",
    ),
    (
        lambda ep, s: received(ep, alert("")),
        "missing_secret",
        "The message has no secret.",
        "메시지에 시크릿이 없습니다.",
    ),
    (
        lambda ep, s: received(ep, alert("whs_wrong")),
        "bad_secret",
        "The secret is wrong: put the endpoint's current secret in the alert's message.",
        "시크릿이 틀렸습니다.",
    ),
    (
        lambda ep, s: received(ep, alert(s, symbol=...)),
        "missing",
        "The symbol (<code>symbol</code>) is missing: it is required.",
        "심볼(<code>symbol</code>) 값이 없습니다. 꼭 필요한 값입니다.",
    ),
    (
        lambda ep, s: received(ep, alert(s, size_pct="lots")),
        "bad_type",
        "The size in percent of the balance (<code>size_pct</code>) must be a number.",
        "잔고 대비 비율(<code>size_pct</code>) 값은 숫자여야 합니다.",
    ),
    (
        lambda ep, s: received(ep, alert(s, leverage="-2")),
        "bad_value",
        "The leverage (<code>leverage</code>) must be above 0.",
        "레버리지(<code>leverage</code>) 값은 0보다 커야 합니다.",
    ),
    (
        lambda ep, s: received(ep, alert(s, stop_loss_pct="1e-40")),
        "bad_value",
        "The stop loss (<code>stop_loss_pct</code>) is out of range.",
        "손절(<code>stop_loss_pct</code>) 값이 허용 범위를 벗어났습니다.",
    ),
    (
        lambda ep, s: received(ep, alert(s, symbol="NOT A SYMBOL")),
        "bad_symbol",
        '<span translate="no">NOT A SYMBOL</span> is not a market symbol. Write it as BTCUSDT or BTC/USDT.',
        '<span translate="no">NOT A SYMBOL</span>은(는) 마켓 심볼이 아닙니다.',
    ),
    (
        lambda ep, s: received(ep, alert(s, symbol="BTCXYZ")),
        "bad_symbol",
        "the quote currency is not recognised",
        "기준 통화를 알 수 없습니다",
    ),
    (
        lambda ep, s: received(ep, alert(s, action="moon")),
        "bad_action",
        'The action <span translate="no">moon</span> is unknown. Use one of: <code>buy</code>, <code>sell</code>, '
        "<code>long</code>, <code>short</code>, <code>close</code>, <code>close_long</code>, <code>close_short</code>.",
        '알 수 없는 동작입니다: <span translate="no">moon</span>. 다음 중 하나를 쓰세요: <code>buy</code>',
    ),
    (
        lambda ep, s: received(ep, alert(s, position="sideways")),
        "bad_position",
        'The position <span translate="no">sideways</span> is unknown. Use one of: <code>long</code>, '
        "<code>short</code>, <code>flat</code>.",
        "알 수 없는 포지션입니다",
    ),
    (
        lambda ep, s: received(ep, alert(s, time="yesterday")),
        "bad_time",
        "The time (<code>time</code>) cannot be read. Use TradingView's <code>{{timenow}}</code>",
        "시간(<code>time</code>) 값을 읽을 수 없습니다.",
    ),
    (
        lambda ep, s: received(ep, alert(s, time=f"{SENT:%Y-%m-%dT%H:%M:%SZ}"), now=SENT + timedelta(seconds=75)),
        "stale",
        "The alert is 75 s old; this endpoint accepts alerts up to 60 s old.",
        "알림이 75초 지났습니다. 이 엔드포인트는 60초 이내의 알림만 받습니다.",
    ),
    (
        lambda ep, s: received(ep, alert(s, time=f"{SENT:%Y-%m-%dT%H:%M:%SZ}"), now=SENT - timedelta(seconds=120)),
        "future",
        "The alert's time (<code>time</code>) is 120 s in the future: check the clock that sent it.",
        "알림 시간(<code>time</code>)이 120초 뒤의 미래입니다. 알림을 보낸 쪽의 시계를 확인하세요.",
    ),
    (
        lambda ep, s: received(ep, alert(s, symbol="DOGEUSDT")),
        "unknown_symbol",
        'The paper exchange does not list <span translate="no">DOGE/USDT</span>.',
        "모의 거래소에",
    ),
    (
        lambda ep, s: received(ep, alert(s, bot="999")),
        "unknown_bot",
        "There is no bot 999 on this endpoint's exchange account.",
        "이 엔드포인트의 거래소 계정에 999번 봇이 없습니다.",
    ),
]


@pytest.mark.parametrize(("make", "code", "english", "korean"), REFUSALS, ids=[r[1] for r in REFUSALS])
def test_every_refusal_reads_as_a_sentence(endpoint, prices, make, code, english, korean):
    event = make(endpoint, endpoint.secret)
    assert event.outcome == "rejected" and event.reason == code, (event.reason, event.message)
    en, ko = both(event)
    assert english in en, en
    assert korean in ko, ko
    if "_" in code:
        assert code not in re.sub(r"<code>.*?</code>", "", en)  # no raw code outside <code>
    korean_is_complete(ko)
    # The feed's plain text: no HTML, no code.
    plain = labels.reason_sentence(event, html=False)
    assert "<" not in plain and not re.search(r"\b[a-z]+_[a-z]+\b", plain), plain


def test_an_alert_refused_before_it_was_read_is_named_by_its_message(endpoint, prices):
    event = received(endpoint, alert(endpoint.secret, size_pct="lots"))
    assert event.reason == "bad_type" and not event.action and not event.symbol
    assert labels.alert_label(event) == 'Buy <span translate="no">BINANCE:BTCUSDT</span>, then long'
    with translation.override("ko"):
        assert labels.alert_label(event, html=False) == "매수 BINANCE:BTCUSDT, 이후 롱"
    assert labels.alert_label(received(endpoint, raw=b"hello")) == "–"


def test_refusals_that_need_the_endpoints_state(alice, endpoint, paper, prices):
    ep = endpoint.endpoint
    cases = []
    sent = f"{timezone.now():%Y-%m-%dT%H:%M:%SZ}"
    ep.allowed_symbols = ["BTC/USDT"]
    ep.save()
    cases.append((received(endpoint, alert(endpoint.secret, symbol="ETHUSDT", order_id="1")), "allowed markets"))
    ep.allowed_symbols, ep.max_alerts_per_minute = [], 1
    ep.save()
    received(endpoint, alert(endpoint.secret, order_id="2", time=sent))
    cases.append((received(endpoint, alert(endpoint.secret, order_id="3")), "More than 1 alerts in a minute"))
    dup = received(endpoint, alert(endpoint.secret, order_id="2", time=sent))
    assert dup.outcome == "duplicate"
    cases.append((dup, "The same alert as event"))
    ep.max_alerts_per_minute, ep.ip_allowlist = 30, True
    ep.save()
    cases.append(
        (
            received(endpoint, alert(endpoint.secret, order_id="4")),
            'The sender <span translate="no">203.0.113.9</span> is not one of',
        )
    )
    ep.ip_allowlist = False
    ep.save()
    paper.enabled = False
    paper.save()
    cases.append((received(endpoint, alert(endpoint.secret, order_id="5")), 'account <span translate="no">Paper'))
    paper.enabled = True
    paper.save()
    alice.auto_trading = False
    alice.save()
    cases.append((received(endpoint, alert(endpoint.secret, order_id="6")), "Auto-trading is off"))
    alice.auto_trading = True
    alice.save()
    ep.active = False
    ep.save()
    cases.append((received(endpoint, alert(endpoint.secret, order_id="7")), "revoked or paused"))
    for event, english in cases:
        en, ko = both(event)
        assert english in en, (event.reason, en)
        korean_is_complete(ko)


def test_a_real_account_endpoint_that_is_not_live(alice, real_account, prices):
    created = services.endpoint_create(user=alice, exchange_account=real_account, name="Real")
    answer = services.alert_receive(
        token=created.endpoint.token, body=json.dumps(alert(created.secret)).encode(), remote_addr="127.0.0.1"
    )
    event = WebhookEvent.objects.get(pk=answer.event_id)
    assert event.reason == "paper_only"
    en, ko = both(event)
    assert "This endpoint may not trade live" in en
    assert ko == "이 엔드포인트는 실거래를 할 수 없습니다. 실거래를 켜거나 모의 계정을 쓰세요."


def test_an_event_stored_without_figures_says_the_receivers_words(endpoint):
    event = make_event(endpoint.endpoint, reason="bad_value", details={}, message="'size' must be above 0.")
    assert labels.reason_sentence(event) == '<span translate="no">&#x27;size&#x27; must be above 0.</span>'


# --- the risk envelope's adjustments ---------------------------------------------------------------------------

ADJUSTMENTS = [
    (
        {"field": "stop_loss_pct", "action": "defaulted", "requested": "none", "applied": "2.00"},
        "Stop loss not given: your default of 2.00% was used.",
        "손절 값이 없어 기본값 2.00%를 적용했습니다.",
    ),
    (
        {"field": "take_profit_pct", "action": "defaulted", "requested": "none", "applied": "4"},
        "Take profit not given: your default of 4.00% was used.",
        "익절 값이 없어 기본값 4.00%를 적용했습니다.",
    ),
    (
        {"field": "leverage", "action": "clamped", "requested": "50", "applied": "10"},
        "Leverage 50× capped to your limit of 10×.",
        "레버리지 50배를 내 한도인 10배로 낮췄습니다.",
    ),
    (
        {"field": "leverage", "action": "clamped", "requested": "2.5", "applied": "2"},
        "Leverage 2.5× rounded down to 2×: exchanges take whole numbers.",
        "레버리지 2.5배를 2배로 내렸습니다. 거래소는 정수 레버리지만 받습니다.",
    ),
    (
        {"field": "position_size_pct", "action": "clamped", "requested": "100", "applied": "10.00"},
        "Size of 100.00% of the balance capped to your limit of 10.00%.",
        "잔고의 100.00%인 수량을 내 한도인 10.00%로 낮췄습니다.",
    ),
    (
        {"field": "stop_loss_pct", "action": "clamped", "requested": "50", "applied": "5"},
        "Stop loss of 50.00% capped to the widest allowed, 5.00%.",
        "손절 50.00%를 허용되는 최대치인 5.00%로 낮췄습니다.",
    ),
    (
        {"field": "stop_loss_pct", "action": "clamped", "requested": "0.5", "applied": "1"},
        "Stop loss of 0.50% raised to the closest allowed, 1.00%.",
        "손절 0.50%를 허용되는 최소치인 1.00%로 올렸습니다.",
    ),
    (
        {"field": "take_profit_pct", "action": "clamped", "requested": "30", "applied": "10"},
        "Take profit of 30.00% capped to the furthest allowed, 10.00%.",
        "익절 30.00%를 허용되는 최대치인 10.00%로 낮췄습니다.",
    ),
    (
        {"field": "take_profit_pct", "action": "clamped", "requested": "1", "applied": "2"},
        "Take profit of 1.00% raised to the closest allowed, 2.00%.",
        "익절 1.00%를 허용되는 최소치인 2.00%로 올렸습니다.",
    ),
]


@pytest.mark.parametrize(("note", "english", "korean"), ADJUSTMENTS)
def test_every_adjustment_reads_as_a_sentence(note, english, korean):
    assert labels.adjustment_sentence(note) == english
    with translation.override("ko"):
        assert labels.adjustment_sentence(note) == korean


def test_a_capped_alert_shows_its_adjustments_on_the_log(alice_client, endpoint, send, prices):
    """Through the receiver and the worker: 50x and a 50 % stop loss are capped, the log says so in words."""
    response = send(endpoint.endpoint, alert(endpoint.secret, leverage="50", stop_loss_pct="50", size=...))
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert event.status == "done", event.result
    page = alice_client.get("/webhooks/events/").content.decode()
    assert "Leverage 50× capped to your limit of 3×." in page
    assert "Stop loss of 50.00% capped to the widest allowed, 5.00%." in page
    assert "Take profit not given: your default of" in page
    assert "stop_loss_pct" not in re.sub(r"<code[^>]*>.*?</code>", "", page, flags=re.S)
    assert "Capped:" not in page and "clamped" not in page and "defaulted" not in page
    alice_client.cookies["django_language"] = "ko"
    page = alice_client.get("/webhooks/events/").content.decode()
    assert "레버리지 50배를 내 한도인 3배로 낮췄습니다." in page and "손절 50.00%를 허용되는 최대치인" in page
    assert "롱 진입: " in page and " BTC를 " in page and " USDT에 매수했습니다." in page


# --- what an accepted alert became ------------------------------------------------------------------------------


def test_what_an_accepted_alert_became(endpoint):
    ep = endpoint.endpoint
    entry = Order(
        symbol="BTC/USDT", side="buy", purpose="entry", amount="0.0199", filled="0.0199",
        average_price="50025", status="filled",
    )  # fmt: skip
    exit_ = Order(
        symbol="BTC/USDT", side="sell", purpose="exit", amount="0.0199", filled="0.0199",
        average_price="51000.5", status="filled",
    )  # fmt: skip
    waiting = Order(symbol="ETH/USDT", side="sell", purpose="entry", amount="0.5", filled="0", status="open")
    assert labels.order_sentence(entry) == "Opened a long: bought 0.0199 BTC at 50,025.00 USDT."
    assert labels.order_sentence(exit_) == "Closed the long: sold 0.0199 BTC at 51,000.50 USDT."
    assert labels.order_sentence(waiting) == "Sell order for 0.5 ETH: Open."
    with translation.override("ko"):
        assert labels.order_sentence(entry) == "롱 진입: 0.0199 BTC를 50,025.00 USDT에 매수했습니다."
        assert labels.order_sentence(exit_) == "롱 청산: 0.0199 BTC를 51,000.50 USDT에 매도했습니다."
    nothing = make_event(ep, outcome="accepted", reason="", status="nothing", details={})
    assert labels.result_sentence(nothing) == "Nothing to do: the position is already what the alert asks."
    failures = {
        "router": ({"failure": "router", "code": "min_notional"}, "worth less than the market's minimum order value"),
        "funds": ({"failure": "insufficient_funds", "code": ""}, "not enough balance or margin"),
        "off": ({"failure": "trading_off"}, "disabled or auto-trading is off"),
        "exchange": ({"failure": "exchange", "code": "-1013"}, "The exchange refused the order."),
    }
    for details, english in failures.values():
        event = make_event(ep, outcome="accepted", reason="", status="failed", details=details, result="Filter failure")
        assert english in labels.result_sentence(event)
        with translation.override("ko"):
            korean_is_complete(labels.result_sentence(event))
    # Only an exchange's own refusal keeps its own words (shown as it wrote them).
    assert labels.exchange_words(event) == "Filter failure"
    funds = make_event(ep, outcome="accepted", reason="", status="failed", details=failures["funds"][0], result="x")
    assert labels.exchange_words(funds) == ""


def test_the_feed_line_is_plain_text_in_the_readers_language(endpoint):
    ep = endpoint.endpoint
    refused = make_event(ep, body={"action": "sell", "position": "flat"}, action="sell")
    assert labels.feed_sentence(refused) == (
        "TradingView alert Sell BTC/USDT, then no position refused: The alert is 75 s old; this endpoint accepts "
        "alerts up to 60 s old."
    )
    capped = make_event(
        ep, outcome="accepted", reason="", status="nothing", details={},
        adjustments=[{"field": "leverage", "action": "clamped", "requested": "50", "applied": "3"}],
    )  # fmt: skip
    assert labels.feed_sentence(capped) == (
        "TradingView alert Buy BTC/USDT: Nothing to do. Nothing to do: the position is already what the alert "
        "asks. Leverage 50× capped to your limit of 3×."
    )
    with translation.override("ko"):
        text = labels.feed_sentence(refused)
        assert text.startswith("TradingView 알림 매도 BTC/USDT, 이후 포지션 없음 거부: 알림이 75초 지났습니다.")
        korean_is_complete(text)
        korean_is_complete(labels.feed_sentence(capped))
