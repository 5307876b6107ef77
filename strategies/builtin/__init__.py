"""The six built-in strategies and the registry that maps a slug to each (pure: no Django import)."""

from __future__ import annotations

from strategies.builtin import bb_rsi, ema_crossover, ichimoku_cloud, macd_stoch, rsi_ema, supertrend
from strategies.interface import Strategy, StrategyError, _

REGISTRY: dict[str, Strategy] = {
    module.STRATEGY.slug: module.STRATEGY
    for module in (supertrend, rsi_ema, macd_stoch, ichimoku_cloud, bb_rsi, ema_crossover)
}


def get_strategy(slug: str) -> Strategy:
    try:
        return REGISTRY[slug]
    except KeyError:
        raise StrategyError(
            _("Unknown strategy %(slug)r; choose one of: %(slugs)s."), {"slug": slug, "slugs": ", ".join(REGISTRY)}
        ) from None
