"""The market intelligence page in Chromium, with models trained on real ETH candles and sentiment read from the
fake sources on 127.0.0.1: a trader goes from the dashboard's AI panel to the page, sees every section drawn, and
the page reads right (nothing clipped, no raw identifier, no English on the Korean page) at 1366 and 390 px."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analytics import forecasts, model_files, regimes, sentiments, signals
from market_data.services import candles_import_csv
from tests.analytics.conftest import OHLCV
from tests.analytics.test_sentiment_service import _local_only, configured  # noqa: F401 (fixtures)
from tests.analytics.test_sources import NOW, server  # noqa: F401 (fixture)
from tests.browser.conftest import SHOTS
from tests.browser.test_every_page_browser import _problems
from tests.browser.test_screens_browser import sign_in
from tests.conftest import needs_postgres
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgres]

SIZES = [{"width": 1366, "height": 768}, {"width": 390, "height": 844}]


@pytest.fixture
def intelligence(settings, tmp_path, configured):  # noqa: F811
    settings.TRENDY_MODEL_DIR = tmp_path / "models"
    model_files._loaded.clear()
    for coin in ("BTC", "ETH"):
        candles_import_csv(
            path=OHLCV / f"binance_{coin}USDT_1d.csv.gz", exchange="binance", symbol=f"{coin}/USDT", timeframe="1d"
        )
    regimes.regime_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d", walk_forward=True)
    forecasts.forecast_model_train(exchange="binance", symbol="ETH/USDT")
    signals.signal_model_train(exchange="binance", symbol="ETH/USDT", timeframe="1d")
    assert signals.signals_record() == 1
    for hours in (2, 1, 0):
        sentiments.sentiment_refresh(now=NOW - timedelta(hours=hours))


def test_the_market_intelligence_page(page, live_server, intelligence):
    UserFactory(email="quant@example.com")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, "quant@example.com")

    # The dashboard's AI panel links to the market's page.
    page.goto("/trading/dashboard/?market=binance%7CETH%2FUSDT%7C1d")
    page.get_by_role("link", name="Market intelligence: regime, forecast, sentiment").click()
    page.wait_for_url("**/analytics/market/?symbol=ETHUSDT&timeframe=1d")
    # the market picker: another market, then back
    page.select_option("#id_market", "BTC/USDT")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**symbol=BTC*")
    assert "No signal model of BTC/USDT 1d" in page.locator("#signal").inner_text()
    page.select_option("#id_market", "ETH/USDT")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**symbol=ETH*timeframe=1d")

    for section in ("#signal", "#regime", "#forecast", "#sentiment"):
        assert page.locator(section).is_visible(), section
        assert not page.locator(f"{section} > p.muted").first.inner_text().startswith("No "), section
    assert page.locator("#regime rect.regime-band").count() > 10
    assert page.locator("#regime rect.regime-strip").count() > 10
    assert page.locator("#forecast polygon.fan-outer").count() == 1
    assert page.locator("#sentiment polyline.sentiment-line").count() == 4
    assert page.locator("#signal table").first.is_visible()
    assert page.get_by_text("Confusion matrix").is_visible()
    url = page.url

    problems: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    for language in ("en", "ko"):
        page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
        for size in SIZES:
            page.set_viewport_size(size)
            page.goto(url)
            page.wait_for_load_state("load")
            page.screenshot(path=str(SHOTS / f"market-intelligence-{language}-{size['width']}.png"), full_page=True)
            problems += [f"{language} {size['width']}px: {p}" for p in _problems(page, url, language)]
    assert not problems, "\n".join(problems)
    assert page.locator("h1").inner_text().startswith("시장 인텔리전스")
    assert not errors, errors
