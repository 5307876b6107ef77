"""Every export is a Pine v6 strategy that parses (pynescript), carries the parameters as inputs, mirrors
Trendy's backtest settings and rules, and sends Trendy's TradingView alert format on every order.

pynescript's parser is slow to warm up (about 10 s for the first script in a process), so each script is
parsed once (``_export``) and shared by the tests that read it.
"""

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pynescript import ast as pine

from strategies.builtin import REGISTRY
from strategies.interface import ParamSpec, Strategy, StrategyError
from strategies.pine_export import ALERT_KEYS, RULES, pine_filename, pine_script

SLUGS = sorted(REGISTRY)

# A valid non-default parameter set for each strategy (every value differs from its default).
OTHER_PARAMS = {
    "ema_crossover": {"fast": 9, "slow": 21},
    "supertrend": {"factor": 2.5, "atr_period": 7},
    "rsi_ema": {"rsi_length": 10, "oversold": 25, "overbought": 75, "ema_length": 100},
    "macd_stoch": {
        "fast": 8,
        "slow": 21,
        "signal": 5,
        "stoch_k": 10,
        "stoch_smooth": 2,
        "stoch_d": 4,
        "oversold": 15,
        "overbought": 85,
    },
    "ichimoku_cloud": {"conversion": 7, "base": 22, "span_b": 44, "displacement": 22},
    "bb_rsi": {"bb_length": 30, "bb_mult": 2.5, "rsi_length": 7, "oversold": 25, "overbought": 75.5},
}
# A parameter set each strategy's own cross-parameter check refuses.
CROSS_RULE_VIOLATIONS = {
    "ema_crossover": {"fast": 30, "slow": 20},
    "rsi_ema": {"oversold": 45, "overbought": 45},
    "macd_stoch": {"fast": 30, "slow": 20},
    "ichimoku_cloud": {"conversion": 30, "base": 26},
    "bb_rsi": {"oversold": 50, "overbought": 50},
}
PARAM_SETS = [(slug, which) for slug in SLUGS for which in ("defaults", "other")]


def _params(slug: str, which: str) -> dict:
    return {} if which == "defaults" else OTHER_PARAMS[slug]


@functools.cache
def _export(slug: str, which: str) -> tuple[str, object]:
    """The script for a strategy's defaults or other parameters, and its pynescript tree (parsed once)."""
    script = pine_script(REGISTRY[slug], _params(slug, which))
    return script, pine.parse(script)


def _pine_unescape(text: str) -> str:
    """The value of a Pine string literal's body: backslash escapes as Pine reads them."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), text)


def _alert(script: str) -> dict:
    """The alert JSON, read back from the single-quoted Pine constant ``alertMessage``."""
    match = re.search(r"^alertMessage = '((?:[^'\\]|\\.)*)'$", script, re.MULTILINE)
    assert match, "no alertMessage constant"
    return json.loads(_pine_unescape(match.group(1)))


def _calls(tree, name: str) -> list:
    """Every call of the function ``name`` (dotted, e.g. ``strategy.entry``) in the parsed script."""
    return [node for node in pine.walk(tree) if isinstance(node, pine.Call) and pine.unparse(node.func) == name]


def _assigned(tree, name: str):
    """The value assigned to ``name`` (a simple ``name = value`` statement)."""
    (value,) = [
        node.value
        for node in pine.walk(tree)
        if isinstance(node, pine.Assign) and isinstance(node.target, pine.Name) and node.target.id == name
    ]
    return value


def _kwargs(call) -> dict:
    return {arg.name: arg.value for arg in call.args if arg.name}


def _constant_kwargs(call) -> dict:
    return {name: value.value for name, value in _kwargs(call).items() if isinstance(value, pine.Constant)}


def _eval_pine(expression: str, params: dict):
    """A small Pine expression over the parameters (math.max, and/or, comparisons) evaluated in Python."""
    python = expression.replace("math.max", "max").replace("math.min", "min")
    assert re.fullmatch(r"[\w\s+\-*/(),<>=.]+", python), expression
    return eval(python, {"__builtins__": {}, "max": max, "min": min}, dict(params))  # noqa: S307 - our own constants


# --- Every strategy, defaults and another parameter set ------------------------------------------


@pytest.mark.parametrize(("slug", "which"), PARAM_SETS)
def test_export_parses_as_pine_v6(slug, which):
    script, tree = _export(slug, which)
    assert script.splitlines()[0] == "//@version=6"
    assert "//@version=6" in tree.annotations
    (call,) = _calls(tree, "strategy")
    options = _constant_kwargs(call)
    assert options["process_orders_on_close"] is False
    assert options["calc_on_every_tick"] is False
    assert options["overlay"] is True


@pytest.mark.parametrize(("slug", "which"), PARAM_SETS)
def test_parameters_become_inputs_with_their_values_and_ranges(slug, which):
    strategy = REGISTRY[slug]
    clean = strategy.validate(_params(slug, which))
    script, tree = _export(slug, which)
    inputs = {}
    for node in pine.walk(tree):
        if isinstance(node, pine.Assign) and isinstance(node.value, pine.Call):
            func = node.value.func
            if isinstance(func, pine.Attribute) and isinstance(func.value, pine.Name) and func.value.id == "input":
                inputs[node.target.id] = (func.attr, node.value)
    assert set(inputs) == {spec.name for spec in strategy.params} | {"direction"}
    for spec in strategy.params:
        kind, call = inputs[spec.name]
        assert kind == ("int" if spec.kind is int else "float"), spec
        value = call.args[0].value.value
        assert value == clean[spec.name] and type(value) is spec.kind, (spec, value)
        assert call.args[1].value.value == spec.label
        bounds = _constant_kwargs(call)
        assert (bounds["minval"], bounds["maxval"], bounds["step"]) == (spec.minimum, spec.maximum, spec.step)
        literal = str(clean[spec.name]) if spec.kind is int else repr(float(clean[spec.name]))
        assert re.search(rf"^{spec.name} = input\.{kind}\({re.escape(literal)},", script, re.M), spec


@pytest.mark.parametrize(("slug", "which"), PARAM_SETS)
def test_title_and_header(slug, which):
    strategy = REGISTRY[slug]
    clean = strategy.validate(_params(slug, which))
    script, tree = _export(slug, which)
    (call,) = _calls(tree, "strategy")
    title = call.args[0].value.value
    assert strategy.name in title
    for name, value in clean.items():
        assert f"{name}={value:g}" in title
    header = " ".join(line[2:].strip() for line in script.splitlines() if line.startswith("// "))
    assert "Generated by Trendy" in header
    assert " ".join(strategy.description.split()) in header
    assert "{{strategy.order.alert_message}}" in header
    assert "replace YOUR_WEBHOOK_SECRET" in header
    assert "slippage in ticks" in header


@pytest.mark.parametrize(("slug", "which"), PARAM_SETS)
def test_alert_message_is_trendys_format(slug, which):
    script, tree = _export(slug, which)
    alert = _alert(script)
    assert tuple(alert) == ALERT_KEYS
    assert alert == {
        "secret": "YOUR_WEBHOOK_SECRET",
        "action": "{{strategy.order.action}}",
        "symbol": "{{ticker}}",
        "exchange": "{{exchange}}",
        "price": "{{close}}",
        "position": "{{strategy.market_position}}",
        "size": "{{strategy.order.contracts}}",
        "size_pct": 10,
        "leverage": 1,
        "stop_loss_pct": 2,
        "take_profit_pct": 4,
        "order_id": "{{strategy.order.id}}",
        "time": "{{timenow}}",
    }
    # pynescript reads the same string out of the literal.
    assert json.loads(_assigned(tree, "alertMessage").value) == alert


@pytest.mark.parametrize("slug", SLUGS)
def test_every_order_sends_the_alert(slug):
    _, tree = _export(slug, "defaults")
    orders = {
        name: _calls(tree, f"strategy.{name}")
        for name in ("entry", "close", "exit", "order", "close_all", "cancel", "cancel_all")
    }
    assert not orders["order"] and not orders["close_all"] and not orders["cancel"] and not orders["cancel_all"]
    assert len(orders["entry"]) == 4  # long and short, from flat and as a reversal
    assert len(orders["close"]) == 2
    assert len(orders["exit"]) == 2
    for name in ("entry", "close", "exit"):
        for call in orders[name]:
            message = _kwargs(call)["alert_message"]
            assert isinstance(message, pine.Name) and message.id == "alertMessage", name
    ids = {call.args[0].value.value for call in orders["entry"] + orders["close"]}
    assert ids == {"Long", "Short"}
    exits = {call.args[0].value.value: _kwargs(call) for call in orders["exit"]}
    assert exits["Long SL/TP"]["from_entry"].value == "Long"
    assert exits["Short SL/TP"]["from_entry"].value == "Short"
    for kwargs in exits.values():
        assert {"stop", "limit"} <= set(kwargs)
    assert len(_calls(tree, "strategy.risk.allow_entry_in")) == 1


@pytest.mark.parametrize(("slug", "which"), PARAM_SETS)
def test_warmup_expression_equals_the_strategys(slug, which):
    strategy = REGISTRY[slug]
    clean = strategy.validate(_params(slug, which))
    script, _ = _export(slug, which)
    assert f"\nwarmupBars = {RULES[slug].warmup}\n" in script
    assert "\nwarmedUp = bar_index >= warmupBars\n" in script
    assert _eval_pine(RULES[slug].warmup, clean) == strategy.warmup(clean)


@pytest.mark.parametrize("slug", SLUGS)
def test_pine_checks_mirror_the_strategys_cross_parameter_rules(slug):
    strategy = REGISTRY[slug]
    script, _ = _export(slug, "defaults")
    for condition, message in RULES[slug].checks:
        assert f'\nif {condition}\n    runtime.error("{message}")\n' in script
        for which in ("defaults", "other"):
            assert not _eval_pine(condition, strategy.validate(_params(slug, which)))
    if slug in CROSS_RULE_VIOLATIONS:
        bad = {**strategy.defaults(), **CROSS_RULE_VIOLATIONS[slug]}
        assert strategy.check(bad)
        assert any(_eval_pine(condition, bad) for condition, _ in RULES[slug].checks)
    else:
        assert not RULES[slug].checks


EXPECTED_BUILTINS = {
    "ema_crossover": ("ta.ema(close, fast)", "ta.ema(close, slow)", "ta.crossover(", "ta.crossunder("),
    "supertrend": ("ta.supertrend(factor, atr_period)", "stDirection[1] == 1"),
    "rsi_ema": ("ta.rsi(close, rsi_length)", "ta.ema(close, ema_length)", "ta.crossover(", "ta.crossunder("),
    "macd_stoch": (
        "ta.macd(close, fast, slow, signal)",
        "ta.stoch(close, high, low, stoch_k)",
        "ta.sma(rawK, stoch_smooth)",
        "ta.sma(k, stoch_d)",
    ),
    "ichimoku_cloud": (
        "ta.lowest(low, len)",
        "ta.highest(high, len)",
        "spanA[displacement - 1]",
        "close[displacement - 1]",
    ),
    "bb_rsi": ("ta.bb(close, bb_length, bb_mult)", "ta.rsi(close, rsi_length)", "stretchedDown[1]"),
}


@pytest.mark.parametrize("slug", SLUGS)
def test_rules_use_the_matching_builtins(slug):
    script, _ = _export(slug, "defaults")
    for snippet in EXPECTED_BUILTINS[slug]:
        assert snippet in script, snippet
    for name in ("longEntry", "longExit", "shortEntry", "shortExit"):
        assert re.search(rf"^{name} = ", script, re.M), name
    assert re.search(r"^plot\(", script, re.M)


@pytest.mark.parametrize("slug", SLUGS)
def test_no_ta_call_behind_and_or(slug):
    """Pine v6's and/or stop early: a ta.* call there would not run on every bar and its state would go stale."""
    script, _ = _export(slug, "defaults")
    for line in script.splitlines():
        if not line.startswith("//") and re.search(r"\b(and|or)\b", line):
            assert "ta." not in line, line


# --- Settings --------------------------------------------------------------------------------------


def test_default_settings_are_trendys_backtest_defaults():
    script, tree = _export("ema_crossover", "defaults")
    (call,) = _calls(tree, "strategy")
    options = _constant_kwargs(call)
    assert options["initial_capital"] == 10000
    assert options["commission_value"] == 0.1
    assert options["slippage"] == 0
    assert options["default_qty_value"] == 10
    assert options["margin_long"] == options["margin_short"] == 100
    kwargs = _kwargs(call)
    assert pine.unparse(kwargs["commission_type"]) == "strategy.commission.percent"
    assert pine.unparse(kwargs["default_qty_type"]) == "strategy.percent_of_equity"
    assert _assigned(tree, "leverage").value == 1
    assert _assigned(tree, "stopLossPct").value == 2.0
    assert _assigned(tree, "takeProfitPct").value == 4.0
    assert 'direction = input.string("long", ' in script


def test_settings_shape_the_strategy():
    settings = {
        "leverage": 3.0,  # the pages pass floats
        "position_size_pct": 15.0,
        "fee_rate": 0.0005,
        "stop_loss_pct": None,
        "take_profit_pct": 6.0,
        "direction": "both",
        "initial_capital": 5000.0,
        "slippage_bps": 10.0,
    }
    script = pine_script(REGISTRY["ema_crossover"], {}, settings=settings)
    tree = pine.parse(script)
    (call,) = _calls(tree, "strategy")
    options = _constant_kwargs(call)
    assert options["initial_capital"] == 5000
    assert options["commission_value"] == pytest.approx(0.05)
    assert options["default_qty_value"] == 45
    assert options["margin_long"] == options["margin_short"] == pytest.approx(100 / 3)
    assert 'direction = input.string("both", ' in script
    assert _assigned(tree, "leverage").value == 3
    assert _assigned(tree, "stopLossPct").value == 0.0
    assert _assigned(tree, "takeProfitPct").value == 6.0
    assert "Trendy charges 10 bps" in script
    alert = _alert(script)
    assert alert["leverage"] == 3 and alert["size_pct"] == 15
    assert alert["stop_loss_pct"] is None and alert["take_profit_pct"] == 6
    header = " ".join(line[2:].strip() for line in script.splitlines() if line.startswith("// "))
    assert "leverage 3, stop loss off, take profit 6 %, direction both" in header


def test_fractional_settings_are_kept():
    script = pine_script(
        REGISTRY["supertrend"], {}, settings={"position_size_pct": 12.5, "stop_loss_pct": 1.5, "leverage": 2}
    )
    assert "default_qty_value=25," in script
    assert "margin_long=50," in script
    assert "\nstopLossPct = 1.5 " in script
    alert = _alert(script)
    assert alert["size_pct"] == 12.5 and alert["stop_loss_pct"] == 1.5 and alert["leverage"] == 2


@pytest.mark.parametrize(
    "bad",  # not "settings": that is pytest-django's fixture, which tests/conftest.py uses
    [
        {"leverage": 0},
        {"leverage": 50},
        {"leverage": 2.5},
        {"leverage": True},
        {"position_size_pct": 30},
        {"position_size_pct": "ten"},
        {"fee_rate": 1},
        {"fee_rate": -0.001},
        {"slippage_bps": -1},
        {"initial_capital": 0},
        {"initial_capital": float("nan")},
        {"stop_loss_pct": 0},
        {"take_profit_pct": -4},
        {"direction": "sideways"},
        {"unknown": 1},
    ],
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(StrategyError):
        pine_script(REGISTRY["ema_crossover"], {}, settings=bad)


def test_secret_placeholder_is_escaped():
    secret = 'it\'s a "secret" with \\ and ü'
    script = pine_script(REGISTRY["rsi_ema"], {}, webhook_secret_placeholder=secret)
    tree = pine.parse(script)
    assert _alert(script)["secret"] == secret
    assert json.loads(_assigned(tree, "alertMessage").value)["secret"] == secret


# --- Bad parameters and the rest ---------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_bad_parameters_are_refused(slug):
    strategy = REGISTRY[slug]
    spec = strategy.params[0]
    with pytest.raises(StrategyError) as excinfo:
        pine_script(strategy, {spec.name: spec.maximum + 1})
    assert spec.name in excinfo.value.fields
    with pytest.raises(StrategyError):
        pine_script(strategy, {"no_such_parameter": 1})
    with pytest.raises(StrategyError):
        pine_script(strategy, {spec.name: "abc"})
    if slug in CROSS_RULE_VIOLATIONS:
        with pytest.raises(StrategyError):
            pine_script(strategy, CROSS_RULE_VIOLATIONS[slug])
    with pytest.raises(StrategyError):
        pine_filename(strategy, {spec.name: spec.maximum + 1})


def test_every_builtin_has_pine_rules_and_nothing_else():
    assert set(RULES) == set(REGISTRY)


def test_a_strategy_without_pine_rules_is_refused():
    lonely = Strategy(
        slug="lonely",
        name="Lonely",
        description="No Pine.",
        params=(ParamSpec("n", "N", int, 5, 1, 10),),
        compute=lambda candles, params: candles,
        warmup=lambda params: params["n"],
    )
    with pytest.raises(StrategyError, match="no Pine Script export"):
        pine_script(lonely, {})


def test_filename():
    assert pine_filename(REGISTRY["ema_crossover"], {}) == "trendy-ema_crossover-12-26.pine"
    assert pine_filename(REGISTRY["ema_crossover"], {"fast": 9, "slow": 21}) == "trendy-ema_crossover-9-21.pine"
    strategy = REGISTRY["supertrend"]
    assert pine_filename(strategy, strategy.validate({"factor": 2.5})) == "trendy-supertrend-2.5-10.pine"
    assert pine_filename(REGISTRY["bb_rsi"], {}) == "trendy-bb_rsi-20-2-14-30-70.pine"


def test_module_is_pure():
    """No Django import: the export runs anywhere the strategies do."""
    code = (
        "import sys; import strategies.pine_export; "
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')); "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=120)
