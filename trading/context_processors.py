"""The market clock on every page: pages show a replay banner while prices are replayed."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from trading import clock


def market_clock(request: HttpRequest) -> dict[str, Any]:
    state = clock.clock()
    replay = state.mode == state.Mode.REPLAY and state.cursor is not None
    return {"market_replay": replay, "market_time": state.cursor if replay else None}
