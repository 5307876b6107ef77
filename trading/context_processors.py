"""The market clock on every page: pages show a replay banner while prices are replayed, and where the
candles come from (``market_data.sources``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from market_data import sources
from trading import clock


def market_clock(request: HttpRequest) -> dict[str, Any]:
    state = clock.clock()
    replay = state.mode == state.Mode.REPLAY and state.cursor is not None
    source = sources.data_source()
    return {
        "market_replay": replay,
        "market_time": state.cursor if replay else None,
        "market_replay_ended": replay and clock.replay_at_end(state),
        "market_source": sources.source_label(source) if source else "",
        "market_source_credit": sources.source_credit(source) if source else "",
    }
