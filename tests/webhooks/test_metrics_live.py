"""``/metrics`` across processes: TradingView alerts sent to a real gunicorn (two worker processes) and traded by
a real Celery worker, all three writing prometheus_client's multiprocess files into one directory; a scrape of
``/metrics`` must add them up — the alerts counted where they arrived, the orders and fills where the worker
traded them — and agree with the rows in the database to the unit."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import needs_redis
from tests.webhooks.conftest import alert
from trading import clock
from trading.models import Order, Position, Trade
from webhooks.models import WebhookEvent

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOKEN = "metrics-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.stdout.read().decode(errors="replace") if proc.stdout else ""


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    status, body = _request(port, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body[:300]
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, key), v in samples.items() if n == name and wanted <= set(key))


def trendy_env(multiproc: Path) -> dict[str, str]:
    """The environment of a web server or Celery process on the test database, writing its metrics to ``multiproc``."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTHONPATH": str(ROOT),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "DJANGO_DEBUG": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TRENDY_METRICS_TOKEN": TOKEN,
        "TRENDY_NUM_PROXIES": "0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "TRENDY_PINE_WARM_UP": "0",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def processes(tmp_path, paper, listed):
    """gunicorn (2 workers) and a Celery worker on the test database, sharing one multiprocess directory; the
    market clock on replay over the stored candles (one candle an hour: the price stays put)."""
    clock.replay_start(start=datetime(2024, 1, 1, 1, tzinfo=UTC), timeframe="1h", seconds_per_candle=Decimal(3600))
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = trendy_env(multiproc)
    port = _free_port()
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "trading_site.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--chdir", str(ROOT), "--log-level", "warning", "--timeout", "60"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "trading_site", "worker", "--concurrency", "2", "-Q", "celery",
         "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert web.poll() is None, _stop(web)
            try:
                if _request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
            time.sleep(0.3)
        yield port, multiproc
    finally:
        web_log, worker_log = _stop(web), _stop(worker)
        clock.replay_stop()
        print(web_log[-3000:], worker_log[-3000:])


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_metrics_add_up_across_web_and_worker_processes(processes, endpoint):
    port, multiproc = processes
    before = _scrape(port)
    path, secret = endpoint.endpoint.path, endpoint.secret
    now = timezone.now()
    stamp = lambda k: (now - timedelta(seconds=k)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    bodies = [
        alert(secret, order_id="L1", time=stamp(1)),  # opens a long on BTC
        alert(secret, order_id="L1", time=stamp(1)),  # the same alert again: a duplicate
        alert(secret, symbol="BINANCE:ETHUSDT", price="3000", size="0.5", order_id="E1", time=stamp(2)),
        alert(secret, action="sell", position="flat", order_id="X1", time=stamp(3)),  # closes the BTC long
        alert("wrong-secret", order_id="L2", time=stamp(4)),  # refused
    ]
    answers = [_request(port, "POST", path, json.dumps(b).encode(), {"Content-Type": "application/json"})
               for b in bodies]  # fmt: skip
    assert [status for status, _ in answers] == [200, 200, 200, 200, 404], answers

    deadline = time.monotonic() + 60
    while WebhookEvent.objects.filter(outcome="accepted", status__in=["pending", "processing"]).exists():
        assert time.monotonic() < deadline, "the worker did not trade the alerts within 60 s"
        time.sleep(0.2)
    assert WebhookEvent.objects.filter(outcome="accepted", status="done").count() == 3

    after = _scrape(port)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    # Counted in the web workers, where the alerts arrived.
    assert moved("trendy_webhook_alerts_total", outcome="accepted") == 3
    assert moved("trendy_webhook_alerts_total", outcome="duplicate") == 1
    assert moved("trendy_webhook_alerts_total", outcome="rejected", reason="bad_secret") == 1
    assert moved("trendy_http_request_duration_seconds_count", route="webhooks:receive", status="2xx") == 4
    assert moved("trendy_http_request_duration_seconds_count", route="webhooks:receive", status="4xx") == 1
    # Counted in the Celery worker, where they were traded: to the unit, as the database has them.
    orders = Order.objects.all()
    assert orders.count() >= 3
    for side in ("buy", "sell"):
        filled = orders.filter(side=side, status=Order.Status.FILLED).count()
        resting = orders.filter(side=side, status=Order.Status.OPEN).count()
        assert moved("trendy_orders_total", exchange="paper", action=side, status="filled") == filled, side
        # the stop loss and take profit placed with each entry (closed: their position was closed by X1)
        placed = resting + orders.filter(side=side, status=Order.Status.CANCELED).count()
        assert moved("trendy_orders_total", exchange="paper", action=side, status="open") == placed, side
    assert moved("trendy_webhook_events_processed_total", status="done") == 3
    for symbol in ("BTC/USDT", "ETH/USDT"):
        trades = Trade.objects.filter(symbol=symbol).count()
        assert trades and moved("trendy_trades_total", exchange="paper", symbol=symbol) == trades
    notional = sum(float(t.amount * t.price) for t in Trade.objects.all())
    assert moved("trendy_trading_volume_usd_total", exchange="paper") == pytest.approx(notional, rel=1e-9)
    assert moved("trendy_alert_to_fill_seconds_count", exchange="paper") == 3
    assert 0 < moved("trendy_alert_to_fill_seconds_sum", exchange="paper") < 60
    # Read at scrape time: the ETH long is still open.
    open_positions = Position.objects.filter(status="open").count()
    assert open_positions == 1
    assert _value(after, "trendy_active_positions", exchange="paper", side="long") == 1
    # Three processes wrote: the two web workers' and the worker's files are all in the directory.
    writers = {p.stem.rsplit("_", 1)[-1] for p in multiproc.glob("counter_*.db")}
    assert len(writers) >= 2, writers
    assert Trade.objects.aggregate(n=Sum("amount"))["n"] > 0
