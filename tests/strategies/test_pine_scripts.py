"""Pine scripts where users meet them: the service (versions, nothing half-saved), the pages, the API, backtests
and bots through the same services as the built-ins, and one user never reaching another's script."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accounts.models import RiskProfile
from strategies import services
from strategies.builtin import get_strategy
from strategies.interface import StrategyError
from strategies.models import BacktestRun, PineScript, PineScriptVersion
from strategies.pine_services import pine_script_create, pine_version_add
from tests.trading.test_api import paper_account, store_market
from trading.bots import services as bot_services
from trading.models import Bot

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).parents[1] / "pine" / "corpus"
SMA = (CORPUS / "sma_cross_inputs.pine").read_text()
EXITS = (CORPUS / "exit_percent.pine").read_text()
HTMX = {"HTTP_HX_REQUEST": "true"}
BROKEN = (
    '//@version=6\nstrategy("x")\nx = request.security(syminfo.tickerid, "D", close)\n'
    'if close > x\n    strategy.entry("L", strategy.long)\n'
)


def _run(user, slug, **overrides):
    values = {
        "user": user,
        "strategy": slug,
        "params": {},
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "start": datetime(2024, 1, 1, tzinfo=UTC),
        "end": datetime(2024, 3, 1, tzinfo=UTC),
        **overrides,
    }
    return services.backtest_run_create(**values)


# --- the service -------------------------------------------------------------------------------------------


def test_a_script_is_saved_with_its_report_and_becomes_a_strategy(alice):
    version = pine_script_create(user=alice, name="", source=SMA)
    assert (version.number, version.script.name, version.pine_version) == (1, "SMA cross with inputs", 6)
    assert version.slug == f"pine-{version.id.hex}"
    strategy = get_strategy(version.slug)
    assert [(p.name, p.kind, p.default, p.minimum, p.maximum) for p in strategy.params] == [
        ("fastLen", int, 10, 2, 100),
        ("slowLen", int, 30, 5, 400),
    ]
    assert strategy.validate({"fastLen": "12"}) == {"fastLen": 12, "slowLen": 30}
    with pytest.raises(StrategyError) as raised:
        strategy.validate({"fastLen": 500})
    assert "fastLen" in raised.value.fields


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "The script is empty."),
        ("//@version=6\n" + "// padding\n" * 100_000, "The script is 1075 KB; the limit is 64 KB."),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "The file is not text: save the script as UTF-8."),
        ('//@version=4\nstrategy("x")\n', "Line 1, column 1: Pine Script version 4 is not supported"),
        (BROKEN, "Line 3, column 5: `request.security` is not supported"),
    ],
    ids=["empty", "one-megabyte", "binary", "version-4", "unsupported"],
)
def test_bad_scripts_save_nothing(alice, source, message):
    with pytest.raises(ValidationError) as raised:
        pine_script_create(user=alice, name="Mine", source=source)
    assert any(m.startswith(message) for m in raised.value.message_dict["source"]), raised.value.message_dict
    assert not PineScript.objects.exists() and not PineScriptVersion.objects.exists()


def test_versions_are_numbered_and_kept(alice, bob):
    first = pine_script_create(user=alice, name="Mine", source=SMA)
    second = pine_version_add(user=alice, script_id=first.script_id, source=SMA.replace("10,", "11,"))
    assert second.number == 2 and first.slug != second.slug
    first.refresh_from_db()
    assert first.source == SMA  # the first version is never edited
    with pytest.raises(ValidationError, match="same as the latest"):
        pine_version_add(user=alice, script_id=first.script_id, source=second.source)
    with pytest.raises(ValidationError, match="No such script"):
        pine_version_add(user=bob, script_id=first.script_id, source=EXITS)
    with pytest.raises(ValidationError, match="already have a script named"):
        pine_script_create(user=alice, name="Mine", source=EXITS)
    assert PineScriptVersion.objects.count() == 2


def test_a_script_that_never_trades_is_not_an_error(alice, stored_btc_1h):
    quiet = '//@version=6\nstrategy("Never")\nif close < 0\n    strategy.entry("L", strategy.long)\n'
    version = pine_script_create(user=alice, name="", source=quiet)
    run = _run(alice, version.slug)
    assert services.backtest_run_execute(run_id=run.id) == "done"
    run.refresh_from_db()
    assert (run.status, run.metrics["trades"], run.result["trades"]) == ("done", 0, [])


# --- backtests ---------------------------------------------------------------------------------------------


def test_backtest_of_a_script_uses_its_inputs_and_own_exits(alice, stored_btc_1h):
    version = pine_script_create(user=alice, name="", source=EXITS)
    run = _run(alice, version.slug, risk=services.RiskSettings(stop_loss_pct=Decimal("1"), take_profit_pct=None))
    assert services.backtest_run_execute(run_id=run.id) == "done"
    run.refresh_from_db()
    # strategy.exit's stop at 0.97 × and target at 1.05 × the entry replace the form's 1 % and none.
    assert (run.stop_loss_pct, run.take_profit_pct) == (Decimal("3.00"), Decimal("5.00"))
    reasons = {t["exit_reason"] for t in run.result["trades"]}
    assert run.metrics["trades"] > 0 and reasons <= {"stop_loss", "take_profit", "end"}

    sma = pine_script_create(user=alice, name="", source=SMA)
    fast = _run(alice, sma.slug, params={"fastLen": 5})
    slow = _run(alice, sma.slug, params={"fastLen": 20})
    for run in (fast, slow):
        services.backtest_run_execute(run_id=run.id)
        run.refresh_from_db()
    assert fast.metrics["trades"] > slow.metrics["trades"] > 0


def test_backtest_input_out_of_range_saves_nothing(alice, stored_btc_1h):
    version = pine_script_create(user=alice, name="", source=SMA)
    with pytest.raises(ValidationError) as raised:
        _run(alice, version.slug, params={"slowLen": 1000})
    assert "params.slowLen" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        _run(alice, version.slug, params={"nope": 1})
    assert "params.nope" in raised.value.message_dict
    assert not BacktestRun.objects.exists()


def test_another_users_script_is_unknown_everywhere(alice, bob, stored_btc_1h, client):
    version = pine_script_create(user=alice, name="", source=SMA)
    with pytest.raises(ValidationError) as raised:
        _run(bob, version.slug)
    assert "strategy" in raised.value.message_dict
    client.force_login(bob)
    assert client.get(f"/strategies/pine/{version.script_id}/").status_code == 404
    assert client.get(f"/strategies/backtests/new/?strategy={version.slug}").status_code == 404
    assert client.get(f"/trading/bots/new/?strategy={version.slug}").status_code == 404
    assert version.slug not in client.get("/strategies/backtests/new/").content.decode()
    assert not BacktestRun.objects.exists()


def test_a_runtime_failure_fails_the_run_with_the_reason(alice, stored_btc_1h, settings):
    settings.TRENDY_PINE_MAX_STEPS = 1000
    endless = (
        '//@version=6\nstrategy("Loop")\nvar n = 0\nwhile true\n    n += 1\n'
        'if n > 5\n    strategy.entry("L", strategy.long)\n'
    )
    version = pine_script_create(user=alice, name="", source=endless)
    from strategies import pine_services

    pine_services._cache.clear()
    run = _run(alice, version.slug)
    assert services.backtest_run_execute(run_id=run.id) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("The Pine script could not run:"), run.error


# --- pages -------------------------------------------------------------------------------------------------


def test_pages_paste_check_save_backtest(alice_client, alice, stored_btc_1h, django_capture_on_commit_callbacks):
    assert alice_client.get("/strategies/pine/new/").status_code == 200
    checked = alice_client.post("/strategies/pine/new/", {"source": BROKEN, "action": "check"}, **HTMX)
    html = checked.content.decode()
    assert checked.status_code == 400 and html.lstrip().startswith('<div id="pine-report"')
    assert "Line 3, column 5" in html and not PineScript.objects.exists()
    checked = alice_client.post("/strategies/pine/new/", {"source": SMA, "action": "check"}, **HTMX)
    assert checked.status_code == 200 and 'data-can-run="true"' in checked.content.decode()
    assert "fastLen" in checked.content.decode()
    assert "<td>Whole number</td>" in checked.content.decode()  # the input's type, in words
    too_long = {"source": SMA, "name": "n" * 101, "action": "check"}
    checked = alice_client.post("/strategies/pine/new/", too_long, **HTMX)
    assert checked.status_code == 400 and 'data-form-errors="true"' in checked.content.decode()
    assert "Name: Ensure this value has at most 100 characters" in checked.content.decode()
    refused = alice_client.post("/strategies/pine/new/", {"source": BROKEN, "action": "save"})
    assert refused.status_code == 400 and not PineScript.objects.exists()
    upload = io.BytesIO(SMA.encode())
    upload.name = "sma.pine"
    saved = alice_client.post("/strategies/pine/new/", {"name": "My SMA", "upload": upload, "action": "save"})
    assert saved.status_code == 302
    version = PineScriptVersion.objects.get()
    assert saved["Location"] == f"/strategies/pine/{version.script_id}/"
    detail = alice_client.get(saved["Location"]).content.decode()
    assert "My SMA" in detail and f"?strategy={version.slug}" in detail
    assert "My SMA" in alice_client.get("/strategies/").content.decode()

    form = alice_client.get(f"/strategies/backtests/new/?strategy={version.slug}").content.decode()
    assert 'name="param_fastLen"' in form and 'name="param_slowLen"' in form
    data = {
        "strategy": version.slug,
        "market": "binance|BTC/USDT|1h",
        "start": "2024-01-01",
        "end": "2024-03-01",
        "param_fastLen": "8",
        "param_slowLen": "30",
        "initial_capital": "10000",
        "fee_rate": "0.001",
        "slippage_bps": "5",
        "leverage": "1",
        "position_size_pct": "10",
        "stop_loss_pct": "",
        "take_profit_pct": "",
        "direction": "long",
    }
    bad = alice_client.post("/strategies/backtests/new/", {**data, "param_fastLen": "1"})
    assert bad.status_code == 400 and not BacktestRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/strategies/backtests/new/", data)
    assert response.status_code == 302
    run = BacktestRun.objects.get()
    assert (run.strategy, run.params, run.status) == (version.slug, {"fastLen": 8, "slowLen": 30}, "done")
    page = alice_client.get(response["Location"]).content.decode()
    assert "My SMA · v1" in page and 'id="run-charts"' in page

    changed = alice_client.post(f"/strategies/pine/{version.script_id}/", {"source": SMA.replace("30,", "40,")})
    assert changed.status_code == 302 and version.script.versions.count() == 2


# --- the API -----------------------------------------------------------------------------------------------


def test_api_validate_save_and_backtest(alice_api, charlie_api, stored_btc_1h, django_capture_on_commit_callbacks):
    report = alice_api.post("/api/v1/strategies/pine/validate", {"source": BROKEN}, format="json")
    assert report.status_code == 200
    body = report.json()
    assert body["can_run"] is False
    assert (body["errors"][0]["line"], body["errors"][0]["column"]) == (3, 5)
    ok = alice_api.post("/api/v1/strategies/pine/validate", {"source": SMA}, format="json").json()
    assert ok["can_run"] and [i["name"] for i in ok["inputs"]] == ["fastLen", "slowLen"]
    assert alice_api.post("/api/v1/strategies/pine/validate", {}, format="json").status_code == 400

    refused = alice_api.post("/api/v1/strategies/pine/", {"source": BROKEN}, format="json")
    assert refused.status_code == 400 and "source" in refused.json()["error"]["fields"]
    created = alice_api.post("/api/v1/strategies/pine/", {"name": "API SMA", "source": SMA}, format="json")
    assert created.status_code == 201
    slug, script = created.json()["strategy"], created.json()["script"]
    listed = alice_api.get("/api/v1/strategies/").json()
    assert slug in [s["slug"] for s in listed]
    assert [p["name"] for p in next(s for s in listed if s["slug"] == slug)["params"]] == ["fastLen", "slowLen"]
    assert slug not in [s["slug"] for s in charlie_api.get("/api/v1/strategies/").json()]
    assert alice_api.get(f"/api/v1/strategies/pine/{script}/").json()["latest"]["source"] == SMA
    assert charlie_api.get(f"/api/v1/strategies/pine/{script}/").status_code == 404
    assert charlie_api.get("/api/v1/strategies/pine/").json() == []
    assert charlie_api.post(f"/api/v1/strategies/pine/{script}/versions/", {"source": EXITS}).status_code == 404

    period = {"start": "2024-01-01T00:00:00Z", "end": "2024-03-01T00:00:00Z"}
    outsider = charlie_api.post(
        "/api/v1/backtests/", {"strategy": slug, "symbol": "BTCUSDT", "timeframe": "1h", **period}, format="json"
    )
    assert outsider.status_code == 400 and "strategy" in outsider.json()["error"]["fields"]
    out_of_range = alice_api.post(
        "/api/v1/backtests/",
        {"strategy": slug, "symbol": "BTCUSDT", "timeframe": "1h", "params": {"fastLen": 0}, **period},
        format="json",
    )
    assert out_of_range.status_code == 400 and "params.fastLen" in out_of_range.json()["error"]["fields"]
    with django_capture_on_commit_callbacks(execute=True):
        started = alice_api.post(
            "/api/v1/backtests/",
            {"strategy": slug, "symbol": "BTCUSDT", "timeframe": "1h", "params": {"fastLen": 8}, **period},
            format="json",
        )
    assert started.status_code == 202, started.json()
    detail = alice_api.get(f"/api/v1/backtests/{started.json()['id']}/").json()
    assert detail["status"] == "done" and detail["metrics"]["trades"] == len(detail["trades"]) > 0


# --- bots --------------------------------------------------------------------------------------------------


def test_bot_from_a_script_keeps_its_version_until_moved(alice, bob, tmp_path):
    store_market(tmp_path)
    account = paper_account(alice)
    first = pine_script_create(user=alice, name="Exits", source=EXITS)
    settings = bot_services.BotSettings(strategy=first.slug, symbol="BTC/USDT", timeframe="1h")
    bot = bot_services.bot_create(user=alice, exchange_account=account, settings_=settings)
    assert (bot.strategy, bot.stop_loss_pct, bot.take_profit_pct) == (first.slug, Decimal("3.00"), Decimal("5.00"))
    second = pine_version_add(user=alice, script_id=first.script_id, source=EXITS.replace("0.97", "0.98"))
    bot.refresh_from_db()
    assert bot.strategy == first.slug  # a new version does not move a running bot
    moved = bot_services.bot_move_version(user=alice, bot=bot, strategy=second.slug)
    assert (moved.strategy, moved.stop_loss_pct) == (second.slug, Decimal("2.00"))
    # The script's stop beyond the bot's risk limits is refused, nothing saved.
    wide = pine_version_add(user=alice, script_id=first.script_id, source=EXITS.replace("0.97", "0.90"))
    with pytest.raises(ValidationError):
        bot_services.bot_move_version(user=alice, bot=bot, strategy=wide.slug)
    bot.refresh_from_db()
    assert bot.strategy == second.slug
    # A version without a stop: the old script's 2 % gives way to the trader's own stop (the risk profile's).
    target_only = EXITS.replace("stop=strategy.position_avg_price * 0.97, ", "")
    third = pine_version_add(user=alice, script_id=first.script_id, source=target_only)
    RiskProfile.objects.update_or_create(user=alice, defaults={"stop_loss_pct": Decimal("1.5")})
    moved = bot_services.bot_move_version(user=alice, bot=bot, strategy=third.slug)
    assert (moved.stop_loss_pct, moved.take_profit_pct) == (Decimal("1.5"), Decimal("5.00"))
    # Bob can neither run Alice's script nor move a bot to it.
    with pytest.raises(ValidationError) as raised:
        bot_services.bot_create(
            user=bob,
            exchange_account=paper_account(bob),
            settings_=bot_services.BotSettings(strategy=first.slug, symbol="BTC/USDT", timeframe="1h"),
        )
    assert "strategy" in raised.value.message_dict
    assert Bot.objects.count() == 1


def test_bot_page_offers_the_users_scripts(alice_client, alice, tmp_path):
    store_market(tmp_path)
    account = paper_account(alice)
    version = pine_script_create(user=alice, name="Page SMA", source=SMA)
    html = alice_client.get(f"/trading/bots/new/?strategy={version.slug}").content.decode()
    assert 'name="param_fastLen"' in html and "Page SMA · v1 (Pine)" in html
    data = {
        "strategy": version.slug,
        "exchange_account": account.pk,
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "direction": "long",
        "leverage": "1",
        "position_size_pct": "10",
        "stop_loss_pct": "2",
        "take_profit_pct": "4",
        "max_drawdown_pct": "20",
        "param_fastLen": "10",
        "param_slowLen": "30",
        "start": "on",
    }
    assert alice_client.post("/trading/bots/new/", {**data, "param_slowLen": "9999"}).status_code == 400
    assert not Bot.objects.exists()
    response = alice_client.post("/trading/bots/new/", data)
    assert response.status_code == 302
    bot = Bot.objects.get()
    assert (bot.strategy, bot.params, bot.status) == (version.slug, {"fastLen": 10, "slowLen": 30}, "running")


# --- the command -------------------------------------------------------------------------------------------


def test_command_backtests_a_file(stored_btc_1h, tmp_path):
    buf = io.StringIO()
    args = ["--start", "2024-01-01", "--end", "2024-03-01", "--json"]
    call_command("backtest", "--pine", str(CORPUS / "exit_percent.pine"), *args, stdout=buf)
    document = json.loads(buf.getvalue())
    assert document["trades"] and document["settings"]["stop_loss_pct"] == "3.00"
    bad = tmp_path / "bad.pine"
    bad.write_text(BROKEN)
    with pytest.raises(CommandError, match="line 3, column 5"):
        call_command("backtest", "--pine", str(bad), *args)
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("backtest", "--pine", str(tmp_path / "missing.pine"), *args)


CHOICES = """//@version=6
strategy("Choices")
useEma = input.bool(true, "Use EMA")
src = input.source(close, "Source")
len = input.int(20, "Length", minval=5, maxval=50)
k = input.float(1.0, "Unbounded")
mode = input.string("fast", "Mode", options=["fast", "slow"])
e = ta.ema(src, len)
s = ta.sma(src, len)
ma = (useEma ? e : s) * k
exitMa = mode == "fast" ? e : s
if ta.crossover(close, ma)
    strategy.entry("L", strategy.long)
if ta.crossunder(close, exitMa)
    strategy.close("L")
"""


def test_inputs_of_every_kind_are_parameters_forms_and_searches(alice, alice_client, stored_btc_1h):
    version = pine_script_create(user=alice, name="", source=CHOICES)
    strategy = get_strategy(version.slug)
    kinds = {p.name: (p.kind, p.choices, p.search) for p in strategy.params}
    assert kinds["useEma"] == (bool, (True, False), True)
    assert kinds["src"][0] is str and "hl2" in kinds["src"][1]
    assert kinds["k"] == (float, (), False)  # no declared range: the optimiser leaves it alone
    assert kinds["mode"] == (str, ("fast", "slow"), True)
    assert strategy.validate({"useEma": "False", "src": "hl2", "mode": "slow"})["useEma"] is False
    with pytest.raises(StrategyError) as raised:
        strategy.validate({"mode": "medium", "src": "nope"})
    assert set(raised.value.fields) == {"mode", "src"}

    form = alice_client.get(f"/strategies/backtests/new/?strategy={version.slug}").content.decode()
    assert 'name="param_useEma"' in form and '<option value="slow"' in form and 'step="any"' in form

    from strategies.optimise import SearchSpec

    run = _run(
        alice,
        version.slug,
        kind=BacktestRun.Kind.OPTIMISATION,
        search=SearchSpec(method="grid", points=2, folds=1, metric="sharpe"),
    )
    assert services.backtest_run_execute(run_id=run.id) == "done"
    run.refresh_from_db()
    from strategies.pine.check import SOURCES

    # Every choice of useEma, src and mode, two lengths; k stays 1.0; one fold.
    assert run.result["evaluated"] == 2 * len(SOURCES) * 2 * 2
    assert run.result["best"]["params"]["k"] == 1.0


def test_bot_list_names_the_script_and_moves_the_bot(alice, alice_client, alice_api, charlie_api, tmp_path):
    store_market(tmp_path)
    account = paper_account(alice)
    first = pine_script_create(user=alice, name="Row SMA", source=SMA)
    settings = bot_services.BotSettings(strategy=first.slug, symbol="BTC/USDT", timeframe="1h")
    bot = bot_services.bot_create(user=alice, exchange_account=account, settings_=settings)
    html = alice_client.get("/trading/bots/").content.decode()
    assert "Row SMA · v1" in html and "Move to version" not in html
    second = pine_version_add(user=alice, script_id=first.script_id, source=SMA.replace("10,", "12,"))
    html = alice_client.get("/trading/bots/").content.decode()
    assert "Move to version 2" in html
    # Charlie can neither move Alice's bot nor see it.
    assert charlie_api.post(f"/api/v1/bots/{bot.pk}/version/", {"strategy": second.slug}).status_code == 404
    refused = alice_api.post(f"/api/v1/bots/{bot.pk}/version/", {"strategy": "ema_crossover"}, format="json")
    assert refused.status_code == 400
    row = alice_client.post(f"/trading/bots/{bot.pk}/move/", {"strategy": second.slug}, **HTMX)
    assert row.status_code == 200 and "Row SMA · v2" in row.content.decode()
    bot.refresh_from_db()
    assert bot.strategy == second.slug
    back = alice_api.post(f"/api/v1/bots/{bot.pk}/version/", {"strategy": first.slug}, format="json")
    assert back.status_code == 200 and back.json()["strategy"] == first.slug


def test_the_bots_page_costs_the_same_queries_for_one_script_bot_as_for_four(alice, alice_client, tmp_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    store_market(tmp_path)
    account = paper_account(alice)

    def add_bot(number: int) -> None:
        source = SMA.replace('"', f'"{number}', 1)  # a distinct title, so a distinct script
        version = pine_script_create(user=alice, name=f"Script {number}", source=source)
        pine_version_add(user=alice, script_id=version.script_id, source=source.replace("10,", "12,"))
        settings = bot_services.BotSettings(strategy=version.slug, symbol="BTC/USDT", timeframe="1h")
        bot_services.bot_create(user=alice, exchange_account=account, settings_=settings)

    def queries() -> int:
        alice_client.get("/trading/bots/")  # caches warm (the clock, the strategies)
        with CaptureQueriesContext(connection) as captured:
            html = alice_client.get("/trading/bots/").content.decode()
        assert html.count("Move to version 2") == Bot.objects.count()
        return len(captured.captured_queries)

    add_bot(1)
    one = queries()
    for number in (2, 3, 4):
        add_bot(number)
    assert queries() == one


def test_the_engines_sentences_read_in_the_readers_language():
    import numpy as np
    import pandas as pd
    from django.utils import translation

    from strategies.messages import strategy_error_message
    from strategies.pine.strategy import pine_strategy

    index = pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC")
    close = 100 + np.sin(np.arange(50.0))  # up and down bars
    candles = pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(50)}, index=index
    )
    endless = (
        '//@version=6\nstrategy("Loop")\nvar n = 0\nwhile true\n    n += 1\n'
        'if n > 5\n    strategy.entry("L", strategy.long)\n'
    )
    both = (
        '//@version=6\nstrategy("Both")\nif close > close[1]\n    strategy.entry("X", strategy.long)\n'
        'if close < close[1]\n    strategy.entry("X", strategy.short)\n'
    )
    zero = (
        '//@version=6\nstrategy("Zero")\nv = ta.sma(close, 0)\nif close > v\n    strategy.entry("L", strategy.long)\n'
    )
    missing = (
        '//@version=6\nstrategy("Missing")\nv = ta.sma(close)\nif close > v\n    strategy.entry("L", strategy.long)\n'
    )
    for text, english, korean in (
        (endless, "The Pine script could not run: The script ran over its budget (1,000 steps", "실행 한도(1,000 단계"),
        (both, 'The Pine script could not run: The entry "X" is used for both longs and shorts.', "롱과 숏에 모두"),
        # the indicators' own length check and a missing argument: sentences of ours, not Python's
        (
            zero,
            "The Pine script could not run (line 3, column 5): `ta.sma`: length must be a whole number of at least "
            "1 (got 0)",
            "최소 1 이상의 정수",
        ),
        (
            missing,
            "The Pine script could not run (line 3, column 5): `ta.sma`: the argument length is missing",
            "인수 length가 없습니다",
        ),
    ):
        strategy = pine_strategy(slug="pine-t", name="t", text=text, inputs=[], budget={"max_steps": 1000})
        with pytest.raises(StrategyError) as raised:
            strategy.signals(candles, {})
        assert strategy_error_message(raised.value).startswith(english)
        with translation.override("ko"):
            assert korean in strategy_error_message(raised.value)


def test_a_script_that_fails_on_a_closed_candle_halts_its_bots_with_the_reason(alice, tmp_path, settings):
    from datetime import timedelta

    from django.utils import translation

    from strategies import pine_services
    from trading import clock, labels
    from trading.bots import loop

    store_market(tmp_path)
    heavy = (
        '//@version=6\nstrategy("Heavy")\nvar float s = 0.0\nfor i = 0 to 2000\n    s += 1\n'
        'if ta.crossover(ta.ema(close, 5), ta.ema(close, 20))\n    strategy.entry("L", strategy.long)\n'
    )
    version = pine_script_create(user=alice, name="", source=heavy)
    account = paper_account(alice)
    settings_ = bot_services.BotSettings(strategy=version.slug, symbol="BTC/USDT", timeframe="1h")
    bot = bot_services.bot_create(user=alice, exchange_account=account, settings_=settings_, start=True)
    settings.TRENDY_PINE_MAX_STEPS = 10_000  # the next run is over budget
    pine_services._cache.clear()
    sent = []
    report = loop.loop_step(now=clock.now() + timedelta(hours=1), dispatch=lambda *args: sent.append(args))
    bot.refresh_from_db()
    assert bot.status == Bot.Status.HALTED and not sent, report.errors
    assert bot.status_detail["code"] == "strategy_failed"
    english = labels.status_reason("strategy_failed", bot.status_detail)
    assert "ran over its budget (10,000 steps" in english and "new version" in english
    with translation.override("ko"):
        assert "실행 한도(10,000 단계" in labels.status_reason("strategy_failed", bot.status_detail)


def test_staff_see_scripts_read_only(admin_client, alice):
    version = pine_script_create(user=alice, name="Staff view", source=SMA)
    assert "Staff view" in admin_client.get("/admin/strategies/pinescript/").content.decode()
    page = admin_client.get(f"/admin/strategies/pinescriptversion/{version.pk}/change/")
    assert page.status_code == 200 and "fastLen" in page.content.decode()
    assert (
        admin_client.post(f"/admin/strategies/pinescript/{version.script_id}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert PineScript.objects.count() == 1


# --- the script's own exits, failures on the live path, slugs ----------------------------------------------

TP_ONLY = (
    '//@version=6\nstrategy("Target only")\nif ta.crossover(ta.ema(close, 5), ta.ema(close, 20))\n'
    '    strategy.entry("L", strategy.long)\n'
    'if strategy.position_size > 0\n    strategy.exit("TP", "L", limit=strategy.position_avg_price * 1.04)\n'
)


def test_a_target_only_script_keeps_the_traders_stop(alice, stored_btc_1h):
    version = pine_script_create(user=alice, name="", source=TP_ONLY)
    risk = services.RiskSettings(stop_loss_pct=Decimal("2"), take_profit_pct=Decimal("9"))
    run = _run(alice, version.slug, risk=risk)
    assert services.backtest_run_execute(run_id=run.id) == "done"
    run.refresh_from_db()
    # The script sets a target and no stop: its 4 % replaces the form's 9 %, the form's 2 % stop stays.
    assert (run.stop_loss_pct, run.take_profit_pct) == (Decimal("2.00"), Decimal("4.00"))
    assert run.metrics["trades"] > 0


def test_a_script_level_outside_the_limits_fails_the_run(alice, stored_btc_1h):
    wide = TP_ONLY.replace(
        '"TP", "L", limit=strategy.position_avg_price * 1.04', '"SL", "L", stop=strategy.position_avg_price * 0.3'
    )
    version = pine_script_create(user=alice, name="", source=wide)
    run = _run(alice, version.slug)
    assert services.backtest_run_execute(run_id=run.id) == "failed"
    run.refresh_from_db()
    assert run.error == "The script's stop loss of 70.00% is outside 0.1–50%.", run.error


def _heavy_bot(alice, tmp_path):
    store_market(tmp_path)
    heavy = (
        '//@version=6\nstrategy("Heavy")\nvar float s = 0.0\nfor i = 0 to 2000\n    s += 1\n'
        'if ta.crossover(ta.ema(close, 5), ta.ema(close, 20))\n    strategy.entry("L", strategy.long)\n'
    )
    version = pine_script_create(user=alice, name="", source=heavy)
    settings_ = bot_services.BotSettings(strategy=version.slug, symbol="BTC/USDT", timeframe="1h")
    return bot_services.bot_create(user=alice, exchange_account=paper_account(alice), settings_=settings_, start=True)


def _live_signals(bot):
    from trading import clock
    from trading.bots import sharding
    from trading.bots.loop import closed_candle_open

    opened = closed_candle_open(clock.now(), "1h")
    return sharding.market_signals("binance", "BTC/USDT", "1h", opened, [[bot.strategy, dict(bot.params)]])


def test_a_bot_halted_by_its_script_moves_to_a_version_that_runs(alice, tmp_path, settings):
    from strategies import pine_services

    bot = _heavy_bot(alice, tmp_path)
    settings.TRENDY_PINE_MAX_STEPS = 10_000  # the bot's version no longer runs
    pine_services._cache.clear()
    light = pine_version_add(
        user=alice, script_id=pine_services.version_for_slug(user=alice, slug=bot.strategy).script_id,
        source=SMA.replace("10,", "12,"),
    )  # fmt: skip
    moved = bot_services.bot_move_version(user=alice, bot=bot, strategy=light.slug)
    assert moved.strategy == light.slug


def test_the_live_signal_path_halts_the_bots_of_a_failing_script(alice, tmp_path, settings):
    from strategies import pine_services

    bot = _heavy_bot(alice, tmp_path)
    other = Bot.objects.get(pk=bot.pk)  # an ema_crossover bot on the same market is not touched
    plain = bot_services.bot_create(
        user=alice, exchange_account=other.exchange_account, start=True,
        settings_=bot_services.BotSettings(strategy="ema_crossover", symbol="BTC/USDT", timeframe="1h"),
    )  # fmt: skip
    settings.TRENDY_PINE_MAX_STEPS = 10_000
    pine_services._cache.clear()
    signals = _live_signals(bot)
    assert list(signals.values()) == [None]
    bot.refresh_from_db()
    plain.refresh_from_db()
    assert (bot.status, bot.status_detail["code"]) == (Bot.Status.HALTED, "strategy_failed")
    assert plain.status == Bot.Status.RUNNING


def test_a_script_stopped_only_by_the_clock_is_tried_again_not_halted(alice, tmp_path, settings):
    from strategies import pine_services

    bot = _heavy_bot(alice, tmp_path)
    settings.TRENDY_PINE_MAX_SECONDS = 1e-6  # a busy worker: the time budget runs out, the step budget does not
    pine_services._cache.clear()
    with pytest.raises(StrategyError) as raised:
        get_strategy(bot.strategy).signals(_window(), dict(bot.params))
    assert raised.value.transient
    assert list(_live_signals(bot).values()) == [None]
    # The bot's own tick (as the catch-up sends it, with no signal) misses the candle and runs on.
    from datetime import timedelta

    from trading import clock
    from trading.bots import tick as ticks
    from trading.bots.loop import closed_candle_open

    later = closed_candle_open(clock.now() + timedelta(hours=1), "1h")  # the start claimed the one before
    result = ticks.bot_tick(bot_id=bot.pk, candle_open=later, signal=None)
    assert result.outcome == "skipped" and "budget" in result.message
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING


def _window():
    import pandas as pd

    from market_data.models import Candle

    rows = Candle.objects.filter(symbol="BTC/USDT", timeframe="1h").order_by("open_time")
    frame = pd.DataFrame.from_records(rows.values("open_time", "open", "high", "low", "close", "volume"))
    return frame.set_index("open_time").astype(float)


def test_only_the_canonical_slug_names_a_version(alice):
    version = pine_script_create(user=alice, name="", source=SMA)
    assert get_strategy(version.slug).slug == version.slug
    hex_ = version.id.hex
    for other in (f"pine-{hex_.upper()}", f"pine-{version.id}", f"pine-{{{hex_}}}", f"pine-urn:uuid:{hex_}", "pine-"):
        with pytest.raises(StrategyError):
            get_strategy(other)


@pytest.mark.django_db(transaction=True)
def test_two_saves_of_one_name_at_once_give_one_script_and_a_clear_error(alice):
    import threading

    from django.db import DatabaseError, connection

    barrier, outcomes = threading.Barrier(2), []

    def save() -> None:
        try:
            barrier.wait()
            pine_script_create(user=alice, name="Twin", source=SMA)
            outcomes.append("saved")
        except ValidationError as exc:
            outcomes.append(sorted(exc.message_dict))
        except DatabaseError as exc:  # an IntegrityError here is the bug this test is for
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=save) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == sorted(["saved", ["name"]], key=str), outcomes
    assert PineScript.objects.filter(user=alice, name="Twin").count() == 1


def test_an_input_title_is_shown_as_the_creator_wrote_it(alice):
    from django.utils import translation

    from strategies.labels import param_label

    source = '//@version=6\nstrategy("Titled")\nx = input.int(5, "Name", minval=1)\nif close > open\n'
    source += '    strategy.entry("L", strategy.long)\n'
    version = pine_script_create(user=alice, name="", source=source)
    with translation.override("ko"):
        # "Name" is in Trendy's catalogue ("이름"), but this is the creator's text, not Trendy's.
        assert param_label(version.slug, "x") == "Name"
        assert param_label("ema_crossover", "fast") != get_strategy("ema_crossover").params[0].label


def test_a_backtest_runs_the_script_once_and_a_change_runs_it_again(alice, stored_btc_1h, monkeypatch):
    from strategies.pine import strategy as pine_module

    calls = []
    real = pine_module.compile_script

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pine_module, "compile_script", counted)
    version = pine_script_create(user=alice, name="", source=EXITS)
    strategy = get_strategy(version.slug)
    from market_data.selectors import load_candles

    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    candles = load_candles("binance", "BTC/USDT", "1h", start, end)
    risk = services.RiskSettings()
    first = services.backtest_compute(strategy=strategy, params={}, candles=candles, risk=risk, timeframe="1h")
    assert len(calls) == 1  # signals and the exit levels from one run
    changed = candles.copy()
    changed.iloc[-200:, changed.columns.get_loc("close")] *= 1.1
    services.backtest_compute(strategy=strategy, params={}, candles=changed, risk=risk, timeframe="1h")
    assert len(calls) == 2  # other prices: a new run
    again = services.backtest_compute(strategy=strategy, params={}, candles=candles, risk=risk, timeframe="1h")
    assert len(calls) == 3 and again.trades.equals(first.trades) and len(first.trades) > 0
    # The levels of candles other than the last run's: a run of their own.
    levels = strategy.exit_levels(changed, strategy.validate({}))
    assert len(calls) == 4 and round(levels["stop_loss_pct"], 6) == 3.0


MOVING = (CORPUS / "atr_stop_moving.pine").read_text()


def test_a_script_whose_stop_moves_says_so_in_its_run_bot_pages_and_api(
    alice, bob, alice_client, alice_api, stored_btc_1h, tmp_path
):
    """An ATR stop and target from the average entry move from bar to bar (backtest rule 13): no percentage applies,
    and the run, the bot, the pages and the API say the script sets them bar by bar."""
    version = pine_script_create(user=alice, name="ATR", source=MOVING)
    run = _run(alice, version.slug, risk=services.RiskSettings(stop_loss_pct=Decimal("1"), take_profit_pct=None))
    assert services.backtest_run_execute(run_id=run.id) == "done"
    run.refresh_from_db()
    assert run.levels_by_bar and (run.stop_loss_pct, run.take_profit_pct) == (None, None)
    reasons = [t["exit_reason"] for t in run.result["trades"]]
    assert "stop_loss" in reasons and "take_profit" in reasons, reasons
    page = alice_client.get(f"/strategies/backtests/{run.id}/").content.decode()
    assert "stop loss and take profit set by the script bar by bar" in page and "stop loss 1" not in page
    alice_client.cookies["django_language"] = "ko"
    korean = alice_client.get(f"/strategies/backtests/{run.id}/").content.decode()
    assert "손절과 익절을 스크립트가 봉마다 정함" in korean
    assert alice_api.get(f"/api/v1/backtests/{run.id}/").json()["levels_by_bar"] is True
    # The same without the script's levels: a 1 % stop, and other trades.
    plain = _run(alice, version.slug, risk=services.RiskSettings(stop_loss_pct=Decimal("1"), take_profit_pct=None))
    BacktestRun.objects.filter(id=plain.id).update(strategy=pine_script_create(user=alice, name="", source=SMA).slug)
    services.backtest_run_execute(run_id=plain.id)
    plain.refresh_from_db()
    assert not plain.levels_by_bar and plain.stop_loss_pct == Decimal("1.00")

    store_market(tmp_path)
    settings_ = bot_services.BotSettings(strategy=version.slug, symbol="BTC/USDT", timeframe="1h")
    bot = bot_services.bot_create(user=alice, exchange_account=paper_account(alice), settings_=settings_)
    assert bot.levels_by_bar and (bot.stop_loss_pct, bot.take_profit_pct) == (None, None)
    assert alice_api.get(f"/api/v1/bots/{bot.pk}/").json()["levels_by_bar"] is True
    assert "봉마다 정함" in alice_client.get("/trading/bots/").content.decode()
    # Moved to a version with a fixed stop: the percentages apply again and the bot says so.
    fixed_levels = "stop=strategy.position_avg_price * 0.97, limit=strategy.position_avg_price * 1.05"
    fixed_source = MOVING.replace("stop=strategy.position_avg_price - mult * atr, limit=strategy.position_avg_price "
                                  "+ 3 * atr", fixed_levels)  # fmt: skip
    fixed = pine_version_add(user=alice, script_id=version.script_id, source=fixed_source)
    moved = bot_services.bot_move_version(user=alice, bot=bot, strategy=fixed.slug)
    assert not moved.levels_by_bar
    assert (moved.stop_loss_pct, moved.take_profit_pct) == (Decimal("3.00"), Decimal("5.00"))
