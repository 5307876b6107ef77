#!/usr/bin/env python
"""Live stream benchmark (issue 19): 1,000 WebSocket clients on one server process receive a fill.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python benchmarks/stream.py [--clients 1000] [--rounds 5] [--quick: 100 clients, 2 rounds]

Target: every one of 1,000 connected clients receives a fill within 200 ms (p95) of its publication.

What is measured
- The server: the production stream service as the containers run it — granian, ASGI, one worker process
  (``trading_site.asgi:application``), the Redis channel layer — started by this script on a free port.
- The clients: ``--clients`` users, each with its own API token and one WebSocket (aiohttp's client, in this
  process), authenticated on connect. Connecting them all is timed too.
- A round: from another process (a Celery worker's place: ``notifications.stream.publish`` through Redis), one fill
  event per user, each carrying its publication time (``time.time()``); every client records the delay from
  that time to the moment it has the message parsed. One latency per client per round; ``--rounds`` rounds.
- Loss and leaks are checked: every client gets exactly its own fill each round and nobody else's.

The users and tokens are created in the database named by DATABASE_URL (``bench-stream-*@bench.invalid``) and
deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import print_header, report  # noqa: E402

EMAIL = "bench-stream-{}@bench.invalid"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup_users(n: int) -> list[tuple[int, str]]:
    from accounts.models import User
    from accounts.services import api_token_issue

    User.objects.filter(email__startswith="bench-stream-").delete()
    users = User.objects.bulk_create([User(email=EMAIL.format(k)) for k in range(n)])
    return [(u.pk, api_token_issue(user=u, name="bench").key) for u in users]


def publisher(rounds: int, user_ids: list[int], gap: float) -> None:
    """Run in a separate process: publish one fill per user per round through the channel layer."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
    import django

    django.setup()
    from notifications import stream

    for r in range(rounds):
        time.sleep(gap)
        for uid in user_ids:
            stream.publish(uid, "order_filled", {"round": r, "user": uid, "sent": time.time()})


async def run_clients(url: str, users: list[tuple[int, str]], rounds: int, gap: float) -> dict:
    import aiohttp

    latencies: list[list[float]] = [[] for _ in range(rounds)]
    wrong = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        sockets = []
        for k in range(0, len(users), 100):  # 100 at a time, as phones reconnecting after a deploy would
            batch = users[k : k + 100]
            sockets += await asyncio.gather(
                *(session.ws_connect(url, headers={"Authorization": f"Bearer {key}"}) for _uid, key in batch)
            )
        hellos = await asyncio.gather(*(ws.receive_json() for ws in sockets))
        connect_seconds = time.perf_counter() - started
        assert all(h["type"] == "hello" for h in hellos)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--publish", str(rounds), "--gap", str(gap),
            "--users", ",".join(str(uid) for uid, _key in users),
        )  # fmt: skip

        async def listen(index: int, ws) -> None:
            nonlocal wrong
            uid = users[index][0]
            for _ in range(rounds):
                msg = await ws.receive(timeout=gap * rounds + 60)
                arrived = time.time()
                data = json.loads(msg.data)["data"]
                if data["user"] != uid:
                    wrong += 1
                latencies[data["round"]].append(arrived - data["sent"])

        await asyncio.gather(*(listen(k, ws) for k, ws in enumerate(sockets)))
        await proc.wait()
        await asyncio.gather(*(ws.close() for ws in sockets))
    return {"latencies": latencies, "wrong": wrong, "connect_seconds": connect_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="100 clients, 2 rounds")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between rounds")
    parser.add_argument("--publish", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--users", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish is not None:
        publisher(args.publish, [int(u) for u in args.users.split(",")], args.gap)
        return 0
    if args.quick:
        args.clients, args.rounds, args.gap = 100, 2, 1.0
    print_header(args, uses_db=True, uses_redis=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
    import django

    django.setup()
    from accounts.models import User

    users = setup_users(args.clients)
    port = free_port()
    granian = Path(sys.executable).parent / "granian"
    server = subprocess.Popen(
        [str(granian), "--interface", "asginl", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--log-level", "warning", "trading_site.asgi:application"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        result = asyncio.run(run_clients(f"ws://127.0.0.1:{port}/ws/v1/stream", users, args.rounds, args.gap))
    finally:
        server.terminate()
        server.wait(timeout=20)
        User.objects.filter(email__startswith="bench-stream-").delete()
    every = [x for r in result["latencies"] for x in r]
    report(f"connect and authenticate {args.clients} WebSocket clients (100 at a time)", result["connect_seconds"], "s")
    for k, round_ in enumerate(result["latencies"]):
        report(f"round {k + 1}: a fill to each of {args.clients} clients, publication → parsed", round_, "s")
    figures = report(f"all rounds ({args.rounds} × {args.clients} deliveries)", every, "s")
    delivered = len(every)
    print(f"result  delivered {delivered} of {args.rounds * args.clients}; to the wrong user: {result['wrong']}")
    met = figures.get("p95", figures["max"]) < 0.2 and delivered == args.rounds * args.clients and not result["wrong"]
    print(f"result  target p95 < 200 ms with no loss: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
