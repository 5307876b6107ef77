"""Load the numba kernels once (from the on-disk cache, or compile them) before the first request or task."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


def warm_up() -> float:
    from strategies import _kernels
    from strategies.backtest import _core

    started = time.perf_counter()
    _kernels.warm_up()
    _core.warm_up()
    seconds = time.perf_counter() - started
    logger.info("numba kernels ready in %.2f s", seconds)
    return seconds
