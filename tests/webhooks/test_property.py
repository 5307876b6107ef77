"""Property: whatever body reaches the receiver, it answers one of its documented statuses (never a 5xx),
stores the request, keeps the secret out of the answer and the log, and places no order unless the body
was a valid alert with the right secret — and then at most one trade.

The generated values include what exploring first found as receiver bugs (fractions nested in a list or an
object, NUL characters, digits that ``str.isdigit`` accepts but ``int`` does not, huge exponents); the tests at
the end of this file pin each of them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import needs_postgres
from trading.models import Order
from webhooks import validation
from webhooks.models import WebhookEvent

from .conftest import alert

pytestmark = pytest.mark.django_db

DOCUMENTED = {200, 400, 403, 404, 409, 413, 422, 429}
KEYS = (
    "secret",
    "action",
    "symbol",
    "exchange",
    "price",
    "position",
    "size",
    "size_pct",
    "leverage",
    "stop_loss_pct",
    "take_profit_pct",
    "order_id",
    "time",
    "bot",
)
RIGHT, WRONG, OTHER = "<right secret>", "<wrong secret>", "<other user's secret>"

# Any text (NUL, which PostgreSQL's jsonb refuses, and "No" digits such as "²" included); surrogates cannot be
# UTF-8.
_chars = st.characters(exclude_categories=("Cs",))
text = st.text(_chars, max_size=40)
numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=D("-1e12"), max_value=D("1e12"), allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["1e5000", "-1e5000", "1e-5000", "²", "9" * 5000]),
)
nested = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**12), max_value=10**12) | st.floats() | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
json_values = numbers | nested

PLAUSIBLE = {
    "secret": st.sampled_from([RIGHT, RIGHT, RIGHT, WRONG, OTHER, ""]),
    "action": st.sampled_from([*validation.ACTIONS, "BUY", " Sell ", "hold", "", "close_all"]),
    "symbol": st.sampled_from(
        ["BTCUSDT", "BINANCE:BTCUSDT", "BTCUSDT.P", "BTC/USDT", "BTC/USDT:USDT", "ETHUSDT", "DOGEUSDT", "BTC-USDT", "X"]
    ),
    "exchange": st.sampled_from(["BINANCE", "BYBIT", ""]),
    "price": st.sampled_from(["50000.0", "3000", "0", "-1", "abc"]),
    "position": st.sampled_from([*validation.POSITIONS, "FLAT", "sideways", ""]),
    "size": st.sampled_from(["0.02", "0.001", "1", "10", "0", "-0.5", "1e-9", "abc"]),
    "size_pct": st.sampled_from([1, 5, 10, 50, 100, 1000, 0, -10, "abc"]),
    "leverage": st.sampled_from([1, 2, 3, 50, 125, 1000, 0, -3, 2.5, "x"]),
    "stop_loss_pct": st.sampled_from([None, 0.5, 2, 10, 99, 0, -1]),
    "take_profit_pct": st.sampled_from([None, 1, 4, 50, 1000, 0]),
    "order_id": st.sampled_from(["Long", "Short", "Exit", "", "x" * 101]),
    "time": st.sampled_from(["<now>", "<now>", "<now ms>", "<stale>", "<future>", "yesterday", ""]),
    "bot": st.sampled_from(["", "1", "999999", "abc"]),
}

# Dicts built from the real keys: each key absent, plausible (mostly right) or any JSON value.
alert_dicts = st.fixed_dictionaries(
    {},
    optional={key: st.one_of(PLAUSIBLE[key], PLAUSIBLE[key], json_values) for key in KEYS}
    | {"note": json_values, "Secret": st.just(RIGHT)},
)
# Mostly complete alerts: the three required keys present, so that many of them are valid.
complete_alerts = st.builds(
    lambda base, extra: {**base, **extra},
    st.fixed_dictionaries(
        {"secret": PLAUSIBLE["secret"], "action": PLAUSIBLE["action"], "symbol": PLAUSIBLE["symbol"]}
    ),
    alert_dicts.map(lambda d: {k: v for k, v in d.items() if k not in ("secret", "action", "symbol")}),
)

bodies = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=600)),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("json"), alert_dicts),
    st.tuples(st.just("json"), complete_alerts),
    st.tuples(st.just("json"), complete_alerts),
    st.tuples(st.just("huge"), st.integers(min_value=validation.MAX_BODY_BYTES - 64, max_value=40_000)),
)
content_types = st.sampled_from(
    ["application/json", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", ""]
)


def fill(value, secrets: dict[str, str]):
    """Placeholders → the real secrets and times, recursively."""
    now = timezone.now()
    times = {
        "<now>": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<now ms>": int(now.timestamp() * 1000),
        "<stale>": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<future>": (now + timedelta(minutes=5)).isoformat(),
    }
    if isinstance(value, str):
        return secrets.get(value, times.get(value, value))
    if isinstance(value, list):
        return [fill(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, secrets) for k, v in value.items()}
    return value


def encode(kind: str, value, secret: str) -> bytes:
    if kind == "bytes":
        return value
    if kind == "huge":  # a valid alert padded to about the limit
        body = json.dumps(alert(secret))
        return (body[:-1] + ', "pad": "' + "x" * max(0, value - len(body) - 11) + '"}').encode()
    return json.dumps(value, default=str).encode()


def valid_alert(raw: bytes, secret: str) -> bool:
    """The oracle, from the pure checks only: a JSON object with the right secret whose schema parses."""
    try:
        data = validation.parse_body(raw)
        if not validation.secret_matches(data.get("secret"), secret):
            return False
        validation.parse_alert(data)
    except validation.AlertError:
        return False
    return True


@pytest.fixture
def other_secret(bob):
    from accounts.models import ExchangeAccount
    from webhooks import services

    account = ExchangeAccount.objects.create(user=bob, exchange="paper", label="Paper", paper_balance=D(10_000))
    return services.endpoint_create(user=bob, exchange_account=account, name="Bob").secret


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, content_type=content_types)
def test_any_body_gets_a_documented_answer_and_no_order_unless_valid(
    endpoint, other_secret, prices, django_capture_on_commit_callbacks, body, content_type
):
    kind, value = body
    secret = endpoint.secret
    secrets = {RIGHT: secret, WRONG: secret[:-2] + ("ab" if secret[-2:] != "ab" else "cd"), OTHER: other_secret}
    raw = encode(kind, fill(value, secrets), secret)
    client = Client(raise_request_exception=False)
    cache.clear()  # the rate counter: every example starts a fresh minute
    with transaction.atomic():  # every example starts from the same database and is rolled back
        before = WebhookEvent.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic("POST", endpoint.endpoint.path, raw, content_type=content_type)
        status = response.status_code
        assert status < 500, (status, raw[:200])
        assert status in DOCUMENTED, (status, raw[:200])
        answer = response.json()
        event(f"{status} {answer.get('reason', answer['status'])}")  # the mix: pytest --hypothesis-show-statistics
        assert answer["status"] in ("accepted", "duplicate", "rejected")
        assert (status == 200) == (answer["status"] in ("accepted", "duplicate"))
        assert WebhookEvent.objects.count() == before + 1  # every request is stored
        stored = " ".join(json.dumps(e.body) + e.body_prefix + e.message + e.result for e in WebhookEvent.objects.all())
        for known in (secret, other_secret):
            assert known not in response.content.decode(errors="replace") and known not in stored
        trades = Order.objects.filter(purpose__in=(Order.Purpose.ENTRY, Order.Purpose.EXIT)).count()
        if answer["status"] == "accepted":
            assert valid_alert(raw, secret), raw[:200]
            assert trades <= 1
        else:
            assert Order.objects.count() == 0, (status, answer, raw[:200])
        if not valid_alert(raw, secret):
            assert status != 200 and Order.objects.count() == 0
        transaction.set_rollback(True)


# --- what exploring found (receiver bugs, fixed; each pinned here) ----------------------------------


def post(endpoint, body: dict):
    return Client(raise_request_exception=False).post(
        endpoint.endpoint.path, json.dumps(body), content_type="application/json"
    )


@pytest.mark.parametrize("secret", ["right", "wrong"])
def test_a_fraction_nested_in_the_body_is_stored(endpoint, prices, django_capture_on_commit_callbacks, secret):
    body = alert(endpoint.secret if secret == "right" else "whs_wrong", extra={"rsi": 31.5, "levels": [1.5, 2.5]})
    with django_capture_on_commit_callbacks(execute=True):
        response = post(endpoint, body)
    assert response.status_code == (200 if secret == "right" else 404), response.content
    if secret == "right":
        assert WebhookEvent.objects.get().body["extra"] == {"rsi": "31.5", "levels": ["1.5", "2.5"]}
    else:  # a request that did not authenticate keeps a prefix and a hash, no body (issue 13)
        assert WebhookEvent.objects.get().body is None and WebhookEvent.objects.get().body_sha256


@pytest.mark.parametrize(
    "fields",
    [{"bot": "²"}, {"time": "²"}, {"bot": "9" * 5000}],
    ids=["bot-superscript", "time-superscript", "bot-5000-digits"],
)
def test_digits_int_cannot_read_are_refused_not_500(endpoint, prices, fields):
    response = post(endpoint, alert(endpoint.secret, **fields))
    assert response.status_code == 422
    assert WebhookEvent.objects.filter(outcome="rejected").count() == 1


def test_an_absurd_leverage_is_refused_at_the_door(endpoint, prices, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = post(endpoint, alert(endpoint.secret, leverage="1e5000"))
    assert response.status_code == 400 and response.json()["reason"] == "bad_value"


@needs_postgres
def test_a_nul_character_is_not_a_database_outage(endpoint, prices):
    response = post(endpoint, alert(endpoint.secret, comment="a\u0000b"))
    assert response.status_code in (200, 400, 422), response.content
    assert WebhookEvent.objects.count() == 1
