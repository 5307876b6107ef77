"""What the receiver reads per alert (issue 14, the second pass): one cache round trip before the database
(the refused-address counter, the market clock and the paper exchange's listed markets together), no health
check query of its own (the endpoint's SELECT is the check, and a connection that died while idle is
replaced), the rate counter in one command with its expiry, and the security headers built once."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import connection, connections
from django.test import Client

from tests.conftest import needs_postgres
from trading import clock
from trading.paper import markets
from webhooks import services
from webhooks.models import WebhookEvent
from webhooks.receiver_app import receiver_first

from .conftest import alert
from .test_hot_path import API_HEADERS, wsgi_call

pytestmark = pytest.mark.django_db


def test_the_receiver_reads_the_cache_once_before_the_database(endpoint, prices, monkeypatch):
    reads: list[tuple[str, list[str]]] = []
    for name in ("get", "get_many"):
        real = getattr(cache, name)

        def counted(keys, *args, _real=real, _name=name, **kwargs):
            reads.append((_name, list(keys) if _name == "get_many" else [keys]))
            return _real(keys, *args, **kwargs)

        monkeypatch.setattr(cache, name, counted)
    client = Client()
    assert client.post(endpoint.endpoint.path, json.dumps(alert(endpoint.secret, order_id="warm")), "application/json")
    reads.clear()
    response = client.post(endpoint.endpoint.path, json.dumps(alert(endpoint.secret)), "application/json")
    assert response.status_code == 200, response.content
    assert len(reads) == 1 and reads[0][0] == "get_many", reads
    assert any(key.startswith("webhooks:refused-ip:") for key in reads[0][1])


def test_the_market_clock_and_other_entries_in_one_read(django_capture_on_commit_callbacks):
    from datetime import UTC, datetime

    cache.set("test:one", 1)
    at = datetime(2024, 3, 3, 10, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        clock.replay_start(start=at, timeframe="1h")
    assert clock.now_with(["test:one", "test:missing"]) == (at, {"test:one": 1})
    cache.delete("trading:clock")  # expired: read from the database and cached again
    assert clock.now_with([]) == (at, {}) and clock.now() == at
    pin = clock.Pin(time=datetime(2020, 1, 1, tzinfo=UTC), price=lambda exchange, symbol: 0)
    with clock.pinned(pin):
        assert clock.now_with(["test:one"]) == (pin.time, {"test:one": 1})


def test_listed_markets_are_the_paper_markets_and_a_missing_entry_is_rebuilt(listed):
    spot = markets.listed("binance", market_type="spot")
    assert spot == frozenset(markets.paper_markets("binance", market_type="spot")) == {"BTC/USDT", "ETH/USDT"}
    assert markets.listed("binance", market_type="swap") == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert cache.get(markets.listed_key("binance", "spot")) == spot
    assert markets.listed("binance", market_type="spot", cached=None) == spot  # missing from the read: rebuilt
    assert markets.listed("binance", market_type="spot", cached=frozenset({"X/USDT"})) == {"X/USDT"}


def test_the_rate_counter_expires_after_its_first_count_and_counts_atomically():
    client, key = services._redis_client_and_key("webhooks:test-counter")
    if client is None:
        pytest.skip("the cache is not Redis here")
    client.delete(key)
    assert [services._count("webhooks:test-counter", 120) for _ in range(3)] == [1, 2, 3]
    assert 0 < client.ttl(key) <= 120
    client.expire(key, 500)  # a later count keeps the expiry the first one set
    services._count("webhooks:test-counter", 120)
    assert client.ttl(key) > 120
    client.delete(key)


def test_the_door_copies_the_policy_headers_it_built_on_its_first_answer(endpoint, prices, client):
    door = receiver_first(get_wsgi_application())
    answers = [wsgi_call(door, "POST", endpoint.endpoint.path, json.dumps(alert(endpoint.secret)).encode())]
    answers.append(wsgi_call(door, "POST", "/webhooks/tv/no-such-token/", b"{}"))
    routed = client.post("/webhooks/tv/no-such-token/", b"{}", content_type="application/json")
    for status, headers, _content in answers:
        assert status in (200, 404)
        for name in API_HEADERS:
            assert headers[name] == routed[name], name


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_that_died_while_idle_is_replaced_and_the_alert_is_stored(endpoint, prices):
    door = receiver_first(get_wsgi_application())
    path = endpoint.endpoint.path
    status, _headers, content = wsgi_call(door, "POST", path, json.dumps(alert(endpoint.secret, order_id="a")).encode())
    assert status == 200, content
    dead = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [dead])
    finally:
        other.close()
    connection.health_check_done = False  # what the start of a request does
    status, _headers, content = wsgi_call(door, "POST", path, json.dumps(alert(endpoint.secret, order_id="b")).encode())
    assert status == 200, content
    assert connection.connection.info.backend_pid != dead
    assert WebhookEvent.objects.filter(outcome="accepted").count() == 2
    # The check is done once per request: a statement that fails later in it is not retried.
    assert connection.health_check_done
