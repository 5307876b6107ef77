"""The dashboards and the alert rules against a live scrape: a real Prometheus (Debian's package) scrapes a running
Trendy — gunicorn with two workers, a Celery worker with its beat — that trades on the replay clock (a bot on
every candle, TradingView alerts through the receiver), loads ``monitoring/alerts.yml`` and evaluates it. Every
panel's expression of the three Grafana dashboards and every rule's expression then goes through Prometheus' HTTP
API: each must parse and run, every rule must evaluate without error, and the trading panels must return data."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ExchangeAccount, RiskProfile
from market_data.models import Candle
from tests.conftest import needs_redis
from tests.webhooks.test_metrics_live import TOKEN, _free_port, _request, _stop, trendy_env
from trading import clock
from trading.models import Bot, Trade
from webhooks import services as webhook_services

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
QUEUES = "celery,trading.paper,trading.binance,trading.okx,trading.other,analytics,notifications"
START = datetime(2024, 1, 1, tzinfo=UTC)

pytestmark = [
    needs_redis,
    pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="no prometheus here (apt-get install prometheus)"),
]

# Panels of the trading dashboard that may be empty here, and why: nothing else may be.
MAY_BE_EMPTY = {
    "Exchange API up": "the paper exchange sends no API request (live exchanges only)",
    "Exchange API requests by outcome": "the paper exchange sends no API request (live exchanges only)",
    "Bot tick lag (p50 / p95)": "measured on the live clock only: a replay's candle closes are not wall time",
    "Reconciliation mismatches by kind": "a healthy run has none",
    "Order failures per minute by reason": "the risk envelope sizes every order of this run within the balance",
    "Ticks running / overran in range": "replay steps are not loop ticks (the live clock's records)",
}


def _candles() -> None:
    """BTC and ETH, 1h, 400 candles along a slow wave (so an EMA crossover trades both ways)."""
    rows = []
    for symbol, base in (("BTC/USDT", 50_000.0), ("ETH/USDT", 3_000.0)):
        for k in range(400):
            price = base * (1 + 0.08 * math.sin(k / 9.0))
            rows.append(Candle(exchange="binance", symbol=symbol, timeframe="1h", open_time=START + timedelta(hours=k),
                               open=price, high=price * 1.002, low=price * 0.998, close=price, volume=10))  # fmt: skip
    Candle.objects.bulk_create(rows)


def _query(port: int, expr: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 400 / 422: the expression does not parse or cannot run
        return json.loads(exc.read())


def _panels() -> list[dict]:
    out = subprocess.run([sys.executable, "monitoring/grafana/check_dashboards.py"], cwd=ROOT, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _rules() -> list[dict]:
    document = yaml.safe_load((ROOT / "monitoring" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.mark.django_db(transaction=True)
def test_every_panel_and_rule_runs_against_a_live_scrape_and_the_trading_panels_have_data(alice, tmp_path):
    _candles()
    RiskProfile.objects.update_or_create(user=alice, defaults={"leverage": 2, "position_size_pct": D(10)})
    paper = ExchangeAccount.objects.create(user=alice, exchange="paper", label="Paper", paper_balance=D(10_000))
    alice.auto_trading = True
    alice.save(update_fields=["auto_trading"])
    Bot.objects.create(
        user=alice, exchange_account=paper, name="EMA", strategy="ema_crossover", params={"fast": 3, "slow": 8},
        symbol="BTC/USDT", timeframe="1h", status=Bot.Status.RUNNING,
    )  # fmt: skip
    created = webhook_services.endpoint_create(user=alice, exchange_account=paper, name="TV")
    call_command("setup_periodic_tasks", verbosity=0)
    clock.replay_start(start=START + timedelta(hours=40), timeframe="1h", seconds_per_candle=D(1))

    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    env = trendy_env(multiproc)
    web_port, prom_port = _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "monitoring" / "alerts.yml")],
        "scrape_configs": [{
            "job_name": "trendy-web", "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials": TOKEN},
            "static_configs": [{"targets": [f"127.0.0.1:{web_port}"]}],
        }],
    }))  # fmt: skip
    spawn = {"cwd": ROOT, "env": env, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "start_new_session": True}
    web = subprocess.Popen([str(BIN / "gunicorn"), "trading_site.wsgi:application", "--workers", "2", "--bind",
                            f"127.0.0.1:{web_port}", "--log-level", "warning", "--timeout", "60"], **spawn)  # fmt: skip
    worker = subprocess.Popen([str(BIN / "celery"), "-A", "trading_site", "worker", "-Q", QUEUES, "--concurrency",
                               "2", "-l", "warning", "--without-mingle", "--without-gossip"], **spawn)  # fmt: skip
    beat = subprocess.Popen([str(BIN / "celery"), "-A", "trading_site", "beat", "-l", "warning"], **spawn)
    prometheus = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}"], **spawn)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert web.poll() is None and worker.poll() is None and beat.poll() is None and prometheus.poll() is None
            try:
                if _request(web_port, "GET", "/healthz")[0] == 200 and _query(prom_port, "up")["status"] == "success":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn or Prometheus did not start within 90 s"
            time.sleep(0.5)
        # TradingView alerts through the receiver: ETH long, closed, opened again; one too big for the account.
        for k, (action, position, size) in enumerate(
            [("buy", "long", "0.3"), ("sell", "flat", "0.3"), ("buy", "long", "0.2"), ("buy", "long", "900")]
        ):
            stamp = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {"secret": created.secret, "action": action, "position": position, "symbol": "BINANCE:ETHUSDT",
                    "size": size, "order_id": f"A{k}", "time": stamp}  # fmt: skip
            status, answer = _request(web_port, "POST", created.endpoint.path, json.dumps(body).encode(),
                                      {"Content-Type": "application/json"})  # fmt: skip
            assert status == 200, answer
            time.sleep(1.5)
        # The bot trades on the replay while Prometheus scrapes: wait for its trades and 20 s of samples.
        deadline = time.monotonic() + 120
        while not (Trade.objects.filter(bot__isnull=False).count() >= 2 and Trade.objects.filter(bot=None).exists()):
            assert time.monotonic() < deadline, "no bot trade on the replay within 120 s"
            time.sleep(1)
        time.sleep(20)

        failures = []
        for panel in _panels():
            answer = _query(prom_port, panel["expr"])
            where = f"{panel['dashboard']} / {panel['panel']}: {panel['expr']}"
            if answer.get("status") != "success":
                failures.append(f"{where}: {answer.get('error')}")
            elif (
                not answer["data"]["result"] and "Trading" in panel["dashboard"] and panel["panel"] not in MAY_BE_EMPTY
            ):
                failures.append(f"{where}: no data")
        rules = _rules()
        assert len(rules) >= 26
        for rule in rules:
            answer = _query(prom_port, rule["expr"])
            if answer.get("status") != "success":
                failures.append(f"rule {rule['alert']}: {answer.get('error')}")
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=10) as response:
            loaded = [r for g in json.loads(response.read())["data"]["groups"] for r in g["rules"]]
        assert {r["name"] for r in loaded} == {r["alert"] for r in rules}  # Prometheus loaded every rule
        failures += [f"rule {r['name']} evaluation: {r.get('lastError')}" for r in loaded if r["health"] != "ok"]
        assert not failures, "\n".join(failures)
    finally:
        logs = [_stop(p) for p in (prometheus, beat, worker, web)]
        clock.replay_stop()
        print("\n".join(log[-2000:] for log in logs))
