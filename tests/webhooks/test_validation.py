"""The pure alert checks (``webhooks.validation``): no Django, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from webhooks import validation as v
from webhooks.validation import AlertError

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def code_of(call, *args) -> str:
    with pytest.raises(AlertError) as caught:
        call(*args)
    assert caught.value.message  # every refusal says why
    return caught.value.code


# --- parse_body -------------------------------------------------------------------------------------


def test_parse_body_reads_a_json_object_with_exact_decimals():
    data = v.parse_body(b'{"secret": "s", "action": "buy", "symbol": "BTCUSDT", "size": 0.1}')
    assert data["action"] == "buy" and data["size"] == D("0.1") and isinstance(data["size"], D)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty"),
        (b"   \n\t", "empty"),
        (b"x" * (v.MAX_BODY_BYTES + 1), "too_large"),
        (b"\xff\xfe{}", "encoding"),
        (b"buy BTCUSDT now", "not_json"),
        (b'{"action": "buy",', "not_json"),
        (b'{"size": NaN}', "not_json"),
        (b'{"size": Infinity}', "not_json"),
        (b"[" * 5000 + b"]" * 5000, "not_json"),  # nesting deeper than the recursion limit
        (b'[{"action": "buy"}]', "not_object"),
        (b'"buy"', "not_object"),
        (b"42", "not_object"),
        (b"null", "not_object"),
    ],
)
def test_parse_body_refuses(body, code):
    assert code_of(v.parse_body, body) == code


def test_parse_body_at_the_size_limit_is_read():
    padding = v.MAX_BODY_BYTES - len(b'{"p": ""}')
    body = b'{"p": "' + b"a" * padding + b'"}'
    assert len(body) == v.MAX_BODY_BYTES
    assert v.parse_body(body)["p"] == "a" * padding


def test_not_json_message_is_a_clear_reason():
    with pytest.raises(AlertError) as caught:
        v.parse_body(b"BTCUSDT buy")
    assert "not JSON" in caught.value.message and "Message" in caught.value.message


# --- parse_alert ------------------------------------------------------------------------------------


def tv_body(**fields) -> dict:
    body = {
        "secret": "s",
        "action": "buy",
        "symbol": "BINANCE:BTCUSDT",
        "exchange": "BINANCE",
        "price": "50000.0",
        "position": "long",
        "size": "0.02",
        "order_id": "Long",
        "time": "2024-03-01T12:00:00Z",
    }
    body.update(fields)
    return {k: val for k, val in body.items() if val is not ...}


def test_parse_alert_reads_tradingviews_shape():
    alert = v.parse_alert(tv_body(leverage=3, stop_loss_pct="2", take_profit_pct=4.5, bot="7", extra="ignored"))
    assert (alert.action, alert.symbol, alert.market, alert.perpetual) == ("buy", "BINANCE:BTCUSDT", "BTC/USDT", False)
    assert alert.position == "long" and alert.exchange == "BINANCE" and alert.order_id == "Long"
    assert alert.price == D("50000.0") and alert.size == D("0.02") and alert.leverage == D(3)
    assert alert.stop_loss_pct == D(2) and alert.take_profit_pct == D("4.5") and alert.bot == 7
    assert alert.time == NOW and alert.target == "long" and alert.close_side is None


def test_only_secret_action_symbol_are_required_and_null_is_absent():
    alert = v.parse_alert({"action": "SELL", "symbol": "ethusdt", "stop_loss_pct": None, "take_profit_pct": None})
    assert alert.action == "sell" and alert.market == "ETH/USDT" and alert.target == "short"
    assert alert.stop_loss_pct is None and alert.take_profit_pct is None and alert.time is None
    assert v.parse_alert(tv_body(size="", time="", bot="", position=None)).size is None


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"action": ...}, "missing"),
        ({"action": None}, "missing"),
        ({"action": "  "}, "missing"),
        ({"symbol": ...}, "missing"),
        ({"action": 1}, "bad_action"),
        ({"action": "hold"}, "bad_action"),
        ({"action": ["buy"]}, "bad_type"),
        ({"action": True}, "bad_type"),
        ({"action": {"a": "buy"}}, "bad_type"),
        ({"symbol": 123}, "bad_symbol"),
        ({"symbol": "BTC-USDT"}, "bad_symbol"),
        ({"symbol": "XYZ"}, "bad_symbol"),
        ({"position": "sideways"}, "bad_position"),
        ({"size": "abc"}, "bad_type"),
        ({"size": [1]}, "bad_type"),
        ({"size": True}, "bad_type"),
        ({"size": "NaN"}, "bad_value"),
        ({"size": "Infinity"}, "bad_value"),
        ({"size": 0}, "bad_value"),
        ({"leverage": -3}, "bad_value"),
        ({"size_pct": "0"}, "bad_value"),
        ({"stop_loss_pct": -1}, "bad_value"),
        ({"time": {"at": "now"}}, "bad_time"),
        ({"time": "yesterday"}, "bad_time"),
        ({"time": True}, "bad_time"),
        ({"time": 10**30}, "bad_time"),
        ({"bot": "seven"}, "bad_type"),
        ({"bot": True}, "bad_type"),
        ({"order_id": "x" * 101}, "bad_value"),
        ({"exchange": "x" * 65}, "bad_value"),
    ],
)
def test_parse_alert_refuses(fields, code):
    assert code_of(v.parse_alert, tv_body(**fields)) == code


@pytest.mark.parametrize(
    ("action", "position", "target", "close_side"),
    [
        ("buy", None, "long", None),
        ("long", None, "long", None),
        ("sell", None, "short", None),
        ("short", None, "short", None),
        ("close", None, "flat", None),
        ("close_long", None, None, "long"),
        ("close_short", None, None, "short"),
        ("sell", "flat", "flat", None),  # the strategy's exit: the position wins over the action
        ("sell", "long", "long", None),
        ("buy", "short", "short", None),
    ],
)
def test_target_position_wins_over_the_action(action, position, target, close_side):
    alert = v.parse_alert(tv_body(action=action, position=position))
    assert (alert.target, alert.close_side) == (target, close_side)


# --- normalise_symbol -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "market", "perpetual"),
    [
        ("BTCUSDT", "BTC/USDT", False),
        ("btcusdt", "BTC/USDT", False),
        (" BINANCE:BTCUSDT ", "BTC/USDT", False),
        ("BTCUSDT.P", "BTC/USDT", True),
        ("BINANCE:BTCUSDT.P", "BTC/USDT", True),
        ("BTCUSDTPERP", "BTC/USDT", True),
        ("BTC/USDT", "BTC/USDT", False),
        ("BTC/USDT:USDT", "BTC/USDT", True),
        ("ETHBTC", "ETH/BTC", False),
        ("SOLUSDC", "SOL/USDC", False),
        ("1000PEPEUSDT", "1000PEPE/USDT", False),
    ],
)
def test_normalise_symbol(symbol, market, perpetual):
    assert v.normalise_symbol(symbol) == (market, perpetual)


@pytest.mark.parametrize("symbol", ["", "USDT", "BTC USDT", "BTC-USDT", "BTC/USDT/ETH", "X" * 50, "<script>", "ABCXYZ"])
def test_normalise_symbol_refuses(symbol):
    assert code_of(v.normalise_symbol, symbol) == "bad_symbol"


# --- parse_time and check_age -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01T12:00:00Z",
        "2024-03-01T12:00:00+00:00",
        "2024-03-01T13:00:00+01:00",
        "2024-03-01T07:00:00-05:00",
        "2024-03-01T12:00:00",  # naive: UTC
        "2024-03-01 12:00:00Z",
        1709294400,
        "1709294400",
        1709294400000,
        "1709294400000",
        D("1709294400.0"),
    ],
)
def test_parse_time(value):
    parsed = v.parse_time(value)
    assert parsed == NOW and parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


def test_parse_time_keeps_milliseconds():
    assert v.parse_time(1709294400123) == NOW + timedelta(milliseconds=123)
    assert v.parse_time("2024-03-01T12:00:00.500Z") == NOW + timedelta(milliseconds=500)


@pytest.mark.parametrize("value", ["", "soon", "2024-13-01T00:00:00Z", None, [], {}, True, float("inf"), 10**20])
def test_parse_time_refuses(value):
    assert code_of(v.parse_time, value) == "bad_time"


def test_check_age():
    v.check_age(None, NOW, 60)
    v.check_age(NOW, NOW, 60)
    v.check_age(NOW - timedelta(seconds=60), NOW, 60)
    v.check_age(NOW + timedelta(seconds=30), NOW, 60)  # clock skew
    assert code_of(v.check_age, NOW - timedelta(seconds=61), NOW, 60) == "stale"
    assert code_of(v.check_age, NOW - timedelta(hours=1), NOW, 3600 - 1) == "stale"
    assert code_of(v.check_age, NOW + timedelta(seconds=31), NOW, 60) == "future"
    assert code_of(v.check_age, NOW + timedelta(days=365), NOW, 3600) == "future"


# --- dedupe_key -------------------------------------------------------------------------------------


def key(body: dict) -> str:
    raw = json.dumps(body).encode()
    return v.dedupe_key(v.parse_alert(body), raw)


def test_dedupe_key_same_alert_same_key():
    assert key(tv_body()) == key(tv_body())
    # Resent with another price or size (TradingView's {{close}} moved): still the same alert.
    assert key(tv_body()) == key(tv_body(price="50100", size="0.03"))
    # The same instant written another way, the same market named another way.
    assert key(tv_body()) == key(tv_body(time=1709294400, symbol="BTC/USDT"))
    assert len(key(tv_body())) == 64


def test_dedupe_key_differs_by_order_id_time_action_symbol():
    base = key(tv_body())
    assert base != key(tv_body(order_id="Long 2"))
    assert base != key(tv_body(time="2024-03-01T12:00:01Z"))
    assert base != key(tv_body(action="sell"))
    assert base != key(tv_body(symbol="ETHUSDT"))
    assert key(tv_body(order_id=...)) != key(tv_body(order_id=..., time="2024-03-01T12:00:01Z"))


def test_dedupe_key_without_order_id_or_time_hashes_the_body():
    body = tv_body(order_id=..., time=...)
    assert key(body) == key(dict(body))
    assert key(body) != key({**body, "price": "50001"})  # another body: another alert
    alert = v.parse_alert(body)
    assert v.dedupe_key(alert, b"a") != v.dedupe_key(alert, b"b")


# --- client_ip, redact, secret_matches --------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "forwarded", "proxies", "expected"),
    [
        ("10.0.0.1", None, 0, "10.0.0.1"),
        ("10.0.0.1", "52.89.214.238", 0, "10.0.0.1"),  # no trusted proxy: the header is ignored
        ("10.0.0.1", "52.89.214.238", 1, "52.89.214.238"),
        ("10.0.0.1", "1.2.3.4, 52.89.214.238", 1, "52.89.214.238"),  # the client wrote 1.2.3.4 itself
        ("10.0.0.1", "52.89.214.238, 1.2.3.4", 1, "1.2.3.4"),  # a spoofed first hop is not trusted
        ("10.0.0.1", "52.89.214.238, 10.0.0.2", 2, "52.89.214.238"),
        ("10.0.0.1", "52.89.214.238", 2, "10.0.0.1"),  # fewer hops than proxies
        ("10.0.0.1", "not-an-ip", 1, "10.0.0.1"),
        ("10.0.0.1", " , ", 1, "10.0.0.1"),
        ("10.0.0.1", "", 1, "10.0.0.1"),
        ("10.0.0.1", "2001:db8::1", 1, "2001:db8::1"),
    ],
)
def test_client_ip(remote, forwarded, proxies, expected):
    assert v.client_ip(remote, forwarded, proxies) == expected


def test_redact_removes_the_secret_and_keys_named_like_it():
    body = {"secret": "whs_abc", "Passphrase": "p", "TOKEN": "t", "password": "pw", "action": "buy", "size": 1}
    redacted = v.redact(body)
    assert redacted == {
        "secret": "***",
        "Passphrase": "***",
        "TOKEN": "***",
        "password": "***",
        "action": "buy",
        "size": 1,
    }
    assert body["secret"] == "whs_abc"  # the input is not changed
    assert "whs_abc" not in json.dumps(redacted)


def test_secret_matches():
    assert v.secret_matches("whs_abc", "whs_abc")
    assert not v.secret_matches("whs_abd", "whs_abc")
    assert not v.secret_matches("whs_ab", "whs_abc")
    assert not v.secret_matches("WHS_ABC", "whs_abc")
    assert not v.secret_matches("", "whs_abc")
    assert not v.secret_matches("", "")  # an endpoint without a secret never matches
    for given in (None, 123, ["whs_abc"], {"s": "whs_abc"}, b"whs_abc", True):
        assert not v.secret_matches(given, "whs_abc")
    assert v.secret_matches("wh\u00e9", "wh\u00e9")  # non-ASCII does not raise (compare_digest on bytes)
