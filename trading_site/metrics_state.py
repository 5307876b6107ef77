"""The state figures on ``/metrics``, read at each scrape from the database and Redis (so they are the same
whichever process answers, and nothing has to be kept up to date between scrapes):

- ``trendy_active_positions{exchange,side}``: open positions;
- ``trendy_portfolio_value_usd{exchange}``: the sum of every enabled account's latest equity on that exchange;
- ``trendy_portfolio_drawdown_percent{exchange}``: the worst current drawdown among those accounts, from the
  account's highest equity of the 30 days before its latest snapshot (per account figures would put a user in a
  label: the worst one is what an operator acts on, the dashboard shows each trader theirs);
- ``trendy_portfolio_accounts{exchange}``: how many accounts those two cover (these three are computed every 30 s
  by the beat's ``trading_site.refresh_portfolio_metrics`` and read from the cache, with their age in
  ``trendy_portfolio_figures_age_seconds``; a scrape computes them only when they are older than 90 s);
- ``trendy_celery_queue_depth{queue}``: tasks waiting in each queue of the broker (Redis lists);
- ``trendy_ai_model_age_seconds{model}``: the age of the oldest model that answers, by kind (regime, forecast,
  signal), and ``trendy_ai_models_live{model}``;
- ``trendy_loop_last_tick_age_seconds``: wall seconds since the loop last started a tick;
- ``trendy_beat_last_run_age_seconds``: since the beat last ticked (its heartbeat, ``trading_site.beat``).

A figure whose source is down is left out of that scrape (the ``absent()`` and ``up`` alerts see it), never
reported as zero.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

log = logging.getLogger(__name__)

DRAWDOWN_WINDOW = timedelta(days=30)
PORTFOLIO_KEY = "trendy:metrics:portfolio"
PORTFOLIO_FRESH = 90.0  # seconds: the beat refreshes them every 30 s


def portfolio_sql() -> str:
    """(exchange, value, worst drawdown %, accounts) per exchange, in one query: the latest snapshot and the 30-day
    peak of each enabled account (both by the (account, time) index); one parameter, the window."""
    from accounts.models import ExchangeAccount
    from trading.models import EquitySnapshot

    snapshots, accounts = EquitySnapshot._meta.db_table, ExchangeAccount._meta.db_table
    return f"""
        SELECT a.exchange, sum(l.equity), max(CASE WHEN p.peak > 0 AND p.peak > l.equity
                                                   THEN (p.peak - l.equity) / p.peak * 100 ELSE 0 END), count(*)
        FROM {accounts} a
        CROSS JOIN LATERAL (SELECT s.time, s.equity FROM {snapshots} s WHERE s.exchange_account_id = a.id
                            ORDER BY s.time DESC LIMIT 1) l
        CROSS JOIN LATERAL (SELECT max(s.equity) AS peak FROM {snapshots} s
                            WHERE s.exchange_account_id = a.id AND s.time >= l.time - %s) p
        WHERE a.enabled
        GROUP BY a.exchange
    """  # noqa: S608  # nosec B608  # table names from the models; the window is a parameter


def _portfolio() -> list[tuple[str, float, float, int]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(portfolio_sql(), [DRAWDOWN_WINDOW])
        return [(row[0], float(row[1] or 0), float(row[2] or 0), int(row[3])) for row in cursor.fetchall()]


def portfolio_refresh() -> list[tuple[str, float, float, int]]:
    """Compute the portfolio figures and keep them in the cache (the beat's ``trading_site.refresh_portfolio_metrics``
    every 30 s): a scrape then reads them instead of the equity of every account (1.7 s at 10,000 accounts with a
    month of hourly snapshots each, benchmarks/metrics_scrape.py)."""
    from django.core.cache import cache

    figures = _portfolio()
    cache.set(PORTFOLIO_KEY, {"at": time.time(), "rows": figures}, timeout=3600)
    return figures


def _portfolio_cached() -> tuple[list[tuple[str, float, float, int]], float | None]:
    """The figures and their age in seconds. Older than ``PORTFOLIO_FRESH`` (the beat stopped) or missing (a fresh
    cache): computed here, by one scraping process at a time; the others serve what the cache has, or nothing."""
    from django.core.cache import cache

    found = cache.get(PORTFOLIO_KEY)
    if found is None or time.time() - found["at"] > PORTFOLIO_FRESH:
        lock = PORTFOLIO_KEY + ":computing"
        if cache.add(lock, 1, timeout=60):
            try:
                return portfolio_refresh(), 0.0
            finally:
                cache.delete(lock)
        if found is None:
            return [], None
    return found["rows"], time.time() - found["at"]


def _queue_depths() -> dict[str, int]:
    from django.conf import settings

    if not str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://")):
        return {}
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.llen(name)
            return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))
    finally:
        client.close()


def _model_ages() -> dict[str, tuple[float, int]]:
    """Kind → (age in seconds of the oldest model that answers, how many answer)."""
    from django.db.models import Max
    from django.utils import timezone

    from analytics.models import ForecastModel, RegimeModel, SignalModel

    now = timezone.now()
    found = {}
    for kind, rows in (
        ("regime", RegimeModel.objects.filter(status=RegimeModel.Status.LIVE)),
        ("forecast", ForecastModel.objects.filter(live=True)),
        ("signal", SignalModel.objects.filter(live=True)),
    ):
        # The newest live version of each market answers: its age is what goes stale.
        newest = rows.values("exchange", "symbol").annotate(at=Max("created_at"))
        ages = [(now - row["at"]).total_seconds() for row in newest]
        if ages:
            found[kind] = (max(ages), len(ages))
    return found


def _loop_and_beat() -> tuple[float | None, float | None]:
    from trading_site import beat, health

    return health.last_tick_age(), beat.heartbeat_age()


class StateCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names, without reading anything (the registry asks when the collector is registered)."""
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._safely("positions", self._positions)
        yield from self._safely("portfolio", self._portfolio)
        yield from self._safely("queues", self._queues)
        yield from self._safely("models", self._models)
        yield from self._safely("loop", self._loop)

    def _safely(self, name: str, read: Callable[[], Iterator[GaugeMetricFamily]]) -> Iterator[GaugeMetricFamily]:
        try:
            families = list(read())
        except Exception:  # a source is down: its figures are left out of this scrape
            log.warning("metrics: %s unavailable", name, exc_info=True)
            return
        yield from families

    def _positions(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from accounts.models import ExchangeAccount
        from trading.models import Position

        family = GaugeMetricFamily("trendy_active_positions", "Open positions.", labels=["exchange", "side"])
        # 0 for every exchange with an enabled account, so that "none open" reads 0 rather than no data.
        counts = {
            (exchange, side): 0
            for exchange in ExchangeAccount.objects.filter(enabled=True).values_list("exchange", flat=True).distinct()
            for side in Position.Side.values
        }
        rows = (
            Position.objects.filter(status=Position.Status.OPEN)
            .order_by()
            .values("exchange_account__exchange", "side")
            .annotate(n=Count("id"))
        )
        for row in rows:
            counts[(row["exchange_account__exchange"], row["side"])] = row["n"]
        for (exchange, side), n in sorted(counts.items()):
            family.add_metric([exchange, side], n)
        yield family

    def _portfolio(self) -> Iterator[GaugeMetricFamily]:
        value = GaugeMetricFamily(
            "trendy_portfolio_value_usd",
            "Latest equity of the enabled accounts, summed per exchange.",
            labels=["exchange"],
        )
        drawdown = GaugeMetricFamily(
            "trendy_portfolio_drawdown_percent",
            "The worst current drawdown among the exchange's enabled accounts, from their 30-day peak equity.",
            labels=["exchange"],
        )
        accounts = GaugeMetricFamily(
            "trendy_portfolio_accounts", "Enabled accounts with an equity snapshot.", labels=["exchange"]
        )
        rows, age = _portfolio_cached()
        for exchange, total, worst, count in rows:
            value.add_metric([exchange], total)
            drawdown.add_metric([exchange], worst)
            accounts.add_metric([exchange], count)
        yield from (value, drawdown, accounts)
        if age is not None:
            yield GaugeMetricFamily(
                "trendy_portfolio_figures_age_seconds",
                "Age of the portfolio figures (refreshed every 30 s).",
                value=age,
            )

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        depths = _queue_depths()
        if depths:
            family = GaugeMetricFamily("trendy_celery_queue_depth", "Tasks waiting in the queue.", labels=["queue"])
            for name, depth in depths.items():
                family.add_metric([name], depth)
            yield family

    def _models(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily(
            "trendy_ai_model_age_seconds", "Age of the oldest model that answers, by kind.", labels=["model"]
        )
        live = GaugeMetricFamily("trendy_ai_models_live", "Markets with a model that answers.", labels=["model"])
        for kind, (seconds, count) in _model_ages().items():
            age.add_metric([kind], seconds)
            live.add_metric([kind], count)
        yield from (age, live)

    def _loop(self) -> Iterator[GaugeMetricFamily]:
        tick, beat = _loop_and_beat()
        if tick is not None:
            yield GaugeMetricFamily(
                "trendy_loop_last_tick_age_seconds", "Wall seconds since the loop last started a tick.", value=tick
            )
        if beat is not None:
            yield GaugeMetricFamily(
                "trendy_beat_last_run_age_seconds",
                "Seconds since the beat last ticked (its heartbeat in the cache).",
                value=beat,
            )


_registered: list[StateCollector] = []


def register() -> None:
    """Once per process (the app's ``ready``)."""
    if not _registered:
        _registered.append(StateCollector())
        REGISTRY.register(_registered[0])


def scrape_time_collectors() -> list[Collector]:
    """The collectors that read the database at scrape time: the multiprocess registry of ``/metrics`` adds them
    to the figures the processes wrote (prometheus_client's default registry is not read in that mode)."""
    from trading.bots import metrics as loop_metrics

    return [*_registered, *loop_metrics.collectors()]
