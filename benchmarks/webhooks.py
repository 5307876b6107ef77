#!/usr/bin/env python
"""Benchmark the TradingView receiver under gunicorn, granian or uvicorn, and the alert-to-paper-fill latency.

Not a test. Setup (not timed): in the PostgreSQL database of DATABASE_URL, the BTC/USDT 1h candles (imported
from TRENDY_OHLCV_DIR when missing), the market clock on replay over them, one bench user with a paper
account and ENDPOINTS webhook endpoints. Their rate limit is lifted past the form's 600/min with an update,
so that the limiter is not what is measured (TradingView's senders are spread over many endpoints).

Phase 1, the receiver: the server (``--server``, one or a comma-separated list compared run by run:
``gunicorn-sync``, ``gunicorn-gthread``, ``granian-wsgi``, ``granian-asgi``, ``uvicorn``; WORKERS processes)
pinned to core 0 with ``taskset -c 0``; a load generator pinned to core 1 (this file run as ``_load``: a thread
pool of ``http.client`` connections, kept alive when the server allows it) sends distinct valid alerts
(distinct ``order_id``, ``time`` = now) in a closed loop for DURATION seconds at each concurrency, then, on the
same server at the same concurrency, BARE_DURATION seconds of ``GET /webhooks/tv/bare-405/`` (405 from Django's
full stack, no database): the baseline of what the box and the server do at that moment, since this VM's speed
drifts. No Celery worker runs: the accepted events stay pending (their tasks wait in a queue of their own,
purged at the end), so it measures the receiver: size, endpoint, JSON, secret, schema, age, market, account,
rate limit, the insert that decides duplicates, the enqueue. Reported: accepted alerts/s and the client-side
p50/p99 latency, and the bare 405s/s with theirs; medians of the REPEAT runs. Each server start is followed
by WARM_UP seconds of alerts that are not counted.

``--profile``: one more run of the first concurrency (not counted) with py-spy (benchmarks/requirements-
bench.txt) sampling the server's processes; prints the functions holding the most samples (inclusive) and the
leaves (own time). ``--quick``: what CI can afford (under 30 s): one server, concurrency 4, 3 runs of 3 s,
bare 1 s, 5 endpoints, the receiver only, one server start.

Phase 2, alert to paper fill: the (first) server again plus one Celery worker (``--pool solo``, core 0) on a fresh
queue; ALERTS alerts at RATE/s, alternately opening a long and closing it, so that every alert places one
paper order. Reported: p50/p95 of (the event's ``processed_at`` − the send time), both on this machine's
clock; ``processed_at`` is written after the order filled and its stop loss / take profit were placed.

Broker and cache: Redis when REDIS_URL is set (then with DJANGO_DEBUG off, as in production; its cache keys
prefixed ``whbench``, its queues named ``whbench-*``), else the file-system broker and the local-memory
cache in a temporary TRENDY_VAR_DIR (DJANGO_DEBUG on). In phase 1 the local PostgreSQL and Redis processes are
held to the load generator's core (``--services-core``, default 1; their affinity is given back after), so
that the receiver has core 0 to itself, as it would beside a database and a cache on their own machines;
``--services-core shared`` leaves them to the scheduler, which also runs them on core 0.
Each phase runs REPEAT times; the medians are printed. Everything it created is deleted at the end.
Targets: >= 400 alerts/s with p99 <= 50 ms at the receiver on one core (issue 14); alert-to-fill p95 < 500 ms.

    createdb -h 127.0.0.1 -U postgres trendy_whbench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_whbench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_whbench REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python benchmarks/webhooks.py --server gunicorn-sync,gunicorn-gthread,granian-wsgi,uvicorn
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EMAIL = "webhooks-bench@bench.invalid"


# --- the load generator (run as a subprocess on core 1; no Django) ----------------------------------


def _alert(secret: str, order_id: str, action: str = "buy", position: str = "long") -> bytes:
    return json.dumps(
        {
            "secret": secret,
            "action": action,
            "symbol": "BINANCE:BTCUSDT",
            "exchange": "BINANCE",
            "price": "50000.0",
            "position": position,
            "size_pct": 5,
            "leverage": 2,
            "order_id": order_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()


class _Sender:
    """One connection; reopened when the server closes it (gunicorn's sync workers do after each answer)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes | None, method: str = "POST") -> tuple[int, dict, float]:
        started = time.perf_counter()
        for attempt in range(2):
            try:
                self.conn.request(method, path, body, {"Content-Type": "application/json"} if body else {})
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.conn.close()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    return 0, {}, time.perf_counter() - started
        elapsed = time.perf_counter() - started
        try:
            payload = json.loads(data)
        except ValueError:
            payload = {}
        return response.status, payload, elapsed


def _load_closed(
    port: int, endpoints: list[list[str]], concurrency: int, duration: float, tag: str, bare: bool = False
) -> dict:
    """Alerts in a closed loop; ``bare``: ``GET /webhooks/tv/bare-405/`` instead (405 counted as "accepted")."""
    stop = time.perf_counter() + duration
    results: list[list[tuple[int, str, float]]] = [[] for _ in range(concurrency)]

    def worker(n: int) -> None:
        sender = _Sender(port)
        k = 0
        while time.perf_counter() < stop:
            if bare:
                status, _payload, elapsed = sender.post("/webhooks/tv/bare-405/", None, "GET")
                results[n].append((status, "accepted" if status == 405 else "", elapsed))
                continue
            path, secret = endpoints[(n + k * concurrency) % len(endpoints)]
            status, payload, elapsed = sender.post(path, _alert(secret, f"{tag}-{n}-{k}"))
            results[n].append((status, payload.get("status", "") or payload.get("reason", ""), elapsed))
            k += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    flat = [r for rs in results for r in rs]
    latencies = sorted(r[2] for r in flat if r[1] == "accepted")
    outcomes: dict[str, int] = {}
    for status, outcome, _ in flat:
        key = f"{status} {outcome}"
        outcomes[key] = outcomes.get(key, 0) + 1
    return {
        "wall": wall,
        "sent": len(flat),
        "accepted": len(latencies),
        "outcomes": outcomes,
        "p50": _pct(latencies, 50),
        "p99": _pct(latencies, 99),
        "max": latencies[-1] if latencies else None,
    }


def _load_paced(port: int, endpoint: list[str], count: int, rate: float, tag: str) -> dict:
    """``count`` alerts at ``rate``/s, alternately opening a long and closing it; send times as epoch s."""
    sender = _Sender(port)
    sent = []
    start = time.perf_counter() + 0.05
    for k in range(count):
        pause = start + k / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        action, position = ("buy", "long") if k % 2 == 0 else ("sell", "flat")
        at = time.time()
        status, payload, elapsed = sender.post(endpoint[0], _alert(endpoint[1], f"{tag}-{k}", action, position))
        sent.append({"at": at, "status": status, "event": payload.get("event"), "answer_s": elapsed})
    return {"sent": sent}


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[index]


def _load_main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    if spec["mode"] in ("closed", "bare"):
        out = _load_closed(
            spec["port"], spec["endpoints"], spec["concurrency"], spec["duration"], spec["tag"], spec["mode"] == "bare"
        )
    else:
        out = _load_paced(spec["port"], spec["endpoints"][0], spec["count"], spec["rate"], spec["tag"])
    print(json.dumps(out))


# --- the orchestrator (Django) -----------------------------------------------------------------------


def _environment(tmp: Path) -> dict[str, str]:
    """The variables for this process, gunicorn and the worker (set before Django is imported)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "whbench_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp), str(ROOT)]),
        "TRENDY_NUM_PROXIES": "0",
        "LOG_LEVEL": "WARNING",
    }
    if os.environ.get("REDIS_URL"):
        env |= {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "CACHE_KEY_PREFIX": "whbench",
            "TRENDY_ENCRYPTION_KEYS": os.environ.get("TRENDY_ENCRYPTION_KEYS")
            or base64.b64encode(secrets.token_bytes(32)).decode(),
        }
    else:
        env |= {"DJANGO_DEBUG": "1", "TRENDY_VAR_DIR": str(tmp / "var")}
    # Tasks go to the queue named by WHBENCH_QUEUE: phase 1's are never consumed and are purged at the end.
    (tmp / "whbench_settings.py").write_text(
        "import os\n"
        "from trading_site.settings import *  # noqa: F403\n\n"
        'CELERY_TASK_DEFAULT_QUEUE = os.environ.get("WHBENCH_QUEUE", "whbench-setup")\n'
    )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVERS = ("gunicorn-sync", "gunicorn-gthread", "granian-wsgi", "granian-asgi", "uvicorn")


def server_command(kind: str, port: int, workers: int, threads: int) -> list[str]:
    """The command line of each server: WORKERS processes; THREADS threads per gunicorn gthread worker and
    blocking threads per granian WSGI worker; the ASGI servers run Django's synchronous code in one thread."""
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    if kind.startswith("gunicorn-"):
        cmd = [str(BIN / "gunicorn"), "trading_site.wsgi:application", "--workers", str(workers)]
        cmd += ["--worker-class", kind.removeprefix("gunicorn-"), "--bind", f"127.0.0.1:{port}"]
        cmd += ["--log-level", "warning", "--chdir", str(ROOT), "--timeout", "60"]
        return cmd + (["--threads", str(threads)] if kind == "gunicorn-gthread" else [])
    if kind == "granian-wsgi":
        return [str(BIN / "granian"), "--interface", "wsgi", *bind, "--workers", str(workers),
                "--blocking-threads", str(threads), "--runtime-threads", "1", "--no-access-log",
                "--log-level", "warning", "trading_site.wsgi:application"]  # fmt: skip
    if kind == "granian-asgi":
        return [str(BIN / "granian"), "--interface", "asgi", *bind, "--workers", str(workers),
                "--runtime-threads", "1", "--no-access-log", "--log-level", "warning",
                "trading_site.asgi:application"]  # fmt: skip
    if kind == "uvicorn":
        return [str(BIN / "uvicorn"), "trading_site.asgi:application", *bind, "--workers", str(workers),
                "--loop", "uvloop", "--http", "h11", "--lifespan", "off", "--no-access-log",
                "--log-level", "warning"]  # fmt: skip
    raise SystemExit(f"unknown server {kind!r}; one of {', '.join(SERVERS)}")


class Server:
    def __init__(self, env: dict[str, str], queue: str, kind: str, workers: int, threads: int) -> None:
        self.kind = kind
        self.port = _free_port()
        self.env = {**os.environ, **env, "WHBENCH_QUEUE": queue}
        cmd = ["taskset", "-c", "0", *server_command(kind, self.port, workers, threads)]
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, start_new_session=True)
        self._wait()

    def _wait(self) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.kind} exited with {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/webhooks/tv/warm-up/")  # 405: answered, nothing stored
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{self.kind} did not answer within 30 s")

    def stop(self) -> None:
        _stop(self.proc)


class Worker:
    def __init__(self, env: dict[str, str], queue: str) -> None:
        self.env = {**os.environ, **env, "WHBENCH_QUEUE": queue}
        cmd = ["taskset", "-c", "0", str(BIN / "celery"), "-A", "trading_site", "worker", "--pool", "solo"]
        cmd += ["-Q", queue, "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, start_new_session=True)

    def stop(self) -> None:
        _stop(self.proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _load(env: dict[str, str], spec: dict) -> dict:
    cmd = ["taskset", "-c", "1", sys.executable, str(Path(__file__).resolve()), "_load", json.dumps(spec)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="2,4,8,16,32", help="concurrencies of phase 1")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per concurrency")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=50, help="phase 2: alerts to fill")
    parser.add_argument("--rate", type=float, default=5.0, help="phase 2: alerts per second")
    parser.add_argument("--server", default="granian-wsgi", help=f"one or more of {', '.join(SERVERS)}")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], help="the same as --server gunicorn-…")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread / granian-wsgi worker")
    parser.add_argument("--bare-duration", type=float, default=5.0, help="seconds of bare 405s after each run")
    parser.add_argument("--warm-up", type=float, default=2.0, help="seconds of alerts after a server starts")
    parser.add_argument("--phase", default="both", choices=["both", "receiver", "fill"])
    parser.add_argument("--profile", action="store_true", help="py-spy the server during one more run")
    parser.add_argument("--quick", action="store_true", help="a run CI can afford (under 30 s)")
    parser.add_argument(
        "--services-core",
        default="1",
        help="phase 1: the core the local PostgreSQL and Redis processes are held to while it runs (the load "
        "generator's; their affinity is given back after), so that the receiver has core 0 to itself; 'shared' "
        "leaves them wherever the scheduler puts them, core 0 included",
    )
    args = parser.parse_args()
    if args.worker_class:
        args.server = f"gunicorn-{args.worker_class}"
    if args.quick:
        args.server = args.server.split(",")[0]
        args.levels, args.duration, args.repeat, args.bare_duration, args.warm_up = "4", 3.0, 3, 1.0, 1.0
        args.endpoints, args.phase = 5, "receiver"
    args.servers = [kind.strip() for kind in args.server.split(",") if kind.strip()]
    for kind in args.servers:
        if kind not in SERVERS:
            raise SystemExit(f"unknown server {kind!r}; one of {', '.join(SERVERS)}")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL=postgres://… (a database of its own, migrated).")
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin the server and the load generator.")

    tmp = Path(tempfile.mkdtemp(prefix="whbench-"))
    env = _environment(tmp)
    os.environ.update(env)
    sys.path[:0] = [str(tmp), str(ROOT)]
    warnings.filterwarnings("ignore", message="TRENDY_ENCRYPTION_KEYS is not set")
    import django

    django.setup()
    from _common import print_header
    from django.conf import settings
    from django.db import connection

    run = secrets.token_hex(3)
    queues = {"receiver": f"whbench-recv-{run}", "fill": f"whbench-fill-{run}"}
    print_header(args, uses_db=True, uses_redis=bool(os.environ.get("REDIS_URL")))
    print(
        f"database {connection.settings_dict['NAME']} on {connection.vendor}; broker "
        f"{'redis' if os.environ.get('REDIS_URL') else 'filesystem'}; cache {settings.CACHES['default']['BACKEND']}; "
        f"servers {', '.join(args.servers)} ({args.workers} workers) on core 0, load on core 1; {_versions()}",
        flush=True,
    )
    clock_before = None
    try:
        _claim(connection.settings_dict["NAME"], run)  # one run per database at a time (make bench uses it too)
    except SystemExit:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # SIGTERM ends the run through its cleanup (servers stopped, bench user and queues removed).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        clock_before, endpoints = _setup(args.endpoints)
        if args.phase in ("both", "receiver"):
            with _services_held(args.services_core):
                _phase_receiver(args, env, queues["receiver"], endpoints)
        if args.phase in ("both", "fill"):
            _phase_fill(args, env, queues["fill"], endpoints)
    finally:
        _teardown(env, list(queues.values()), clock_before)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _services_held(core: str):
    """Every thread of the local PostgreSQL (the postmaster and its backends: new backends inherit its affinity)
    and Redis processes held to ``core`` while the block runs, then given back the cores they had. Nothing is
    done for 'shared', for services on another host, or where this user may not change their affinity."""
    local = ("127.0.0.1", "localhost", "::1")
    names = []
    if urlparse(os.environ.get("DATABASE_URL", "")).hostname in local:
        names.append("postgres")
    if urlparse(os.environ.get("REDIS_URL", "")).hostname in local:
        names.append("redis-server")
    if core == "shared" or not names:
        print("services: PostgreSQL and Redis not held to a core (they may run on the server's core)", flush=True)
        yield
        return
    target = {int(core)}
    before: dict[int, set[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() not in names:
                continue
            for task in (proc / "task").iterdir():
                tid = int(task.name)
                before[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, target)
        except (OSError, ValueError):
            continue  # ended, or not ours to move
    print(f"services: {', '.join(names)} held to core {core} ({len(before)} threads) during phase 1", flush=True)
    try:
        yield
    finally:
        for tid, cores in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cores)
        # Backends started meanwhile inherited the postmaster's core and end with their connections.


def _claim(database: str, run: str) -> None:
    """Refuse to start while another run of this script uses the same database and Redis: its set-up deletes
    the bench user (and so this run's endpoints) and the two loads would share the cores."""
    if not os.environ.get("REDIS_URL"):
        return
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    key = f"whbench:running:{database}"
    if not client.set(key, run, nx=True, ex=3600):
        raise SystemExit(
            f"Another benchmarks/webhooks.py run uses {database}: wait for it to end (or, if none runs, delete the "
            f"Redis key {key})."
        )


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("Django", "psycopg", "celery", "orjson", "gunicorn", "granian", "uvicorn"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _setup(count: int):
    from decimal import Decimal

    from django.conf import settings

    from accounts.models import ExchangeAccount, RiskProfile, User
    from market_data.models import Candle
    from market_data.services import candles_import_csv
    from trading import clock
    from trading.models import MarketClock
    from webhooks import services
    from webhooks.models import WebhookEndpoint

    User.objects.filter(email=EMAIL).delete()
    # Earlier runs leave their deleted events as dead rows; measure the steady state, not the bloat.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) webhooks_webhookevent")
    candles = Candle.objects.filter(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    if not candles.exists():
        path = settings.TRENDY_OHLCV_DIR / "binance_BTCUSDT_1h.csv.gz"
        report = candles_import_csv(path=path, exchange="binance", symbol="BTC/USDT", timeframe="1h")
        print(f"imported {report.inserted} BTC/USDT 1h candles", flush=True)
    before = MarketClock.objects.filter(id=1).values("mode", "timeframe", "start", "cursor").first()
    middle = candles.order_by("open_time")[candles.count() // 2].open_time
    clock.replay_start(start=middle, timeframe="1h")
    user = User.objects.create_user(email=EMAIL, password=None, auto_trading=True)
    RiskProfile.objects.update_or_create(user=user, defaults={"leverage": 3, "position_size_pct": Decimal(10)})
    account = ExchangeAccount.objects.create(user=user, exchange="paper", label="bench", paper_balance=Decimal(100_000))
    endpoints = []
    for n in range(count):
        created = services.endpoint_create(user=user, exchange_account=account, name=f"bench {n}")
        endpoints.append([created.endpoint.path, created.secret])
    WebhookEndpoint.objects.filter(user=user).update(max_alerts_per_minute=10**9)
    return before, endpoints


def _teardown(env: dict[str, str], queues: list[str], clock_before) -> None:
    from accounts.models import User
    from trading import clock
    from trading.models import MarketClock

    User.objects.filter(email=EMAIL).delete()
    if clock_before is None:
        clock.replay_stop()
    else:
        MarketClock.objects.filter(id=1).update(**clock_before)
        clock._forget()
    cmd = [str(BIN / "celery"), "-A", "trading_site", "purge", "-f", "-Q", ",".join(queues)]
    subprocess.run(cmd, env={**os.environ, **env}, cwd=ROOT, capture_output=True, check=False)
    if os.environ.get("REDIS_URL"):  # our cache keys (prefix whbench) and our queues' bindings
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        patterns = ["whbench:*"] + [f"*{queue}*" for queue in queues]
        for pattern in patterns:
            for key in client.scan_iter(match=pattern, count=1000):
                client.delete(key)


def _phase_receiver(args, env: dict[str, str], queue: str, endpoints: list[list[str]]) -> None:
    from webhooks.models import WebhookEvent

    levels = [int(x) for x in args.levels.split(",")]
    runs: dict[tuple[str, int, str], list[dict]] = {}
    kept: dict[str, Server] = {}  # --quick: one server start for all the runs
    for rep in range(args.repeat):
        for kind in args.servers:  # run by run, so that the VM's drift falls alike on every server
            server = kept.get(kind) or Server(env, queue, kind, args.workers, args.threads)
            try:
                if kind not in kept:  # not counted: connections, prepared statements, lazy imports
                    _run_level(env, server, endpoints, levels[0], "closed", args, "warm", duration=args.warm_up)
                for concurrency in levels:
                    for mode in ("closed", "bare") if args.bare_duration > 0 else ("closed",):
                        result = _run_level(env, server, endpoints, concurrency, mode, args, f"r{rep}")
                        runs.setdefault((kind, concurrency, mode), []).append(result)
                        other = {k: v for k, v in result["outcomes"].items() if not k.endswith(" accepted")}
                        label = "accepted/s" if mode == "closed" else "bare 405/s"
                        rate = result["accepted"] / result["wall"]
                        print(
                            f"  run {rep + 1} {kind:<16} c={concurrency:>3}: {rate:7.1f} "
                            f"{label}  p50 {_ms(result['p50'])}  p99 {_ms(result['p99'])} ms"
                            + (f"  other answers: {other}" if other else ""),
                            flush=True,
                        )
            finally:
                if args.quick and rep < args.repeat - 1:
                    kept[kind] = server
                else:
                    server.stop()
    pending = WebhookEvent.objects.filter(endpoint__user__email=EMAIL, status="pending").count()
    print(
        f"\nreceiver ({args.repeat} runs of {args.duration:g} s per level, bare 405s {args.bare_duration:g} s; "
        f"{pending} events left pending, as meant); medians of the runs"
    )
    print(
        f"{'server':<16} {'concurrency':>11} {'accepted/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'bare 405/s':>11} {'p50 ms':>8} {'p99 ms':>8}"
    )
    from _common import report

    for kind in args.servers:
        for concurrency in levels:
            line = f"{kind:<16} {concurrency:>11}"
            for mode in ("closed", "bare"):
                rs = runs.get((kind, concurrency, mode))
                if not rs:
                    continue
                rate = statistics.median(r["accepted"] / r["wall"] for r in rs)
                p50 = statistics.median(r["p50"] or 0 for r in rs)
                p99 = statistics.median(r["p99"] or 0 for r in rs)
                line += f" {rate:>11.1f} {_ms(p50)} {_ms(p99)}"
            print(line, flush=True)
    for kind in args.servers:
        for concurrency in levels:
            rs = runs[(kind, concurrency, "closed")]
            report(f"{kind} c={concurrency} accepted alerts", [r["accepted"] / r["wall"] for r in rs], "/s")
            report(f"{kind} c={concurrency} alert p99", [(r["p99"] or 0) * 1000 for r in rs], "ms")
            if (kind, concurrency, "bare") in runs:
                bare = runs[(kind, concurrency, "bare")]
                report(f"{kind} c={concurrency} bare 405", [r["accepted"] / r["wall"] for r in bare], "/s")
    if args.profile:
        _profile(args, env, queue, endpoints, args.servers[0], levels[0])


def _run_level(env, server, endpoints, concurrency: int, mode: str, args, tag: str, duration: float = 0) -> dict:
    spec = {"mode": mode, "port": server.port, "endpoints": endpoints, "concurrency": concurrency}
    duration = duration or (args.duration if mode == "closed" else args.bare_duration)
    spec |= {"duration": duration, "tag": f"{tag}{server.kind}c{concurrency}-{secrets.token_hex(3)}"}
    return _load(env, spec)


def _profile(args, env, queue: str, endpoints, kind: str, concurrency: int) -> None:
    """py-spy on the server's processes (samples holding the GIL) while alerts arrive at ``concurrency``."""
    spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed (pip install -r benchmarks/requirements-bench.txt): no profile", flush=True)
        return
    out = Path(tempfile.mkstemp(prefix="whbench-", suffix=".txt")[1])
    server = Server(env, queue, kind, args.workers, args.threads)
    try:
        _run_level(env, server, endpoints, concurrency, "closed", args, "warm", duration=args.warm_up)
        duration = max(4, int(args.duration))
        cmd = [spy, "record", "--pid", str(server.proc.pid), "--subprocesses", "--gil", "--format", "raw"]
        cmd += ["--rate", "250", "--duration", str(duration), "--output", str(out), "--nonblocking"]
        spying = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        spec = {"mode": "closed", "port": server.port, "endpoints": endpoints, "concurrency": concurrency}
        result = _load(env, spec | {"duration": duration - 1.5, "tag": f"prof-{secrets.token_hex(3)}"})
        spying.wait(timeout=duration + 30)
    finally:
        server.stop()
    print(
        f"\nprofile: {kind}, c={concurrency}, {result['accepted'] / result['wall']:.1f} accepted/s under py-spy "
        f"(250 samples/s, GIL holders)",
        flush=True,
    )
    _print_profile(out)
    out.unlink(missing_ok=True)


# Frames every request passes through before the application: left out of the inclusive list.
_PLUMBING = ("threading.py", "concurrent/futures", "<frozen", "process ", "selectors.py", "socketserver")


def _print_profile(path: Path, top: int = 30) -> None:
    import collections
    import re

    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        names = []
        for frame in stack.split(";"):
            m = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
            if m:
                frame = f"{m.group(1)} ({re.sub(r'.*/(site-packages|lib/python3[.0-9]*|main)/', '', m.group(2))})"
            names.append(frame)
        for name in set(names):
            inclusive[name] += n
        own[names[-1]] += n
    if not total:
        print("  (no samples)")
        return
    print(f"  {total} samples; inclusive (a function and what it calls):")
    shown = 0
    for name, n in inclusive.most_common():
        if any(p in name for p in _PLUMBING):
            continue
        print(f"  {100 * n / total:5.1f} %  {name}")
        shown += 1
        if shown == top:
            break
    print("  own time (the sampled frame itself):")
    for name, n in own.most_common(15):
        print(f"  {100 * n / total:5.1f} %  {name}")


def _phase_fill(args, env: dict[str, str], queue: str, endpoints: list[list[str]]) -> None:
    from webhooks.models import WebhookEvent

    summaries = []
    for rep in range(args.repeat):
        server = Server(env, queue, args.servers[0], args.workers, args.threads)
        worker = Worker(env, queue)
        try:
            endpoint = endpoints[rep % len(endpoints)]
            # Warm up (and wait for the worker): close whatever is open; "nothing" or "done".
            warm = _load(env, {"mode": "paced", "port": server.port, "endpoints": [endpoint], "count": 2,
                               "rate": 2, "tag": f"warm{rep}-{secrets.token_hex(3)}"})  # fmt: skip
            _wait_processed([s["event"] for s in warm["sent"]], timeout=60)
            spec = {"mode": "paced", "port": server.port, "endpoints": [endpoint], "count": args.alerts}
            spec |= {"rate": args.rate, "tag": f"f{rep}-{secrets.token_hex(3)}"}
            sent = _load(env, spec)["sent"]
            _wait_processed([s["event"] for s in sent], timeout=60)
        finally:
            worker.stop()
            server.stop()
        events = {e.pk: e for e in WebhookEvent.objects.filter(pk__in=[s["event"] for s in sent])}
        latencies, statuses = [], {}
        for s in sent:
            event = events.get(s["event"])
            status = event.status if event else f"http {s['status']}"
            statuses[status] = statuses.get(status, 0) + 1
            if event is not None and event.status == "done" and event.processed_at:
                latencies.append(event.processed_at.timestamp() - s["at"])
        latencies.sort()
        answers = sorted(s["answer_s"] for s in sent)
        summary = {"p50": _pct(latencies, 50), "p95": _pct(latencies, 95), "max": latencies[-1] if latencies else None}
        summary["answer_p95"] = _pct(answers, 95)
        summaries.append(summary)
        print(
            f"  run {rep + 1}: {len(latencies)}/{len(sent)} filled  alert→fill p50 {_ms(summary['p50'])}  "
            f"p95 {_ms(summary['p95'])}  max {_ms(summary['max'])} ms  (receiver answer p95 "
            f"{_ms(summary['answer_p95'])} ms)  {statuses}",
            flush=True,
        )
    print(f"\nalert to paper fill ({args.alerts} alerts at {args.rate:g}/s, {args.repeat} runs; medians)")
    print(f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print(" ".join(_ms(statistics.median(s[k] or 0 for s in summaries)) for k in ("p50", "p95", "max")), flush=True)


def _wait_processed(ids: list[int | None], timeout: float) -> None:
    from webhooks.models import WebhookEvent

    ids = [i for i in ids if i]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not WebhookEvent.objects.filter(pk__in=ids, status__in=("pending", "processing")).exists():
            return
        time.sleep(0.1)
    print(f"  (some events were not processed within {timeout:.0f} s)", flush=True)


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:8.1f}" if seconds is not None else "       -"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        _load_main(sys.argv[2:])
    else:
        main()
