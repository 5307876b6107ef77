"""A backtest in a real browser: the form (htmx parameter swap), the live progress bar, the charts."""

import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from market_data.services import candles_import_csv
from strategies import services
from strategies.models import BacktestRun
from tests.factories import PASSWORD, UserFactory
from tests.strategies.conftest import BTC_1H

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trader(page, live_server):
    candles_import_csv(path=BTC_1H, exchange="binance", symbol="BTC/USDT", timeframe="1h")
    user = UserFactory(email="trader@example.com")
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return user


def test_progress_bar_then_results(page, trader, monkeypatch):
    from strategies import tasks

    monkeypatch.setattr(tasks.execute_backtest_run, "apply_async", lambda *args, **kwargs: None)  # no worker has it yet
    run = services.backtest_run_create(
        user=trader,
        strategy="supertrend",
        params={},
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 4, 1, tzinfo=UTC),
    )
    page.goto(f"/strategies/backtests/{run.id}/")
    progress = page.locator("#run-progress progress")
    assert progress.get_attribute("value") == "0"
    page.wait_for_timeout(1500)  # htmx polls once a second
    assert page.locator("#run-progress").is_visible()

    services.backtest_run_execute(run_id=run.id)  # the worker's job
    page.wait_for_selector("#equity-chart canvas", timeout=15_000)  # the poll saw it finish and reloaded
    page.wait_for_selector("#trades-chart canvas")
    assert page.locator(".metric-cards .metric").count() >= 8
    assert page.locator("#trades table tbody tr").count() == min(
        100, len(BacktestRun.objects.get(id=run.id).result["trades"])
    )


def test_form_swaps_parameters_and_runs(page, trader):
    page.goto("/strategies/backtests/new/")
    assert page.locator("input[name=param_fast]").is_visible()
    page.select_option("select[name=strategy]", "ichimoku_cloud")
    page.locator("input[name=param_span_b]").wait_for()  # htmx swapped the parameter fields
    assert page.locator("input[name=param_fast]").count() == 0
    page.fill("input[name=param_base]", "5")  # not above the conversion period
    page.get_by_role("button", name="Run backtest").click()
    page.get_by_text("conversion < base < span B").wait_for()
    page.fill("input[name=param_base]", "26")
    page.fill("input[name=start]", "2024-01-01")
    page.fill("input[name=end]", "2024-06-01")
    page.select_option("select[name=direction]", "both")
    page.get_by_role("button", name="Run backtest").click()
    page.wait_for_url(re.compile(r"/strategies/backtests/\d+/$"))
    page.wait_for_selector("#trades-chart canvas", timeout=15_000)
    run = BacktestRun.objects.get(user=trader)
    assert run.strategy == "ichimoku_cloud" and run.direction == "both" and run.status == "done"
    page.get_by_role("link", name="Download Pine Script").wait_for()


def test_events_on_one_candle_share_a_marker_and_its_tooltip_lists_them(page, trader, live_server):
    """A run long and short with a tight stop: reversals and stops put an exit and an entry on one candle. The
    chart has one marker per candle; pointing at a shared one lists its events. Times and prices on the chart read
    as on the pages, in the trader's zone."""
    trader.timezone = "Asia/Seoul"
    trader.save()
    run = services.backtest_run_create(
        user=trader,
        strategy="ema_crossover",
        params={"fast": 9, "slow": 21},
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 1, 12, tzinfo=UTC),
        risk=services.RiskSettings(direction="both", stop_loss_pct=1, leverage=3),
    )
    services.backtest_run_execute(run_id=run.id)  # (done already if the on-commit task ran)
    run.refresh_from_db()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"/strategies/backtests/{run.id}/")
    page.wait_for_selector("#trades-chart canvas")
    charts = page.evaluate("JSON.parse(document.getElementById('run-charts').textContent)")
    times = [marker["time"] for marker in charts["markers"]]
    assert times == sorted(set(times))
    shared = {str(m["time"]) for m in charts["markers"] if m["shape"] == "square"}
    assert shared, "no candle with two events in this run"
    groups = [charts["lines"][t] for t in shared]

    # Point along the chart until the tooltip lists the events of a shared candle.
    tooltip = page.locator("#trades-chart .chart-tooltip")
    found = None
    page.locator("#trades-chart").scroll_into_view_if_needed()
    box = page.locator("#trades-chart").bounding_box()
    for x in range(2, int(box["width"]) - 60, 2):
        page.mouse.move(box["x"] + x, box["y"] + box["height"] / 2)
        if tooltip.is_visible():
            lines = tooltip.locator("div").all_inner_texts()
            if len(lines) >= 2:
                found = lines
                break
    assert found in groups, found
    heading = tooltip.locator("strong").inner_text()
    assert heading.endswith(" KST") and " 2024, " in heading  # "3 Jan 2024, 21:00 KST"

    # The chart's formatters: the pages' date style and the zone, grouped prices with a real minus sign.
    first = pd.Timestamp(run.result["trades"][0]["entry_time"]).tz_convert("Asia/Seoul")
    shifted = int((first.tz_localize(None) - pd.Timestamp(0)) // pd.Timedelta(1, "s"))
    expected = f"{first.day} {first.strftime('%b %Y, %H:%M')} KST"
    assert page.evaluate("([t, z]) => TrendyCharts.when(t, z)", [shifted, charts["zones"]]) == expected
    assert page.evaluate("TrendyCharts.number(2)(-96708.5)") == "\u221296,708.50"
    page.context.add_cookies([{"name": "django_language", "value": "ko", "url": live_server.url}])
    page.reload()
    page.wait_for_selector("#trades-chart canvas")
    korean = f"{first.year}년 {first.month}월 {first.day}일 {first.strftime('%H:%M')} KST"
    assert page.evaluate("([t, z]) => TrendyCharts.when(t, z)", [shifted, charts["zones"]]) == korean
