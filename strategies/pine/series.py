"""Pine expressions over whole series at once (pure: numpy, no Django).

``Vector(env, n).value(node)`` evaluates an expression of a parsed script (``strategies.pine.source``) for every
bar in one pass of numpy operations: a series is a float64 (or bool) array of length ``n``, a constant stays a
Python scalar until it meets a series. Pine's rules, as TradingView runs them on closed candles:

- ``na`` is NaN; arithmetic with ``na`` gives ``na``, and so does a division by zero; a comparison with ``na``
  is false; bools are never ``na`` (v6), ``na`` read as a condition is false;
- ``x[n]``: the value ``n`` bars back (``n`` may itself be a series), ``na`` (false for a bool) before the
  first bar; the history of a constant is that constant from bar 0 on, ``na`` before it;
- ``c ? a : b`` picks per bar; ``and``/``or``/``not`` work on bools; ``+`` also joins strings;
- ``ta.*`` calls are ``strategies.indicators`` (one code for Pine and the built-ins); ``math.*``, ``na()``,
  ``nz()``, ``fixnan()``, ``int()``, ``float()``, ``bool()``.

A script's ``ta.*`` calls must run on every bar for their state to be TradingView's (``strategies.pine.check``
refuses them in conditional places), so evaluating them over the whole series is exact. ``strategies.pine.bars``
evaluates the same expressions bar by bar; the property tests check that both agree.

Why this file is long: Pine's value rules (na, history, text, bools) and the table of every built-in call it
evaluates belong together; split, each half would need the other's helpers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from strategies import indicators as ta
from strategies.interface import _, render
from strategies.pine.check import IGNORED_CALLS, IGNORED_NAME_NAMESPACES, IGNORED_NAMESPACES, dotted

Value = Any  # a Python scalar (float, int, bool, str) or a numpy array of length n


class PineRuntimeError(ValueError):
    """The script cannot be evaluated (a wrong argument, an unknown name): ``line`` and ``column`` say where.
    ``template`` and ``params`` are the sentence for translation (``strategies.interface.render``)."""

    def __init__(self, template: str, node: Any = None, params: dict[str, Any] | None = None) -> None:
        self.template = template
        self.params = dict(params or {})
        self.transient = False  # set when only the time budget ran out (a busy worker may finish it next time)
        self.line = getattr(node, "lineno", 0) or 0
        self.column = (getattr(node, "col_offset", 0) or 0) + 1 if self.line else 0
        super().__init__(render(template, self.params))


class _ArgumentError(ValueError):
    """A call's argument that does not fit, as a sentence for translation."""

    def __init__(self, template: str, params: dict[str, Any] | None = None) -> None:
        self.template = template
        self.params = dict(params or {})
        super().__init__(render(template, self.params))


# The indicators' own check of a length (``strategies.indicators``, shared with the Python strategies).
_WHOLE = re.compile(r"^(\w+) must be a whole number >= (\d+), got (.+)$")


def _message(exc: Exception) -> Any:
    """An error's sentence for a message parameter: its template when it has one (translated at the edge); the
    indicators' length check as a sentence of ours too."""
    template = getattr(exc, "template", None)
    if isinstance(template, str):
        return (template, dict(getattr(exc, "params", {})))
    found = _WHOLE.match(str(exc))
    if found:
        return (
            _("%(argument)s must be a whole number of at least %(low)s (got %(value)s)"),
            {"argument": found.group(1), "low": found.group(2), "value": found.group(3)},
        )
    return str(exc)


def is_series(value: Value) -> bool:
    return isinstance(value, np.ndarray)


def as_float(value: Value, n: int) -> np.ndarray:
    if is_series(value):
        return value.astype("float64", copy=False)
    return np.full(n, _scalar_float(value))


def as_bool(value: Value, n: int) -> np.ndarray:
    if is_series(value):
        if value.dtype == bool:
            return value
        return np.nan_to_num(value, nan=0.0) != 0
    return np.full(n, _truthy(value))


def _scalar_float(value: Value) -> float:
    if value is None:
        return math.nan
    return float(value)


def _truthy(value: Value) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def _clean(values: np.ndarray) -> np.ndarray:
    """Infinities (a division by zero) are ``na`` in Pine."""
    if values.dtype != bool:
        values[~np.isfinite(values)] = np.nan
    return values


def history(value: Value, offset: Value, n: int) -> Value:
    """``value[offset]``."""
    if not is_series(offset):
        k = int(offset) if not (isinstance(offset, float) and math.isnan(offset)) else -1
        if k < 0:
            raise PineRuntimeError(
                _("History offsets are whole numbers >= 0, got %(offset)s."), params={"offset": repr(offset)}
            )
        if not is_series(value):
            if k == 0:
                return value
            value = np.full(n, value, dtype=bool) if isinstance(value, bool) else as_float(value, n)
        if k == 0:
            return value
        out = np.zeros(n, dtype=bool) if value.dtype == bool else np.full(n, np.nan)
        if k < n:
            out[k:] = value[: n - k]
        return out
    offsets = offset.astype("float64", copy=False)
    series = value if is_series(value) else as_float(value, n)
    positions = np.arange(n) - np.nan_to_num(offsets, nan=n + 1).astype(np.int64)
    ok = (positions >= 0) & (positions < n) & ~np.isnan(offsets) & (offsets >= 0)
    out = np.zeros(n, dtype=bool) if series.dtype == bool else np.full(n, np.nan)
    out[ok] = series[positions[ok]]
    return out


def _arith(op: str, left: Value, right: Value, n: int) -> Value:
    if isinstance(left, str) or isinstance(right, str):
        if op == "Add" and not is_series(left) and not is_series(right):
            return str(left) + str(right)
        raise PineRuntimeError(_("Text can only be joined with + to other text."))
    if not is_series(left) and not is_series(right):
        a, b = _scalar_float(left), _scalar_float(right)
        result = _scalar_op(op, a, b)
        if isinstance(left, int) and isinstance(right, int) and not isinstance(left | right, bool) and op != "Div":
            return int(result) if math.isfinite(result) else result
        return result
    a, b = as_float(left, n), as_float(right, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        if op == "Add":
            out = a + b
        elif op == "Sub":
            out = a - b
        elif op == "Mult":
            out = a * b
        elif op == "Div":
            out = a / b
        else:  # Mod: Pine's % keeps the sign of the dividend, like C's fmod
            out = np.fmod(a, b)
    return _clean(np.array(out, dtype="float64"))


def _scalar_op(op: str, a: float, b: float) -> float:
    try:
        if op == "Add":
            return a + b
        if op == "Sub":
            return a - b
        if op == "Mult":
            return a * b
        if op == "Div":
            return a / b
        return math.fmod(a, b)
    except (ZeroDivisionError, ValueError):
        return math.nan


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "Eq": lambda a, b: a == b,
    "NotEq": lambda a, b: a != b,
    "Lt": lambda a, b: a < b,
    "LtE": lambda a, b: a <= b,
    "Gt": lambda a, b: a > b,
    "GtE": lambda a, b: a >= b,
}


def _compare(op: str, left: Value, right: Value, n: int) -> Value:
    if isinstance(left, str) or isinstance(right, str):
        if is_series(left) or is_series(right):
            raise PineRuntimeError(_("Text cannot be compared with a series."))
        return bool(_COMPARE[op](left, right))
    if not is_series(left) and not is_series(right):
        a, b = _scalar_float(left), _scalar_float(right)
        if math.isnan(a) or math.isnan(b):
            return False
        return bool(_COMPARE[op](a, b))
    a, b = as_float(left, n), as_float(right, n)
    with np.errstate(invalid="ignore"):
        out = _COMPARE[op](a, b)
    if op == "NotEq":  # NaN != x is true in numpy; in Pine a comparison with na is false
        out &= ~(np.isnan(a) | np.isnan(b))
    return out


class Vector:
    """Evaluates expressions for all ``n`` bars; ``env`` maps a name (``close``, ``myVar``, an input) to its
    value. ``functions`` maps a user function's name to a callable taking the evaluated arguments."""

    def __init__(self, env: dict[str, Value], n: int, functions: dict[str, Callable[..., Value]] | None = None):
        self.env = env
        self.n = n
        self.functions = functions or {}
        self.index = pd.RangeIndex(n)

    def value(self, node: Any) -> Value:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise PineRuntimeError(_("%(kind)s cannot be evaluated as a series."), node, {"kind": type(node).__name__})
        return method(node)

    # --- leaves

    def _Constant(self, node: Any) -> Value:
        return node.value

    def _Name(self, node: Any) -> Value:
        name = node.id
        if name in self.env:
            return self.env[name]
        if name == "na":
            return math.nan
        if name in ("true", "false"):
            return name == "true"
        raise PineRuntimeError(_("`%(name)s` is not defined here."), node, {"name": name})

    def _Attribute(self, node: Any) -> Value:
        name = dotted(node)
        if name in self.env:
            return self.env[name]
        if name == "math.pi":
            return math.pi
        if name == "math.e":
            return math.e
        if name == "ta.tr":
            return self._series_result(ta.true_range(*self._prices("high", "low", "close")), handle_na=False)
        if name is not None and name.startswith(IGNORED_NAME_NAMESPACES):
            return math.nan
        raise PineRuntimeError(_("`%(name)s` is not defined here."), node, {"name": name})

    # --- operators

    def _BinOp(self, node: Any) -> Value:
        return _arith(type(node.op).__name__, self.value(node.left), self.value(node.right), self.n)

    def _UnaryOp(self, node: Any) -> Value:
        operand = self.value(node.operand)
        kind = type(node.op).__name__
        if kind == "Not":
            return ~as_bool(operand, self.n) if is_series(operand) else not _truthy(operand)
        if kind == "USub":
            return -as_float(operand, self.n) if is_series(operand) else -operand
        return operand

    def _BoolOp(self, node: Any) -> Value:
        values = [self.value(item) for item in node.values]
        combine = np.logical_and if type(node.op).__name__ == "And" else np.logical_or
        if not any(is_series(v) for v in values):
            flags = [_truthy(v) for v in values]
            return all(flags) if combine is np.logical_and else any(flags)
        out = as_bool(values[0], self.n).copy()
        for item in values[1:]:
            combine(out, as_bool(item, self.n), out=out)
        return out

    def _Compare(self, node: Any) -> Value:
        left = self.value(node.left)
        result: Value = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.value(right_node)
            step = _compare(type(op).__name__, left, right, self.n)
            result = step if result is True else np.logical_and(as_bool(result, self.n), as_bool(step, self.n))
            left = right
        return result

    def _Conditional(self, node: Any) -> Value:
        test, body, orelse = self.value(node.test), self.value(node.body), self.value(node.orelse)
        if not is_series(test):
            return body if _truthy(test) else orelse
        flags = as_bool(test, self.n)
        if all(isinstance(v, bool) or (is_series(v) and v.dtype == bool) for v in (body, orelse)):
            return np.where(flags, as_bool(body, self.n), as_bool(orelse, self.n))
        return np.where(flags, as_float(body, self.n), as_float(orelse, self.n))

    def _Subscript(self, node: Any) -> Value:
        if node.slice is None:
            raise PineRuntimeError(_("A history reference needs an offset: x[1]."), node)
        return history(self.value(node.value), self.value(node.slice), self.n)

    def _Tuple(self, node: Any) -> Value:
        return tuple(self.value(item) for item in node.elts)

    # --- calls

    def _Call(self, node: Any) -> Value:
        name = dotted(node.func)
        positional = [self.value(arg.value) for arg in node.args if arg.name is None]
        named = {arg.name: self.value(arg.value) for arg in node.args if arg.name is not None}
        if name in self.functions:
            return self.functions[name](*positional, **named)
        if name is not None and (name in IGNORED_CALLS or name.startswith(IGNORED_NAMESPACES)):
            return math.nan  # a colour, a label, a formatted text: nothing a trade reads
        handler = _CALLS.get(name or "")
        if handler is None:
            raise PineRuntimeError(_("`%(name)s` cannot be evaluated here."), node, {"name": name})
        try:
            return handler(self, positional, named)
        except PineRuntimeError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise PineRuntimeError(_("`%(name)s`: %(error)s"), node, {"name": name, "error": _message(exc)}) from None

    # --- helpers for the call table

    def series(self, value: Value) -> pd.Series:
        return pd.Series(as_float(value, self.n), index=self.index, copy=False)

    def _prices(self, *names: str) -> list[pd.Series]:
        return [self.series(self.env[name]) for name in names]

    def _series_result(self, result: pd.Series, handle_na: bool = True) -> np.ndarray:
        values = result.to_numpy(dtype="float64", copy=True)
        if not handle_na and self.n:
            values[0] = np.nan  # ta.tr: na on the first bar (no previous close)
        return values

    def flags(self, value: Value) -> pd.Series:
        return pd.Series(as_bool(value, self.n), index=self.index, copy=False)


def _arg(positional: list[Value], named: dict[str, Value], index: int, name: str, default: Any = ...) -> Value:
    if index < len(positional):
        return positional[index]
    if name in named:
        return named[name]
    if default is ...:
        raise _ArgumentError(_("the argument %(name)s is missing"), {"name": name})
    return default


def _length(value: Value) -> int:
    if is_series(value):
        raise _ArgumentError(_("the length must be a constant (an input or a number), not a series"))
    return int(value)


def _ta_unary(fn: Callable[..., pd.Series]) -> Callable[[Vector, list, dict], Value]:
    def call(v: Vector, p: list, k: dict) -> Value:
        return v._series_result(fn(v.series(_arg(p, k, 0, "source")), _length(_arg(p, k, 1, "length"))))

    return call


def _extreme(v: Vector, p: list, k: dict, fn: Callable[..., pd.Series], default: str) -> Value:
    """ta.highest(source, length), or ta.highest(length) of the high (ta.lowest: of the low)."""
    if len(p) + len(k) == 1:
        source, length = v.env[default], _arg(p, k, 0, "length")
    else:
        source, length = _arg(p, k, 0, "source"), _arg(p, k, 1, "length")
    return v._series_result(fn(v.series(source), _length(length)))


def _math_unary(
    fn: Callable[[np.ndarray], np.ndarray], scalar: Callable[[float], float]
) -> Callable[[Vector, list, dict], Value]:
    def call(v: Vector, p: list, k: dict) -> Value:
        x = _arg(p, k, 0, "number")
        if not is_series(x):
            x = _scalar_float(x)
            try:
                return math.nan if math.isnan(x) else scalar(x)
            except (ValueError, OverflowError):
                return math.nan
        with np.errstate(all="ignore"):
            return _clean(np.array(fn(as_float(x, v.n)), dtype="float64"))

    return call


def _pine_round(x: Any) -> Any:
    """Pine's math.round: to the nearest whole number, halves away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _minmax(fn: Callable[..., Any]) -> Callable[[Vector, list, dict], Value]:
    def call(v: Vector, p: list, k: dict) -> Value:
        if not any(is_series(x) for x in p):
            values = [_scalar_float(x) for x in p]
            return math.nan if any(math.isnan(x) for x in values) else fn(values)
        arrays = np.vstack([as_float(x, v.n) for x in p])
        return (np.max if fn is max else np.min)(arrays, axis=0)

    return call


def _nz(v: Vector, p: list, k: dict) -> Value:
    x, replacement = _arg(p, k, 0, "source"), _arg(p, k, 1, "replacement", 0)
    if not is_series(x):
        return replacement if isinstance(x, float) and math.isnan(x) else x
    if x.dtype == bool:
        return x
    return np.where(np.isnan(x), as_float(replacement, v.n), x)


def _na(v: Vector, p: list, k: dict) -> Value:
    x = _arg(p, k, 0, "x")
    if not is_series(x):
        return x is None or (isinstance(x, float) and math.isnan(x))
    return np.zeros(v.n, dtype=bool) if x.dtype == bool else np.isnan(x)


def _fixnan(v: Vector, p: list, k: dict) -> Value:
    x = _arg(p, k, 0, "source")
    return pd.Series(x).ffill().to_numpy() if is_series(x) else x


def _cross(fn: Callable[..., pd.Series]) -> Callable[[Vector, list, dict], Value]:
    def call(v: Vector, p: list, k: dict) -> Value:
        a, b = _arg(p, k, 0, "source1"), _arg(p, k, 1, "source2")
        return fn(v.series(a), v.series(b)).to_numpy(copy=True)

    return call


def _macd(v: Vector, p: list, k: dict) -> Value:
    frame = ta.macd(v.series(_arg(p, k, 0, "source")), *(_length(_arg(p, k, i, n)) for i, n in
                    ((1, "fastlen"), (2, "slowlen"), (3, "siglen"))))  # fmt: skip
    return tuple(frame[column].to_numpy(copy=True) for column in frame.columns)


def _bb(v: Vector, p: list, k: dict) -> Value:
    source, length, mult = _arg(p, k, 0, "series"), _length(_arg(p, k, 1, "length")), float(_arg(p, k, 2, "mult"))
    frame = ta.bollinger(v.series(source), length, mult)
    return tuple(frame[column].to_numpy(copy=True) for column in ("basis", "upper", "lower"))


def _stoch(v: Vector, p: list, k: dict) -> Value:
    """Pine's ta.stoch(source, high, low, length): the raw %K, 100 * (source - lowest) / (highest - lowest)."""
    source, high, low = (v.series(_arg(p, k, i, n)) for i, n in ((0, "source"), (1, "high"), (2, "low")))
    length = _length(_arg(p, k, 3, "length"))
    highest, lowest = ta.highest(high, length), ta.lowest(low, length)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (100 * (source - lowest) / (highest - lowest)).to_numpy(dtype="float64", copy=True)
    return _clean(out)


def _atr(v: Vector, p: list, k: dict) -> Value:
    # ignore: mypy spreads the list of unknown length over every parameter (it holds exactly high, low, close)
    return v._series_result(ta.atr(*v._prices("high", "low", "close"), _length(_arg(p, k, 0, "length"))))  # type: ignore[call-arg]


def _tr(v: Vector, p: list, k: dict) -> Value:
    handle_na = _truthy(_arg(p, k, 0, "handle_na", False))
    return v._series_result(ta.true_range(*v._prices("high", "low", "close")), handle_na=handle_na)


def _supertrend(v: Vector, p: list, k: dict) -> Value:
    # ignore: mypy spreads the list of unknown length over every parameter (it holds exactly high, low, close)
    frame = ta.supertrend(*v._prices("high", "low", "close"), float(_arg(p, k, 0, "factor")),  # type: ignore[call-arg]
                          _length(_arg(p, k, 1, "atrPeriod")))  # fmt: skip
    return tuple(frame[column].to_numpy(copy=True) for column in frame.columns)


def _stdev(v: Vector, p: list, k: dict) -> Value:
    biased = _truthy(_arg(p, k, 2, "biased", True))
    return v._series_result(ta.stdev(v.series(_arg(p, k, 0, "source")), _length(_arg(p, k, 1, "length")), biased))


def _change(v: Vector, p: list, k: dict) -> Value:
    source = _arg(p, k, 0, "source")
    length = _length(_arg(p, k, 1, "length", 1))
    if is_series(source) and source.dtype == bool:  # ta.change of a bool: did it change
        return source != history(source, length, v.n)
    return v._series_result(ta.change(v.series(source), length))


def _pivot(fn: Callable[..., pd.Series]) -> Callable[[Vector, list, dict], Value]:
    def call(v: Vector, p: list, k: dict) -> Value:
        if len(p) + len(k) == 2:  # ta.pivothigh(leftbars, rightbars): of the high (low)
            source = v.env["high" if fn is ta.pivothigh else "low"]
            left, right = _arg(p, k, 0, "leftbars"), _arg(p, k, 1, "rightbars")
        else:
            source, left, right = _arg(p, k, 0, "source"), _arg(p, k, 1, "leftbars"), _arg(p, k, 2, "rightbars")
        return v._series_result(fn(v.series(source), _length(left), _length(right)))

    return call


_CALLS: dict[str, Callable[[Vector, list, dict], Value]] = {
    "ta.sma": _ta_unary(ta.sma),
    "ta.ema": _ta_unary(ta.ema),
    "ta.rma": _ta_unary(ta.rma),
    "ta.wma": _ta_unary(ta.wma),
    "ta.rsi": _ta_unary(ta.rsi),
    "ta.highest": lambda v, p, k: _extreme(v, p, k, ta.highest, "high"),
    "ta.lowest": lambda v, p, k: _extreme(v, p, k, ta.lowest, "low"),
    "ta.vwma": lambda v, p, k: v._series_result(
        ta.vwma(v.series(_arg(p, k, 0, "source")), v.series(v.env["volume"]), _length(_arg(p, k, 1, "length")))
    ),
    "ta.cum": lambda v, p, k: v._series_result(ta.cum(v.series(_arg(p, k, 0, "source")))),
    "ta.change": _change,
    "ta.stdev": _stdev,
    "ta.macd": _macd,
    "ta.bb": _bb,
    "ta.stoch": _stoch,
    "ta.atr": _atr,
    "ta.tr": _tr,
    "ta.supertrend": _supertrend,
    "ta.crossover": _cross(ta.crossover),
    "ta.crossunder": _cross(ta.crossunder),
    "ta.cross": _cross(ta.cross),
    "ta.pivothigh": _pivot(ta.pivothigh),
    "ta.pivotlow": _pivot(ta.pivotlow),
    "ta.barssince": lambda v, p, k: v._series_result(ta.barssince(v.flags(_arg(p, k, 0, "condition")))),
    "ta.valuewhen": lambda v, p, k: v._series_result(
        ta.valuewhen(
            v.flags(_arg(p, k, 0, "condition")),
            v.series(_arg(p, k, 1, "source")),
            _length(_arg(p, k, 2, "occurrence", 0)),
        )
    ),
    "na": _na,
    "nz": _nz,
    "fixnan": _fixnan,
    "int": _math_unary(np.trunc, lambda x: int(x)),
    "float": lambda v, p, k: as_float(p[0], v.n) if is_series(p[0]) else _scalar_float(p[0]),
    "bool": lambda v, p, k: as_bool(p[0], v.n) if is_series(p[0]) else _truthy(p[0]),
    "math.abs": _math_unary(np.abs, abs),
    "math.sqrt": _math_unary(np.sqrt, math.sqrt),
    "math.log": _math_unary(np.log, math.log),
    "math.log10": _math_unary(np.log10, math.log10),
    "math.exp": _math_unary(np.exp, math.exp),
    "math.floor": _math_unary(np.floor, math.floor),
    "math.ceil": _math_unary(np.ceil, math.ceil),
    "math.sign": _math_unary(np.sign, lambda x: float(np.sign(x))),
    "math.round": _math_unary(_pine_round, lambda x: float(_pine_round(x))),
    "math.max": _minmax(max),
    "math.min": _minmax(min),
    "math.avg": lambda v, p, k: _arith("Div", _sum(v, p), float(len(p)), v.n),
    "math.pow": lambda v, p, k: _pow(v, _arg(p, k, 0, "base"), _arg(p, k, 1, "exponent")),
    "math.sum": lambda v, p, k: v._series_result(
        ta.sma(v.series(_arg(p, k, 0, "source")), _length(_arg(p, k, 1, "length"))) * _length(_arg(p, k, 1, "length"))
    ),
}


def _sum(v: Vector, values: list[Value]) -> Value:
    total: Value = 0.0
    for item in values:
        total = _arith("Add", total, item, v.n)
    return total


def _pow(v: Vector, base: Value, exponent: Value) -> Value:
    if not is_series(base) and not is_series(exponent):
        try:
            return math.pow(_scalar_float(base), _scalar_float(exponent))
        except (ValueError, OverflowError):
            return math.nan
    with np.errstate(all="ignore"):
        return _clean(np.power(as_float(base, v.n), as_float(exponent, v.n)))
