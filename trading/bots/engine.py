"""What a strategy's signals on a closed candle ask the bot to do (pure: no Django).

``decide`` is the backtest kernel's rule 2 (``strategies.backtest``), word for word, so a bot trades
what was backtested: signals are judged against the position held at the close they were computed
on; an entry in the direction already held is ignored — unless the bot pyramids and holds fewer entries than it
may: then it adds one (``long_add``/``short_add`` when the strategy gives them, else the entry); an opposite entry with
direction "both" closes and reverses; an entry whose own exit is set on the same bar, or long and
short entries together while flat, are conflicts and are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DIRECTIONS = ("long", "short", "both")


@dataclass(frozen=True)
class Decision:
    exit: bool = False  # close the position held at the close (if it is still open)
    exit_reason: str = ""  # "signal" or "reversal"
    entry: str | None = None  # "long" / "short": open one when flat after the exit
    add: bool = False  # another entry in the direction held (pyramiding)

    @property
    def is_noop(self) -> bool:
        return not self.exit and self.entry is None and not self.add


def decide(
    signal: Mapping[str, bool], *, held: str | None, direction: str, entries: int = 1, pyramiding: int = 1
) -> Decision:
    """``signal``: the four booleans of the closed candle (and a strategy's adds); ``held``: the side held at its
    close, of ``entries`` entries; ``pyramiding``: the entries a position may hold."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    allow_long = direction in ("long", "both")
    allow_short = direction in ("short", "both")
    long_entry = bool(signal.get("long_entry"))
    long_exit = bool(signal.get("long_exit"))
    short_entry = bool(signal.get("short_entry"))
    short_exit = bool(signal.get("short_exit"))
    if held == "long":
        exit_sig = long_exit or (allow_short and short_entry)
        entry = "short" if allow_short and short_entry and not short_exit else None
        add = bool(signal.get("long_add", long_entry)) and not exit_sig and entries < pyramiding
        reason = ("reversal" if entry else "signal") if exit_sig else ""
        return Decision(exit=exit_sig, exit_reason=reason, entry=entry, add=add)
    if held == "short":
        exit_sig = short_exit or (allow_long and long_entry)
        entry = "long" if allow_long and long_entry and not long_exit else None
        add = bool(signal.get("short_add", short_entry)) and not exit_sig and entries < pyramiding
        reason = ("reversal" if entry else "signal") if exit_sig else ""
        return Decision(exit=exit_sig, exit_reason=reason, entry=entry, add=add)
    want_long = allow_long and long_entry and not long_exit
    want_short = allow_short and short_entry and not short_exit
    if want_long and not want_short:
        return Decision(entry="long")
    if want_short and not want_long:
        return Decision(entry="short")
    return Decision()
