import time

import pytest

from tests.conftest import ON_REDIS
from trading_site.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_is_liveness_only(client):
    """The process answers; no dependency is asked (a broker outage must not restart the web containers)."""
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        response = client.get("/healthz")
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_all_up(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body["checks"]) == {"database", "cache", "broker", "beat", "loop"}
    assert all(body["checks"][name]["status"] == "up" for name in ("database", "cache", "broker"))
    # No beat has ticked and no loop tick has started in this test database: unknown, reported, not failed.
    assert body["checks"]["beat"] == {"status": "unknown"} and body["checks"]["loop"] == {"status": "unknown"}
    assert body["status"] == "degraded"


def test_readyz_reports_the_beat_and_the_loop_by_age(client):
    from datetime import timedelta

    from django.utils import timezone

    from trading.models import LoopTick
    from trading_site import beat

    beat.heartbeat_write()
    LoopTick.objects.create(candle_time=timezone.now(), started_at=timezone.now() - timedelta(seconds=30))
    body = client.get("/readyz").json()
    assert body["status"] == "ok", body
    assert body["checks"]["beat"]["status"] == "ok" and body["checks"]["loop"]["age_s"] >= 30
    beat.heartbeat_write(time.time() - 600)  # the beat stopped ten minutes ago
    LoopTick.objects.update(started_at=timezone.now() - timedelta(hours=1))
    response = client.get("/readyz")
    assert response.status_code == 200  # the web still serves: the alerts page for the beat and the loop
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["beat"]["status"] == "stale" and body["checks"]["beat"]["age_s"] >= 600
    assert body["checks"]["loop"]["status"] == "stale"


@pytest.mark.django_db(transaction=True)  # the scheduler closes stale database connections as it ticks
def test_the_beat_scheduler_writes_its_heartbeat_as_it_ticks():
    from django.core.cache import cache

    from trading_site import beat

    cache.delete(beat.HEARTBEAT_KEY)
    scheduler = beat.HeartbeatScheduler(app=celery_app, lazy=True)
    assert beat.heartbeat_age() is None
    scheduler.tick()
    assert beat.heartbeat_age() is not None and beat.heartbeat_age() < 5


def test_readyz_broker_down(client):
    """A real connection attempt to a port where nothing listens."""
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        response = client.get("/readyz")
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


def test_readyz_cache_down(client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["status"] == "down"


def test_metrics(client, settings):
    settings.TRENDY_METRICS_TOKEN = "scrape-me"  # required whenever DEBUG is off, as it is in tests
    client.get("/readyz")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == 200
    text = response.content.decode()
    # Trendy's own figures, the state read at scrape time among them
    assert 'trendy_http_request_duration_seconds_bucket{le="0.05",method="GET",route="readyz",status="2xx"}' in text
    assert "# TYPE trendy_orders_total counter" in text or "# TYPE trendy_orders counter" in text
    assert "trendy_django_http_requests_before_middlewares_total" in text
    assert "trendy_django_db_execute_total" in text or "django_db_execute_total" in text
    if ON_REDIS:
        assert "django_cache_get_total" in text


def test_metrics_token(client, settings):
    settings.TRENDY_METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_readyz_does_not_leak_error_details(client):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        body = client.get("/readyz").json()
    finally:
        celery_app.conf.broker_url = original
    assert body["checks"]["broker"] == {"status": "down", "ms": body["checks"]["broker"]["ms"]}


def test_request_duration_by_route_name_never_the_path(client):
    from prometheus_client import REGISTRY

    def count(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return REGISTRY.get_sample_value("trendy_http_request_duration_seconds_count", labels) or 0.0

    healthz, unmatched = count("healthz", "2xx"), count("unmatched", "4xx")
    client.get("/healthz")
    client.get("/no/such/page/8f3a1c")
    assert count("healthz", "2xx") == healthz + 1
    assert count("unmatched", "4xx") == unmatched + 1
    labels = [m.samples for m in REGISTRY.collect() if m.name == "trendy_http_request_duration_seconds"]
    assert not any("8f3a1c" in str(sample.labels) for samples in labels for sample in samples)
