#!/usr/bin/env python
"""Schemathesis against a live server, as a client would meet the API: counts server errors and schema
mismatches.

Creates a scratch PostgreSQL database (``--database``, default ``trendy_schema_live``; dropped first and
at the end), migrates it, builds the trader of ``tests/trading_site/api_trader.py`` (accounts, bots,
positions, orders, trades, backtests, webhook endpoints and events; the market clock on replay), starts
``runserver`` on 127.0.0.1 with the API throttles raised (so the run tests the operations, not the rate
limit), and runs ``st run`` over ``/api/v1/schema/`` with every check, authenticated with the trader's
API token. Prints the number of responses, the 5xx answers and the failures of each check, and the
response times schemathesis recorded. Exits with status 1 when no response was recorded at all.

``--quick`` (``make bench-quick``): 2 examples per operation instead of 30, and only the ``examples`` and
``fuzzing`` phases (no ``coverage``, no ``stateful``); about 40 s with the migration and the trader.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python benchmarks/api_schema.py --max-examples 30
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

from _common import print_header
from _common import report as result  # "report" is the schemathesis report folder here

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
ST = str(ROOT / ".venv" / "bin" / "st")

BUILD = """
import tempfile
from pathlib import Path
from django.core.cache import cache
from tests.trading_site.api_trader import build_trader
cache.clear()
with tempfile.TemporaryDirectory() as tmp:
    print(build_trader(Path(tmp)).token)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="trendy_schema_live")
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database and the report")
    parser.add_argument("--phases", help="schemathesis phases, comma-separated (default: all)")
    parser.add_argument("--quick", action="store_true", help="2 examples per operation, examples and fuzzing only")
    args = parser.parse_args()
    if args.quick:
        args.max_examples, args.phases = 2, args.phases or "examples,fuzzing"
    print_header(args, uses_db=os.environ.get("DATABASE_URL", "") or True, uses_redis=True)

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://… (the server's database; the scratch one is created beside it).")
    parts = urlsplit(base)
    live = urlunsplit(parts._replace(path=f"/{args.database}"))
    _admin(base, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    _admin(base, f'CREATE DATABASE "{args.database}"')
    env = {
        **os.environ,
        "DATABASE_URL": live,
        "DJANGO_DEBUG": "1",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "API_THROTTLE_ANON": "100000/min",
        "API_THROTTLE_USER": "100000/min",
        "API_THROTTLE_AUTH": "100000/min",
        "API_THROTTLE_BACKTESTS": "100000/min",
        "API_THROTTLE_ANALYTICS": "100000/min",
    }
    report = Path(tempfile.mkdtemp(prefix="schemathesis-"))
    server = None
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        out = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", BUILD], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        )
        token = out.stdout.strip().splitlines()[-1]
        port = _free_port()
        server = subprocess.Popen(
            [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(report / "server.log", "w"),  # noqa: SIM115 - closed with the process
        )
        schema_url = f"http://127.0.0.1:{port}/api/v1/schema/"
        for _ in range(100):
            try:
                urlopen(schema_url, timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        started = time.perf_counter()
        run = subprocess.run(  # in the report folder: schemathesis keeps its cache in the working directory
            [
                ST,
                "run",
                schema_url,
                "--checks",
                "all",
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--workers",
                "1",
                "-H",
                f"Authorization: Bearer {token}",
                "--report",
                "ndjson",
                "--report-dir",
                str(report),
                "--continue-on-failure",
                *(["--phases", args.phases] if args.phases else []),
            ],
            cwd=report,
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        (report / "st.txt").write_text(run.stdout + run.stderr)
        summary, responses, seconds = _summary(report, elapsed)
        print(summary)
        if args.keep:
            print(f"report: {report}")
        print()
        result("st run (wall)", elapsed, "s")
        result("responses", responses, "")
        if seconds:
            result("response time", [s * 1000 for s in seconds], "ms")
        if not responses:
            print(f"no response recorded; st exited {run.returncode}:\n{(run.stdout + run.stderr)[-3000:]}")
            return 1
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if not args.keep:
            _admin(base, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def _summary(report: Path, elapsed: float) -> tuple[str, int, list[float]]:
    """The summary's text, the number of responses, and their times in seconds (when recorded)."""
    responses = 0
    seconds: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    failures: collections.Counter[str] = collections.Counter()
    where: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for path in report.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            for _name, payload in event.items():
                if not isinstance(payload, dict):
                    continue
                for interaction, elapsed_s in _interactions(payload):
                    responses += 1
                    statuses[interaction] += 1
                    if elapsed_s is not None:
                        seconds.append(elapsed_s)
                for check, label in _failed_checks(payload):
                    failures[check] += 1
                    where[check][label] += 1
    lines = [f"{responses} responses in {elapsed:.0f} s; by status: {dict(sorted(statuses.items()))}"]
    lines.append(f"5xx responses: {sum(n for s, n in statuses.items() if s >= 500)}")
    for check, count in failures.most_common():
        lines.append(f"{check}: {count} ({', '.join(f'{k} ×{v}' for k, v in where[check].most_common())})")
    return "\n".join(lines), responses, seconds


def _walk(value: object):
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _interactions(payload: dict) -> list[tuple[int, float | None]]:
    found = []
    for node in _walk(payload):
        response = node.get("response") if "request" in node else None
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            elapsed = response.get("elapsed")
            found.append((response["status_code"], float(elapsed) if isinstance(elapsed, int | float) else None))
    return found


def _failed_checks(payload: dict) -> list[tuple[str, str]]:
    found = []
    for node in _walk(payload):
        if node.get("status") == "FAILURE" and "name" in node and "case" in node:
            case = node.get("case") or {}
            label = f"{case.get('method', '?')} {case.get('path', '?')}"
            found.append((node["name"], label))
    return found


if __name__ == "__main__":
    sys.exit(main())
