"""The beat's heartbeat: django-celery-beat's scheduler, which also writes the wall time to the cache at most
every few seconds as it ticks. ``/readyz`` and ``trendy_beat_last_run_age_seconds`` read it: a stopped beat
stops every periodic task (the trading loop's tick among them), and the schedule's own ``last_run_at`` is
written only every few minutes."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache
from django_celery_beat.schedulers import DatabaseScheduler

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "trendy:beat:heartbeat"
HEARTBEAT_EVERY = 5.0  # seconds between two writes


def heartbeat_write(now: float | None = None) -> None:
    cache.set(HEARTBEAT_KEY, time.time() if now is None else now, timeout=None)


def heartbeat_age() -> float | None:
    """Seconds since the beat last ticked; None when no beat ever did (or the cache forgot)."""
    at = cache.get(HEARTBEAT_KEY)
    return None if at is None else max(0.0, time.time() - float(at))


class HeartbeatScheduler(DatabaseScheduler):
    _heartbeat_at = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = super().tick(*args, **kwargs)
        now = time.time()
        if now - self._heartbeat_at >= HEARTBEAT_EVERY:
            try:
                heartbeat_write(now)
                self._heartbeat_at = now
            except Exception:  # the cache is down: the beat goes on scheduling; /readyz reports the cache
                log.warning("beat heartbeat not written", exc_info=True)
        return interval
