"""The Markets chart in real Chromium: lightweight-charts draws the stored candles without a JavaScript error."""

import pytest

from market_data.services import candles_import_csv
from tests.factories import PASSWORD, UserFactory
from tests.market_data.conftest import BTC_1D

pytestmark = pytest.mark.django_db(transaction=True)


def test_chart_draws_the_candles(page, live_server):
    candles_import_csv(path=BTC_1D, exchange="binance", symbol="BTC/USDT", timeframe="1d")
    UserFactory(email="viewer@example.com")
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "viewer@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    page.get_by_role("link", name="Markets").click()
    page.wait_for_function("() => document.querySelectorAll('#markets-chart canvas').length > 0")
    assert page.locator("#markets-chart-missing").is_hidden()
    # Times and prices on the chart through the shared formatters (the pages' date style, grouped thousands).
    assert page.evaluate("TrendyCharts.number(2)(96708.5)") == "96,708.50"
    assert page.evaluate("TrendyCharts.when(1733292000, [[0, 'UTC']])") == "4 Dec 2024, 06:00 UTC"
    assert page.get_by_role("cell", name="1,564").is_visible()
    box = page.locator("#markets-chart").bounding_box()
    assert box["width"] > 300 and box["height"] > 300
