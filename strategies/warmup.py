"""Load the numba kernels once (from the on-disk cache, or compile them) before the first request or task; and
warm the Pine parser (ANTLR's Python runtime builds its prediction tables during the first parses of a process:
about 20 s here), in the Celery parent before it forks its pool (the children inherit the tables) and in a
background thread of a web process."""

from __future__ import annotations

import logging
import threading
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


def warm_up_pine() -> float:
    """Parse a script that uses most of Pine's grammar, so the process's next parses take 0.1–3 s."""
    from strategies.pine.source import warm_up as parse

    started = time.perf_counter()
    parse()
    seconds = time.perf_counter() - started
    logger.info("Pine parser ready in %.2f s", seconds)
    return seconds


def warm_up_pine_in_background() -> threading.Thread:
    thread = threading.Thread(target=warm_up_pine, name="pine-warm-up", daemon=True)
    thread.start()
    return thread
