"""The strategy interface shared by the backtest and the live engine (pure: no Django import).

A strategy turns closed candles into signals::

    signals(candles: DataFrame, params: dict) -> DataFrame

``candles`` has float64 columns ``open, high, low, close, volume`` on a sorted index of candle open
times. The result has the same index and four bool columns (``SIGNAL_COLUMNS``): ``long_entry``,
``long_exit``, ``short_entry``, ``short_exit``. The value at bar *t* may use candles up to and
including bar *t* only (it is known at bar *t*'s close); the backtest fills it at bar *t+1*'s open,
and the live engine acts on it right after bar *t* closes. During an indicator's warm-up every
signal is False.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pandas as pd

SIGNAL_COLUMNS = ("long_entry", "long_exit", "short_entry", "short_exit")
# Optional: another entry in the direction held (pyramiding; a Pine script's own), kept when a strategy gives them.
ADD_COLUMNS = ("long_add", "short_add")
# Optional float columns: the strategy's own stop and target bar by bar (strategies.backtest rule 13).
LEVEL_COLUMNS = (
    "long_stop_a", "long_stop_b", "long_target_a", "long_target_b",
    "short_stop_a", "short_stop_b", "short_target_a", "short_target_b",
)  # fmt: skip


def _(text: str) -> str:
    """Marks a message for translation (extracted by makemessages); the Django edge translates it."""
    return text


Message = tuple[str, dict[str, Any]]  # a translatable template and its %-parameters


def render(template: str, params: Mapping[str, Any], translate: Callable[[str], str] = lambda text: text) -> str:
    """``template % params`` where a parameter may itself be a ``Message`` (rendered first): the English text,
    or with ``translate`` (Django's gettext, at the edge) the reader's language."""
    values = {
        key: render(value[0], value[1], translate) if _is_message(value) else value for key, value in params.items()
    }
    return translate(template) % values


def _is_message(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], dict)


class StrategyError(ValueError):
    """Bad input for a strategy: unknown slug, a parameter out of range, too few candles.

    ``template % params`` is the English message; ``fields`` maps a parameter name to its own
    ``(template, params)``, for forms and the API. ``strategies.messages`` translates both. ``transient``: the
    same call may succeed later (a run stopped by its time budget on a busy worker), so a bot is not halted.
    """

    def __init__(
        self,
        template: str,
        params: Mapping[str, Any] | None = None,
        fields: Mapping[str, Message] | None = None,
        *,
        transient: bool = False,
    ) -> None:
        self.template = template
        self.params = dict(params or {})
        self.fields = dict(fields or {})
        self.transient = transient
        super().__init__(render(template, self.params))


@dataclass(frozen=True)
class ParamSpec:
    """One typed parameter: the forms, the API schema and the optimiser read these."""

    name: str
    label: str
    kind: type  # int or float; bool or str for a Pine script's inputs
    default: Any
    minimum: float
    maximum: float
    step: float = 1  # 0: any value (a float input that declares no step)
    choices: tuple[Any, ...] = ()  # the allowed values of a bool, str or option input
    search: bool = True  # the optimiser may vary it (False for a Pine input with no declared range)

    def coerce(self, value: Any) -> Any:
        """The value as this parameter's type, or StrategyError naming the parameter."""
        if self.kind is bool:
            return self._coerce_bool(value)
        if self.kind is str:
            return self._coerce_text(value)
        number = _to_number(value)
        if number is None or not math.isfinite(number):
            self._fail(_("Enter a number."), {})
        if self.kind is int:
            if number != int(number):
                self._fail(_("Enter a whole number."), {})
            number = int(number)
        if not self.minimum <= number <= self.maximum:
            self._fail(
                _("Must be between %(minimum)s and %(maximum)s (got %(value)s)."),
                {"minimum": _fmt(self.minimum), "maximum": _fmt(self.maximum), "value": _fmt(number)},
            )
        if self.choices and number not in self.choices:
            self._fail(_("Choose one of: %(choices)s."), {"choices": ", ".join(_fmt(c) for c in self.choices)})
        return number

    def _coerce_bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "on", "1", "yes"):
            return True
        if text in ("false", "off", "0", "no"):
            return False
        self._fail(_("Choose true or false."), {})
        raise AssertionError  # unreachable: _fail raises

    def _coerce_text(self, value: Any) -> str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self._fail(_("Enter a text."), {})
        text = str(value)
        if self.choices and text not in self.choices:
            self._fail(_("Choose one of: %(choices)s."), {"choices": ", ".join(map(str, self.choices))})
        if len(text) > 200:
            self._fail(_("At most 200 characters."), {})
        return text

    def _fail(self, template: str, params: dict[str, Any]) -> NoReturn:
        raise StrategyError(template, params, {self.name: (template, params)})

    def as_dict(self) -> dict[str, Any]:
        kind = {int: "integer", float: "number", bool: "boolean", str: "string"}[self.kind]
        found = {
            "name": self.name,
            "label": self.label,
            "type": kind,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "step": self.step,
        }
        if self.kind in (bool, str):
            found.update(minimum=None, maximum=None, step=None, choices=list(self.choices) or None)
        return found


def _to_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


@dataclass(frozen=True)
class Strategy:
    slug: str
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    compute: Callable[[pd.DataFrame, dict[str, Any]], pd.DataFrame] = field(repr=False)
    # Bars before the first possible signal (the first ``warmup`` bars never signal), for a parameter set.
    warmup: Callable[[dict[str, Any]], int] = field(repr=False)
    # Extra rule across parameters (e.g. fast < slow): {name: (template, params)} for each violation.
    check: Callable[[dict[str, Any]], dict[str, Message]] = field(default=lambda params: {}, repr=False)
    # Indicator lines for charts: {"EMA 12": Series, ...}, overlaid on the price.
    overlays: Callable[[pd.DataFrame, dict[str, Any]], dict[str, pd.Series]] = field(
        default=lambda candles, params: {}, repr=False
    )
    # Closed candles the live engine feeds signals(), when the warm-up cannot say (a Pine script); see lookback.
    history: Callable[[dict[str, Any]], int] | None = field(default=None, repr=False)
    # The stop loss and take profit the strategy itself sets, as percentages from the entry price
    # ({"stop_loss_pct": 2.0, "take_profit_pct": None}); None: the trader's settings decide (the built-ins).
    exit_levels: Callable[[pd.DataFrame, dict[str, Any]], dict[str, float | None]] | None = field(
        default=None, repr=False
    )

    def lookback(self, params: dict[str, Any]) -> int:
        """Closed candles the live engine feeds ``signals()`` so its last signal equals the backtest's.

        Recursive indicators (EMA, RMA, SuperTrend's ratcheting bands) depend on how much history they
        start from; after ten warm-ups (at least 300 bars) the difference is far below any price tick.
        ``tests/strategies/test_strategies.py`` checks the last signal against full-history signals.
        """
        if self.history is not None:
            return self.history(params)
        return max(10 * self.warmup(params), 300)

    def defaults(self) -> dict[str, Any]:
        return {spec.name: spec.kind(spec.default) for spec in self.params}

    def validate(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults filled in, every value coerced and range-checked; unknown names refused."""
        params = dict(params or {})
        known = {spec.name for spec in self.params}
        errors: dict[str, Message] = {}
        for name in sorted(set(params) - known):
            errors[name] = (
                _("Not a parameter of this strategy (it has: %(names)s)."),
                {"names": ", ".join(sorted(known))},
            )
        clean = self.defaults()
        for spec in self.params:
            if spec.name in params and params[spec.name] not in (None, ""):
                try:
                    clean[spec.name] = spec.coerce(params[spec.name])
                except StrategyError as exc:
                    errors.update(exc.fields)
        if not errors:
            errors.update(self.check(clean))
        if errors:
            detail = "; ".join(f"{name}: {template % args}" for name, (template, args) in errors.items())
            raise StrategyError(
                _("Invalid parameters for %(strategy)s: %(detail)s"), {"strategy": self.name, "detail": detail}, errors
            )
        return clean

    def signals(self, candles: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        clean = self.validate(params)
        needed = self.warmup(clean) + 1
        if len(candles) < needed:
            raise StrategyError(
                _("%(strategy)s needs at least %(needed)d candles for these parameters (warm-up); got %(count)d."),
                {"strategy": self.name, "needed": needed, "count": len(candles)},
            )
        computed = self.compute(candles, clean)
        names = list(SIGNAL_COLUMNS) + [name for name in ADD_COLUMNS if name in computed.columns]
        frame = computed.loc[:, names].fillna(False).astype(bool)
        # No signal before the warm-up is over (an exit rule may be computable earlier than the entry).
        frame.iloc[: needed - 1] = False
        if LEVEL_COLUMNS[0] in computed.columns:  # the strategy's own levels, as floats
            frame = frame.join(computed.loc[:, list(LEVEL_COLUMNS)].astype("float64"))
        return frame
