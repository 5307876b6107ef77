"""Shared helpers for the benchmark scripts: one header, one form for the figures.

Every script in benchmarks/ calls ``print_header`` once, right after parsing its arguments, and
``report`` for each figure at the end, so that every run says on what machine, against which
services, at which commit and with which settings it was measured, and prints its figures alike.

API (stable; other scripts depend on it, only add keyword arguments with defaults):

``print_header(args, uses_db=False, uses_redis=False, *, name=None, file=None) -> dict``
    Prints, between two ``=`` rules: the script (``name``, default the running script's file
    name) and its command line; the machine (CPU model, logical cores / cores usable by this
    process, RAM, OS, load average at start); the Python version; the git revision (short hash,
    ``+dirty`` when tracked files differ from it, and the branch); the date (UTC, ISO 8601); the
    database server when ``uses_db``; the Redis server when ``uses_redis``; and the script's
    settings: every attribute of ``args`` (an ``argparse.Namespace``, or a dict, or None), sorted.
    ``uses_db``: ``True`` reads Django's default database settings when Django is configured,
    otherwise ``DATABASE_URL``; a string is taken as the database URL itself. For PostgreSQL it
    prints ``SHOW server_version`` and the database name (through a separate short psycopg
    connection that it closes: Django's own connection is left untouched); for SQLite, the SQLite
    library version. ``uses_redis``: ``True`` reads ``REDIS_URL``; a string is the URL itself; it
    prints ``redis_version`` from ``INFO server``. A server that cannot be reached is reported as
    such; the header never raises. Returns the same facts as a dict.

``report(name, values, unit="s", *, file=None) -> dict``
    Prints one line ``result  <name>: median …`` for a list of measurements (or one number).
    With 20 values or more it adds p95 and p99 (linear interpolation); with 2 or more, the
    fastest and the slowest (min / max); always ``n``. A single value (one number, or a list of
    one) prints as ``result  <name>: <value> <unit>``. Returns the figures as a dict
    (``n``, ``median``, ``min``, ``max``, and ``p95``/``p99`` when printed).

``percentile(values, q) -> float``
    The q-th percentile (0 ≤ q ≤ 100) with linear interpolation between the closest ranks.

``fmt(value) -> str``
    The number format ``report`` uses (4 significant digits, thousands separated, no exponent).

Usage::

    from _common import print_header, report   # scripts run as benchmarks/<name>.py

    args = parser.parse_args()
    print_header(args, uses_db=True)
    ...
    report("load_candles", timings, "s")

A script run from elsewhere can import it as ``benchmarks._common`` (the repository root on
``sys.path``); ``benchmarks/`` is on ``sys.path`` whenever a script in it runs, so ``_common`` works.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["fmt", "percentile", "print_header", "report"]


# --- figures -------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) of ``values``, interpolating linearly between the closest ranks."""
    ordered = sorted(float(v) for v in values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fmt(value: float) -> str:
    """4 significant digits, thousands separated, never an exponent: 0.001234, 1.235, 1,235, 12,346; whole
    numbers as such (148)."""
    value = float(value)
    if value == 0 or value != value:  # zero or NaN
        return f"{value:g}"
    if value.is_integer():  # counts: 148, 4,523
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    digits = 3
    while magnitude < 1 and digits < 12:
        magnitude *= 10
        digits += 1
    if abs(value) >= 100:
        digits = 1
    elif abs(value) >= 10:
        digits = 2
    return f"{value:.{digits}f}"


def report(name: str, values: Iterable[float] | float, unit: str = "s", *, file: TextIO | None = None) -> dict:
    """Print one ``result  <name>: median …`` line for the measurements and return the figures."""
    out = file or sys.stdout
    data = [float(values)] if isinstance(values, int | float) else [float(v) for v in values]
    if not data:
        print(f"result  {name}: no measurements", file=out, flush=True)
        return {"n": 0}
    ordered = sorted(data)
    n = len(ordered)
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    figures: dict[str, float] = {"n": n, "median": median, "min": ordered[0], "max": ordered[-1]}
    suffix = f" {unit}" if unit else ""
    if n == 1:  # one figure (a count, a total, a single timing): no statistics to speak of
        print(f"result  {name}: {fmt(median)}{suffix}", file=out, flush=True)
        return figures
    parts = [f"median {fmt(median)}{suffix}"]
    if n >= 20:
        figures["p95"] = percentile(ordered, 95)
        figures["p99"] = percentile(ordered, 99)
        parts += [f"p95 {fmt(figures['p95'])}", f"p99 {fmt(figures['p99'])}"]
    if n >= 2:
        parts += [f"min {fmt(ordered[0])}", f"slowest {fmt(ordered[-1])}"]
    parts.append(f"n={n}")
    print(f"result  {name}: " + ", ".join(parts), file=out, flush=True)
    return figures


# --- header --------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _ram() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            return f"{kib / 1024 / 1024:.1f} GiB"
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        return "unknown"


def _os_name() -> str:
    pretty = ""
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}"
    return f"{pretty} ({kernel})" if pretty else kernel


def _cores() -> str:
    logical = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = logical
    return f"{logical} logical" + (f", {usable} usable by this process" if usable != logical else "")


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _git_revision() -> str:
    revision = _git("rev-parse", "--short=12", "HEAD")
    if not revision:
        return "unknown (not a git checkout)"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    return revision + ("+dirty" if dirty else "") + (f" ({branch})" if branch and branch != "HEAD" else "")


def _database_params(uses_db: bool | str) -> dict[str, Any]:
    """{'vendor', 'name', and for PostgreSQL the psycopg keyword arguments}, from a URL or Django."""
    url = uses_db if isinstance(uses_db, str) else ""
    if not url:
        try:
            from django.conf import settings

            configured = settings.configured and bool(settings.DATABASES)
        except Exception:  # noqa: BLE001 - Django missing or its settings broken: fall back on the URL
            configured = False
        if configured:
            db = settings.DATABASES["default"]
            engine = db.get("ENGINE", "")
            if "sqlite" in engine:
                return {"vendor": "sqlite", "name": str(db.get("NAME", ""))}
            if "postgresql" not in engine:
                return {"vendor": engine.rsplit(".", 1)[-1], "name": str(db.get("NAME", ""))}
            connect = {
                "dbname": db.get("NAME") or "postgres",
                "user": db.get("USER") or None,
                "password": db.get("PASSWORD") or None,
                "host": db.get("HOST") or None,
                "port": str(db["PORT"]) if db.get("PORT") else None,
            }
            return {"vendor": "postgresql", "name": connect["dbname"], "connect": connect}
        url = os.environ.get("DATABASE_URL", "")
    if not url:
        return {"vendor": "sqlite", "name": "(DATABASE_URL unset: the project's default SQLite file)"}
    parsed = urlparse(url)
    if parsed.scheme.startswith("sqlite"):
        return {"vendor": "sqlite", "name": parsed.path or url}
    if not parsed.scheme.startswith("postgres"):
        return {"vendor": parsed.scheme, "name": parsed.path.lstrip("/")}
    connect = {
        "dbname": unquote(parsed.path.lstrip("/")) or "postgres",
        "user": unquote(parsed.username) if parsed.username else None,
        "password": unquote(parsed.password) if parsed.password else None,
        "host": parsed.hostname,
        "port": str(parsed.port) if parsed.port else None,
    }
    return {"vendor": "postgresql", "name": connect["dbname"], "connect": connect}


def _database_line(uses_db: bool | str) -> str:
    try:
        params = _database_params(uses_db)
    except Exception as exc:  # noqa: BLE001 - the header never raises
        return f"unknown ({type(exc).__name__}: {exc})"
    vendor, name = params["vendor"], params["name"]
    if vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}, {name}"
    if vendor != "postgresql":
        return f"{vendor}, {name}"
    connect = {key: value for key, value in params["connect"].items() if value is not None}
    where = f"{connect.get('host', 'local socket')}:{connect.get('port', '5432')}"
    try:
        import psycopg

        with psycopg.connect(**connect, connect_timeout=5, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - report, never raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL (version unknown: {reason}), database {name} on {where}"
    return f"PostgreSQL {version}, database {name} on {where}"


def _redis_line(uses_redis: bool | str) -> str:
    url = uses_redis if isinstance(uses_redis, str) else os.environ.get("REDIS_URL", "")
    if not url:
        return "not configured (REDIS_URL unset)"
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    db = parsed.path.lstrip("/") or "0"
    try:  # a bare RESP exchange: no client library needed
        with socket.create_connection((host, port), timeout=5) as sock:
            if parsed.password:
                user = unquote(parsed.username) if parsed.username else None
                words = ["AUTH", *([user] if user else []), unquote(parsed.password)]
                sock.sendall(("".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)).encode())
                reply = sock.recv(1024)
                if not reply.startswith(b"+OK"):
                    raise ConnectionError(reply.decode(errors="replace").strip())
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            data = b""
            while b"redis_version:" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) > 1_000_000:
                    break
    except Exception as exc:  # noqa: BLE001 - report, never raise
        return f"unreachable at {host}:{port} ({exc})"
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("redis_version:"):
            return f"Redis {line.split(':', 1)[1].strip()} at {host}:{port}, db {db}"
    return f"unknown version at {host}:{port}, db {db}"


def _settings(args: Any) -> dict[str, Any]:
    if args is None:
        return {}
    if isinstance(args, dict):
        return dict(args)
    return dict(vars(args))


def print_header(
    args: Any,
    uses_db: bool | str = False,
    uses_redis: bool | str = False,
    *,
    name: str | None = None,
    file: TextIO | None = None,
) -> dict:
    """Print the machine, services, revision, date and settings of this run; return them as a dict."""
    out = file or sys.stdout
    script = name or Path(sys.argv[0]).name or "benchmark"
    try:
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except (AttributeError, OSError):
        load = "unknown"
    facts: dict[str, Any] = {
        "benchmark": script,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpu": _cpu_model(),
        "cores": _cores(),
        "ram": _ram(),
        "os": _os_name(),
        "load average": load,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "git": _git_revision(),
        "date": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
    }
    if uses_db:
        facts["database"] = _database_line(uses_db)
    if uses_redis:
        facts["redis"] = _redis_line(uses_redis)
    settings = _settings(args)
    rule = "=" * 100
    print(rule, file=out)
    for key, value in facts.items():
        print(f"{key + ':':14} {value}", file=out)
    print(f"{'settings:':14} " + (", ".join(f"{k}={settings[k]!r}" for k in sorted(settings)) or "(none)"), file=out)
    print(rule, file=out, flush=True)
    facts["settings"] = settings
    return facts
