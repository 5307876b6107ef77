"""A first run anywhere (issue 12): ``make seed`` on a fresh SQLite file with no candle folder and no
network, then the dashboard served by ``manage.py runserver``, signed in as the demo user.

Everything runs in subprocesses with their own environment, as a new user's shell has it: the suite's
DATABASE_URL and REDIS_URL (PostgreSQL and Redis in CI) are replaced by a SQLite file in tmp, the
embedded cache and the file-system broker. The exchange is unreachable by construction: its API URL and
every proxy variable point at a closed port on 127.0.0.1, so each attempt is refused at once.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_HEADER = "Market data: bundled sample (BTC/USDT, ETH/USDT 1h, 2024)."

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_env(tmp_path: Path) -> dict[str, str]:
    closed = f"http://127.0.0.1:{free_port()}"
    drop = ("DATABASE_", "REDIS_", "TRENDY_", "DJANGO_", "CELERY_", "EMAIL_", "MAKE", "MFLAGS", "PYTEST_")
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith(drop)}
    env = {key: value for key, value in env.items() if "proxy" not in key.lower()}
    (tmp_path / "no-candles").mkdir()
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TRENDY_VAR_DIR": str(tmp_path / "var"),
        "TRENDY_OHLCV_DIR": str(tmp_path / "no-candles"),
        "TRENDY_EXCHANGE_API_URLS": f"binance={closed},okx={closed}",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = closed
    return env


class Browser:
    """Just enough of a browser for Django: cookies, CSRF, redirects; never a proxy."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read().decode()

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        token = next(c.value for c in self.cookies if c.name == "csrftoken")
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base + path})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read().decode()


def test_make_seed_offline_without_candle_files_then_the_dashboard(tmp_path):
    env = offline_env(tmp_path)
    venv = Path(sys.executable).parent.parent
    # The kernels compile beside the seed, as in `make run` (a second or so when already cached).
    kernels = subprocess.Popen(
        [sys.executable, "-c", "from strategies.warmup import warm_up; warm_up()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    seed = subprocess.run(
        # The Makefile's own seed target; its install step is not repeated (-o).
        ["make", "--no-print-directory", "seed", f"PY={sys.executable}", f"VENV={venv}", "-o", f"{venv}/.installed"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = seed.stdout + seed.stderr
    assert seed.returncode == 0, output
    assert "Traceback" not in output, output
    for command in (
        "migrate", "setup_periodic_tasks", "seed_demo", "market_clock auto", "seed_trading_demo",
        "seed_marketplace_demo",
    ):  # fmt: skip
        assert f"manage.py {command}" in output
    assert "does not exist" not in output  # the folder exists, empty
    assert "has no binance_<PAIR>_<tf>.csv.gz files (TRENDY_OHLCV_DIR); trying binance" in output
    probe = re.search(
        r"Market data: binance cannot be reached \(127\.0\.0\.1:\d+ did not answer; ([\d.]+) s\)\.", output
    )
    assert probe and float(probe.group(1)) < 1, output  # refused at once, no DNS or connect wait
    assert "Market data: the bundled sample (BTC/USDT, ETH/USDT 1h, 2024; market_data/sample/)." in output
    assert "binance BTC/USDT 1h: read 8784, inserted 8784" in output
    assert "Market data: bundled sample (BTC/USDT, ETH/USDT 1h, 2024): replaying the stored candles." in output
    assert "Market clock: replay at 2024-12-01 23:00 UTC" in output
    assert "with a running bot" in output
    seeded = time.monotonic() - started

    password = re.search(r"E-mail: demo@trendy\.local  Password: (\S+)", output)[1]  # a new random one
    assert kernels.wait(timeout=240) == 0

    port = free_port()
    log = (tmp_path / "runserver.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "runserver.log").read_text()
            try:
                status, _url, page = browser.get("/accounts/login/")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, (tmp_path / "runserver.log").read_text()
                time.sleep(0.3)
        assert status == 200
        assert SAMPLE_HEADER in page  # every page, signed in or not

        status, url, page = browser.post("/accounts/login/", {"login": "demo@trendy.local", "password": password})
        assert status == 200, page
        assert url.endswith("/trading/dashboard/"), url

        status, _url, page = browser.get("/trading/dashboard/")
        assert status == 200
        assert "demo@trendy.local" in page
        assert SAMPLE_HEADER in page and "Replay: market time" in page
        assert "Candles: Binance spot market data." in page
        charts = json.loads(
            re.search(r'<script id="dashboard-charts" type="application/json">(.*?)</script>', page, re.S)[1]
        )
        candles = charts["market"]["candles"]["candles"]
        assert len(candles) > 100
        # Real 2024 prices from the sample, up to the replay's time (2024-12-01 23:00 UTC and a few candles).
        assert all(30_000 < candle["close"] < 110_000 for candle in candles)
        assert candles[-1]["time"] < 1_733_270_400  # before 2024-12-04
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    print(f"make seed offline: {seeded:.1f} s")
