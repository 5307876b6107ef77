"""Translate the pure cores' errors at the Django edge."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from strategies.interface import Strategy, StrategyError, render
from strategies.labels import param_label


def strategy_error_message(exc: StrategyError, strategy: Strategy | str | None = None) -> str:
    """The error in the active language; with the strategy, each parameter is named by its label
    (``Fast EMA period: …``), not by its key."""
    if exc.fields:
        return "; ".join(
            f"{param_label(strategy, name) if strategy else name}: {render(template, params, gettext)}"
            for name, (template, params) in exc.fields.items()
        )
    return render(exc.template, exc.params, gettext)


def as_validation_error(exc: StrategyError, *, field: str | None = None, prefix: str = "params.") -> ValidationError:
    """A ValidationError keyed by parameter (``params.<name>``), or by ``field`` for whole-strategy errors."""
    if exc.fields:
        return ValidationError(
            {f"{prefix}{name}": [render(template, params, gettext)] for name, (template, params) in exc.fields.items()}
        )
    message = render(exc.template, exc.params, gettext)
    return ValidationError({field: [message]} if field else [message])
