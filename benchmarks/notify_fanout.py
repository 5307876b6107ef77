#!/usr/bin/env python
"""Notification fan-out benchmark (issue 19): one event burst becomes 10,000 notifications, each delivered to its
user's channel — with no loss and no duplicate.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python benchmarks/notify_fanout.py [--users 10000] [--pool threads] [--workers 16] [--quick]

What is measured
- The burst: a strategy's new version told to ``--users`` subscribers in one transaction (``accounts.events.emit``
  per user, as marketplace.services does). On commit the listener stores each notification (in-app) and sends one
  ``notifications.dispatch`` task per notification to Redis.
- The delivery: a real Celery worker (``--pool threads --workers 16``: the notifications queue waits on the
  network, so the README runs it with threads; ``--pool prefork`` to compare) on the ``notifications`` queue plans each
  user's delivery and send it — a third of the users to Telegram, a third to Slack, a third by e-mail — to fake
  services in this process on 127.0.0.1: a recording HTTP server (Telegram's sendMessage, Slack webhooks) and an
  SMTP server (aiosmtpd).
- Figures: the commit (emit + store + queue), and for each message the delay from the commit to its arrival at the
  fake service; the time until the last one arrived; throughput. Loss and duplicates are counted per user: every
  user must receive exactly one message, on their own channel.

Users (``bench-fanout-*@bench.invalid``) and their rows are created in the database of DATABASE_URL and deleted at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import print_header, report  # noqa: E402

EMAIL = "bench-fanout-{}@bench.invalid"
BOT = "1000:bench-bot-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Arrivals:
    """Every message the fake services received: (who, arrival time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, float]] = []

    def add(self, who: str) -> None:
        with self.lock:
            self.seen.append((who, time.time()))


def http_service(arrivals: Arrivals) -> tuple[str, ThreadingHTTPServer]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.endswith("/sendMessage"):
                arrivals.add("telegram:" + str(json.loads(body)["chat_id"]))
            else:
                arrivals.add("slack:" + self.path.rsplit("/", 1)[-1])
            payload = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def smtp_service(arrivals: Arrivals) -> Any:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            for address in envelope.rcpt_tos:
                arrivals.add("email:" + address)
            return "250 Message accepted"

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller


def setup(n: int, slack_url: str) -> list[tuple[int, str]]:
    """n users, each with one channel; returns (user id, the address its message must arrive at)."""
    from accounts.models import User
    from notifications import services
    from notifications.models import Channel

    User.objects.filter(email__startswith="bench-fanout-").delete()
    users = User.objects.bulk_create([User(email=EMAIL.format(k)) for k in range(n)])
    expected = []
    for k, user in enumerate(users):
        if k % 3 == 0:
            services._channel_save(
                user=user, kind=Channel.Kind.TELEGRAM, address=f"{user.pk}", hint="", label="", language="en"
            )
            expected.append((user.pk, f"telegram:{user.pk}"))
        elif k % 3 == 1:
            services.channel_slack_add(user=user, webhook_url=f"{slack_url}/services/T/B/{user.pk}")
            expected.append((user.pk, f"slack:{user.pk}"))
        else:
            services.channel_email_add(user=user)
            expected.append((user.pk, f"email:{user.email}"))
    return expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"], help="the worker's pool")
    parser.add_argument("--workers", type=int, default=16, help="the worker's concurrency (threads or processes)")
    parser.add_argument("--quick", action="store_true", help="300 users")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the last message")
    args = parser.parse_args()
    if args.quick:
        args.users = 300
    print_header(args, uses_db=True, uses_redis=True)

    arrivals = Arrivals()
    base_url, http_server = http_service(arrivals)
    smtp = smtp_service(arrivals)
    env = {
        "TRENDY_TELEGRAM_BOT_TOKEN": BOT,
        "TRENDY_TELEGRAM_API_URL": base_url,
        "TRENDY_NOTIFY_ALLOW_PRIVATE": "1",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}?tls=0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
    import django

    django.setup()
    from django.db import transaction

    from accounts import events
    from accounts.models import User
    from trading_site.celery import app

    app.control.purge()
    started = time.perf_counter()
    expected = setup(args.users, base_url)
    print(f"setup   {args.users} users with a channel each in {time.perf_counter() - started:.1f} s")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "trading_site", "worker", "-Q", "notifications,celery",
         "--pool", args.pool, "--concurrency", str(args.workers), "-l", "warning", "--without-mingle"],
        cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip
    try:
        ready = time.time() + 120
        while not app.control.ping(timeout=1.0) and time.time() < ready:  # the worker is up and consuming
            time.sleep(0.5)
        marks: dict[str, float] = {}
        emitted = time.perf_counter()
        with transaction.atomic():
            transaction.on_commit(lambda: marks.setdefault("committed", time.time()))  # runs first after COMMIT
            for user_id, _address in expected:
                events.emit(user_id, "marketplace.new_version", listing="bench", version=2)
        listeners_seconds = time.perf_counter() - emitted
        committed_at = marks["committed"]
        deadline = time.time() + args.timeout
        while len(arrivals.seen) < len(expected) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # a late duplicate would arrive now
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a warm shutdown stuck on a thread: what it delivered is counted below
            print("the worker did not stop within 60 s of SIGTERM: killed", flush=True)
            worker.kill()
            worker.wait()
        http_server.shutdown()
        smtp.stop()
    seen = Counter(who for who, _at in arrivals.seen)
    wanted = {address for _uid, address in expected}
    lost = sorted(wanted - set(seen))
    duplicates = {who: n for who, n in seen.items() if n > 1}
    strangers = [who for who in seen if who not in wanted]
    delays = [at - committed_at for _who, at in arrivals.seen]
    report(f"burst: {args.users} events emitted, committed, stored in-app and queued", listeners_seconds, "s")
    report("commit → message at the fake service", delays, "s")
    if delays:
        last = max(delays)
        report(f"commit → last of {len(arrivals.seen)} messages", last, "s")
        rate = len(arrivals.seen) / last
        print(f"result  throughput: {rate:,.0f} messages/s, one worker ({args.pool} pool, concurrency {args.workers})")
    print(f"result  delivered {len(set(seen) & wanted)} of {len(wanted)}; lost {len(lost)}; "
          f"duplicated {len(duplicates)}; to an address nobody registered {len(strangers)}")  # fmt: skip
    User.objects.filter(email__startswith="bench-fanout-").delete()
    ok = not lost and not duplicates and not strangers
    print("PASS" if ok else f"FAIL lost={lost[:5]} duplicates={list(duplicates)[:5]} strangers={strangers[:5]}")
    asyncio.set_event_loop(None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
