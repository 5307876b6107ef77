import pytest

from tests.conftest import ON_REDIS
from trading_site.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_all_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["status"] == "up" for check in body["checks"].values())


def test_healthz_broker_down(client):
    """A real connection attempt to a port where nothing listens."""
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        response = client.get("/healthz")
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


def test_healthz_cache_down(client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["status"] == "down"


def test_metrics(client, settings):
    settings.TRENDY_METRICS_TOKEN = "scrape-me"  # required whenever DEBUG is off, as it is in tests
    client.get("/healthz")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == 200
    text = response.content.decode()
    assert "trendy_django_http_requests_before_middlewares_total" in text
    assert "trendy_django_db_execute_total" in text or "django_db_execute_total" in text
    if ON_REDIS:
        assert "django_cache_get_total" in text


def test_metrics_token(client, settings):
    settings.TRENDY_METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_healthz_does_not_leak_error_details(client):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        body = client.get("/healthz").json()
    finally:
        celery_app.conf.broker_url = original
    assert body["checks"]["broker"] == {"status": "down", "ms": body["checks"]["broker"]["ms"]}
