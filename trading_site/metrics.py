"""Trendy's own Prometheus metrics: what happened (counters and histograms, bumped where it happens) beside
django-prometheus's request and database figures. Served on ``/metrics`` with the ``trendy_`` prefix.

**Across processes.** Orders fill in Celery workers, alerts arrive in the web server's workers, and
``/metrics`` is answered by whichever web worker Prometheus reaches. prometheus_client's multiprocess mode
adds them up: every process that sets ``PROMETHEUS_MULTIPROC_DIR`` writes its values to memory-mapped files
in that directory, and ``/metrics`` reads all of them (counters and histograms summed; the gauges below say
how). Chosen over a push to a local exporter (statsd or a pushgateway) because it needs no extra service,
loses nothing when a process dies (its counters stay in its file) and has no push interval to lag behind.
The containers share the directory on a volume; a container's process ids start at 1 like its neighbours',
so the file names carry the host name as well (``process_identifier``).

**What a user is.** No label carries a user, an account, an order or a bot: the labels are the exchange
(binance, okx, paper, …), the order side, an outcome or reason from a fixed list, the queue, the task name,
the channel kind, the model kind, and the market symbol for trades (bounded by the markets the exchanges
list). Figures per account (portfolio value, drawdown) are read at scrape time and added up per exchange:
see :mod:`trading_site.metrics_state`.

The state figures (open positions, portfolio value, drawdown, queue depths, model ages, loop lag) are read
at scrape time from the database and Redis, so they are the same whichever process answers.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram, values


def _process_identifier() -> str:
    """``<host>-<pid>``: two containers' process 7 must not share a file. No underscore (the collector splits
    the file name on it)."""
    host = socket.gethostname().replace("_", "-") or "host"
    return f"{host}-{os.getpid()}"


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)

# Request latency: 10 ms … 10 s, dense between 50 ms and 5 s (TradingView waits 3 s for a webhook's answer).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0)
# Work measured in seconds to minutes (a tick, an alert's way to its fill, a delivery).
WORK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# -- the seed's ten (the state ones, portfolio value, drawdown, open positions and exchange up, are read at
#    scrape time in trading_site.metrics_state) --------------------------------------------------------------

ORDERS = Counter(
    "trendy_orders",
    "Orders sent to an exchange, by exchange, side (action) and the exchange's first answer "
    "(filled, open, rejected, failed: no answer, retried).",
    ["exchange", "action", "status"],
)
ORDER_FAILURES = Counter(
    "trendy_order_failures",
    "Orders the exchange refused or did not answer, by reason "
    "(invalid_order, insufficient_funds, authentication, temporary).",
    ["exchange", "reason"],
)
TRADES = Counter("trendy_trades", "Fills recorded, by exchange and market.", ["exchange", "symbol"])
TRADING_VOLUME = Counter(
    "trendy_trading_volume_usd", "Notional of the fills in the quote currency (USDT counted as USD).", ["exchange"]
)
EXCHANGE_CALLS = Counter(
    "trendy_exchange_requests",
    "Requests to an exchange's API by outcome (ok, error: the exchange answered with a refusal, down: no "
    "answer, a time-out or a 5xx).",
    ["exchange", "outcome"],
)
EXCHANGE_UP = Gauge(
    "trendy_exchange_api_up",
    "1 when the last request to the exchange's API was answered, 0 when it was not (network, time-out, 5xx).",
    ["exchange"],
    multiprocess_mode="mostrecent",
)
WEBSOCKET_CONNECTED = Gauge(
    "trendy_websocket_connected",
    "Live stream WebSocket connections open now (the dashboard and the app).",
    multiprocess_mode="livesum",
)
HTTP_DURATION = Histogram(
    "trendy_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route (URL name) and status class.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)

# -- Trendy's own ---------------------------------------------------------------------------------------------

WEBHOOK_ALERTS = Counter(
    "trendy_webhook_alerts",
    "TradingView alerts received, by outcome (accepted, duplicate, rejected, unavailable) and reason code.",
    ["outcome", "reason"],
)
WEBHOOK_TRADED = Counter(
    "trendy_webhook_events_processed",
    "Accepted alerts turned into orders, by result (done, nothing, failed).",
    ["status"],
)
ALERT_TO_FILL = Histogram(
    "trendy_alert_to_fill_seconds",
    "From a TradingView alert's arrival to its order's fill.",
    ["exchange"],
    buckets=WORK_BUCKETS,
)
TICK_DURATION = Histogram(
    "trendy_bot_tick_duration_seconds",
    "A loop tick's duration (every bot due on a candle close), from its start to its last shard.",
    buckets=WORK_BUCKETS,
)
TICK_LAG = Histogram(
    "trendy_bot_tick_lag_seconds",
    "How long after the candle closed its tick started (live clock only: a replay's closes are not wall time).",
    buckets=WORK_BUCKETS,
)
TASK_FAILURES = Counter(
    "trendy_celery_task_failures",
    "Celery tasks that raised (a retry is not a failure), by task name.",
    ["task"],
)
TASK_RETRIES = Counter("trendy_celery_task_retries", "Celery task retries, by task name.", ["task"])
RECONCILIATION_MISMATCHES = Counter(
    "trendy_reconciliation_mismatches",
    "Differences the reconciler found between Trendy's books and the exchange, by kind.",
    ["exchange", "kind"],
)
RECONCILIATION_RUNS = Counter("trendy_reconciliation_runs", "Accounts reconciled, by outcome.", ["outcome"])
NOTIFICATION_DELIVERIES = Counter(
    "trendy_notification_deliveries",
    "Notification messages by channel kind and outcome (sent, retrying, failed, skipped).",
    ["channel", "outcome"],
)
NOTIFICATION_SEND = Histogram(
    "trendy_notification_send_seconds",
    "Time a channel's service took to take one message.",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)


def exchange_answered_as(exchange: str, outcome: str) -> None:
    """One request to an exchange: ``ok``, ``error`` (answered with a refusal) or ``down`` (not answered)."""
    EXCHANGE_CALLS.labels(exchange, outcome).inc()
    EXCHANGE_UP.labels(exchange).set(0 if outcome == "down" else 1)


def after_commit(bump: Callable[[], None]) -> None:
    """Count what was recorded: on commit of the transaction that wrote it (at once outside one). A tick that
    rolls back to a savepoint and runs again the careful way is counted once."""
    from django.db import transaction

    transaction.on_commit(bump)


def order_answered(exchange: str, side: str, status: str, *, reason: str = "") -> None:
    """An order sent: the exchange's first answer (``filled``, ``open``, ``rejected``) as recorded; ``failed``
    (no answer: nothing recorded, the task retries) counts at once."""

    def bump() -> None:
        ORDERS.labels(exchange, side, status).inc()
        if reason:
            ORDER_FAILURES.labels(exchange, reason).inc()

    if status == "failed":
        bump()
    else:
        after_commit(bump)


def filled(exchange: str, symbol: str, notional: float) -> None:
    """A fill recorded (its Trade row)."""

    def bump() -> None:
        TRADES.labels(exchange, symbol).inc()
        TRADING_VOLUME.labels(exchange).inc(notional)

    after_commit(bump)


@contextmanager
def timed(histogram: Histogram, *labels: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        (histogram.labels(*labels) if labels else histogram).observe(time.perf_counter() - started)
