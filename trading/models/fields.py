"""Field helpers shared by the trading tables."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from django.db import models

PLACES = Decimal(1).scaleb(-18)
T = TypeVar("T")


def money(verbose: str = "", **kwargs: object) -> models.DecimalField:
    """Prices, amounts and balances: 40 digits, 18 after the point (satoshis and beyond)."""
    return models.DecimalField(verbose, max_digits=40, decimal_places=18, **kwargs)  # type: ignore[arg-type]


def as_stored(value: T) -> T:
    """A decimal as a ``money`` column keeps it (PostgreSQL rounds to 18 places, ties away from zero); any other
    value as it is. For rows kept in memory after their save, so that they hold what reading them would give."""
    if isinstance(value, Decimal):
        return value.quantize(PLACES, rounding=ROUND_HALF_UP)  # type: ignore[return-value]
    return value


def as_stored_row(row: T) -> T:
    """``as_stored`` on every ``money`` column of a model instance kept in memory after its save."""
    for field in row._meta.concrete_fields:  # type: ignore[attr-defined]
        if isinstance(field, models.DecimalField) and field.decimal_places == 18:
            setattr(row, field.attname, as_stored(getattr(row, field.attname)))
    return row
