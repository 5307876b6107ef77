"""Every page, in English and Korean, at the three sizes traders use (1366×768, 1280×800, 390×844):

- nothing is clipped or scrolls sideways: the page is no wider than the window, and no element's content is
  wider than the element (``scrollWidth > clientWidth``), tables and cells included;
- no raw identifier (``take_profit``, ``stop_market``, ``stop_loss_pct``) is on screen, in either language;
- a Korean page carries none of the English words a half-translated page shows (buy/sell, Filled, Dec, …).

Text the trader typed (labels, names, e-mail addresses) and code samples are marked ``translate="no"`` and
are not read. Screenshots of every visit go to ``var/screenshots/`` (``TRENDY_SCREENSHOTS``)."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from market_data.services import candles_import_csv
from onboarding import services as onboarding_services
from onboarding.models import OnboardingState
from strategies import services as strategy_services
from strategies.models import BacktestRun
from strategies.optimise import SearchSpec
from tests.browser.conftest import SHOTS
from tests.browser.test_screens_browser import btc_1h_slice, market, sign_in  # noqa: F401 (fixtures)
from tests.conftest import needs_postgres
from tests.factories import UserFactory
from tests.strategies.conftest import OHLCV
from trading.bots import services as bot_services
from trading.models import Position, Trade
from webhooks import services as webhook_services
from webhooks.views import sample_alert

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgres]

# TRENDY_SWEEP_PAGES=webhooks,webhooks-events limits a run to some pages (while working on them).
ONLY = {name for name in os.environ.get("TRENDY_SWEEP_PAGES", "").split(",") if name}
SIZES = [{"width": 1366, "height": 768}, {"width": 1280, "height": 800}, {"width": 390, "height": 844}]
LANGUAGES = ["en", "ko"]

ANONYMOUS_PAGES = [
    ("home", "/"),
    ("login", "/accounts/login/"),
    ("signup", "/accounts/signup/"),
    ("password-reset", "/accounts/password/reset/"),
]


def signed_in_pages(ids: dict[str, int]) -> list[tuple[str, str]]:
    return [
        ("dashboard", "/trading/dashboard/"),
        *[(f"onboarding-{step}", f"/onboarding/{step}/") for step in range(1, 6)],
        ("markets", "/markets/"),
        ("analytics", "/analytics/"),
        ("analytics-kelly", f"/analytics/?kelly_source=backtest:{ids['run']}"),
        ("analytics-bots", "/analytics/bots/"),
        ("analytics-market", "/analytics/market/"),
        (
            "analytics-bots-split",
            f"/analytics/bots/?bots={ids['bot']}&bots={ids['bot2']}&lookback_days=60&optimization_method=min_risk",
        ),
        ("strategies", "/strategies/"),
        ("backtest-new", "/strategies/backtests/new/"),
        ("backtests", "/strategies/backtests/"),
        ("backtest-run", f"/strategies/backtests/{ids['run']}/"),
        ("backtest-run-both", f"/strategies/backtests/{ids['run_both']}/"),
        ("backtest-run-gaps", f"/strategies/backtests/{ids['run_gaps']}/"),
        ("backtest-compare", f"/strategies/backtests/compare/?a={ids['run']}&b={ids['run_both']}"),
        ("optimise-new", "/strategies/optimise/new/"),
        ("optimise-run", f"/strategies/backtests/{ids['optimisation']}/"),
        ("marketplace", "/marketplace/"),
        ("marketplace-subscriptions", "/marketplace/subscriptions/"),
        ("marketplace-mine", "/marketplace/mine/"),
        ("marketplace-new", "/marketplace/new/"),
        ("marketplace-earnings", "/marketplace/earnings/"),
        ("bots", "/trading/bots/"),
        ("bot-new", "/trading/bots/new/"),
        ("positions", "/trading/positions/"),
        ("api-keys", "/trading/keys/"),
        ("webhooks", "/webhooks/"),
        ("webhooks-guide", f"/webhooks/{ids['endpoint']}/guide/"),
        ("webhooks-events", "/webhooks/events/"),
        ("settings", "/settings/"),
        ("notifications", "/notifications/"),
        ("notification-settings", "/notifications/settings/"),
        ("api-docs", "/api/v1/docs/"),
    ]


def trader_with_data() -> tuple[object, dict[str, int]]:
    """A trader who went through the onboarding's five steps (a paper account, a webhook endpoint, a finished
    backtest), with a running bot, an open position from a webhook alert, a closed one, and a rejected alert,
    made through the services."""
    user = UserFactory(email="screens@example.com", timezone="Asia/Seoul")
    answers = [
        (1, {"action": "connect", "exchange": "paper", "label": "Paper", "paper_balance": Decimal(10000)}),
        (1, {"action": "next"}),
        (2, {"risk_level": "balanced", "strategy": "ema_crossover"}),
        (3, {"leverage": 2, "position_size_pct": Decimal(10), "stop_loss_pct": Decimal(2), "take_profit_pct": 5}),
        (4, {"action": "create"}),
        (4, {"action": "next"}),
        (5, {"action": "backtest"}),
    ]
    secret = ""
    for step, data in answers:
        secret = onboarding_services.step_submit(user=user, step=step, data=data).secret or secret
    state = OnboardingState.objects.get(user=user)
    account = onboarding_services.chosen_account(state=state)
    endpoint = onboarding_services.chosen_endpoint(state=state)
    run = onboarding_services.chosen_run(state=state)
    assert state.step == 5 and run.status == BacktestRun.Status.DONE
    bot = bot_services.bot_create(
        user=user,
        exchange_account=account,
        settings_=bot_services.BotSettings(strategy="supertrend", symbol="BTC/USDT", timeframe="1h"),
        start=True,
    )
    second = bot_services.bot_create(  # paused: a second bot for the capital split across bots
        user=user,
        exchange_account=account,
        settings_=bot_services.BotSettings(strategy="ema_crossover", symbol="BTC/USDT", timeframe="1h"),
    )
    user.auto_trading = True
    user.save(update_fields=["auto_trading"])

    def alert(**fields) -> None:
        body = {**sample_alert(secret, action="buy", symbol="BTCUSDT"), **fields}
        webhook_services.alert_receive(token=endpoint.token, body=json.dumps(body).encode(), remote_addr="127.0.0.1")

    alert(action="buy", position="long", order_id="a1")
    alert(action="sell", position="flat", order_id="a2")  # closes it
    alert(action="buy", position="long", order_id="a3", stop_loss_pct=50, leverage=50)  # capped
    alert(action="buy", symbol="NOPEUSDT", order_id="a4")  # rejected: unknown market
    alert(action="buy", order_id="a5", size_pct="-1")  # rejected: a field out of range (its name as code)
    repeat = {**sample_alert(secret, action="buy", symbol="BTCUSDT"), "position": "long", "order_id": "a6"}
    alert(**repeat)  # nothing to do: long already…
    alert(**repeat)  # …and sent twice: a duplicate
    assert Position.objects.filter(exchange_account=account, status=Position.Status.OPEN).exists()
    assert Position.objects.filter(exchange_account=account, status=Position.Status.CLOSED).exists()
    assert Trade.objects.filter(user=user).count() >= 3
    from notifications import services as notification_services

    notification_services.channel_email_add(user=user)  # the settings page's channels table
    notification_services.preferences_set(
        user=user, rows=[{"kind": "*", "channels": ["email"], "quiet_start": time(23), "quiet_end": time(7)}]
    )
    return user, {"bot": bot.pk, "bot2": second.pk, "run": run.pk, "endpoint": endpoint.pk}


def strategy_runs(user) -> dict[str, int]:
    """The backtest pages' other states, made through the services: a run long and short with a tight stop (exits
    and entries on one candle: reversals, a stop loss and the next entry), a run over candles with gaps (ETH/USDT
    1h, April 2021: exchange outages), and a walk-forward optimisation."""
    with gzip.open(OHLCV / "binance_ETHUSDT_1h.csv.gz", "rt") as source:
        lines = source.read().splitlines()
    rows = [line for line in lines[1:] if "2021-04-01" <= line[:10] < "2021-05-01"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "eth_1h_2021-04.csv"
        path.write_text("\n".join([lines[0], *rows]) + "\n")
        candles_import_csv(path=path, exchange="binance", symbol="ETH/USDT", timeframe="1h")
    common = {"user": user, "exchange": "binance", "timeframe": "1h", "strategy": "ema_crossover"}
    both = strategy_services.backtest_run_create(
        **common,
        symbol="BTC/USDT",
        params={"fast": 9, "slow": 21},
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 3, 1, tzinfo=UTC),
        risk=strategy_services.RiskSettings(direction="both", stop_loss_pct=Decimal("1"), leverage=3),
    )
    gaps = strategy_services.backtest_run_create(
        **common,
        symbol="ETH/USDT",
        params={},
        start=datetime(2021, 4, 1, tzinfo=UTC),
        end=datetime(2021, 5, 1, tzinfo=UTC),
    )
    optimisation = strategy_services.backtest_run_create(
        **common,
        symbol="BTC/USDT",
        params={},
        start=datetime(2023, 12, 1, tzinfo=UTC),
        end=datetime(2024, 3, 1, tzinfo=UTC),
        kind=BacktestRun.Kind.OPTIMISATION,
        search=SearchSpec(samples=6, folds=1),
    )
    runs = {"run_both": both, "run_gaps": gaps, "optimisation": optimisation}
    for run in runs.values():
        run.refresh_from_db()
        assert run.status == BacktestRun.Status.DONE, run.error
    trades = runs["run_both"].result["trades"]
    assert {"reversal", "stop_loss"} <= {t["exit_reason"] for t in trades}
    assert runs["run_gaps"].result["gaps"]
    return {name: run.pk for name, run in runs.items()}


# The problems of a page, found by the browser: the page wider than the window; the innermost elements whose
# content is wider than they are (clipped, or a box that scrolls sideways); raw identifiers and, on a Korean
# page, English words in the text a trader reads.
CHECK_JS = """([englishWords]) => {
  const problems = [];
  const width = window.innerWidth;
  const page = document.documentElement.scrollWidth;
  if (page > width + 1) problems.push(`the page is ${page}px wide in a ${width}px window`);
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const path = (el) => {
    const parts = [];
    for (let p = el; p && p !== document.body && parts.length < 4; p = p.parentElement) parts.unshift(name(p));
    return parts.join(' > ');
  };
  const ignored = '.chart, .swagger-ui, script, style, noscript, template, [hidden]';
  const hiddenByClip = (el) => {
    for (let p = el; p && p !== document.body; p = p.parentElement) {
      if (p.clientWidth <= 1 && getComputedStyle(p).clip !== 'auto') return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest(ignored)) continue;
    if (['INPUT', 'SELECT', 'TEXTAREA', 'OPTION', 'CANVAS', 'IMG', 'svg', 'BR'].includes(el.tagName)) continue;
    const style = getComputedStyle(el);
    // Inline boxes have no width of their own; a visually hidden label (1px, clipped: a table's head on a
    // phone) is for screen readers, and so is everything inside it.
    if (hiddenByClip(el)) continue;
    if (style.display === 'inline' || style.display === 'contents' || el.clientWidth <= 1) continue;
    if (el.scrollWidth > el.clientWidth + 1) wide.push(el);
  }
  for (const el of wide) {
    if (wide.some((other) => other !== el && el.contains(other))) continue;  // report the innermost only
    problems.push(`${path(el)}: content ${el.scrollWidth}px in ${el.clientWidth}px`);
  }
  // The text a trader reads: not code, not what the trader typed (translate="no").
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement.closest('script, style, noscript, template, code, pre, [translate=no], .swagger-ui')
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;  // not rendered
    if (node.textContent.trim()) texts.push(node.textContent);
  }
  for (const el of document.querySelectorAll('[title], [aria-label], [placeholder]')) {
    if (el.closest('[translate=no], .swagger-ui, code, pre')) continue;
    for (const attr of ['title', 'aria-label', 'placeholder']) {
      if (el.getAttribute(attr)) texts.push(el.getAttribute(attr));
    }
  }
  const text = texts.join(' \\n ');
  const identifiers = text.match(/\\b[a-z]+(?:_[a-z]+)+\\b/g) || [];
  for (const id of new Set(identifiers)) problems.push(`raw identifier on screen: ${id}`);
  if (englishWords) {
    for (const word of englishWords) {
      const found = new RegExp(`(^|[^A-Za-z])${word}([^A-Za-z]|$)`, 'i').exec(text);
      if (found) {
        const around = text.slice(Math.max(0, found.index - 30), found.index + 40).replace(/\\s+/g, ' ');
        problems.push(`English on a Korean page: "${word}" in …${around}…`);
      }
    }
  }
  return problems;
}"""

# Words a half-translated Korean page shows: sides and statuses, order types, the parts of the trading screens,
# month and day names. Proper names stay in English (Binance, OKX, TradingView, USDT, BTC/USDT, EMA, RSI, …).
ENGLISH_WORDS = [
    "buy", "sell", "long", "short", "flat", "filled", "open", "closed", "canceled", "cancelled", "rejected",
    "pending", "accepted", "duplicate", "market", "limit", "stop", "stop loss", "take profit", "entry", "exit",
    "liquidation", "reversal", "signal", "manual", "position", "positions", "order", "orders", "trade", "trades",
    "exchange", "exchange account", "paper", "testnet", "mainnet", "spot", "balance", "available", "equity",
    "drawdown", "leverage", "size", "fee", "fees", "price", "amount", "side", "status", "running", "stopped",
    "paused", "halted", "bot", "bots", "strategy", "backtest", "webhook", "alert", "alerts", "dashboard",
    "settings", "sign in", "sign out", "sign up", "password", "email", "e-mail", "none", "true", "false", "yes",
    "no", "ok", "error", "test", "capped", "defaulted", "clamped", "ago", "now", "today", "yesterday", "hours",
    "minutes", "seconds", "days", "am", "pm", "a.m", "p.m", "jan", "feb", "mar", "apr", "may", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun",
]  # fmt: skip


def _problems(page, path: str, language: str) -> list[str]:
    found = page.evaluate(CHECK_JS, [ENGLISH_WORDS if language == "ko" else None])
    if path.startswith("/api/v1/docs"):  # Swagger UI's own texts are its own (English), not ours
        found = [p for p in found if not p.startswith(("English on", "raw identifier"))]
    return found


def visit(page, name: str, path: str, size: dict[str, int], language: str) -> list[str]:
    if ONLY and name not in ONLY:
        return []
    response = page.goto(path)
    if response is None or response.status >= 400:
        return [f"{language} {path}: HTTP {response and response.status}"]
    page.wait_for_load_state("load")
    for chart in page.locator(".chart").all():  # the charts draw after load
        if chart.is_visible():
            chart.locator("canvas").first.wait_for()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"every-{language}-{name}-{size['width']}x{size['height']}.png"), full_page=True)
    TITLES[page.title()].add(name)
    return [f"{language} {size['width']}px {path}: {problem}" for problem in _problems(page, path, language)]


TITLES: defaultdict[str, set[str]] = defaultdict(set)


def _title_problems() -> list[str]:
    """Each page has its own title, "<what> · Trendy" (the tab, the history and a bookmark tell them apart)."""
    problems = [f"title {title!r} does not end with ' · Trendy'" for title in TITLES if not title.endswith(" · Trendy")]
    problems += [f"title {title!r} is shared by {sorted(names)}" for title, names in TITLES.items() if len(names) > 1]
    return problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_reads_right(page, live_server, market, language):  # noqa: F811 (the market fixture)
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    TITLES.clear()
    problems: list[str] = []
    for size in SIZES:
        page.set_viewport_size(size)
        for name, path in ANONYMOUS_PAGES:
            problems += visit(page, name, path, size, language)
    user, ids = trader_with_data()
    ids.update(strategy_runs(user))
    sign_in(page, user.email)
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    for size in SIZES:
        page.set_viewport_size(size)
        for name, path in signed_in_pages(ids):
            problems += visit(page, name, path, size, language)
    problems += _title_problems()
    TITLES.clear()
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems)
    # The pages showed the trader's rows, not empty states.
    page.goto("/trading/positions/")
    assert page.locator("#positions-table tbody tr").count() >= 1
