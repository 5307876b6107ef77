"""The Idempotency-Key cache keeps answers without their secrets (issue 13): a webhook endpoint created or rotated
with an Idempotency-Key leaves no trace of its secret in the cache (every Redis key and value is scanned), and a
replay answers the same status and body with the secret left out and said so."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts import services as account_services
from tests.conftest import ON_REDIS
from trading_site import idempotency
from webhooks import services as webhook_services
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhooks/endpoints/"


@pytest.fixture
def paper(alice):
    return account_services.exchange_account_create(user=alice, exchange="paper", label="Paper")


def cache_dump() -> bytes:
    """Every key and value the cache holds: the whole Redis database when the cache is Redis."""
    if ON_REDIS:
        from django_redis import get_redis_connection

        client = get_redis_connection("default")  # the whole Redis database of the cache (db 8 for this helper)
        dump = b""
        for key in client.scan_iter(count=1000):
            dump += key + b"\n"
            kind = client.type(key)
            if kind == b"string":
                dump += client.get(key) or b""
            elif kind == b"hash":
                dump += b"".join(k + v for k, v in client.hgetall(key).items())
            elif kind == b"list":
                dump += b"".join(client.lrange(key, 0, -1))
            elif kind == b"set":
                dump += b"".join(client.smembers(key))
            elif kind == b"zset":
                dump += b"".join(client.zrange(key, 0, -1))
            dump += b"\n"
        return dump
    import pickle

    return b"".join(k.encode() + v for k, v in cache._cache.items()) + pickle.dumps(dict(cache._cache))


def test_a_created_endpoints_secret_is_not_in_the_cache_and_the_replay_says_so(alice_api, paper):
    data = {"name": "Cached", "exchange_account": paper.pk}
    first = alice_api.post(ENDPOINTS, data, format="json", HTTP_IDEMPOTENCY_KEY="create-secret-1")
    assert first.status_code == 201
    secret = first.json()["secret"]
    assert secret and secret == webhook_services.endpoint_secret(WebhookEndpoint.objects.get())
    stored_key, _lock = idempotency.cache_keys(paper.user_id, "create-secret-1")
    assert cache.get(stored_key) is not None  # the answer is kept for replays…
    dump = cache_dump()
    assert secret.encode() not in dump  # …without its secret
    assert secret[4:].encode() not in dump and secret.encode().hex().encode() not in dump

    again = alice_api.post(ENDPOINTS, data, format="json", HTTP_IDEMPOTENCY_KEY="create-secret-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again["Idempotent-Secrets-Omitted"] == "secret"
    replayed = again.json()
    assert replayed["secret"] is None and "shown once" in replayed.pop("secret_note")
    assert {**replayed, "secret": secret} == first.json()
    assert WebhookEndpoint.objects.count() == 1


def test_a_rotation_replay_keeps_no_secret_either(alice_api, paper):
    created = alice_api.post(ENDPOINTS, {"exchange_account": paper.pk}, format="json").json()
    url = f"{ENDPOINTS}{created['id']}/rotate/"
    rotated = alice_api.post(url, HTTP_IDEMPOTENCY_KEY="rotate-secret-1")
    new = rotated.json()["secret"]
    assert rotated.status_code == 200 and new != created["secret"]
    assert new.encode() not in cache_dump()
    replay = alice_api.post(url, HTTP_IDEMPOTENCY_KEY="rotate-secret-1")
    assert replay.status_code == 200 and replay.json()["secret"] is None
    assert webhook_services.endpoint_secret(WebhookEndpoint.objects.get()) == new  # rotated once, not twice


def test_answers_without_secrets_replay_unchanged():
    from rest_framework.response import Response

    response = Response({"id": 3, "name": "x", "nested": [{"token": "abc123def456"}], "secret_masked": "••ab"})
    stored = idempotency._snapshot(response, "f")
    assert stored["data"] == {"id": 3, "name": "x", "nested": [{"token": None}], "secret_masked": "••ab"}
    assert stored["omitted"] == ["token"]
    plain = idempotency._snapshot(Response({"id": 3, "status": "running"}), "f")
    assert plain["data"] == {"id": 3, "status": "running"} and plain["omitted"] == []
