"""How the strategy and backtest pages read (issue 12): labels and sentences in English and Korean, numbers and
times through the project's formatting, no raw identifiers, one marker per candle, and nothing after the market
clock's now."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pandas as pd
import pytest
from django.utils import translation

from strategies import labels, services
from strategies.builtin import REGISTRY
from strategies.models import BacktestRun
from strategies.views import standard_backtests

pytestmark = pytest.mark.django_db

RAW = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")  # take_profit, total_return_pct, rsi_length …


def _visible(html: str) -> str:
    """The text a trader reads: no scripts, JSON, tags, attributes, or code samples."""
    html = re.sub(r"<(script|style|code)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _run(user, **overrides) -> BacktestRun:
    values = {
        "user": user,
        "strategy": "ema_crossover",
        "params": {"fast": 9, "slow": 21},
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "start": datetime(2024, 1, 1, tzinfo=UTC),
        "end": datetime(2024, 3, 1, tzinfo=UTC),
        "risk": services.RiskSettings(direction="both", stop_loss_pct=1, leverage=3),
    }
    values.update(overrides)
    run = services.backtest_run_create(**values)
    services.backtest_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE, run.error
    return run


def _korean(client) -> None:
    client.cookies["django_language"] = "ko"


# --- Labels --------------------------------------------------------------------------------------------------------


def test_every_metric_reads_by_its_kind():
    values = {
        "total_return_pct": (12.345, "+12.35%"),
        "cagr_pct": (-3.1, "−3.10%"),
        "buy_hold_return_pct": (0, "0.00%"),
        "max_drawdown_pct": (8.2, "8.20%"),
        "win_rate_pct": (41.666, "41.7%"),
        "exposure_pct": (57.46, "57.5%"),
        "sharpe": (1.4189, "1.42"),
        "sortino": (-0.5, "−0.50"),
        "calmar": (2, "2.00"),
        "profit_factor": (1234.5, "1,234.50"),
        "trades": (1234, "1,234"),
        "avg_win": (25.1, "+25.10 USDT"),
        "avg_loss": (-3.1, "−3.10 USDT"),
        "fees_paid": (1422.36, "1,422.36 USDT"),
    }
    assert set(values) == set(labels.METRIC_LABELS) == set(labels.METRIC_KINDS)
    for key, (value, text) in values.items():
        assert labels.metric_value(key, value) == text, key
    assert labels.metric_value("sharpe", None) == "–"  # undefined, never "None" or "nan"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_labels_are_words_in_both_languages(language):
    with translation.override(language):
        texts = [
            *map(labels.metric_label, labels.METRIC_LABELS),
            *map(labels.exit_reason_label, labels.EXIT_REASON_LABELS),
            *map(labels.side_label, labels.SIDE_LABELS),
            *map(labels.strategy_name, REGISTRY),
            *(labels.param_label(strategy, spec.name) for strategy in REGISTRY.values() for spec in strategy.params),
        ]
    for text in texts:
        assert not RAW.search(text), text
    if language == "ko":
        for text in texts:
            # Korean words; the names of indicators stay as they are written (EMA, RSI, MACD, ATR, %K, %D).
            leftover = re.sub(r"\b(EMA|RSI|MACD|ATR|CAGR|PF|K|D)\b", "", text)
            assert not re.search(r"[A-Za-z]{2,}", leftover), text


def test_korean_names_and_sentences():
    with translation.override("ko"):
        assert labels.strategy_name("ema_crossover") == "EMA 크로스오버"
        assert labels.strategy_name("ichimoku_cloud") == "일목균형표"
        assert labels.exit_reason_label("stop_loss") == "손절"
        assert labels.exit_reason_label("reversal") == "반대 포지션 전환"
        assert labels.params_text("ema_crossover", {"fast": 12, "slow": 26}) == "빠른 EMA 기간 12 · 느린 EMA 기간 26"
        start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)
        assert labels.period_text(start, end) == "2024년 1월 1일 – 2024년 6월 30일"
    with translation.override("en"):
        assert labels.params_text("bb_rsi", {"bb_mult": 2.5, "bb_length": 20}) == (
            "Bollinger period 20 · Bollinger width (standard deviations) 2.5"
        )
        assert labels.period_text(start, end) == "1 Jan 2024 – 30 Jun 2024"


# --- One marker per candle ---------------------------------------------------------------------------------------


def _trade(side, entry, exit_, reason, pnl, entry_price=42000.0, exit_price=41160.0):
    return {
        "side": side,
        "entry_time": entry,
        "entry_price": entry_price,
        "exit_time": exit_,
        "exit_price": exit_price,
        "size": 0.0125,
        "pnl": pnl,
        "exit_reason": reason,
    }


def _seconds(times):
    return [int(pd.Timestamp(t).timestamp()) for t in times]


def test_events_on_one_candle_share_one_marker():
    trades = [
        # A long closed by the reversal, and the short it reversed into, on the 10:00 candle.
        _trade("long", "2024-01-02T05:00:00+00:00", "2024-01-02T10:00:00+00:00", "reversal", 31.5),
        # The short is stopped out on 14:00; a new long enters on that same candle and is stopped out on it too.
        _trade("short", "2024-01-02T10:00:00+00:00", "2024-01-02T14:00:00+00:00", "stop_loss", -12.3),
        _trade("long", "2024-01-02T14:00:00+00:00", "2024-01-02T14:00:00+00:00", "stop_loss", -10.0),
    ]
    markers, lines = labels.trade_markers(trades, "BTC/USDT", _seconds)
    t05, t10, t14 = _seconds(["2024-01-02T05:00Z", "2024-01-02T10:00Z", "2024-01-02T14:00Z"])
    assert [m["time"] for m in markers] == [t05, t10, t14]  # one each, in time order
    assert markers[0] == {"time": t05, "position": "belowBar", "shape": "arrowUp", "color": labels.GREEN}
    assert markers[1]["shape"] == markers[2]["shape"] == "square"
    assert markers[1]["text"] == "2" and markers[2]["text"] == "3"
    # The tooltip lists every event of the candle, exits first.
    assert lines[str(t10)] == [
        "Long exit: Reversal at 41,160.00 USDT, PnL +31.50 USDT",
        "Short entry: 0.0125 BTC at 42,000.00 USDT",
    ]
    assert lines[str(t14)] == [
        "Short exit: Stop loss at 41,160.00 USDT, PnL −12.30 USDT",
        "Long exit: Stop loss at 41,160.00 USDT, PnL −10.00 USDT",
        "Long entry: 0.0125 BTC at 42,000.00 USDT",
    ]
    with translation.override("ko"):
        _markers, korean = labels.trade_markers(trades, "BTC/USDT", _seconds)
    assert korean[str(t10)] == [
        "롱 청산: 반대 포지션 전환, 41,160.00 USDT, 손익 +31.50 USDT",
        "숏 진입: 0.0125 BTC, 42,000.00 USDT",
    ]


def test_a_lone_exit_is_a_dot_coloured_by_its_result():
    trades = [_trade("short", "2024-01-02T05:00:00+00:00", "2024-01-03T05:00:00+00:00", "take_profit", 20.0)]
    markers, lines = labels.trade_markers(trades, "ETH/USDT", _seconds)
    assert [m["shape"] for m in markers] == ["arrowDown", "circle"]
    assert markers[1]["color"] == labels.GREEN and markers[1]["position"] == "belowBar"
    assert list(map(len, lines.values())) == [1, 1]
    assert labels.trade_markers([], "BTC/USDT", _seconds) == ([], {})


# --- Pages ---------------------------------------------------------------------------------------------------------


def _json_script(html: str, element_id: str) -> dict:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, element_id
    return json.loads(match.group(1))


def test_run_page_reads_right(alice, alice_client, stored_btc_1h):
    alice.timezone = "Asia/Seoul"
    alice.save()
    run = _run(alice)
    html = alice_client.get(f"/strategies/backtests/{run.id}/").content.decode()
    text = _visible(html)
    assert f"<title>Backtest {run.pk} · BTC/USDT · Trendy</title>" in html
    assert "EMA crossover · BTC/USDT · 1h" in text
    assert "Fast EMA period" in text and "Slow EMA period" in text
    assert "Long and short" in text and "leverage 3x" in text and "stop loss 1.00%" in text
    # The return is the past's, beside buy and hold, over a period the page names; never "expected".
    assert "Return (past)" in text and "Buy and hold (same period)" in text
    assert "Over 1 Jan 2024 – 1 Mar 2024: past results" in text  # 09:00 KST to 08:59 KST
    assert "xpected" not in text
    assert labels.metric_value("total_return_pct", run.metrics["total_return_pct"]) in text
    assert labels.metric_value("fees_paid", run.metrics["fees_paid"]) in text
    # The trades: times in the trader's zone with the zone named, prices and sizes with their currencies.
    first = run.result["trades"][0]
    entry = pd.Timestamp(first["entry_time"]).tz_convert("Asia/Seoul")
    assert f"{entry.day} {entry.strftime('%b %Y, %H:%M')} KST" in text
    assert "USDT" in text and " BTC" in text
    assert {"Reversal", "Stop loss"} <= set(re.findall(r"Reversal|Stop loss", text))
    assert not RAW.findall(text), RAW.findall(text)
    charts = _json_script(html, "run-charts")
    times = [m["time"] for m in charts["markers"]]
    assert times == sorted(set(times))  # one marker per candle
    assert any(m["shape"] == "square" for m in charts["markers"])  # a reversal: an exit and an entry on one candle
    assert all(str(m["time"]) in charts["lines"] for m in charts["markers"])
    assert charts["zones"] == [[0, "KST"]]


def test_run_page_in_korean(alice, alice_client, stored_btc_1h):
    run = _run(alice)
    _korean(alice_client)
    html = alice_client.get(f"/strategies/backtests/{run.id}/").content.decode()
    text = _visible(html)
    assert f"<title>백테스트 {run.pk} · BTC/USDT · Trendy</title>" in html
    assert "EMA 크로스오버 · BTC/USDT · 1시간" in text
    assert "빠른 EMA 기간" in text and "수익률(과거)" in text and "매수 후 보유(같은 기간)" in text
    assert "반대 포지션 전환" in text and "손절" in text
    for word in ("Long", "Short", "Reversal", "Stop loss", "Return", "Trades", "Entry", "Exit"):
        assert not re.search(rf"\b{word}\b", text), word
    lines = _json_script(html, "run-charts")["lines"]
    assert any("청산" in line for group in lines.values() for line in group)


def test_optimisation_page_reads_right(alice, alice_client, stored_btc_1h):
    from strategies.optimise import SearchSpec

    run = _run(
        alice,
        params={},
        kind=BacktestRun.Kind.OPTIMISATION,
        search=SearchSpec(samples=4, folds=2, metric="total_return_pct"),
        start=datetime(2023, 1, 1, tzinfo=UTC),
        end=datetime(2024, 1, 1, tzinfo=UTC),
        risk=services.RiskSettings(),
    )
    html = alice_client.get(f"/strategies/backtests/{run.id}/").content.decode()
    text = _visible(html)
    assert f"<title>Optimisation {run.pk} · BTC/USDT · Trendy</title>" in html
    assert "optimised for Return (8 backtests, random search)" in text
    fold = run.result["folds"][0]
    assert f"Fast EMA period {fold['params']['fast']}" in text
    assert labels.metric_value("total_return_pct", fold["out_of_sample"]["total_return_pct"]) in text
    assert "1 Jan 2023 – " in text  # the windows as days
    assert not RAW.findall(text), RAW.findall(text)


def test_run_list_and_compare_in_korean(alice, alice_client, stored_btc_1h):
    a, b = _run(alice), _run(alice, params={"fast": 12, "slow": 26})
    _korean(alice_client)
    listing = _visible(alice_client.get("/strategies/backtests/").content.decode())
    assert "EMA 크로스오버" in listing and "완료" in listing and "2024년 1월 1일 – 2024년 2월 29일" in listing
    assert labels.metric_value("total_return_pct", a.metrics["total_return_pct"]) in listing
    html = alice_client.get(f"/strategies/backtests/compare/?a={a.id}&b={b.id}").content.decode()
    text = _visible(html)
    assert "<title>실행 비교 · Trendy</title>" in html
    assert "빠른 EMA 기간 12 · 느린 EMA 기간 26" in text
    for key in labels.METRIC_LABELS:
        with translation.override("ko"):
            assert labels.metric_label(key) in text
            assert labels.metric_value(key, b.metrics.get(key)) in text
    assert not RAW.findall(text)


def test_strategy_list_names_its_period_in_both_languages(alice, alice_client, stored_btc_1h):
    text = _visible(alice_client.get("/strategies/").content.decode())
    # The standard backtest: the last six months of the stored candles (the last ends on 31 Dec 2024, 23:00 UTC).
    assert "on BTC/USDT · 1h · Binance, 3 Jul 2024 – 31 Dec 2024: past results, not a forecast" in text
    assert "Standard backtest, 3 Jul 2024 – 31 Dec 2024 (past)" in text
    assert "Fast EMA period" in text and "rsi_length" not in text
    _korean(alice_client)
    text = _visible(alice_client.get("/strategies/").content.decode())
    assert "표준 백테스트, 2024년 7월 3일 – 2024년 12월 31일(과거)" in text
    for name in ("슈퍼트렌드", "MACD + 스토캐스틱", "일목균형표", "볼린저 밴드 + RSI", "EMA 크로스오버"):
        assert name in text
    assert "Ichimoku" not in text and "crossover" not in text


def test_pine_error_names_the_parameter_by_its_label(alice_client, stored_btc_1h):
    response = alice_client.get("/strategies/ema_crossover/pine/?fast=1")
    assert response.status_code == 400
    assert response.content.decode().startswith("Fast EMA period: ")


# --- The market clock ----------------------------------------------------------------------------------------------


@pytest.fixture
def replay_at_10(stored_btc_1h, django_capture_on_commit_callbacks):
    from trading import clock

    with django_capture_on_commit_callbacks(execute=True):
        clock.replay_start(start=datetime(2024, 3, 3, 10, tzinfo=UTC), timeframe="1h")


def test_run_chart_stops_at_the_market_clock(alice, alice_client, replay_at_10):
    run = _run(alice, start=datetime(2024, 2, 1, tzinfo=UTC), end=datetime(2024, 4, 1, tzinfo=UTC))
    charts = _json_script(alice_client.get(f"/strategies/backtests/{run.id}/").content.decode(), "run-charts")
    last = charts["candles"]["candles"][-1]["time"]
    assert last == int(datetime(2024, 3, 3, 9, tzinfo=UTC).timestamp())  # the last candle closed by 10:00
    assert all(m["time"] <= last for m in charts["markers"])


def test_new_backtest_ends_at_the_market_clock(alice, alice_client, replay_at_10, django_capture_on_commit_callbacks):
    data = {
        "strategy": "ema_crossover",
        "market": "binance|BTC/USDT|1h",
        "start": "2024-01-01",
        "param_fast": "12",
        "param_slow": "26",
        "initial_capital": "10000",
        "fee_rate": "0.001",
        "slippage_bps": "5",
        "leverage": "1",
        "position_size_pct": "10",
        "direction": "long",
    }
    with django_capture_on_commit_callbacks(execute=True):
        empty_end = alice_client.post("/strategies/backtests/new/", data)
        later_end = alice_client.post("/strategies/backtests/new/", {**data, "end": "2024-06-01"})
    assert empty_end.status_code == later_end.status_code == 302
    for run in BacktestRun.objects.filter(user=alice):
        assert run.end == datetime(2024, 3, 3, 10, tzinfo=UTC)
        last_trade = max(pd.Timestamp(t["exit_time"] or t["entry_time"]) for t in run.result["trades"])
        assert last_trade < pd.Timestamp("2024-03-03T10:00Z")


def test_standard_backtest_ends_at_the_market_clock(replay_at_10):
    standard = standard_backtests()
    assert standard["end"] == "2024-03-03T00:00:00+00:00"  # whole days, up to the replay's now
    assert pd.Timestamp(standard["first"]) == pd.Timestamp("2023-09-03T00:00Z")
