"""The Content Security Policy in Chromium (issue 13): every page, and the flows that run JavaScript, with no
violation. Chromium reports each refused script, style, image or connection on the console ("Refused to
execute inline script…", "Refused to apply inline style…") and fires a ``securitypolicyviolation`` event;
the ``page`` fixture (conftest.py) listens to both and fails the test on any, as it does for every browser
test. Here each page's own violations are named with the page, and each page's response must carry the
policy.

The pages are the page sweep's (tests/browser/test_every_page_browser.py), in English at one size, plus the
pages the sweep leaves out: allauth's account and two-factor pages (the TOTP QR code is a data: image), the
admin, the browsable API and the API documentation (Swagger UI)."""

from __future__ import annotations

import re

import pytest

from accounts.models import User
from tests.browser.test_every_page_browser import ANONYMOUS_PAGES, signed_in_pages, strategy_runs, trader_with_data
from tests.browser.test_screens_browser import btc_1h_slice, market, sign_in, wizard_submit  # noqa: F401
from tests.conftest import needs_postgres
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgres]

CSP = "content-security-policy"


def more_pages(ids: dict[str, int]) -> list[tuple[str, str]]:
    """The pages the sweep does not visit, for a staff trader signed in through the form."""
    return [
        ("email", "/accounts/email/"),
        ("password-change", "/accounts/password/change/"),
        ("two-factor", "/accounts/2fa/"),
        ("totp-activate", "/accounts/2fa/totp/activate/"),
        ("api-browsable-bots", "/api/v1/bots/"),
        ("api-browsable-bot", f"/api/v1/bots/{ids['bot']}/"),
        ("api-browsable-me", "/api/v1/me/"),
        ("admin", "/admin/"),
        ("admin-bots", "/admin/trading/bot/"),
        ("admin-bot", f"/admin/trading/bot/{ids['bot']}/change/"),
        ("admin-users", "/admin/accounts/user/"),
        ("admin-user", "/admin/accounts/user/"),  # the first row's change form: below
        ("admin-group-add", "/admin/auth/group/add/"),
        ("admin-periodic-tasks", "/admin/django_celery_beat/periodictask/"),
    ]


def visit(page, name: str, path: str) -> list[str]:
    """Open ``path``; the problems: no policy on the response, or violations while it loads and draws."""
    before = len(page.csp_violations)
    response = page.goto(path)
    if response is None or response.status >= 400:
        return [f"{name} {path}: HTTP {response and response.status}"]
    page.wait_for_load_state("load")
    problems = []
    header = response.all_headers().get(CSP, "")
    if "'nonce-" not in header and not path.startswith(("/admin", "/api/v1/")):
        problems.append(f"{name} {path}: no nonce in {CSP}: {header!r}")
    if not header or "unsafe-inline" in header or "unsafe-eval" in header:
        problems.append(f"{name} {path}: {CSP} is {header!r}")
    for chart in page.locator(".chart").all():  # the charts draw after load
        if chart.is_visible():
            chart.locator("canvas").first.wait_for()
    if path.startswith("/api/v1/docs"):
        page.locator(".swagger-ui .opblock").first.wait_for()
    page.wait_for_timeout(150)  # violation events are queued as tasks
    problems += [f"{name} {path}: {v}" for v in page.csp_violations[before:]]
    return problems


def test_every_page_keeps_to_the_policy(page, live_server, market):  # noqa: F811 (the market fixture)
    problems: list[str] = []
    for name, path in ANONYMOUS_PAGES:
        problems += visit(page, name, path)
    user, ids = trader_with_data()
    ids.update(strategy_runs(user))
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    sign_in(page, user.email)
    for name, path in signed_in_pages(ids) + more_pages(ids):
        if name == "admin-user":
            path = f"/admin/accounts/user/{user.pk}/change/"
        if name == "totp-activate":  # the enrolment asks for the password again first
            problems += visit(page, "reauthenticate", path)
            page.fill("input[name=password]", PASSWORD)
            page.locator("form button[type=submit]").last.click()
            page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))
        problems += visit(page, name, path)
        if name == "totp-activate":  # the QR code, a data: image, is shown
            assert page.locator("img[src^='data:']").evaluate("img => img.naturalWidth") > 0
    page.csp_violations.clear()  # reported above, with the page's name
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems)


def _swapped(page, selector: str, timeout: float = 15_000) -> None:
    """Wait until htmx swaps something into ``selector`` (a poll or a request)."""
    page.evaluate(
        """(selector) => { window.__swapped = false;
          document.body.addEventListener('htmx:afterSwap', (e) => {
            if (e.detail.target.closest(selector)) window.__swapped = true; }); }""",
        selector,
    )
    page.wait_for_function("() => window.__swapped === true", timeout=timeout)


def test_the_flows_that_run_javascript_keep_to_the_policy(page, live_server, market):  # noqa: F811
    user, ids = trader_with_data()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, user.email)

    # The dashboard: the chart draws, the polls swap, the market menu and the language menu submit themselves.
    page.goto("/trading/dashboard/")
    page.locator("#market-chart canvas").first.wait_for()
    _swapped(page, "#positions")
    _swapped(page, "#dashboard-stats")
    options = page.locator("#market-select option")
    if options.count() > 1:
        value = options.nth(1).get_attribute("value")
        with page.expect_navigation():
            page.select_option("#market-select", value)
        assert "market=" in page.url
    with page.expect_navigation():
        page.select_option("#lang-select", "ko")
    assert page.locator("html").get_attribute("lang") == "ko"
    with page.expect_navigation():
        page.select_option("#lang-select", "en")
    assert page.locator("html").get_attribute("lang") == "en"

    # Positions: the table polls every 5 s, but not while a position's stop form is open.
    page.goto("/trading/positions/")
    _swapped(page, "#positions")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/trading/positions/table/" in r.url else None)
    page.locator("#positions details.position-stops summary").first.click()
    page.wait_for_timeout(6_000)
    assert requests == [], "the table polled while a stop form was open"
    assert page.locator("#positions details.position-stops[open]").count() == 1
    page.locator("#positions details.position-stops summary").first.click()
    _swapped(page, "#positions", timeout=8_000)

    # Webhooks: the copy buttons copy, and say so (in the page's language).
    page.goto("/webhooks/")
    button = page.locator("button[data-copy^='url-']").first
    source = page.locator("#" + button.get_attribute("data-copy"))
    label = button.inner_text()
    button.click()
    page.wait_for_function("(b) => b.textContent === 'Copied'", arg=button.element_handle())
    assert page.evaluate("navigator.clipboard.readText()") == source.inner_text().strip()
    page.wait_for_function("([b, label]) => b.textContent === label", arg=[button.element_handle(), label])
    page.goto(f"/webhooks/{ids['endpoint']}/guide/")
    page.locator("button[data-copy^='guide-json-']").click()
    assert '"secret"' in page.evaluate("navigator.clipboard.readText()")

    # A backtest's charts, and the run list's comparison chart.
    page.goto(f"/strategies/backtests/{ids['run']}/")
    assert page.locator(".chart canvas").count() >= 1
    page.goto("/strategies/")
    for chart in page.locator(".chart").all():
        chart.locator("canvas").first.wait_for()

    # The API documentation: Swagger UI opens an operation and calls the API (connect-src 'self').
    page.goto("/api/v1/docs/")
    page.locator(".swagger-ui .opblock-summary-path", has_text=re.compile(r"^/api/v1/me/$")).first.click()
    page.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/")) as answer:
        page.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200

    # The admin: the date widgets' calendar (admin JavaScript) opens.
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    page.goto(f"/admin/accounts/user/{user.pk}/change/")
    page.locator("a[id^=calendarlink]").first.click()
    page.locator(".calendarbox").first.wait_for()
    page.keyboard.press("Escape")

    # The onboarding wizard, a new trader's five steps through htmx: the suggestion and the explanation swap
    # in as the answers change, the secret is copied, the first backtest's equity chart draws.
    page.context.clear_cookies()
    newcomer = UserFactory(email="csp-newcomer@example.com")
    sign_in(page, newcomer.email)
    page.goto("/onboarding/1/")
    with page.expect_response(lambda r: "/onboarding/1/?kind=paper" in r.url):
        page.locator("#wizard a.wizard-kind", has_text="Paper trading").click()
    page.fill("#wizard input[name=label]", "Paper")
    wizard_submit(page, "Create the paper account")
    wizard_submit(page, "Continue with this account")
    page.wait_for_url(re.compile(r"/onboarding/2/$"))
    for question in ("q_drop", "q_experience", "q_goal"):
        page.check(f"#wizard input[name={question}][value='1']")
    page.get_by_text("Suggested risk level: Balanced").wait_for()
    page.check("#wizard input[name=risk_level][value=balanced]")
    page.check("#wizard input[name=strategy][value=ema_crossover]")
    wizard_submit(page, "Next")
    page.wait_for_url(re.compile(r"/onboarding/3/$"))
    page.fill("#id_take_profit_pct", "10")
    page.get_by_text("you gain about 200.00 USDT").wait_for()
    wizard_submit(page, "Save and continue")
    page.wait_for_url(re.compile(r"/onboarding/4/$"))
    wizard_submit(page, "Create an endpoint")
    page.locator("button[data-copy=onb-secret]").click()
    assert page.evaluate("navigator.clipboard.readText()") == page.locator("#onb-secret").inner_text().strip()
    wizard_submit(page, "Next")
    page.wait_for_url(re.compile(r"/onboarding/5/$"))
    page.get_by_role("button", name="Run the backtest").click()
    page.wait_for_selector("#onb-equity-chart canvas", timeout=90_000)
    # The page fixture fails the test on any violation reported along the way.
