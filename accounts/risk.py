"""The ranges a trader's default risk settings may take (pure: no Django import).

One table feeds the model validators, the database check constraints, the forms and the API,
so a value refused in one place is refused in all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Range:
    low: Decimal
    high: Decimal
    default: Decimal
    unit: str


RISK_RANGES: dict[str, Range] = {
    "leverage": Range(Decimal(1), Decimal(10), Decimal(1), "x"),
    "position_size_pct": Range(Decimal(5), Decimal(20), Decimal(10), "%"),
    "stop_loss_pct": Range(Decimal(1), Decimal(5), Decimal(2), "%"),
    "take_profit_pct": Range(Decimal(2), Decimal(10), Decimal(4), "%"),
    "max_drawdown_pct": Range(Decimal(5), Decimal(50), Decimal(20), "%"),
}
