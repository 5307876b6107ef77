"""Field helpers shared by the trading tables."""

from __future__ import annotations

from django.db import models


def money(verbose: str = "", **kwargs: object) -> models.DecimalField:
    """Prices, amounts and balances: 40 digits, 18 after the point (satoshis and beyond)."""
    return models.DecimalField(verbose, max_digits=40, decimal_places=18, **kwargs)  # type: ignore[arg-type]
