"""A stored Pine script as a ``Strategy``: the same object the six built-ins are (pure: no Django).

The backtest, the optimiser, the bot loop, the replay clock and ``paper_replay`` call ``signals()`` on it like
on any built-in: the script's inputs are its typed, ranged parameters; ``compute`` compiles the script over the
candles (``strategies.pine.compile``); the stop loss, take profit and trailing stop the script sets with
``strategy.exit`` are its ``exit_levels``. A script that fails while running (its budget, a runtime error) or asks
what the backtest cannot do raises ``StrategyError`` with the engine's sentence, which every caller already reports.

The parse (pynescript/ANTLR) is the slow part, so parsed scripts are kept per process (``parsed``); a stored
version's text never changes, so the cache never goes stale.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, cast

import pandas as pd

from strategies.interface import ParamSpec, Strategy, StrategyError, _
from strategies.pine.check import SOURCES
from strategies.pine.compile import PineCompileError, compile_script
from strategies.pine.series import PineRuntimeError
from strategies.pine.source import Parsed, PineSourceError, read

EXIT_SETTINGS = ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "trailing_activation_pct", "pyramiding")
UNBOUNDED = 1e9  # the range of a number input that declares no minval/maxval (the optimiser leaves it alone)
MIN_HISTORY, MAX_HISTORY = 300, 5000
_LITERAL_INT = re.compile(r"(?<![\w.])(\d{1,4})(?![\w.])")
_COMMENT = re.compile(r"//[^\n]*")


@lru_cache(maxsize=64)
def parsed(text: str) -> Parsed:
    """The parsed script (PineSourceError for a bad one), kept per process."""
    return read(text)


def param_spec(found: Mapping[str, Any]) -> ParamSpec:
    """An input of the validation report (``InputSpec.as_dict()``) as a strategy parameter."""
    kind, default, name = found["type"], found["default"], found["name"]
    label = str(found.get("title") or name)
    options = tuple(found.get("options") or ())
    if kind == "bool":
        return ParamSpec(name, label, bool, bool(default), 0, 1, choices=(True, False))
    if kind in ("string", "source"):
        choices = options or (SOURCES if kind == "source" else ())
        return ParamSpec(name, label, str, str(default), 0, 0, choices=tuple(map(str, choices)))
    number = int if kind == "int" else float
    low, high = found.get("minimum"), found.get("maximum")
    step = found.get("step") or (1 if number is int else 0)
    return ParamSpec(
        name,
        label,
        number,
        number(default),
        -UNBOUNDED if low is None else number(low),
        UNBOUNDED if high is None else number(high),
        step=step,
        choices=tuple(number(o) for o in options),
        search=low is not None and high is not None,
    )


def history(text: str, params: Mapping[str, Any]) -> int:
    """Candles the live engine feeds the script: ten times its longest length (an int input's value or an
    integer in the code), within 300–5,000 — the built-ins' rule, read off the script. ``var`` state that
    counts from the first bar sees only this window live (the README says so)."""
    lengths = [int(v) for v in params.values() if isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1000]
    lengths += [int(m) for m in _LITERAL_INT.findall(_COMMENT.sub("", text)) if 0 < int(m) <= 1000]
    return max(MIN_HISTORY, min(MAX_HISTORY, 10 * max(lengths, default=30)))


def _failed(exc: PineRuntimeError | PineCompileError | PineSourceError) -> StrategyError:
    """The engine's sentence inside a StrategyError, kept as a template so the page shows it translated."""
    template = getattr(exc, "template", None)
    # casts: an error with a template has its params (PineSourceError has neither); one with a line, its column.
    error = (
        (template, dict(cast("PineRuntimeError | PineCompileError", exc).params))
        if isinstance(template, str)
        else str(exc)
    )
    line = getattr(exc, "line", 0)
    transient = bool(getattr(exc, "transient", False))
    if line:
        return StrategyError(
            _("The Pine script could not run (line %(line)d, column %(column)d): %(error)s"),
            {"line": line, "column": cast(PineRuntimeError, exc).column, "error": error},
            transient=transient,
        )
    return StrategyError(_("The Pine script could not run: %(error)s"), {"error": error}, transient=transient)


def _run_key(candles: pd.DataFrame, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a run's result depends on: the candles' times and prices (a digest of their bytes) and the params."""
    rows = pd.util.hash_pandas_object(candles, index=True).to_numpy()  # one hash per row, its time included
    digest = hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()
    return (len(candles), repr(list(candles.columns)), digest, repr(sorted(params.items())))


def pine_strategy(
    *, slug: str, name: str, text: str, inputs: list[Mapping[str, Any]], budget: Mapping[str, Any] | None = None
) -> Strategy:
    """The strategy of one stored script version (``inputs``: its validation report's inputs)."""
    options = dict(budget or {})
    # The latest run's (key, settings): a backtest asks for the signals, then for the exit levels of the same run.
    # Only the settings are kept (a few numbers), not the signals: a worker caches many strategies.
    last: list[Any] = [None, None]

    def _compile(candles: pd.DataFrame, params: dict[str, Any]) -> Any:
        try:
            result = compile_script(parsed(text), candles, params, **options)
        except (PineRuntimeError, PineCompileError, PineSourceError) as exc:
            raise _failed(exc) from None
        last[:] = [_run_key(candles, params), dict(result.settings)]
        return result

    def compute(candles: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        return _compile(candles, params).signals

    def exit_levels(candles: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
        key, settings = last[:]
        if key != _run_key(candles, params):
            settings = _compile(candles, params).settings
        levels: dict[str, Any] = {name: settings.get(name) for name in EXIT_SETTINGS}
        levels["levels_by_bar"] = settings.get("levels") == "bar"  # the signals carry them (backtest rule 13)
        return levels

    return Strategy(
        slug=slug,
        name=name,
        description=_("A Pine Script strategy."),
        params=tuple(param_spec(found) for found in inputs),
        compute=compute,
        warmup=lambda params: 0,  # the script's own na handling is its warm-up
        history=lambda params: history(text, params),
        exit_levels=exit_levels,
    )
