"""Validated candle batches and the checks every stored candle passes (CSV import and exchange fetch alike).

No model or database import: these work on numpy arrays. Messages go through gettext because an
operator or API client reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext as _

from market_data.timeframes import format_ms, misaligned

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close")

# A check is a boolean mask over the rows and a function that describes the problem of row i.
Check = tuple[np.ndarray, Callable[[int], str]]


@dataclass(frozen=True)
class CandleBatch:
    """Candles of one series that passed every check: sorted by open time, unique, on the timeframe grid.

    ``time_ms`` is int64 epoch milliseconds (UTC open time); the five value arrays are float64.
    """

    time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.time_ms)

    def values(self) -> np.ndarray:
        """An (n, 5) float64 array in ``FIELDS`` order."""
        return np.column_stack([self.open, self.high, self.low, self.close, self.volume])

    def take(self, index: np.ndarray) -> CandleBatch:
        return CandleBatch(*(getattr(self, name)[index] for name in ("time_ms", *FIELDS)))

    @classmethod
    def empty(cls) -> CandleBatch:
        return cls(np.empty(0, dtype=np.int64), *(np.empty(0, dtype=np.float64) for _name in FIELDS))


def num(value: float) -> str:
    """A float the way Python writes it (shortest round-trip form): 102.0, 101.5, 1e-08."""
    return repr(float(value))


def first_problem(checks: Sequence[Check]) -> tuple[int, str] | None:
    """The lowest row index that fails any check, with the message of the first check it fails."""
    best: int | None = None
    for mask, _describe in checks:
        if mask.any():
            index = int(np.argmax(mask))
            best = index if best is None else min(best, index)
    if best is None:
        return None
    for mask, describe in checks:
        if mask[best]:
            return best, describe(best)
    raise AssertionError("unreachable")  # pragma: no cover


def grid_checks(time_ms: np.ndarray, timeframe: str, *, time_ok: np.ndarray | None = None) -> list[Check]:
    """Open times that are not on the timeframe grid."""
    mask = misaligned(time_ms, timeframe)
    if time_ok is not None:
        mask &= time_ok
    return [
        (
            mask,
            lambda i: (
                _("timestamp %(time)s is not on the %(timeframe)s grid")
                % {
                    "time": format_ms(time_ms[i]),
                    "timeframe": timeframe,
                }
            ),
        )
    ]


def value_checks(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> list[Check]:
    """OHLCV consistency, mirroring the database check constraint. NaN rows pass (they are reported earlier)."""
    checks: list[Check] = []
    for name, values in zip(PRICE_FIELDS, (o, h, lo, c), strict=True):
        checks.append(
            (
                values <= 0,
                lambda i, name=name, values=values: (
                    _("%(field)s %(value)s must be above 0") % {"field": name, "value": num(values[i])}
                ),
            )
        )
    checks.append((v < 0, lambda i: _("volume %(value)s is negative") % {"value": num(v[i])}))
    checks.append((h < lo, lambda i: _("high %(high)s is below low %(low)s") % {"high": num(h[i]), "low": num(lo[i])}))
    for name, values in (("open", o), ("close", c)):
        checks.append(
            (
                (values < lo) | (values > h),
                lambda i, name=name, values=values: (
                    _("%(field)s %(value)s is outside [low %(low)s, high %(high)s]")
                    % {"field": name, "value": num(values[i]), "low": num(lo[i]), "high": num(h[i])}
                ),
            )
        )
    return checks


def batch_from_rows(rows: Sequence[Sequence[object]], timeframe: str) -> tuple[CandleBatch, tuple[int, str] | None]:
    """Build a batch from ``[time_ms, open, high, low, close, volume]`` rows (ccxt's OHLCV shape).

    Rows are sorted and de-duplicated (the last row of a repeated time wins); the second item is the
    first problem found (row index into the sorted batch, message), or None when every row is valid.
    """
    if not rows:
        return CandleBatch.empty(), None
    table = np.array([[np.nan if x is None else x for x in row[:6]] for row in rows], dtype=np.float64)
    if table.shape[1] != 6:
        raise ValueError("OHLCV rows need six values")
    order = np.argsort(table[:, 0], kind="stable")
    table = table[order]
    keep = np.ones(len(table), dtype=bool)
    keep[:-1] = table[1:, 0] != table[:-1, 0]
    table = table[keep]
    time_float = table[:, 0]
    bad_time = ~np.isfinite(time_float) | (time_float != np.round(time_float))
    time_ms = np.where(bad_time, 0, time_float).astype(np.int64)
    cols = [np.ascontiguousarray(table[:, k]) for k in range(1, 6)]
    batch = CandleBatch(time_ms, *cols)
    checks: list[Check] = [(bad_time, lambda i: _("the open time is not a whole number of milliseconds"))]
    for name, values in zip(FIELDS, cols, strict=True):
        checks.append(
            (
                ~np.isfinite(values),
                lambda i, name=name, values=values: (
                    _("%(field)s is %(value)s, not a number") % {"field": name, "value": values[i]}
                ),
            )
        )
    checks += grid_checks(time_ms, timeframe, time_ok=~bad_time)
    checks += value_checks(*cols)
    return batch, first_problem(checks)
