"""Operations endpoints: ``/healthz`` (database, cache, broker: 200 if all are up, else 503) and ``/metrics``."""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

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


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception:
            logger.exception("healthz: %s is down", name)
            results[name] = {"status": "down"}
        else:
            results[name] = {"status": "up"}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    healthy = all(item["status"] == "up" for item in results.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": results}, status=200 if healthy else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, only for ``Authorization: Bearer <TRENDY_METRICS_TOKEN>`` (constant-time compare).
    Without a token configured they are open in debug only; with DJANGO_DEBUG=0 the page does not exist."""
    expected = settings.TRENDY_METRICS_TOKEN
    if not expected:
        if not settings.DEBUG:
            return HttpResponse("Not Found\n", status=404, content_type="text/plain")
        return ExportToDjangoView(request)
    header = request.headers.get("Authorization", "")
    given = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponse(
            "Unauthorized\n", status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
        )
    return ExportToDjangoView(request)
