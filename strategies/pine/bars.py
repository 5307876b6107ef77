"""Pine expressions bar by bar, as TradingView runs them (pure: no Django).

``Bars(env, n)``: call ``value(node, t)`` for t = 0, 1, … in order; each call gives the expression's value on
bar t. Every node keeps its own history (so ``(a + b)[2]`` reads what ``a + b`` was two bars ago) and every
``ta.*`` call site its own state, updated once per bar, written here from Pine's reference definitions
independently of ``strategies.indicators``'s numba kernels. It is the slow, obvious implementation: the
sequential parts of a script run on it, and the property tests check ``strategies.pine.series`` (whole series
at once) against it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from strategies.interface import _
from strategies.pine.check import IGNORED_CALLS, IGNORED_NAME_NAMESPACES, IGNORED_NAMESPACES, dotted
from strategies.pine.series import PineRuntimeError

NA = math.nan


def _isna(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _num(x: Any) -> float:
    if x is None:
        return NA
    return float(x)


def _truthy(x: Any) -> bool:
    return not _isna(x) and bool(x)


def _div(a: float, b: float) -> float:
    if _isna(a) or _isna(b) or b == 0:
        return NA
    return a / b


class _Window:
    def __init__(self, length: int) -> None:
        self.length = length
        self.values: deque[float] = deque(maxlen=length)

    def push(self, x: float) -> list[float] | None:
        self.values.append(x)
        if len(self.values) < self.length or any(math.isnan(v) for v in self.values):
            return None
        return list(self.values)


class _Seeded:
    """EMA/RMA: the mean of the first ``length`` non-na values, then ``alpha * x + (1 - alpha) * previous``; a
    na input holds the value."""

    def __init__(self, length: int, alpha: float) -> None:
        self.length, self.alpha = length, alpha
        self.seed: list[float] = []
        self.value = NA

    def push(self, x: float) -> float:
        if math.isnan(x):
            return self.value
        if len(self.seed) < self.length:
            self.seed.append(x)
            if len(self.seed) == self.length:
                self.value = sum(self.seed) / self.length
            return self.value
        self.value = self.alpha * x + (1 - self.alpha) * self.value
        return self.value


class Bars:
    def __init__(self, env: dict[str, Any], n: int) -> None:
        self.env = env
        self.n = n
        self.histories: dict[int, list[Any]] = {}
        self.states: dict[int, Any] = {}
        self.locals: dict[str, Any] = {}  # a user function's parameters while its body runs
        self.functions: dict[str, Any] = {}  # name -> callable(t, *args), set by the runner
        self.calls: dict[str, Any] = {}  # more built-ins (strategy.*, runtime.error): callable(t, node, args)

    def value(self, node: Any, t: int) -> Any:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise PineRuntimeError(_("%(kind)s cannot be evaluated."), node, {"kind": type(node).__name__})
        result = method(node, t)
        past = self.histories.setdefault(id(node), [])
        if len(past) < t:  # not evaluated on the bars between (a branch not taken): na there
            past.extend([NA] * (t - len(past)))
        if len(past) == t:
            past.append(result)
        else:
            past[t] = result
        return result

    def _past(self, node: Any, t: int, k: int) -> Any:
        if k < 0:
            raise PineRuntimeError(_("History offsets are whole numbers >= 0."), node)
        name = dotted(node) if type(node).__name__ in ("Name", "Attribute") else None
        if name is not None and name in self.env and isinstance(self.env[name], np.ndarray):
            array = self.env[name]
            if t - k < 0:
                return False if array.dtype == bool else NA
            x = array[t - k]
            return bool(x) if array.dtype == bool else float(x)
        if name is not None and name in self.env and isinstance(self.env[name], list):
            cells = self.env[name]
            if t - k < 0 or t - k >= len(cells):
                return NA
            return cells[t - k]
        past = self.histories.get(id(node), [])
        if t - k < 0 or t - k >= len(past):
            current = past[t] if t < len(past) else None
            return False if isinstance(current, bool) else NA
        return past[t - k]

    # --- leaves

    def _Constant(self, node: Any, t: int) -> Any:
        return node.value

    def _Name(self, node: Any, t: int) -> Any:
        return self._named(dotted(node), node, t)

    def _Attribute(self, node: Any, t: int) -> Any:
        return self._named(dotted(node), node, t)

    def _named(self, name: str | None, node: Any, t: int) -> Any:
        if name in self.locals:
            return self.locals[name]
        if name in self.env:
            value = self.env[name]
            if isinstance(value, np.ndarray):
                return bool(value[t]) if value.dtype == bool else float(value[t])
            if isinstance(value, list):  # a name the sequential part writes: its value on this bar so far
                return value[t] if t < len(value) else NA
            return value
        if name == "na":
            return NA
        if name in ("true", "false"):
            return name == "true"
        if name == "math.pi":
            return math.pi
        if name == "math.e":
            return math.e
        if name is not None and name.startswith(IGNORED_NAME_NAMESPACES):
            return NA
        raise PineRuntimeError(_("`%(name)s` is not defined here."), node, {"name": name})

    # --- operators

    def _BinOp(self, node: Any, t: int) -> Any:
        a, b = self.value(node.left, t), self.value(node.right, t)
        op = type(node.op).__name__
        if isinstance(a, str) or isinstance(b, str):
            return str(a) + str(b)
        a, b = _num(a), _num(b)
        if math.isnan(a) or math.isnan(b):
            return NA
        if op == "Add":
            result = a + b
        elif op == "Sub":
            result = a - b
        elif op == "Mult":
            result = a * b
        elif op == "Div":
            result = _div(a, b)
        else:
            result = NA if b == 0 else math.fmod(a, b)
        return result if math.isfinite(result) else NA

    def _UnaryOp(self, node: Any, t: int) -> Any:
        x = self.value(node.operand, t)
        kind = type(node.op).__name__
        if kind == "Not":
            return not _truthy(x)
        if kind == "USub":
            return NA if _isna(x) else -x
        return x

    def _BoolOp(self, node: Any, t: int) -> Any:
        flags = [_truthy(self.value(item, t)) for item in node.values]
        return all(flags) if type(node.op).__name__ == "And" else any(flags)

    def _Compare(self, node: Any, t: int) -> Any:
        left = self.value(node.left, t)
        result = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.value(right_node, t)
            kind = type(op).__name__
            if isinstance(left, str) or isinstance(right, str):
                ok = {"Eq": left == right, "NotEq": left != right}.get(kind, False)
            elif _isna(left) or _isna(right):
                ok = False
            else:
                a, b = float(left), float(right)
                ok = {"Eq": a == b, "NotEq": a != b, "Lt": a < b, "LtE": a <= b, "Gt": a > b, "GtE": a >= b}[kind]
            result = result and ok
            left = right
        return result

    def _Conditional(self, node: Any, t: int) -> Any:
        test = self.value(node.test, t)
        body, orelse = self.value(node.body, t), self.value(node.orelse, t)  # both, as the vectorised form
        return body if _truthy(test) else orelse

    def _Subscript(self, node: Any, t: int) -> Any:
        self.value(node.value, t)
        offset = self.value(node.slice, t)
        if _isna(offset):
            return NA
        return self._past(node.value, t, int(offset))

    # --- calls

    def _Call(self, node: Any, t: int) -> Any:
        name = dotted(node.func)
        args = [self.value(arg.value, t) for arg in node.args]
        key = id(node)
        if name in self.functions:
            return self.functions[name](t, *args)
        if name in self.calls:
            return self.calls[name](t, node, args)
        if name is not None and (name in IGNORED_CALLS or name.startswith(IGNORED_NAMESPACES)):
            return NA
        if name in ("ta.highest", "ta.lowest") and len(args) == 1:  # of the high (low) by default
            args = [self._named("high" if name == "ta.highest" else "low", node, t), args[0]]
        if name in ("ta.sma", "ta.wma", "ta.highest", "ta.lowest", "ta.stdev"):
            length = int(args[1])
            window = self.states.setdefault(key, _Window(length)).push(_num(args[0]))
            if window is None:
                return NA
            if name == "ta.sma":
                return sum(window) / length
            if name == "ta.wma":
                return sum(x * (i + 1) for i, x in enumerate(window)) / (length * (length + 1) / 2)
            if name == "ta.highest":
                return max(window)
            if name == "ta.lowest":
                return min(window)
            mean = sum(window) / length
            deviations = [x - mean for x in window]
            return math.sqrt(sum(0.0 if abs(d) <= 1e-10 else d * d for d in deviations) / length)
        if name in ("ta.ema", "ta.rma"):
            length = int(args[1])
            alpha = 2 / (length + 1) if name == "ta.ema" else 1 / length
            return self.states.setdefault(key, _Seeded(length, alpha)).push(_num(args[0]))
        if name in ("ta.crossover", "ta.crossunder", "ta.cross"):
            a, b = _num(args[0]), _num(args[1])
            previous = self.states.get(key)
            self.states[key] = (a, b)
            if previous is None or any(math.isnan(x) for x in (a, b, *previous)):
                return False
            up = a > b and previous[0] <= previous[1]
            down = a < b and previous[0] >= previous[1]
            return up if name == "ta.crossover" else down if name == "ta.crossunder" else up or down
        if name == "ta.change":
            length = int(args[1]) if len(args) > 1 else 1
            past = self.states.setdefault(key, deque(maxlen=length + 1))
            past.append(_num(args[0]))
            return past[-1] - past[0] if len(past) == length + 1 else NA
        if name == "ta.cum":
            total = self.states.get(key, NA)
            x = _num(args[0])
            if not math.isnan(x):
                total = (0.0 if math.isnan(total) else total) + x
            self.states[key] = total
            return total
        if name == "na":
            return _isna(args[0])
        if name == "nz":
            return (args[1] if len(args) > 1 else 0) if _isna(args[0]) else args[0]
        if name == "math.abs":
            return NA if _isna(args[0]) else abs(args[0])
        if name in ("math.max", "math.min"):
            if any(_isna(x) for x in args):
                return NA
            return (max if name == "math.max" else min)(float(x) for x in args)
        raise PineRuntimeError(_("`%(name)s` cannot be evaluated bar by bar yet."), node, {"name": name})
