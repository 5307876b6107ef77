"""The loop's batch (plain ticks written in bulk) tells the users what the per-bot path tells them: the same
events, kind for kind and fill for fill."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from notifications.models import Notification
from tests.trading.conftest import list_paper_markets
from tests.trading.test_loop_batch import C1, PRICES, batch_path, per_bot_path, retire, seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed(db):
    list_paper_markets(PRICES, C1)
    cache.clear()


def told(prefix: str) -> list[tuple]:
    out = []
    for row in Notification.objects.filter(user__email__startswith=f"{prefix}-").select_related("user"):
        data = {k: v for k, v in row.data.items() if k not in ("order", "bot", "position")}
        out.append((row.user.email.split("-", 1)[1], row.kind, sorted(data.items(), key=repr)))
    return sorted(out, key=repr)


def test_the_batch_tells_what_the_per_bot_path_tells(listed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        bots = seed("one")
        per_bot_path(bots)
    expected = told("one")
    retire("one")
    with django_capture_on_commit_callbacks(execute=True):
        bots = seed("two")
        report = batch_path(bots, chunk_size=4)
    assert report.plain == 3  # plain ticks, written in bulk, are among them
    got = told("two")
    assert got == expected
    kinds = {kind for _, kind, _ in got}
    # the risk limits' halts read as drawdown halts, and the positions they close as forced closes (issue 19)
    assert {"order_filled", "stop_loss_hit", "drawdown_halt", "position_force_closed"} <= kinds
