"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("TRENDY_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("TRENDY_SCREENSHOTS", ROOT / "var" / "screenshots"))
HERE = Path(__file__).resolve().parent
INSTALL = "apt-get install chromium fonts-noto-cjk"


def _cjk_font() -> bool:
    """A font with Korean glyphs (the Korean pages are measured and screenshotted): Debian's fonts-noto-cjk."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    try:
        found = subprocess.run([fc_list, ":lang=ko", "family"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found.strip())


def _missing() -> list[str]:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"no Chromium at {CHROMIUM} (or set TRENDY_CHROMIUM)")
    if not _cjk_font():
        missing.append("no CJK font for the Korean pages (fc-list :lang=ko finds none)")
    return missing


MISSING = _missing()
SKIP_REASON = f"browser tests skipped: {'; '.join(MISSING)} ({INSTALL})"


def _in_browser_tests(path: str | Path) -> bool:
    """``path``: a test's file, absolute or relative to the project (a report's)."""
    return HERE in (ROOT / path).resolve().parents


def pytest_runtest_setup(item):
    """Without Chromium or a CJK font, every browser test is skipped before its fixtures are set up, from this
    one line (so ``-ra`` folds them into one report line)."""
    if MISSING and _in_browser_tests(item.path):
        pytest.skip(SKIP_REASON)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line at the end when the browser tests were skipped and ``-r`` does not list skips already."""
    listed = set(config.option.reportchars or "") & {"s", "a", "A"}
    skipped = terminalreporter.stats.get("skipped", [])
    if MISSING and not listed and any(_in_browser_tests(report.fspath) for report in skipped):
        terminalreporter.write_line(SKIP_REASON)


def wait_for(predicate, timeout: float, what: str, log: Path | None = None):
    """Poll ``predicate`` until it returns something true; fail with the worker's log tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    tail = f"; worker log:\n{log.read_text()[-4000:]}" if log else ""
    pytest.fail(f"timed out waiting for {what}{tail}")


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if MISSING:
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


CSP_LISTENER = """document.addEventListener("securitypolicyviolation", (e) => {
  const element = e.target instanceof Element ? e.target.outerHTML.slice(0, 200) : "";
  console.error(`CSP violation: ${e.effectiveDirective} refused ${e.blockedURI || "inline"} ` +
    `at ${e.sourceFile}:${e.lineNumber} ${JSON.stringify(e.sample)} ${element}`);
}, true);"""
CSP_MESSAGES = ("CSP violation", "Content Security Policy", "Refused to", "Permissions policy violation",
                "htmx:evalDisallowedError")  # fmt: skip


def _csp_violation(page, text: str) -> None:
    if any(marker in text for marker in CSP_MESSAGES):
        page.csp_violations.append(f"{page.url}: {text[:400]}")


@pytest.fixture
def page(browser, live_server, settings):
    """A fresh browser context on the live server. Every request to another host (a CDN, a font, an
    analytics script) is recorded and aborted: the pages must work offline, and the test fails if one was
    made. JavaScript errors fail the test too."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    local = LOCAL_HOSTS | {urlsplit(live_server.url).hostname}
    external: list[str] = []

    def guard(route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in local:
            external.append(url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    context.route("**/*", guard)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Content Security Policy violations (and the use of a feature the Permissions-Policy blocks) fail the
    # test: Chromium says "Refused to …" / "Permissions policy violation" on the console, and CSP_LISTENER
    # reports the securitypolicyviolation events there too. ``page.csp_violations`` names the page of each.
    page.csp_violations = []
    page.on("console", lambda message: _csp_violation(page, message.text))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert page.csp_violations == [], f"Content Security Policy violations: {page.csp_violations}"
    assert external == [], f"Requests to other hosts (aborted): {external}"


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker(tmp_path):
    """``celery worker --beat`` on the test database, as ``make run`` starts it. Yields its log's path."""
    from django.core.management import call_command

    call_command("setup_periodic_tasks")
    env = {**os.environ, "DATABASE_URL": _database_url(), "TRENDY_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "1"}
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "trading_site", "worker", "--beat", "--pool", "solo", "-l", "info"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield tmp_path / "worker.log"
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()
