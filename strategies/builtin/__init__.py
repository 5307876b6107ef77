"""The six built-in strategies and the registry that maps a slug to each (pure: no Django import).

``get_strategy`` also answers for strategies that live elsewhere — a stored Pine script version is
``pine-<hex id>`` — through a resolver the app registers for that prefix at start-up (``RESOLVERS``), so the
backtest, the bot loop, the replay clock and ``paper_replay`` reach every strategy the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from strategies.builtin import bb_rsi, ema_crossover, ichimoku_cloud, macd_stoch, rsi_ema, supertrend
from strategies.interface import Strategy, StrategyError, _

REGISTRY: dict[str, Strategy] = {
    module.STRATEGY.slug: module.STRATEGY
    for module in (supertrend, rsi_ema, macd_stoch, ichimoku_cloud, bb_rsi, ema_crossover)
}
# prefix (up to the first "-") -> a function from the slug to its Strategy (StrategyError when unknown)
RESOLVERS: dict[str, Callable[[str], Strategy]] = {}


def get_strategy(slug: str) -> Strategy:
    found = REGISTRY.get(slug)
    if found is not None:
        return found
    prefix = str(slug).partition("-")[0]
    if prefix in RESOLVERS and "-" in str(slug):
        return RESOLVERS[prefix](slug)
    raise StrategyError(
        _("Unknown strategy %(slug)r; choose one of: %(slugs)s."), {"slug": slug, "slugs": ", ".join(REGISTRY)}
    )


def find_strategy(slug: str) -> Strategy | None:
    """The strategy, or None for a slug that names none (a deleted script's, on an old run)."""
    try:
        return get_strategy(slug)
    except StrategyError:
        return None
