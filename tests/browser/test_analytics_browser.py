"""The portfolio analytics issue's done means, in Chromium: a trader opens the analytics from the Markets page,
analyses real stored markets (the figures on the page are the API's for the same inputs), sizes a position by
Kelly from a backtest, splits capital across two bots and applies it; the page fits a 390 px phone and reads in
Korean."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import ExchangeAccount, RiskProfile
from market_data.services import candles_import_csv
from strategies import services as strategy_services
from tests.analytics.conftest import COINS, OHLCV
from tests.browser.conftest import SHOTS
from tests.conftest import needs_postgres
from tests.factories import PASSWORD, UserFactory
from trading import clock
from trading.bots import services as bot_services
from trading.models import Bot

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgres]

NOW = datetime(2024, 6, 30, tzinfo=UTC)


def store(tmp_path) -> None:
    for coin in COINS:
        path = OHLCV / f"binance_{coin}USDT_1d.csv.gz"
        candles_import_csv(path=path, exchange="binance", symbol=f"{coin}/USDT", timeframe="1d")
    for coin in ("BTC", "ETH"):
        lines = gzip.decompress((OHLCV / f"binance_{coin}USDT_1h.csv.gz").read_bytes()).decode().splitlines()
        rows = [line for line in lines[1:] if "2024-01-01" <= line[:10] < "2024-06-30"]
        path = tmp_path / f"{coin}_1h.csv"
        path.write_text("\n".join([lines[0], *rows]) + "\n")
        candles_import_csv(path=path, exchange="binance", symbol=f"{coin}/USDT", timeframe="1h")
    clock.replay_start(start=NOW, timeframe="1h", seconds_per_candle=Decimal(3600))


def sign_in(page, user) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def metric(page, label: str) -> str:
    return page.locator(".metric", has_text=label).locator(".metric-value").first.inner_text().strip()


def test_analyse_size_split_and_apply(page, tmp_path):
    store(tmp_path)
    trader = UserFactory(email="analyst@example.com")
    RiskProfile.objects.update_or_create(user=trader, defaults={"position_size_pct": Decimal(20)})
    account = ExchangeAccount.objects.create(user=trader, exchange="paper", label="Paper", paper_balance=10000)
    bots = [
        bot_services.bot_create(
            user=trader,
            exchange_account=account,
            settings_=bot_services.BotSettings(strategy=slug, symbol=symbol, timeframe="1h"),
        )
        for slug, symbol in (("ema_crossover", "BTC/USDT"), ("supertrend", "ETH/USDT"))
    ]
    run = strategy_services.backtest_run_create(
        user=trader, strategy="ema_crossover", params={}, exchange="binance", symbol="BTC/USDT", timeframe="1h",
        risk=strategy_services.RiskSettings(stop_loss_pct=None, take_profit_pct=None),
    )  # fmt: skip
    strategy_services.backtest_run_execute(run_id=run.id)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, trader)

    # From the header's Markets to the analytics: the five stored markets are analysed at once.
    page.get_by_role("link", name="Markets", exact=True).first.click()
    page.get_by_role("link", name="Portfolio analytics").click()
    page.wait_for_url("**/analytics/")
    assert page.locator("#portfolio-result").is_visible()
    assert page.locator(".weights meter").count() >= 1
    points = page.locator("polyline.frontier-line").get_attribute("points")
    assert len(points.split()) == 50
    assert page.locator("circle.asset-dot").count() == 5

    # A narrower question: four markets, a 15 % drawdown tolerance, the highest return within it.
    page.locator("input[type=checkbox][name=symbols][value='XRP/USDT']").uncheck()
    page.fill("#id_risk_tolerance", "15")
    page.select_option("#id_optimization_method", "max_return")
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_url(re.compile(r"risk_tolerance=15"))
    assert page.locator("circle.asset-dot").count() == 4
    var_95 = metric(page, "Value at risk, 95")
    risk = metric(page, "Expected risk a year")
    api = page.request.post(
        "/api/v1/portfolio/optimize",
        data={
            "symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"],
            "risk_tolerance": "15",
            "optimization_method": "max_return",
        },
        headers={"X-CSRFToken": next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")},
    ).json()
    assert var_95 == f"{api['monte_carlo']['var_95'] * 100:.1f}%"  # the page's figure is the computed one
    assert risk == f"{api['expected_risk'] * 100:.1f}%"
    assert api["expected_risk"] <= api["conventions"]["volatility_budget"] + 1e-9
    assert page.locator("polygon.fan-outer").is_visible() and page.locator("polyline.fan-median").is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "analytics-portfolio.png"), full_page=True)

    # Kelly from the backtest's trades.
    page.select_option("#id_kelly_source", f"backtest:{run.id}")
    page.get_by_role("button", name="Size it").click()
    page.wait_for_url(re.compile(r"kelly_source=backtest"))
    table = page.locator("table.kelly-table")
    assert table.locator("tbody tr").count() == 5
    assert table.locator("tr.is-selected").inner_text().startswith("Recommended")

    # Capital across the two bots: suggest, then apply in one click.
    page.get_by_role("link", name="Capital across bots").click()
    for b in bots:
        page.locator(f"input[name=bots][value='{b.id}']").check()
    page.fill("#id_lookback_days", "170")
    page.select_option("#id_optimization_method", "min_risk")
    page.get_by_role("button", name="Suggest a split").click()
    page.locator("#allocation-result").wait_for()
    suggested = {b.id: page.locator(f"#size_{b.id}").input_value() for b in bots}
    assert sum(Decimal(v) for v in suggested.values()) == Decimal(20)
    page.get_by_role("button", name="Apply this split").click()
    page.locator(".message-success").wait_for()
    for b in bots:
        assert str(Bot.objects.get(id=b.id).position_size_pct) == suggested[b.id]
    page.screenshot(path=str(SHOTS / "analytics-bots.png"), full_page=True)

    # A phone: nothing wider than the screen; and the page in Korean.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/analytics/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    box = page.locator("svg.analytics-chart").first.bounding_box()
    assert box["width"] <= 390 and box["height"] > 100
    page.screenshot(path=str(SHOTS / "analytics-portfolio-390.png"), full_page=True)
    page.goto("/analytics/?symbols=BTC/USDT&symbols=ETH/USDT&symbols=SOL/USDT&min:ETH/USDT=20&max:SOL/USDT=10")
    assert page.locator("details.more-settings").get_attribute("open") is not None  # a market's bound shows it
    assert page.locator("#min-2").bounding_box()["width"] > 60
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    assert page.locator("#portfolio-result").is_visible()
    with page.expect_navigation():
        page.select_option("#lang-select", "ko")
    assert page.get_by_role("heading", name="포트폴리오 분석").is_visible()
    assert page.locator("#portfolio-result").is_visible()
    page.screenshot(path=str(SHOTS / "analytics-portfolio-390-ko.png"), full_page=True)
    assert not errors, errors
