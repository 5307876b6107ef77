"""A Pine Script's text, checked and parsed (pure: imports no Django).

``read(text)`` refuses what is not a script Trendy can parse — empty, over ``MAX_BYTES``, binary, without a
``//@version=5`` or ``//@version=6`` line — and parses the rest with pynescript, whose grammar is TradingView's
as ANTLR rules. A syntax error is a ``Problem`` with its line and column. Nothing from the script is ever
evaluated as Python.

ANTLR's Python runtime builds its prediction tables while it parses: the first script a process parses takes
seconds (about 20 s on this project's 2-core box), later ones a tenth of a second to a few seconds when they
use constructs not seen before (``warm_up`` parses a script that uses most of the grammar, for processes that
will parse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from strategies.interface import _

MAX_BYTES = 64 * 1024  # TradingView's editor keeps scripts far below this
MAX_NESTING = 40  # brackets inside brackets; real scripts stay under 10
VERSIONS = (5, 6)
_VERSION = re.compile(r"^\s*//\s*@version\s*=\s*(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Problem:
    """One thing that stops a script or that Trendy leaves out, where it is (1-based line and column; 0 when the
    whole script is concerned). ``template % params`` is the English sentence."""

    line: int
    column: int
    template: str
    params: dict[str, Any]
    code: str = "unsupported"

    @property
    def message(self) -> str:
        return self.template % self.params

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "message": self.message,
            "template": self.template,
            "params": dict(self.params),
        }


class PineSourceError(ValueError):
    """The text cannot be parsed; ``problems`` say why and where."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


@dataclass(frozen=True)
class Parsed:
    text: str
    version: int
    tree: Any  # pynescript.ast.Script


def _problem(
    template: str, params: dict[str, Any] | None = None, *, code: str, line: int = 0, column: int = 0
) -> PineSourceError:
    return PineSourceError([Problem(line, column, template, dict(params or {}), code)])


def decode(data: bytes | str) -> str:
    """The script's text from an upload or a form: UTF-8 (a byte-order mark dropped), no NUL bytes."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise _too_big(len(data))
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _problem(_("The file is not text: save the script as UTF-8."), code="binary") from None
    if "\x00" in data:
        raise _problem(_("The file is not text: save the script as UTF-8."), code="binary")
    return data


def _too_big(size: int) -> PineSourceError:
    return _problem(
        _("The script is %(kb)d KB; the limit is %(limit)d KB."),
        {"kb": -(-size // 1024), "limit": MAX_BYTES // 1024},
        code="too_large",
    )


def read(data: bytes | str) -> Parsed:
    """The parsed script, or PineSourceError."""
    text = decode(data)
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise _too_big(size)
    if not text.strip():
        raise _problem(_("The script is empty."), code="empty")
    found = _VERSION.search(text)
    if found is None:
        raise _problem(
            _("The script has no //@version line: Trendy runs Pine Script version 5 or 6 (add //@version=6)."),
            code="version",
        )
    version = int(found.group(1))
    if version not in VERSIONS:
        line = text.count("\n", 0, found.start()) + 1
        raise _problem(
            _("Pine Script version %(version)d is not supported: convert the script to version 5 or 6."),
            {"version": version},
            code="version",
            line=line,
            column=1,
        )
    depth, line = _nesting(text)
    if depth > MAX_NESTING:
        raise _problem(
            _("The script nests brackets %(depth)d deep; the limit is %(limit)d."),
            {"depth": depth, "limit": MAX_NESTING},
            code="too_deep",
            line=line,
            column=0,
        )
    return Parsed(text=text, version=version, tree=_parse(text))


def _nesting(text: str) -> tuple[int, int]:
    """The deepest nesting of ( and [ outside strings and comments, and the line where it is reached: checked
    before the parse, which takes minutes on a hostile script of thousands of brackets (ANTLR recurses)."""
    depth = deepest = 0
    where = 0
    line = 1
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\n":
            line += 1
            quote = ""  # a Pine string ends on its line
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif ch in "([":
            depth += 1
            if depth > deepest:
                deepest, where = depth, line
        elif ch in ")]":
            depth = max(0, depth - 1)
        i += 1
    return deepest, where


def _parse(text: str) -> Any:
    from pynescript.ast import parse
    from pynescript.ast.error import SyntaxError as PineSyntaxError

    try:
        return parse(text)
    except PineSyntaxError as exc:
        details = getattr(exc, "details", None)
        line = getattr(details, "lineno", 0) or 0
        column = (getattr(details, "offset", 0) or 0) + 1 if line else 0
        raise _problem(
            _("Syntax error: %(detail)s."), {"detail": _plain(exc.message)}, code="syntax", line=line, column=column
        ) from None
    except RecursionError:
        raise _problem(_("The script is nested too deeply to be read."), code="syntax") from None


def _plain(message: str) -> str:
    """ANTLR's message without its token dump noise, on one line."""
    text = " ".join(str(message).split())
    return text[:200].rstrip(".")


WARM_UP = """//@version=6
strategy("warm up", overlay=true, initial_capital=1000, default_qty_type=strategy.percent_of_equity)
length = input.int(14, "Length", minval=1, maxval=100)
src = input.source(close, "Source")
var int count = 0
f(x, n) =>
    s = 0.0
    for i = 0 to n - 1
        s += x[i]
    s / n
m = ta.sma(src, length)
[a, b, c] = ta.macd(close, 12, 26, 9)
k = switch
    close > open => 1
    close < open => -1
    => 0
if ta.crossover(close, m) and not na(a)
    count += 1
    strategy.entry("L", strategy.long)
else if close < m
    strategy.close("L")
strategy.exit("X", from_entry="L", stop=close * 0.98, limit=close * 1.04)
plot(m, "MA", color=color.blue)
"""


def warm_up() -> None:
    """Parse a script that uses most of the grammar, so that the process's next parse is quick."""
    read(WARM_UP)
