"""Operations endpoints: ``/healthz`` (liveness), ``/readyz`` (readiness: database, cache, broker; the beat's and
the loop's last tick) and ``/metrics``."""

from __future__ import annotations

import hmac
import logging
import os
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder

from trading_site import beat, metrics_state
from trading_site.celery import app as celery_app


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("the cache did not return the value just written")
    cache.delete(key)


def _broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


logger = logging.getLogger(__name__)

CHECKS: dict[str, Callable[[], None]] = {"database": _database, "cache": _cache, "broker": _broker}

# The periodic side, reported by /readyz without failing it: the web serves traders while the beat or the loop is
# stopped (the CeleryBeatDown and TradingLoopStalled alerts page for those), and compose starts the workers and
# the beat only once the web is ready, so a readiness that waited for them would never come.
BEAT_STALE_AFTER = 120.0  # seconds: the beat ticks at least every 15 s (the digests' flush)
LOOP_STALE_AFTER = 600.0  # the loop starts a tick every minute (every candle on the replay clock)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No dependency is asked, so a database outage does not get the web
    containers restarted (readiness, ``/readyz``, says what is down)."""
    return JsonResponse({"status": "ok"})


def _age(read: Callable[[], float | None], stale_after: float) -> dict[str, object]:
    try:
        age = read()
    except Exception:
        logger.warning("readyz: age unavailable", exc_info=True)
        return {"status": "unknown"}
    if age is None:
        return {"status": "unknown"}
    return {"status": "ok" if age <= stale_after else "stale", "age_s": round(age, 1)}


def last_tick_age() -> float | None:
    """Wall seconds since the loop last ran: its last tick's start (live clock), or the replay clock's last step
    (each step runs the loop on the candle it closes)."""
    from django.db.models import Max
    from django.utils import timezone

    from trading.models import LoopTick, MarketClock

    state = MarketClock.objects.filter(mode=MarketClock.Mode.REPLAY).values_list("updated_at", flat=True).first()
    started = state or LoopTick.objects.aggregate(at=Max("started_at"))["at"]
    return None if started is None else (timezone.now() - started).total_seconds()


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, the cache (Redis) and the broker answer (503 when one does not), and how long ago
    the beat ticked and the trading loop started a tick (reported, not failed on: see ``BEAT_STALE_AFTER``)."""
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception:
            logger.exception("readyz: %s is down", name)
            results[name] = {"status": "down"}
        else:
            results[name] = {"status": "up"}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    ready = all(item["status"] == "up" for item in results.values())
    periodic = {
        "beat": _age(beat.heartbeat_age, BEAT_STALE_AFTER)
        if results["cache"]["status"] == "up"
        else {"status": "unknown"},
        "loop": _age(last_tick_age, LOOP_STALE_AFTER)
        if results["database"]["status"] == "up"
        else {"status": "unknown"},
    }
    status = "ok" if ready and all(item["status"] == "ok" for item in periodic.values()) else "degraded"
    return JsonResponse({"status": status, "checks": results | periodic}, status=200 if ready else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, only for ``Authorization: Bearer <TRENDY_METRICS_TOKEN>`` (constant-time compare).
    Without a token configured they are open in debug only; with DJANGO_DEBUG=0 the page does not exist."""
    expected = settings.TRENDY_METRICS_TOKEN
    if not expected:
        if not settings.DEBUG:
            return HttpResponse("Not Found\n", status=404, content_type="text/plain")
        return _export(request)
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponse(
            "Unauthorized\n", status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
        )
    return _export(request)


def _export(request: HttpRequest) -> HttpResponse:
    """Every process's figures (multiprocess mode: the files under ``PROMETHEUS_MULTIPROC_DIR``) and the ones read
    at scrape time. django-prometheus's own view leaves the latter out in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in metrics_state.scrape_time_collectors():
            registry.register(collector)
    else:
        registry = REGISTRY
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)
