"""What a strategy's signals on a closed candle ask the bot to do (pure: no Django).

``decide`` is the backtest kernel's rule 2 (``strategies.backtest``), word for word, so a bot trades
what was backtested: signals are judged against the position held at the close they were computed
on; an entry in the direction already held is ignored (no pyramiding); an opposite entry with
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

    @property
    def is_noop(self) -> bool:
        return not self.exit and self.entry is None


def decide(signal: Mapping[str, bool], *, held: str | None, direction: str) -> Decision:
    """``signal``: the four booleans of the closed candle; ``held``: the side held at its close."""
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
        return Decision(exit=exit_sig, exit_reason=("reversal" if entry else "signal") if exit_sig else "", entry=entry)
    if held == "short":
        exit_sig = short_exit or (allow_long and long_entry)
        entry = "long" if allow_long and long_entry and not long_exit else None
        return Decision(exit=exit_sig, exit_reason=("reversal" if entry else "signal") if exit_sig else "", entry=entry)
    want_long = allow_long and long_entry and not long_exit
    want_short = allow_short and short_entry and not short_exit
    if want_long and not want_short:
        return Decision(entry="long")
    if want_short and not want_long:
        return Decision(entry="short")
    return Decision()
