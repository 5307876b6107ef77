"""The loop's figures on ``/metrics`` (Prometheus): ticks that overran (still running when the next candle
closed) and how long the last finished tick took. Read from the ``LoopTick`` rows at each scrape, so the figures
are the same whichever process serves ``/metrics`` (the ticks run in Celery workers)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

log = logging.getLogger(__name__)


class LoopTickCollector(Collector):
    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """The names, without reading the database (the registry asks when the collector is registered)."""
        yield CounterMetricFamily("trendy_loop_ticks_overran", "Loop ticks still running when the next candle closed.")
        yield GaugeMetricFamily("trendy_loop_ticks_running", "Loop ticks started and not finished.")
        yield GaugeMetricFamily("trendy_loop_tick_last_seconds", "Seconds the last finished loop tick took.")

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        from trading.models import LoopTick

        try:
            overran = LoopTick.objects.filter(overran=True).count()
            running = LoopTick.objects.filter(finished_at__isnull=True).count()
            last = (
                LoopTick.objects.filter(finished_at__isnull=False)
                .order_by("-candle_time")
                .values_list("started_at", "finished_at")
                .first()
            )
        except Exception:  # no database at this moment: no loop figures in this scrape
            log.debug("loop tick metrics unavailable", exc_info=True)
            return
        yield CounterMetricFamily(
            "trendy_loop_ticks_overran", "Loop ticks still running when the next candle closed.", value=overran
        )
        yield GaugeMetricFamily("trendy_loop_ticks_running", "Loop ticks started and not finished.", value=running)
        if last is not None:
            yield GaugeMetricFamily(
                "trendy_loop_tick_last_seconds",
                "Seconds the last finished loop tick took, from its start to its last shard.",
                value=(last[1] - last[0]).total_seconds(),
            )


_registered: list[LoopTickCollector] = []


def register() -> None:
    """Once per process (the app's ``ready``)."""
    if not _registered:
        _registered.append(LoopTickCollector())
        REGISTRY.register(_registered[0])


def collectors() -> list[LoopTickCollector]:
    return list(_registered)
