"""The validation report of a Pine Script (pure: imports no Django).

``validate(text)`` reads the script (``strategies.pine.source``) and walks its tree once. The report lists:

- ``errors``: every construct Trendy does not run, with line, column and a sentence that says what to do
  instead (``request.security`` → "use one timeframe"), and every name Trendy does not know;
- ``ignored``: what is accepted and left out (plots, alerts, drawings, colours: nothing that trades);
- ``inputs``: the ``input.*`` declarations (name, type, default, range, options), which become the
  strategy's typed, ranged parameters;
- ``settings``: the ``strategy(…)`` arguments found (initial_capital, default_qty_type/value,
  commission_type/value, slippage, pyramiding, process_orders_on_close…);
- ``can_run``: no errors.

The tables below are the supported subset (the README's table is written from them): a call or name in none
of them is refused, so a script is never half understood.

Why this file is long: the subset's tables (supported, ignored, refused with their messages) sit beside the
walk that applies them, so that one can be read against the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from strategies.interface import _
from strategies.pine.source import Parsed, PineSourceError, Problem, read

# --- the subset -------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


INPUT_CALLS = {
    "input": None,  # the type follows the default
    "input.int": "int",
    "input.float": "float",
    "input.bool": "bool",
    "input.string": "string",
    "input.source": "source",
}
TA_CALLS = frozenset(
    "ta." + name
    for name in _words(
        "sma ema rma wma vwma rsi macd stoch bb atr tr supertrend crossover crossunder cross highest lowest "
        "change stdev cum pivothigh pivotlow barssince valuewhen"
    )
)
MATH_CALLS = frozenset(
    "math." + name
    for name in _words("abs max min round floor ceil sqrt pow log log10 exp sign avg sum round_to_mintick")
)
STRATEGY_CALLS = frozenset(
    ("strategy.entry", "strategy.close", "strategy.close_all", "strategy.exit", "strategy.risk.allow_entry_in")
)
OTHER_CALLS = frozenset(("na", "nz", "fixnan", "int", "float", "bool", "runtime.error", "strategy"))
SUPPORTED_CALLS = TA_CALLS | MATH_CALLS | STRATEGY_CALLS | OTHER_CALLS | frozenset(INPUT_CALLS)

# Calls that draw, alert or format: accepted and left out (they never change a trade).
IGNORED_CALLS = frozenset(
    _words(
        "plot plotshape plotchar plotarrow plotbar plotcandle hline fill bgcolor barcolor alert alertcondition "
        "str.tostring str.format color.new color.rgb color.from_gradient"
    )
)
IGNORED_NAMESPACES = ("label.", "line.", "box.", "table.", "linefill.", "polyline.", "log.", "str.", "color.")

# Calls refused, by name or by namespace, with what to do instead.
REFUSED_CALLS: dict[str, str] = {
    "request.security": _("`request.security` is not supported: use one timeframe (the chart's)."),
    "security": _("`security` is not supported: use one timeframe (the chart's)."),
    "indicator": _("An indicator() script draws but does not trade: declare strategy(…) and place orders with "
                   "strategy.entry."),
    "study": _("A study() script draws but does not trade: declare strategy(…) and place orders with "
               "strategy.entry."),
    "library": _("Libraries are not supported: a strategy is one script."),
    "strategy.order": _("`strategy.order` is not supported: use strategy.entry, strategy.close or strategy.exit."),
    "strategy.cancel": _("`strategy.cancel` is not supported: Trendy's entries are market orders at the next open."),
    "strategy.cancel_all": _("`strategy.cancel_all` is not supported: Trendy's entries are market orders at the "
                             "next open."),
}  # fmt: skip
REFUSED_NAMESPACES: dict[str, str] = {
    "request.": _("`%(name)s` is not supported: Trendy runs a strategy on the chart's own candles only."),
    "array.": _("`%(name)s` is not supported: arrays, matrices and maps are not part of Trendy's Pine subset."),
    "matrix.": _("`%(name)s` is not supported: arrays, matrices and maps are not part of Trendy's Pine subset."),
    "map.": _("`%(name)s` is not supported: arrays, matrices and maps are not part of Trendy's Pine subset."),
    "ticker.": _("`%(name)s` is not supported: a strategy trades the symbol of its bot."),
    "timeframe.": _("`%(name)s` is not supported: a strategy runs on the timeframe of its bot."),
}

# Names (variables and constants) a script may read.
SUPPORTED_NAMES = frozenset(
    _words(
        "open high low close volume hl2 hlc3 ohlc4 hlcc4 bar_index time na true false "
        "barstate.isconfirmed barstate.isfirst barstate.isnew barstate.ishistory "
        "strategy.position_size strategy.position_avg_price strategy.long strategy.short strategy.equity "
        "strategy.initial_capital strategy.netprofit strategy.opentrades strategy.closedtrades "
        "strategy.percent_of_equity strategy.fixed strategy.cash strategy.commission.percent "
        "strategy.commission.cash_per_order strategy.commission.cash_per_contract "
        "strategy.direction.long strategy.direction.short strategy.direction.all "
        "syminfo.mintick math.pi math.e ta.tr"
    )
)
# Constants only the ignored calls use (colours, plot styles…): accepted.
IGNORED_NAME_NAMESPACES = (
    "color.", "plot.", "shape.", "location.", "size.", "display.", "position.", "text.", "extend.", "xloc.",
    "yloc.", "hline.", "format.", "scale.", "alert.", "label.", "line.", "font.", "syminfo.",
)  # fmt: skip
REFUSED_NAMES: dict[str, str] = {
    "barstate.islast": _("`barstate.islast` is not supported: in a backtest it would look into the future."),
    "barstate.isrealtime": _("`barstate.isrealtime` is not supported: Trendy runs on closed candles only."),
    "last_bar_index": _("`last_bar_index` is not supported: in a backtest it would look into the future."),
    "timenow": _("`timenow` is not supported: use `time`, the bar's open time."),
}

SETTINGS = (
    "initial_capital", "default_qty_type", "default_qty_value", "commission_type", "commission_value",
    "slippage", "pyramiding", "process_orders_on_close", "calc_on_every_tick", "calc_on_order_fills",
    "close_entries_rule", "margin_long", "margin_short", "currency",
)  # fmt: skip


# --- the report -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """One ``input.*`` declaration: it becomes a parameter of the strategy."""

    name: str
    kind: str  # int, float, bool, string or source
    default: Any
    title: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[Any, ...] | None = None
    line: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "default": self.default,
            "title": self.title,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "step": self.step,
            "options": list(self.options) if self.options is not None else None,
            "line": self.line,
        }


@dataclass(frozen=True)
class Report:
    version: int | None = None
    declaration: str | None = None  # strategy, indicator, study or library
    title: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[InputSpec, ...] = ()
    errors: tuple[Problem, ...] = ()
    ignored: tuple[Problem, ...] = ()

    @property
    def can_run(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "can_run": self.can_run,
            "version": self.version,
            "declaration": self.declaration,
            "title": self.title,
            "settings": dict(self.settings),
            "inputs": [spec.as_dict() for spec in self.inputs],
            "errors": [problem.as_dict() for problem in self.errors],
            "ignored": [problem.as_dict() for problem in self.ignored],
        }


def report_of(parsed: Parsed) -> Report:
    """The report of a script already read."""
    return _Checker(parsed).report()


def validate(data: bytes | str) -> Report:
    """The report of a script (text or uploaded bytes); never raises for a bad script."""
    try:
        parsed = read(data)
    except PineSourceError as exc:
        return Report(errors=tuple(exc.problems))
    return report_of(parsed)


# --- the walk ----------------------------------------------------------------------------------------------


def _nodes(root: Any) -> Iterator[Any]:
    """Every node under ``root`` (itself included)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        for value in vars(node).values():
            if isinstance(value, list):
                stack.extend(item for item in value if hasattr(item, "_fields"))
            elif hasattr(value, "_fields"):
                stack.append(value)


def _reachable(start: str, calls: dict[str, set[str]]) -> set[str]:
    """The user functions ``start`` calls, directly or through others."""
    seen: set[str] = set()
    stack = list(calls.get(start, ()))
    while stack:
        name = stack.pop()
        if name in calls and name not in seen:
            seen.add(name)
            stack.extend(calls[name])
    return seen


def dotted(node: Any) -> str | None:
    """``ta.sma`` for Attribute(Name('ta'), 'sma'); None for anything that is not a plain dotted name."""
    kind = type(node).__name__
    if kind == "Name":
        return node.id
    if kind == "Attribute":
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _where(node: Any) -> tuple[int, int]:
    line = getattr(node, "lineno", None) or 0
    column = getattr(node, "col_offset", None)
    return line, (column + 1 if column is not None and line else 0)


def literal(node: Any) -> tuple[bool, Any]:
    """(True, value) for a constant, a negated number, a tuple of constants or a dotted name (as its text)."""
    kind = type(node).__name__
    if kind == "Constant":
        return True, node.value
    if kind == "UnaryOp" and type(node.op).__name__ in ("USub", "UAdd"):
        ok, value = literal(node.operand)
        if ok and isinstance(value, int | float) and not isinstance(value, bool):
            return True, -value if type(node.op).__name__ == "USub" else value
        return False, None
    if kind == "Tuple":
        values = [literal(item) for item in node.elts]
        return (True, tuple(v for _ok, v in values)) if all(ok for ok, _v in values) else (False, None)
    name = dotted(node)
    return (True, Ref(name)) if name is not None else (False, None)


class Ref(str):
    """A dotted name given where a constant is expected (``close``, ``strategy.percent_of_equity``)."""


class _Checker:
    def __init__(self, parsed: Parsed) -> None:
        self.parsed = parsed
        self.errors: list[Problem] = []
        self.ignored: list[Problem] = []
        self.inputs: list[InputSpec] = []
        self.settings: dict[str, Any] = {}
        self.declaration: str | None = None
        self.title = ""
        self.defined: set[str] = set()
        self.functions: set[str] = set()
        self.stateful: set[str] = set()  # user functions that call ta.* (directly or through another)
        self.depth = 0  # > 0 inside code that does not run on every bar

    def report(self) -> Report:
        body = self.parsed.tree.body
        self._collect_definitions(body)
        self._collect_stateful(body)
        for statement in body:
            self._statement(statement, top=True)
        if self.declaration is None:
            self._error(
                None,
                _('The script declares nothing: start it with strategy("Name", …) after the //@version line.'),
                code="declaration",
            )
        elif self.declaration == "strategy" and not self._places_orders:
            self._error(
                None,
                _("The script places no orders: call strategy.entry (and strategy.close or strategy.exit)."),
                code="no_orders",
            )
        return Report(
            version=self.parsed.version,
            declaration=self.declaration,
            title=self.title,
            settings=self.settings,
            inputs=tuple(self.inputs),
            errors=tuple(sorted(self.errors, key=lambda p: (p.line, p.column))),
            ignored=tuple(sorted(self.ignored, key=lambda p: (p.line, p.column))),
        )

    _places_orders = False

    # Names first: a variable or function may be used above the line that defines it only inside a function
    # body, but a report that names each undefined name once is enough for a creator.
    def _collect_definitions(self, body: list[Any]) -> None:
        stack = list(body)
        while stack:
            node = stack.pop()
            kind = type(node).__name__
            if kind == "FunctionDef":
                self.functions.add(node.name)
                self.defined.update(param.name for param in node.args)
            elif kind in ("Assign", "ReAssign", "AugAssign", "ForTo", "ForIn"):
                self._define(node.target)
            for value in vars(node).values():
                if isinstance(value, list):
                    stack.extend(item for item in value if hasattr(item, "_fields"))
                elif hasattr(value, "_fields"):
                    stack.append(value)

    def _collect_stateful(self, body: list[Any]) -> None:
        calls: dict[str, set[str]] = {}
        for node in body:
            if type(node).__name__ == "FunctionDef":
                calls[node.name] = {dotted(c.func) or "" for c in _nodes(node) if type(c).__name__ == "Call"}
        changed = True
        while changed:
            changed = False
            for name, called in calls.items():
                if name not in self.stateful and called & (TA_CALLS | self.stateful):
                    self.stateful.add(name)
                    changed = True
        # Pine refuses a function that calls itself, directly or through others: so does Trendy, with where.
        for node in body:
            if type(node).__name__ == "FunctionDef" and node.name in _reachable(node.name, calls):
                self._error(
                    node,
                    _("`%(name)s` calls itself: Pine does not allow recursive functions; use a loop."),
                    {"name": node.name},
                )

    def _define(self, target: Any) -> None:
        kind = type(target).__name__
        if kind == "Name":
            self.defined.add(target.id)
        elif kind == "Tuple":
            for item in target.elts:
                self._define(item)

    def _error(
        self, node: Any, template: str, params: dict[str, Any] | None = None, *, code: str = "unsupported"
    ) -> None:
        line, column = _where(node) if node is not None else (0, 0)
        self.errors.append(Problem(line, column, template, dict(params or {}), code))

    def _ignore(self, node: Any, template: str, params: dict[str, Any] | None = None) -> None:
        line, column = _where(node)
        self.ignored.append(Problem(line, column, template, dict(params or {}), "ignored"))

    # --- statements

    def _statement(self, node: Any, top: bool = False) -> None:
        kind = type(node).__name__
        if kind == "Import":
            self._error(node, _("Imported libraries are not supported: copy the functions you need into the script."))
            return
        if kind in ("TypeDef", "EnumDef"):
            self._error(node, _("User-defined types and enums are not supported."))
            return
        if kind == "FunctionDef":
            if node.method:
                self._error(node, _("Methods are not supported: write `%(name)s` as a function."), {"name": node.name})
            for param in node.args:
                if param.default is not None:
                    self._expression(param.default)
            for statement in node.body:
                self._statement(statement)
            return
        if kind == "Assign":
            if node.mode is not None and type(node.mode).__name__ == "VarIp":
                self._ignore(
                    node, _("`varip` is read as `var`: Trendy runs on closed candles, where they are the same.")
                )
            if top and type(node.target).__name__ == "Name" and self._input(node):
                return
            if node.value is not None:
                self._expression(node.value)
            return
        if kind in ("ReAssign", "AugAssign"):
            self._expression(node.value)
            return
        if kind == "Expr":
            value = node.value
            if top and type(value).__name__ == "Call" and self._declaration(value):
                return
            self._expression(value)
            return
        # Break, Continue: nothing to check

    def _declaration(self, call: Any) -> bool:
        name = dotted(call.func)
        if name not in ("strategy", "indicator", "study", "library"):
            return False
        if self.declaration is not None:
            self._error(call, _("The script declares itself twice: keep one strategy(…) line."), code="declaration")
            return True
        self.declaration = name
        if name != "strategy":
            self._error(call, REFUSED_CALLS[name], code="declaration")
            return True
        for position, arg in enumerate(call.args):
            key = arg.name or ("title" if position == 0 else None)
            ok, value = literal(arg.value)
            if key == "title":
                self.title = str(value) if ok else ""
            elif key in SETTINGS:
                if ok:
                    self.settings[key] = value
                else:
                    self._error(arg, _("The strategy setting %(name)s must be a constant."), {"name": key})
        if self.settings.get("calc_on_every_tick") is True:
            self._ignore(call, _("calc_on_every_tick is ignored: Trendy runs a strategy once per closed candle."))
        return True

    def _input(self, assign: Any) -> bool:
        call = assign.value
        if type(call).__name__ != "Call":
            return False
        name = dotted(call.func)
        if name not in INPUT_CALLS:
            return False
        named: dict[str, Any] = {}
        for position, arg in enumerate(call.args):
            if arg.name:
                key = arg.name
            elif position < 2:
                key = ("defval", "title")[position]
            else:
                continue
            ok, value = literal(arg.value)
            if isinstance(value, Ref) and not (key == "defval" and INPUT_CALLS[name] in ("source", None)):
                ok = False  # a name is a constant only as a price source's default
            if not ok:
                self._error(
                    arg,
                    _("The %(argument)s of input `%(name)s` must be a constant."),
                    {"argument": key, "name": assign.target.id},
                )
                return True
            named[key] = value
        default = named.get("defval")
        kind = INPUT_CALLS[name] or _kind_of(default)
        if kind is None or _kind_of(default) not in _FITS[kind]:
            self._error(
                call,
                _("Input `%(name)s` needs a default of its type (a number, true/false, text or a price source)."),
                {"name": assign.target.id},
            )
            return True
        options = named.get("options")
        self.inputs.append(
            InputSpec(
                name=assign.target.id,
                kind=kind,
                default=default,
                title=str(named.get("title") or assign.target.id),
                minimum=_number(named.get("minval")),
                maximum=_number(named.get("maxval")),
                step=_number(named.get("step")),
                options=tuple(options) if isinstance(options, tuple) else None,
                line=assign.lineno or 0,
            )
        )
        return True

    # --- expressions

    def _expression(self, node: Any) -> None:
        kind = type(node).__name__
        if kind == "Call":
            self._call(node)
            return
        if kind in ("Name", "Attribute"):
            self._name(node)
            return
        if kind == "ForIn":
            self._error(node, _("`for … in` loops over arrays, which are not supported: use `for i = 0 to n`."))
            return
        if kind in ("ForTo", "While", "If", "Switch"):
            # What runs on every bar: an if's test, a for's bounds, a switch's subject. The rest only on some.
            every_bar = {"If": ("test",), "ForTo": ("start", "end", "step"), "Switch": ("subject",)}.get(kind, ())
            for name, value in vars(node).items():
                if name in every_bar:
                    self._walk(value)
                else:
                    with self._sometimes():
                        self._walk(value)
            return
        if kind == "Conditional":
            self._expression(node.test)
            with self._sometimes():
                self._expression(node.body)
                self._expression(node.orelse)
            return
        if kind == "BoolOp" and self.parsed.version >= 6:
            self._expression(node.values[0])
            with self._sometimes():  # v6 evaluates `and`/`or` lazily: the right operand not on every bar
                for value in node.values[1:]:
                    self._expression(value)
            return
        if kind in ("Qualify", "Specialize"):
            self._walk(node.value)
            return
        for value in vars(node).values():
            self._walk(value)

    def _walk(self, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                self._walk(item)
            return
        if not hasattr(value, "_fields"):
            return
        kind = type(value).__name__
        if kind in ("Assign", "ReAssign", "AugAssign", "Expr", "FunctionDef", "Import", "TypeDef", "EnumDef",
                    "Break", "Continue"):  # fmt: skip
            self._statement(value)
        elif kind == "Arg":
            self._expression(value.value)
        elif kind == "Case":
            if value.pattern is not None:
                self._expression(value.pattern)
            for statement in value.body:
                self._statement(statement)
        elif kind in ("Load", "Store"):
            return
        else:
            self._expression(value)

    @contextmanager
    def _sometimes(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def _call(self, call: Any) -> None:
        name = dotted(call.func)
        for arg in call.args:
            self._expression(arg.value)
        if name is None:
            self._error(call, _("Only named functions can be called."))
            return
        if self.depth and (name in TA_CALLS or name in self.stateful):
            self._error(
                call,
                _("`%(name)s` must run on every bar to be right (TradingView warns about this too): call it on a line "
                  "of its own at the top of the script and use the variable here."),
                {"name": name},
                code="conditional_call",
            )  # fmt: skip
            return
        if name in self.functions:
            return
        if name in STRATEGY_CALLS:
            if name != "strategy.risk.allow_entry_in":
                self._places_orders = True
            return
        if name in SUPPORTED_CALLS:
            if name in INPUT_CALLS:
                self._error(call, _("Declare inputs on their own line, as `name = %(call)s(…)`."), {"call": name})
            if name in ("strategy", "indicator", "study", "library"):
                self._error(call, _("strategy(…) must be a line of its own at the top of the script."))
            return
        if name in IGNORED_CALLS or name.startswith(IGNORED_NAMESPACES):
            self._ignore(call, _("`%(name)s` is ignored: it draws, alerts or formats, and never changes a trade."),
                         {"name": name})  # fmt: skip
            return
        if name in REFUSED_CALLS:
            self._error(call, REFUSED_CALLS[name], {"name": name})
            return
        for prefix, template in REFUSED_NAMESPACES.items():
            if name.startswith(prefix):
                self._error(call, template, {"name": name})
                return
        self._error(call, _("`%(name)s` is not part of Trendy's Pine subset (see the README's table)."),
                    {"name": name})  # fmt: skip

    def _name(self, node: Any) -> None:
        name = dotted(node)
        if name is None:  # an attribute of an expression (a tuple element, a call's result)
            self._expression(node.value)
            return
        if name in self.defined or name in SUPPORTED_NAMES or name in self.functions:
            return
        if name in REFUSED_NAMES:
            self._error(node, REFUSED_NAMES[name], {"name": name})
        elif name.startswith(IGNORED_NAME_NAMESPACES):
            return
        else:
            self._error(
                node,
                _("`%(name)s` is neither a variable of the script nor a built-in Trendy supports."),
                {"name": name},
                code="unknown_name",
            )


# The default's own kind each input type takes (a float input may default to a whole number).
_FITS = {"int": ("int",), "float": ("int", "float"), "bool": ("bool",), "string": ("string",), "source": ("source",)}
SOURCES = ("open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4", "hlcc4")


def _kind_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Ref):
        return "source" if value in SOURCES else None
    if isinstance(value, str):
        return "string"
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
