"""Run a whole Pine script over candles (pure: no Django): every variable per bar, and every order call.

``run(parsed, candles, params)`` executes the script's top-level statements as TradingView does on closed
candles, bar after bar, but computes in two parts:

- the **whole-series part** first: plain assignments that depend only on prices, inputs and other such
  assignments (``fast = ta.ema(close, 12)``, ``longEntry = ta.crossover(fast, slow)``) and the user functions
  they call, with ``strategies.pine.series`` in one numpy pass each — their value on bar t never depends on
  anything that runs later in that bar, so computing them ahead is exact;
- the **bar-by-bar part**: everything else, in the script's order, once per bar, with
  ``strategies.pine.bars``: ``var`` state, ``:=``/``+=``, ``if``/``for``/``while``/``switch`` and the
  ``strategy.*`` calls, reading the whole-series values at bar t.

``strategy.entry/close/close_all/exit`` calls are recorded as ``Order`` intents on their bar; what the position
is when the script reads ``strategy.position_size`` comes from the ``broker`` (the backtest's, next; by default
``Flat``: always flat, for a trace of what a script asks). A run has a budget (steps and seconds): an endless
``while`` or a huge ``for`` ends in a ``PineRuntimeError`` that says so, never a hung worker.

Why this file is long: the plan (which statements run over whole series), the statement interpreter (var,
reassignments, if/for/while/switch, user functions) and the order calls share the runner's state per bar.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from strategies.interface import _
from strategies.pine.bars import Bars
from strategies.pine.check import IGNORED_CALLS, IGNORED_NAMESPACES, INPUT_CALLS, SOURCES, dotted
from strategies.pine.series import PineRuntimeError, Vector
from strategies.pine.source import Parsed

STATE_NAMES = frozenset(
    ("strategy.position_size", "strategy.position_avg_price", "strategy.equity", "strategy.netprofit",
     "strategy.opentrades", "strategy.closedtrades")
)  # fmt: skip
ORDER_CALLS = {"strategy.entry": "entry", "strategy.close": "close", "strategy.close_all": "close_all",
               "strategy.exit": "exit"}  # fmt: skip
CONTROL = ("If", "ForTo", "While", "Switch")
# The parameters of the order calls in TradingView's order, for arguments given by position.
_POSITIONAL = {
    "entry": ("id", "direction", "qty", "limit", "stop", "oca_name", "oca_type", "comment"),
    "close": ("id", "comment", "qty", "qty_percent"),
    "close_all": ("comment",),
    "exit": ("id", "from_entry", "qty", "qty_percent", "profit", "limit", "loss", "stop", "trail_price",
             "trail_points", "trail_offset"),
}  # fmt: skip
DEFAULT_MAX_STEPS = 20_000_000
DEFAULT_MAX_SECONDS = 5.0


@dataclass(frozen=True)
class Order:
    """One ``strategy.*`` order call on one bar (its close), with its evaluated arguments."""

    bar: int
    kind: str  # entry, close, close_all or exit
    id: str
    direction: str | None  # long or short for an entry
    args: dict[str, Any]
    line: int


class Flat:
    """A broker that never fills: the script always sees a flat position."""

    position_size = 0.0
    position_avg_price = math.nan
    equity = math.nan
    netprofit = 0.0
    opentrades = 0
    closedtrades = 0

    def bar(self, t: int) -> None:
        """Called before the script runs on bar ``t``."""

    def order(self, order: Order) -> None:
        """Called for each order call, in the script's order."""


@dataclass(frozen=True)
class Batch:
    """The same order call on many bars (run over whole series): ``bars`` in order, each argument a scalar or an
    array aligned with ``bars``."""

    bars: np.ndarray
    kind: str
    id: str
    direction: str | None
    args: dict[str, Any]
    line: int

    def orders(self) -> list[Order]:
        return [
            Order(int(t), self.kind, self.id, self.direction,
                  {k: (v[i].item() if isinstance(v, np.ndarray) else v) for k, v in self.args.items()}, self.line)
            for i, t in enumerate(self.bars)
        ]  # fmt: skip


@dataclass
class Trace:
    n: int
    values: dict[str, Any] = field(default_factory=dict)  # top-level variable -> array (or list) per bar
    orders: list[Order] = field(default_factory=list)  # the calls made bar by bar
    batches: list[Batch] = field(default_factory=list)  # the calls made over whole series (position held)
    steps: int = 0

    def all_orders(self) -> list[Order]:
        """Every order call, by bar (the script's order within a bar)."""
        expanded = [order for batch in self.batches for order in batch.orders()] + self.orders
        return sorted(expanded, key=lambda order: order.bar)


class _Budget(Exception):
    pass


def _sources(candles: pd.DataFrame) -> dict[str, Any]:
    o, h, low, c, v = (candles[name].to_numpy(dtype="float64") for name in ("open", "high", "low", "close", "volume"))
    index = candles.index
    times = (
        (index.asi8 // 1_000_000).astype("float64")
        if isinstance(index, pd.DatetimeIndex)
        else np.arange(len(candles), dtype="float64")
    )
    return {
        "open": o,
        "high": h,
        "low": low,
        "close": c,
        "volume": v,
        "hl2": (h + low) / 2,
        "hlc3": (h + low + c) / 3,
        "ohlc4": (o + h + low + c) / 4,
        "hlcc4": (h + low + c + c) / 4,
        "bar_index": np.arange(len(candles), dtype="float64"),
        "time": times,
        "barstate.isconfirmed": True,
        "barstate.isnew": True,
        "barstate.ishistory": True,
        "barstate.isfirst": np.arange(len(candles)) == 0,
        "strategy.long": "long",
        "strategy.short": "short",
        "strategy.direction.long": "long",
        "strategy.direction.short": "short",
        "strategy.direction.all": "all",
        "strategy.percent_of_equity": "percent_of_equity",
        "strategy.fixed": "fixed",
        "strategy.cash": "cash",
        "strategy.commission.percent": "percent",
        "strategy.commission.cash_per_order": "cash_per_order",
        "strategy.commission.cash_per_contract": "cash_per_contract",
    }


def _names(node: Any) -> set[str]:
    """Every plain or dotted name read under ``node``."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        kind = type(item).__name__
        if kind in ("Name", "Attribute"):
            name = dotted(item)
            if name is not None:
                found.add(name)
                continue
        for value in vars(item).values():
            if isinstance(value, list):
                stack.extend(x for x in value if hasattr(x, "_fields"))
            elif hasattr(value, "_fields"):
                stack.append(value)
    return found


def _calls(node: Any) -> set[str]:
    found = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if type(item).__name__ == "Call":
            found.add(dotted(item.func) or "")
        for value in vars(item).values():
            if isinstance(value, list):
                stack.extend(x for x in value if hasattr(x, "_fields"))
            elif hasattr(value, "_fields"):
                stack.append(value)
    return found


def _targets(target: Any) -> list[str]:
    kind = type(target).__name__
    if kind == "Name":
        return [target.id]
    if kind == "Tuple":
        return [name for item in target.elts for name in _targets(item)]
    return []


class Runner:
    def __init__(
        self,
        parsed: Parsed,
        candles: pd.DataFrame,
        params: dict[str, Any] | None = None,
        *,
        broker: Any = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.body = parsed.tree.body
        self.n = len(candles)
        self.env: dict[str, Any] = _sources(candles)
        self.env["syminfo.mintick"] = float(getattr(broker, "mintick", math.nan))  # the held runs set one
        self.params = dict(params or {})
        self.broker = broker or Flat()
        self.held = bool(getattr(self.broker, "held", False))  # the position is the same on every bar
        self.trace = Trace(self.n)
        self.max_steps = max_steps
        self.deadline = time.perf_counter() + max_seconds
        self.max_seconds = max_seconds
        self.functions: dict[str, Any] = {}
        self.vector_functions: set[str] = set()
        self._stepped_functions: dict[str, Any] = {}

    # --- planning

    def _plan(self) -> tuple[list[Any], list[Any]]:
        """(whole-series statements, bar-by-bar statements), each in the script's order."""
        sequential: set[str] = set()
        for node in self.body:
            kind = type(node).__name__
            if kind == "Assign" and node.mode is not None:
                sequential.update(_targets(node.target))
            for item in _walk(node):
                if type(item).__name__ in ("ReAssign", "AugAssign"):
                    sequential.update(_targets(item.target))
        vector, stepped = [], []
        for node in self.body:
            kind = type(node).__name__
            if kind == "FunctionDef":
                self._define(node)
                continue
            if kind == "Expr" and type(node.value).__name__ == "Call":
                name = dotted(node.value.func) or ""
                if name in ("strategy", "indicator", "study", "library") or _ignored(name):
                    continue
            if kind == "Assign" and self._input(node):
                continue
            plain = kind == "Assign" and node.mode is None
            reads = _names(node.value) if kind == "Assign" and node.value is not None else set()
            calls = _calls(node.value) if kind == "Assign" and node.value is not None else set()
            control = plain and any(type(x).__name__ in CONTROL for x in _walk(node.value))
            stateful = sequential if self.held else sequential | STATE_NAMES
            if (
                plain
                and not control
                and not (set(_targets(node.target)) & sequential)
                and not (reads & stateful)
                and all(c not in self.functions or c in self.vector_functions for c in calls)
                and not (calls & set(ORDER_CALLS))
            ) or (self.held and self._orders_only(node, stateful)):
                vector.append(node)
            else:
                stepped.append(node)
                if kind == "Assign":
                    sequential.update(_targets(node.target))
        return vector, stepped

    def _orders_only(self, node: Any, stateful: set[str]) -> bool:
        """``if cond`` (no else) around order calls and runtime.error only, or such a call on its own, all of it
        reading only whole-series values: run over whole series too (``_vector_orders``). Only while the
        position is held constant (``held``), since a real position changes with each fill."""
        kind = type(node).__name__
        if kind != "Expr":
            return False
        value = node.value
        if type(value).__name__ == "If":
            if value.orelse or not value.body:
                return False
            if _names(value.test) & stateful or any(type(x).__name__ in CONTROL for x in _walk(value.test)):
                return False
            return all(self._orders_only(statement, stateful) for statement in value.body)
        if type(value).__name__ != "Call":
            return False
        name = dotted(value.func) or ""
        if (
            name not in ORDER_CALLS
            and name not in ("runtime.error", "strategy.risk.allow_entry_in")
            and not _ignored(name)
        ):
            return False
        return not (_names(value) & stateful) and not any(type(x).__name__ in CONTROL for x in _walk(value))

    def _vector_orders(self, node: Any, when: Any) -> None:
        """The order calls of ``node`` on every bar where ``when`` holds (a bool array, or True)."""
        value = node.value
        if type(value).__name__ == "If":
            test = Vector(self.env, self.n, self.functions).value(value.test)
            flags = _flags(test, self.n) if when is True else when & _flags(test, self.n)
            for statement in value.body:
                self._vector_orders(statement, flags)
            return
        name = dotted(value.func) or ""
        if _ignored(name) or name == "strategy.risk.allow_entry_in":
            return
        bars = np.flatnonzero(_flags(True, self.n) if when is True else when)
        if not bars.size:
            return
        vector = Vector(self.env, self.n, self.functions)
        args = [vector.value(arg.value) for arg in value.args]
        if name == "runtime.error":
            raise PineRuntimeError("%(message)s", value, {"message": str(args[0]) if args else "runtime.error"})
        at = [item[bars] if isinstance(item, np.ndarray) else item for item in args]
        kind, order_id, direction, named = self._order_parts(value, at)
        if isinstance(order_id, np.ndarray) or isinstance(direction, np.ndarray):
            raise PineRuntimeError(_("An order's id and direction must be the same on every bar."), value)
        self.trace.batches.append(Batch(bars, kind, order_id, direction, named, value.lineno or 0))

    def _input(self, node: Any) -> bool:
        if type(node.value).__name__ != "Call" or dotted(node.value.func) not in INPUT_CALLS:
            return False
        name = node.target.id
        if name in self.params:
            value = self.params[name]
        else:
            args = node.value.args
            default = next((a.value for a in args if a.name == "defval"), args[0].value if args and not args[0].name
                           else None)  # fmt: skip
            value = Vector(self.env, self.n).value(default) if default is not None else math.nan
        if isinstance(value, str) and value in SOURCES and dotted(node.value.func) in ("input.source", "input"):
            value = self.env[value]
        self.env[name] = value
        return True

    def _define(self, node: Any) -> None:
        body = node.body
        simple = all(type(s).__name__ in ("Assign", "Expr") and getattr(s, "mode", None) is None for s in body)
        params = [p.name for p in node.args]
        defaults = {p.name: p.default for p in node.args if p.default is not None}
        if simple:
            self.vector_functions.add(node.name)

        def vectorised(*args: Any, **named: Any) -> Any:
            scope = dict(self.env)
            for position, name in enumerate(params):
                if position < len(args):
                    scope[name] = args[position]
                elif name in named:
                    scope[name] = named[name]
                elif name in defaults:
                    scope[name] = Vector(scope, self.n, self.functions).value(defaults[name])
            result: Any = math.nan
            for statement in body:
                v = Vector(scope, self.n, self.functions)
                if type(statement).__name__ == "Assign":
                    result = v.value(statement.value)
                    for name, value in zip(_targets(statement.target), _spread(result, statement.target), strict=True):
                        scope[name] = value
                else:
                    result = v.value(statement.value)
            return result

        self.functions[node.name] = vectorised
        self._stepped_functions[node.name] = (params, defaults, body)

    # --- running

    def run(self) -> Trace:
        """The run's trace; a runner runs once."""
        try:
            if self.held:  # the position never changes: what the script reads of it is a constant
                for name in STATE_NAMES:
                    self.env[name] = getattr(self.broker, name.split(".", 1)[1])
            vector, stepped = self._plan()
            for node in vector:
                if type(node).__name__ == "Expr":
                    self._vector_orders(node, True)
                    continue
                value = Vector(self.env, self.n, self.functions).value(node.value)
                for name, item in zip(_targets(node.target), _spread(value, node.target), strict=True):
                    self.env[name] = item
                    self.trace.values[name] = item
            if stepped:
                self._bar_by_bar(stepped)
            return self.trace
        finally:
            self._release()

    def _release(self) -> None:
        """Break the runner's reference cycles (its functions' closures and the bar runner's bound methods point back
        at it), so its series are freed as the run ends, not at Python's next full collection: otherwise a worker
        holds about 0.5 GB per million-bar backtest until then."""
        self.functions = {}
        self._stepped_functions = {}
        self.env = {}
        self.__dict__.pop("bars", None)

    def _bar_by_bar(self, statements: list[Any]) -> None:
        bars = Bars(self.env, self.n)
        self.bars = bars
        bars.calls.update(dict.fromkeys(ORDER_CALLS, self._order))
        bars.calls["runtime.error"] = self._runtime_error
        bars.calls["strategy.risk.allow_entry_in"] = lambda t, node, args: None
        for name in self._stepped_functions:
            bars.functions[name] = self._stepped_function(name)
        self.var_names: dict[str, Any] = {}
        for t in range(self.n):
            self.broker.bar(t)
            for name in STATE_NAMES:
                self.env[name] = getattr(self.broker, name.split(".", 1)[1])
            for cells in self.var_names.values():  # var: the value carries over until changed
                cells.append(cells[t - 1] if t else math.nan)
            for statement in statements:
                self._statement(statement, t)
            for value in self.env.values():
                if isinstance(value, list) and len(value) <= t:
                    value.extend([math.nan] * (t + 1 - len(value)))
        for name, cells in self.env.items():
            if isinstance(cells, list):
                self.trace.values[name] = cells

    def _tick(self) -> None:
        self.trace.steps += 1
        over_time = self.trace.steps % 4096 == 0 and time.perf_counter() > self.deadline
        if self.trace.steps > self.max_steps or over_time:
            error = PineRuntimeError(
                _(
                    "The script ran over its budget (%(steps)s steps or %(seconds)s s): look for a loop that does "
                    "not end."
                ),
                params={"steps": f"{self.max_steps:,}", "seconds": f"{self.max_seconds:g}"},
            )
            error.transient = over_time and self.trace.steps <= self.max_steps  # the clock, not the script
            raise error

    def _set(self, name: str, value: Any, t: int) -> None:
        cells = self.env.get(name)
        if not isinstance(cells, list):
            cells = []
            self.env[name] = cells
        if len(cells) < t:
            cells.extend([math.nan] * (t - len(cells)))
        if len(cells) == t:
            cells.append(value)
        else:
            cells[t] = value

    def _statement(self, node: Any, t: int) -> Any:
        self._tick()
        kind = type(node).__name__
        bars = self.bars
        if kind == "Assign":
            names = _targets(node.target)
            if node.mode is not None:  # var / varip: initialised once, on the first bar it runs
                first = names[0]
                if first in self.var_names:
                    return None
                self.var_names[first] = self.env.setdefault(first, [])
            value = self._expression(node.value, t) if node.value is not None else math.nan
            for name, item in zip(names, _spread(value, node.target), strict=True):
                self._set(name, item, t)
            return value
        if kind == "ReAssign":
            value = self._expression(node.value, t)
            for name, item in zip(_targets(node.target), _spread(value, node.target), strict=True):
                self._set(name, item, t)
            return value
        if kind == "AugAssign":
            name = _targets(node.target)[0]
            current = bars._named(name, node, t)
            operand = bars.value(node.value, t)
            value = _augment(type(node.op).__name__, current, operand)
            self._set(name, value, t)
            return value
        if kind == "Expr":
            return self._expression(node.value, t)
        if kind == "Break":
            raise _Break
        if kind == "Continue":
            raise _Continue
        raise PineRuntimeError(_("%(kind)s cannot run here."), node, {"kind": kind})

    def _block(self, statements: list[Any], t: int) -> Any:
        result: Any = math.nan
        for statement in statements:
            result = self._statement(statement, t)
        return result

    def _expression(self, node: Any, t: int) -> Any:
        kind = type(node).__name__
        bars = self.bars
        if kind == "If":
            if _truthy(bars.value(node.test, t)):
                return self._block(node.body, t)
            return self._block(node.orelse, t) if node.orelse else math.nan
        if kind == "ForTo":
            start, end = bars.value(node.start, t), bars.value(node.end, t)
            step = bars.value(node.step, t) if node.step is not None else (1 if end >= start else -1)
            name = _targets(node.target)[0]
            result: Any = math.nan
            i = start
            while (i <= end) if step > 0 else (i >= end):
                self._tick()
                self._set(name, i, t)
                try:
                    result = self._block(node.body, t)
                except _Break:
                    break
                except _Continue:
                    pass
                i += step
            return result
        if kind == "While":
            result = math.nan
            while _truthy(bars.value(node.test, t)):
                self._tick()
                try:
                    result = self._block(node.body, t)
                except _Break:
                    break
                except _Continue:
                    continue
            return result
        if kind == "Switch":
            subject = bars.value(node.subject, t) if node.subject is not None else None
            for case in node.cases:
                if case.pattern is None:
                    return self._block(case.body, t)
                value = bars.value(case.pattern, t)
                if (subject is None and _truthy(value)) or (subject is not None and value == subject):
                    return self._block(case.body, t)
            return math.nan
        return bars.value(node, t)

    def _stepped_function(self, name: str) -> Any:
        params, defaults, body = self._stepped_functions[name]

        def call(t: int, *args: Any) -> Any:
            saved = dict(self.bars.locals)
            try:
                for position, param in enumerate(params):
                    if position < len(args):
                        self.bars.locals[param] = args[position]
                    elif param in defaults:
                        self.bars.locals[param] = self.bars.value(defaults[param], t)
                result: Any = math.nan
                for statement in body:
                    if type(statement).__name__ == "Assign":
                        result = self.bars.value(statement.value, t)
                        for local, item in zip(_targets(statement.target), _spread(result, statement.target),
                                               strict=True):  # fmt: skip
                            self.bars.locals[local] = item
                    elif type(statement).__name__ == "Expr":
                        result = self._expression(statement.value, t)
                    else:
                        result = self._statement(statement, t)
                return result
            finally:
                self.bars.locals = saved

        return call

    def _order_parts(self, node: Any, args: list[Any]) -> tuple[str, Any, Any, dict[str, Any]]:
        kind = ORDER_CALLS[cast(str, dotted(node.func))]  # called for the order calls only: a dotted name
        positional = [value for arg, value in zip(node.args, args, strict=True) if arg.name is None]
        named = {arg.name: value for arg, value in zip(node.args, args, strict=True) if arg.name is not None}
        for position, value in enumerate(positional[1:], start=1):  # Pine's own parameter order
            names = _POSITIONAL.get(kind, ())
            if position < len(names):
                named.setdefault(names[position], value)
        order_id = named.pop("id", positional[0] if positional else "")
        order_id = order_id if isinstance(order_id, np.ndarray) else str(order_id)
        direction = None
        if kind == "entry":
            direction = named.pop("direction", None)
            if direction not in ("long", "short"):
                raise PineRuntimeError(_("strategy.entry needs strategy.long or strategy.short."), node)
        return kind, order_id, direction, named

    def _order(self, t: int, node: Any, args: list[Any]) -> None:
        kind, order_id, direction, named = self._order_parts(node, args)
        order = Order(bar=t, kind=kind, id=order_id, direction=direction, args=named, line=node.lineno or 0)
        self.trace.orders.append(order)
        self.broker.order(order)

    def _runtime_error(self, t: int, node: Any, args: list[Any]) -> None:
        raise PineRuntimeError("%(message)s", node, {"message": str(args[0]) if args else "runtime.error"})


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        for value in vars(item).values():
            if isinstance(value, list):
                stack.extend(x for x in value if hasattr(x, "_fields"))
            elif hasattr(value, "_fields"):
                stack.append(value)


def _flags(value: Any, n: int) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value if value.dtype == bool else np.nan_to_num(value, nan=0.0) != 0
    return np.full(n, _truthy(value))


def _ignored(name: str) -> bool:
    return name in IGNORED_CALLS or name.startswith(IGNORED_NAMESPACES)


def _spread(value: Any, target: Any) -> list[Any]:
    if type(target).__name__ == "Tuple":
        if not isinstance(value, tuple) or len(value) != len(target.elts):
            raise PineRuntimeError(
                _("The right side gives a different number of values than the left side names."), target
            )
        return list(value)
    return [value]


def _truthy(x: Any) -> bool:
    return not (x is None or (isinstance(x, float) and math.isnan(x))) and bool(x)


def _augment(op: str, a: Any, b: Any) -> Any:
    if isinstance(a, str) or isinstance(b, str):
        return str(a) + str(b)
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if op == "Add":
        return a + b
    if op == "Sub":
        return a - b
    if op == "Mult":
        return a * b
    if op == "Div":
        return math.nan if b == 0 else a / b
    return math.nan if b == 0 else math.fmod(a, b)


def run(parsed: Parsed, candles: pd.DataFrame, params: dict[str, Any] | None = None, **options: Any) -> Trace:
    return Runner(parsed, candles, params, **options).run()
