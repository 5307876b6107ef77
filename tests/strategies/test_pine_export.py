"""Every export is a Pine v6 strategy that parses, carries the parameters and sends Trendy's alert format."""

import json
import re

import pytest
from pynescript.ast import parse

from strategies.builtin import REGISTRY
from strategies.interface import StrategyError
from strategies.pine_export import pine_filename, pine_script

OTHER_PARAMS = {
    "ema_crossover": {"fast": 9, "slow": 21},
    "supertrend": {"factor": 2.5, "atr_period": 7},
    "rsi_ema": {"rsi_length": 10, "oversold": 25, "overbought": 75, "ema_length": 100},
    "macd_stoch": {"fast": 8, "slow": 21, "signal": 5, "oversold": 15},
    "ichimoku_cloud": {"conversion": 7, "base": 22, "span_b": 44, "displacement": 22},
    "bb_rsi": {"bb_length": 30, "bb_mult": 2.5},
}


def _alert(script: str) -> dict:
    match = re.search(r"^alertMessage = '(.*)'$", script, re.MULTILINE)
    assert match, "no alert message"
    return json.loads(match.group(1))


@pytest.mark.parametrize("slug", sorted(REGISTRY))
@pytest.mark.parametrize("which", ["defaults", "other"])
def test_export_parses_and_carries_everything(slug, which):
    strategy = REGISTRY[slug]
    params = {} if which == "defaults" else OTHER_PARAMS[slug]
    script = pine_script(strategy, params)
    tree = parse(script)
    assert tree.body
    assert "//@version=6" in script
    assert "process_orders_on_close=false" in script
    clean = strategy.validate(params)
    for spec in strategy.params:
        assert re.search(rf"^{spec.name} = input\.(int|float)\({re.escape(str(clean[spec.name]))}\b", script, re.M), (
            spec
        )
    for name in ("longEntry", "longExit", "shortEntry", "shortExit"):
        assert re.search(rf"^{name} = ", script, re.M)
    alert = _alert(script)
    for key in (
        "secret",
        "action",
        "symbol",
        "exchange",
        "price",
        "position",
        "size",
        "size_pct",
        "leverage",
        "stop_loss_pct",
        "take_profit_pct",
        "order_id",
        "time",
    ):
        assert key in alert
    assert alert["action"] == "{{strategy.order.action}}"
    assert alert["position"] == "{{strategy.market_position}}"


def test_settings_shape_the_strategy():
    script = pine_script(
        REGISTRY["ema_crossover"],
        {},
        settings={
            "leverage": 3,
            "position_size_pct": 15,
            "fee_rate": 0.0005,
            "stop_loss_pct": None,
            "take_profit_pct": 6,
            "direction": "both",
            "initial_capital": 5000,
            "slippage_bps": 5,
        },
    )
    parse(script)
    assert "default_qty_value=45" in script
    assert "margin_long=33.333333333333336" in script
    assert "commission_value=0.05" in script
    assert 'input.string("both"' in script
    assert "stopLossPct = input.float(0" in script
    alert = _alert(script)
    assert alert["leverage"] == 3 and alert["size_pct"] == 15
    assert "stop_loss_pct" not in alert and alert["take_profit_pct"] == 6


def test_bad_parameters_are_refused():
    with pytest.raises(StrategyError):
        pine_script(REGISTRY["ema_crossover"], {"fast": 40, "slow": 20})


def test_filename():
    strategy = REGISTRY["supertrend"]
    assert pine_filename(strategy, strategy.validate({"factor": 2.5})) == "trendy-supertrend-2.5-10.pine"


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_no_ta_call_behind_and_or(slug):
    """Pine's and/or stop early: a ta.* call there would not run on every bar and its state would go stale."""
    script = pine_script(REGISTRY[slug], {})
    for line in script.splitlines():
        if " and " in line or " or " in line:
            assert "ta." not in line, line


def test_stops_are_attached_to_the_entries():
    script = pine_script(REGISTRY["ema_crossover"], {})
    assert 'strategy.exit("Long SL/TP", from_entry="Long", loss=lossTicks, profit=profitTicks' in script
    assert "if strategy.position_size > 0\n    strategy.exit" not in script
