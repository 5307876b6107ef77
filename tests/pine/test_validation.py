"""The Pine validation report (issue 15, first part): what a creator sees when a script is pasted.

``tests/pine/refused/*.pine`` are scripts that must be refused; the second line of each says where and why
(``// expect: LINE:COLUMN message``, or ``LINE:code`` where the parser's own wording is not ours to pin).
The six built-ins' Pine exports must pass, with their inputs read as the strategies' parameters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from strategies.builtin import REGISTRY
from strategies.pine import validate
from strategies.pine.source import MAX_BYTES
from strategies.pine_export import pine_script

REFUSED = sorted((Path(__file__).parent / "refused").glob("*.pine"))
LIMIT = MAX_BYTES // 1024
EXPECT = re.compile(r"^// expect: (\d+):(\S+) ?(.*)$", re.MULTILINE)


def test_the_refused_corpus_is_big_enough():
    assert len(REFUSED) >= 15


@pytest.mark.parametrize("path", REFUSED, ids=lambda path: path.stem)
def test_a_refused_script_says_where_and_why(path):
    text = path.read_text()
    line, where, message = EXPECT.search(text).groups()
    report = validate(text)
    assert not report.can_run
    found = [(p.line, p.column, p.code, p.message) for p in report.errors]
    if where.isdigit():
        assert (int(line), int(where), message) in [(a, b, d) for a, b, _c, d in found], found
    else:
        assert (int(line), where) in [(a, c) for a, _b, c, _d in found], found


@pytest.mark.parametrize("slug", sorted(REGISTRY))
def test_each_builtins_pine_export_can_run_and_its_inputs_are_the_parameters(slug):
    strategy = REGISTRY[slug]
    report = validate(pine_script(strategy, None))
    assert report.can_run, [p.message for p in report.errors]
    assert report.version == 6 and report.declaration == "strategy"
    by_name = {spec.name: spec for spec in report.inputs}
    for param in strategy.params:
        spec = by_name[param.name]
        assert spec.kind == ("int" if param.kind is int else "float")
        assert (spec.default, spec.minimum, spec.maximum) == (param.default, param.minimum, param.maximum)
    assert by_name["direction"].options == ("long", "short", "both")
    assert report.settings["initial_capital"] == 10000
    assert report.settings["default_qty_type"] == "strategy.percent_of_equity"
    assert report.settings["commission_value"] == 0.1
    assert any("`plot` is ignored" in p.message for p in report.ignored)


SCRIPT = """//@version=5
strategy("Inputs", initial_capital=5000, pyramiding=2, calc_on_every_tick=true)
length = input(14, "Length")
mult = input(2.5)
useShorts = input(false, "Shorts")
src = input.source(hl2, "Source")
mode = input.string("fast", "Mode", options=["fast", "slow"])
level = input.float(-1.5, "Level", minval=-10, maxval=10, step=0.5)
varip int seen = 0
seen += 1
basis = ta.sma(src, length)
if ta.crossover(close, basis + mult)
    strategy.entry("L", strategy.long)
if useShorts and ta.crossunder(close, basis - level)
    strategy.entry("S", strategy.short)
bgcolor(color.new(color.green, 90))
"""


def test_inputs_settings_and_what_is_ignored():
    report = validate(SCRIPT)
    assert report.can_run, [p.message for p in report.errors]
    assert [(s.name, s.kind, s.default, s.title) for s in report.inputs] == [
        ("length", "int", 14, "Length"),
        ("mult", "float", 2.5, "mult"),
        ("useShorts", "bool", False, "Shorts"),
        ("src", "source", "hl2", "Source"),
        ("mode", "string", "fast", "Mode"),
        ("level", "float", -1.5, "Level"),
    ]
    level = report.inputs[-1]
    assert (level.minimum, level.maximum, level.step) == (-10, 10, 0.5)
    assert report.inputs[4].options == ("fast", "slow")
    assert report.settings == {"initial_capital": 5000, "pyramiding": 2, "calc_on_every_tick": True}
    notes = [p.message for p in report.ignored]
    assert any("varip" in n for n in notes) and any("calc_on_every_tick" in n for n in notes)
    assert any("`bgcolor` is ignored" in n for n in notes)
    assert report.as_dict()["inputs"][3] == {
        "name": "src", "type": "source", "default": "hl2", "title": "Source", "minimum": None, "maximum": None,
        "step": None, "options": None, "line": 6,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        ("", "empty", "The script is empty."),
        ("   \n\t\n", "empty", "The script is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary", "The file is not text: save the script as UTF-8."),
        ("//@version=6\nstrategy('x')\x00", "binary", "The file is not text: save the script as UTF-8."),
        ("//@version=6\n" + "// padding\n" * 100_000, "too_large", f"The script is 1075 KB; the limit is {LIMIT} KB."),
    ],
    ids=["empty", "blank", "binary", "nul", "one-megabyte"],
)  # fmt: skip
def test_bad_input_gets_one_clear_message(data, code, message):
    report = validate(data)
    assert not report.can_run
    assert [(p.code, p.message) for p in report.errors] == [(code, message)]
    found = report.as_dict()["errors"]
    assert [{key: p[key] for key in ("line", "column", "code", "message")} for p in found] == [
        {"line": 0, "column": 0, "code": code, "message": message}
    ]
    assert found[0]["template"] % found[0]["params"] == message  # what the page translates


def test_a_utf8_file_with_a_byte_order_mark_is_read():
    text = '//@version=6\nstrategy("한글 전략")\nif close > open\n    strategy.entry("L", strategy.long)\n'
    report = validate(b"\xef\xbb\xbf" + text.encode())
    assert report.can_run and report.title == "한글 전략"


def test_nothing_from_the_script_is_run_as_python(tmp_path):
    marker = tmp_path / "ran"
    text = f'//@version=6\nstrategy("x")\nx = __import__("os").system("touch {marker}")\n'
    report = validate(text)
    assert not report.can_run and not marker.exists()


def test_v5_evaluates_and_or_on_every_bar_so_a_call_there_is_fine():
    text = """//@version=5
strategy("Eager and")
enter = close > open and ta.crossover(close, ta.ema(close, 9))
if enter
    strategy.entry("L", strategy.long)
"""
    report = validate(text)
    assert report.can_run, [p.message for p in report.errors]
    assert not validate(text.replace("version=5", "version=6")).can_run


def test_a_stateful_function_on_every_bar_is_fine():
    text = """//@version=6
strategy("Function")
smooth(x, n) =>
    ta.ema(x, n)
fast = smooth(close, 9)
slow = smooth(close, 21)
if ta.crossover(fast, slow)
    strategy.entry("L", strategy.long)
"""
    report = validate(text)
    assert report.can_run, [p.message for p in report.errors]
