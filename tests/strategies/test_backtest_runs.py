"""Backtest runs through the service, the API, the pages and Celery (eager here), with cross-user checks."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from strategies import services
from strategies.models import BacktestRun

pytestmark = pytest.mark.django_db

PERIOD = {"start": "2024-01-01T00:00:00Z", "end": "2024-03-01T00:00:00Z"}


def _create(user, **overrides):
    values = {
        "user": user,
        "strategy": "ema_crossover",
        "params": {"fast": 12, "slow": 26},
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "start": datetime(2024, 1, 1, tzinfo=UTC),
        "end": datetime(2024, 3, 1, tzinfo=UTC),
    }
    values.update(overrides)
    return services.backtest_run_create(**values)


def test_create_and_execute(alice, stored_btc_1h, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = _create(alice)
    assert len(callbacks) == 1  # the task is sent once the row is committed
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.progress == 100
    assert run.metrics["trades"] == len(run.result["trades"]) > 0
    assert run.result["equity"] and run.result["buy_hold"]
    # Executing again does nothing: the run was claimed once.
    assert services.backtest_run_execute(run_id=run.id) == "skipped"


def test_default_period_is_the_last_six_months(alice, stored_btc_1h):
    run = _create(alice, start=None, end=None)
    assert run.end == datetime(2025, 1, 1, tzinfo=UTC)
    assert (run.end - run.start).days == 182


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"strategy": "nope"}, "strategy", "Unknown strategy"),
        ({"params": {"fast": 40, "slow": 20}}, "params.fast", "below the slow period"),
        ({"params": {"fast": 500}}, "params.fast", "between 2 and 100"),
        ({"symbol": "DOGE/USDT"}, "symbol", "No 1h candles are stored"),
        (
            {"start": datetime(2030, 1, 1, tzinfo=UTC), "end": datetime(2030, 2, 1, tzinfo=UTC)},
            "start",
            "holds 0 candles",
        ),
        (
            {"start": datetime(2024, 1, 1, tzinfo=UTC), "end": datetime(2024, 1, 2, tzinfo=UTC)},
            "start",
            "needs at least",
        ),
        ({"end": datetime(2023, 1, 1, tzinfo=UTC)}, "end", "after the start"),
        ({"risk": services.RiskSettings(leverage=0)}, "leverage", "between 1 and 10"),
        ({"risk": services.RiskSettings(leverage=50)}, "leverage", "between 1 and 10"),
        ({"risk": services.RiskSettings(fee_rate=Decimal("0.2"))}, "fee_rate", "between 0 and 0.05"),
    ],
)
def test_bad_input_saves_nothing(alice, stored_btc_1h, overrides, field, text):
    with pytest.raises(ValidationError) as caught:
        _create(alice, **overrides)
    assert text in " ".join(caught.value.message_dict[field])
    assert not BacktestRun.objects.exists()


# --- API -----------------------------------------------------------------------------------


def test_strategies_api(alice_api):
    data = alice_api.get("/api/v1/strategies/").json()
    assert [s["slug"] for s in data] == [
        "supertrend",
        "rsi_ema",
        "macd_stoch",
        "ichimoku_cloud",
        "bb_rsi",
        "ema_crossover",
    ]
    ema = data[-1]
    assert {p["name"] for p in ema["params"]} == {"fast", "slow"}
    assert ema["defaults"] == {"fast": 12, "slow": 26}


def test_pine_api(alice_api):
    response = alice_api.get("/api/v1/strategies/ema_crossover/pine/?fast=9&slow=21")
    assert response.status_code == 200
    assert "//@version=6" in response.content.decode()
    assert alice_api.get("/api/v1/strategies/ema_crossover/pine/?fast=30&slow=21").status_code == 400
    assert alice_api.get("/api/v1/strategies/nope/pine/").status_code == 404


def test_backtest_api_flow(alice_api, charlie_api, stored_btc_1h, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(
            "/api/v1/backtests/",
            {"strategy": "supertrend", "symbol": "BTCUSDT", "timeframe": "1h", **PERIOD, "direction": "both"},
            format="json",
        )
    assert response.status_code == 202, response.json()
    run_id = response.json()["id"]
    detail = alice_api.get(f"/api/v1/backtests/{run_id}/").json()
    assert detail["status"] == "done"
    assert detail["progress"] == 100
    assert detail["metrics"]["trades"] == len(detail["trades"])
    assert {"entry_time", "exit_time", "side", "pnl", "fees", "exit_reason"} <= set(detail["trades"][0])
    assert alice_api.get("/api/v1/backtests/").json()["results"][0]["id"] == run_id
    # Charlie sees none of it.
    assert charlie_api.get(f"/api/v1/backtests/{run_id}/").status_code == 404
    assert charlie_api.get("/api/v1/backtests/").json()["results"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "nope"}, "strategy"),
        ({"leverage": 0}, "leverage"),
        ({"leverage": 50}, "leverage"),
        ({"position_size_pct": 30}, "position_size_pct"),
        ({"params": {"fast": 30, "slow": 20}}, "params.fast"),
        ({"start": "2030-01-01T00:00:00Z", "end": "2030-02-01T00:00:00Z"}, "start"),
    ],
)
def test_backtest_api_bad_input(alice_api, stored_btc_1h, body, field):
    payload = {"strategy": "ema_crossover", "symbol": "BTC/USDT", "timeframe": "1h", **PERIOD, **body}
    response = alice_api.post("/api/v1/backtests/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not BacktestRun.objects.exists()


def test_optimisation_api(alice_api, stored_btc_1h, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(
            "/api/v1/optimisations/",
            {
                "strategy": "ema_crossover",
                "symbol": "BTC/USDT",
                "timeframe": "1h",
                "start": "2023-01-01T00:00:00Z",
                "end": "2024-01-01T00:00:00Z",
                "search": {"method": "random", "samples": 8, "folds": 2},
            },
            format="json",
        )
    assert response.status_code == 202, response.json()
    detail = alice_api.get(response.json()["url"]).json()
    assert detail["status"] == "done", detail["error"]
    folds = detail["optimisation"]["folds"]
    assert len(folds) == 2
    for fold in folds:
        assert fold["train"][1] < fold["test"][0]  # out-of-sample comes after in-sample
        assert "sharpe" in fold["in_sample"] and "sharpe" in fold["out_of_sample"]
    assert folds[1]["train"][0] == folds[0]["test"][0]  # walk forward: the next fold trains on that window


def test_out_of_sample_trades_start_inside_the_window(stored_btc_1h):
    """The warm-up prefix of an out-of-sample window feeds the indicators only, never a trade."""
    import pandas as pd

    from market_data.selectors import load_candles
    from strategies.builtin import get_strategy

    candles = load_candles("binance", "BTC/USDT", "1h", "2023-01-01", "2023-03-01")
    start = pd.Timestamp("2023-02-01", tz="UTC")
    params = {"fast": 5, "slow": 20}
    kwargs = {
        "strategy": get_strategy("ema_crossover"),
        "params": params,
        "candles": candles,
        "risk": services.RiskSettings(),
        "timeframe": "1h",
    }
    whole = services.backtest_window(**kwargs)
    assert (whole.trades["entry_time"] < start).any()
    window = services.backtest_window(**kwargs, trade_from=start)
    assert len(window.trades) and (window.trades["entry_time"] >= start).all()
    assert window.equity.index[0] == start


def test_optimisation_page_links_the_best_parameters(alice_client, alice, stored_btc_1h):
    from strategies.optimise import SearchSpec

    run = _create(
        alice,
        kind=BacktestRun.Kind.OPTIMISATION,
        search=SearchSpec(samples=5, folds=2),
        start=datetime(2023, 1, 1, tzinfo=UTC),
        end=datetime(2024, 1, 1, tzinfo=UTC),
    )
    services.backtest_run_execute(run_id=run.id)
    run.refresh_from_db()
    best = run.result["best"]["params"]
    html = alice_client.get(f"/strategies/backtests/{run.id}/").content.decode()
    assert f"param_fast={best['fast']}" in html
    form = alice_client.get(f"/strategies/backtests/new/?strategy=ema_crossover&param_fast={best['fast']}")
    assert f'value="{best["fast"]}"' in form.content.decode()


# --- Pages ---------------------------------------------------------------------------------


def test_pages_need_login(client):
    for url in ("/strategies/", "/strategies/backtests/", "/strategies/backtests/new/", "/strategies/optimise/new/"):
        assert client.get(url).status_code == 302


def test_strategy_list_page(alice_client, stored_btc_1h):
    html = alice_client.get("/strategies/").content.decode()
    for name in (
        "SuperTrend",
        "RSI + EMA",
        "MACD + Stochastic",
        "Ichimoku Cloud",
        "Bollinger Bands + RSI",
        "EMA crossover",
    ):
        assert name in html
    assert "Standard backtest" in html
    assert 'id="strategy-equity"' in html


def test_backtest_page_flow(alice_client, alice, stored_btc_1h, django_capture_on_commit_callbacks):
    form = alice_client.get("/strategies/backtests/new/?strategy=macd_stoch")
    assert form.status_code == 200
    assert 'name="param_stoch_k"' in form.content.decode()
    data = {
        "strategy": "ema_crossover",
        "market": "binance|BTC/USDT|1h",
        "start": "2024-01-01",
        "end": "2024-03-01",
        "param_fast": "12",
        "param_slow": "26",
        "initial_capital": "10000",
        "fee_rate": "0.001",
        "slippage_bps": "5",
        "leverage": "2",
        "position_size_pct": "10",
        "stop_loss_pct": "2",
        "take_profit_pct": "4",
        "direction": "long",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/strategies/backtests/new/", data)
    assert response.status_code == 302
    run = BacktestRun.objects.get(user=alice)
    assert run.leverage == 2
    html = alice_client.get(response["Location"]).content.decode()
    assert 'id="run-charts"' in html and "Entries and exits" in html


def test_backtest_page_with_a_trailing_stop_and_pyramiding(alice_client, alice, stored_btc_1h,
                                                           django_capture_on_commit_callbacks):  # fmt: skip
    data = {"strategy": "bb_rsi", "market": "binance|BTC/USDT|1h", "start": "2024-01-01", "end": "2024-03-01",
            "initial_capital": "10000", "fee_rate": "0.001", "slippage_bps": "5", "leverage": "1",
            "position_size_pct": "10", "stop_loss_pct": "2", "take_profit_pct": "", "trailing_stop_pct": "1.5",
            "trailing_activation_pct": "", "pyramiding": "3", "direction": "both", "param_bb_length": "20",
            "param_bb_mult": "2", "param_rsi_length": "14", "param_oversold": "30",
            "param_overbought": "70"}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/strategies/backtests/new/", data)
    assert response.status_code == 302
    run = BacktestRun.objects.get(user=alice)
    assert (run.trailing_stop_pct, run.trailing_activation_pct, run.pyramiding) == (Decimal("1.5"), 0, 3)
    assert run.status == BacktestRun.Status.DONE
    html = alice_client.get(response["Location"]).content.decode()
    assert "trailing stop 1.50%" in html and "up to 3 entries per position" in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("leverage", "50", "less than or equal to 10"),
        ("param_slow", "5", "below the slow period"),
        ("param_fast", "1", "greater than or equal to 2"),
        ("trailing_stop_pct", "60", "less than or equal to 50"),
        ("pyramiding", "11", "less than or equal to 10"),
    ],
)
def test_backtest_page_bad_input(alice_client, stored_btc_1h, field, value, message):
    data = {
        "strategy": "ema_crossover",
        "market": "binance|BTC/USDT|1h",
        "param_fast": "12",
        "param_slow": "26",
        "initial_capital": "10000",
        "fee_rate": "0.001",
        "slippage_bps": "5",
        "leverage": "1",
        "position_size_pct": "10",
        "direction": "long",
        field: value,
    }
    response = alice_client.post("/strategies/backtests/new/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not BacktestRun.objects.exists()


def test_progress_partial_and_other_users(alice_client, alice, bob, stored_btc_1h, client):
    run = _create(alice)  # not executed: no on-commit in this test transaction
    response = alice_client.get(f"/strategies/backtests/{run.id}/progress/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in response.content.decode()
    services.backtest_run_execute(run_id=run.id)
    response = alice_client.get(f"/strategies/backtests/{run.id}/progress/", HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
    client.force_login(bob)
    for url in (
        f"/strategies/backtests/{run.id}/",
        f"/strategies/backtests/{run.id}/progress/",
        f"/strategies/backtests/compare/?a={run.id}&b={run.id}",
        f"/strategies/ema_crossover/pine/?run={run.id}",
    ):
        assert client.get(url).status_code == 404, url


def test_compare(alice_client, alice, stored_btc_1h):
    a, b = _create(alice), _create(alice, params={"fast": 9, "slow": 21})
    services.backtest_run_execute(run_id=a.id)
    services.backtest_run_execute(run_id=b.id)
    b.refresh_from_db()
    response = alice_client.get(f"/strategies/backtests/compare/?a={a.id}&b={b.id}")
    assert response.status_code == 200
    html = response.content.decode()
    # Parameters by their labels, metrics by their names, each value formatted by its kind.
    assert "Fast EMA period 9 · Slow EMA period 21" in html
    assert "fast=9" not in html and "total_return_pct" not in html
    from trading_site.display import percent

    assert percent(b.metrics["total_return_pct"], signed=True) in html
    assert alice_client.get("/strategies/backtests/compare/?a=1").status_code == 400


def test_pine_download(alice_client, alice, stored_btc_1h):
    response = alice_client.get("/strategies/supertrend/pine/?factor=2.5")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert "2.5" in response.content.decode()
    assert alice_client.get("/strategies/supertrend/pine/?factor=99").status_code == 400


# --- Command -------------------------------------------------------------------------------


def test_command_json(stored_btc_1h, capsys):
    call_command(
        "backtest",
        "--strategy",
        "ema_crossover",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--start",
        "2024-01-01",
        "--end",
        "2024-06-30",
        "--param",
        "fast=12",
        "--param",
        "slow=26",
        "--json",
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["version"] == 1
    assert list(doc) == ["version", "strategy", "params", "market", "period", "settings", "metrics", "gaps", "trades"]
    assert doc["period"]["bars"] == 4344
    assert doc["metrics"]["trades"] == len(doc["trades"])


def test_command_refuses_a_csv_of_another_timeframe(db):
    from tests.strategies.conftest import OHLCV

    with pytest.raises(CommandError, match="86400 s apart, not 1h"):
        call_command("backtest", "--strategy", "ema_crossover", "--csv", str(OHLCV / "binance_BTCUSDT_1d.csv.gz"))


def test_command_reads_csv_and_reports_gaps(tmp_path, capsys, db):
    from tests.strategies.conftest import BTC_1H

    call_command(
        "backtest",
        "--strategy",
        "supertrend",
        "--csv",
        str(BTC_1H),
        "--timeframe",
        "1h",
        "--start",
        "2020-11-01",
        "--end",
        "2021-01-01",
        "--json",
    )
    doc = json.loads(capsys.readouterr().out)
    assert [gap["missing"] for gap in doc["gaps"]] == [1, 4, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "Unknown strategy"),
        (["--strategy", "ema_crossover", "--param", "fast=40"], "below the slow period"),
        (["--strategy", "ema_crossover", "--leverage", "0"], "everage"),
        (["--strategy", "ema_crossover", "--leverage", "50"], "everage"),
        (["--strategy", "ema_crossover", "--param", "fast"], "NAME=VALUE"),
        (["--strategy", "ema_crossover", "--fee", "0.9"], "fee_rate"),
        (["--strategy", "ema_crossover", "--stop-loss", "0"], "stop_loss_pct"),
        (["--strategy", "ema_crossover", "--start", "2030-01-01"], "No 1h candles"),
        (["--strategy", "ema_crossover", "--start", "2024-01-01", "--end", "2024-01-02"], "needs at least"),
    ],
)
def test_command_bad_input(stored_btc_1h, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("backtest", *args)


def test_trades_are_paginated(alice_client, alice, stored_btc_1h):
    run = _create(alice, strategy="macd_stoch", params={}, start=datetime(2023, 1, 1, tzinfo=UTC))
    services.backtest_run_execute(run_id=run.id)
    run.refresh_from_db()
    total = len(run.result["trades"])
    assert total > 100
    first = alice_client.get(f"/strategies/backtests/{run.id}/").content.decode()
    assert f"({total:,} trades)" in first and "?page=2" in first
    last_page = (total + 99) // 100
    last = alice_client.get(f"/strategies/backtests/{run.id}/?page={last_page}").content.decode()
    assert f'<td class="num">{total}</td>' in last


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"])
def test_far_dates_are_refused_not_crashed(alice_api, alice_client, stored_btc_1h, when):
    body = {"strategy": "ema_crossover", "symbol": "BTC/USDT", "timeframe": "1h", "start": when}
    response = alice_api.post("/api/v1/backtests/", body, format="json")
    assert response.status_code == 400
    assert "between 2000 and 2100" in response.json()["error"]["fields"]["start"][0]
    response = alice_api.get(f"/api/v1/market-data/candles/?exchange=binance&symbol=BTC/USDT&timeframe=1h&end={when}")
    assert response.status_code == 400
    data = {
        "strategy": "ema_crossover",
        "market": "binance|BTC/USDT|1h",
        "start": when[:10],
        "param_fast": "12",
        "param_slow": "26",
        "initial_capital": "10000",
        "fee_rate": "0.001",
        "slippage_bps": "5",
        "leverage": "1",
        "position_size_pct": "10",
        "direction": "long",
    }
    assert alice_client.post("/strategies/backtests/new/", data).status_code == 400


def test_search_errors_are_keyed_by_search_field(alice_api, stored_btc_1h):
    body = {
        "strategy": "macd_stoch",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "start": "2023-01-01T00:00:00Z",
        "search": {"method": "grid", "points": 10},
    }
    response = alice_api.post("/api/v1/optimisations/", body, format="json")
    assert response.status_code == 400
    assert "search.points" in response.json()["error"]["fields"]


def test_pine_download_for_a_run_uses_its_strategy(alice_client, alice, stored_btc_1h):
    run = _create(alice, strategy="supertrend", params={"factor": 2.5})
    response = alice_client.get(f"/strategies/ema_crossover/pine/?run={run.id}")
    assert response.status_code == 200
    assert "SuperTrend" in response.content.decode()


def test_active_runs_are_limited(alice, bob, stored_btc_1h):
    for _ in range(services.MAX_ACTIVE_RUNS):
        _create(alice)  # queued: no worker in this test transaction
    with pytest.raises(ValidationError, match="runs waiting or running"):
        _create(alice)
    _create(bob)  # another user's queue is their own


def test_abandoned_runs(alice, stored_btc_1h):
    from datetime import timedelta

    from django.utils import timezone

    stuck = _create(alice)
    BacktestRun.objects.filter(id=stuck.id).update(
        status=BacktestRun.Status.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )
    # Celery redelivers the task of a dead worker: the run is claimed again and finishes.
    assert services.backtest_run_execute(run_id=stuck.id) == "done"
    old = _create(alice)
    BacktestRun.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(hours=3))
    fresh = _create(alice)
    assert services.backtest_runs_fail_stale() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == BacktestRun.Status.FAILED and "start it again" in old.error
    assert fresh.status == BacktestRun.Status.QUEUED


def test_a_run_never_uses_candles_past_the_market_clock(alice, stored_btc_1h):
    """From the API or a task as from the form: on the replay clock the period ends at the replay's now."""
    from trading import clock

    now = datetime(2024, 2, 10, 7, 30, tzinfo=UTC)
    with clock.pinned(clock.Pin(time=now, price=lambda exchange, symbol: None)):
        run = _create(alice, end=datetime(2024, 3, 1, tzinfo=UTC))
        assert run.end == datetime(2024, 2, 10, 7, tzinfo=UTC)  # the last candle closed by then
        assert _create(alice, end=None).end == datetime(2024, 2, 10, 7, tzinfo=UTC)
        assert _create(alice, end=datetime(2024, 2, 1, tzinfo=UTC)).end == datetime(2024, 2, 1, tzinfo=UTC)
