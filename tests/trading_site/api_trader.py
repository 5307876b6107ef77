"""A trader with a bit of everything the API can show: the user the schemathesis run is authenticated as.

Two weeks of BTC/USDT 1h candles with the market clock on replay (so the paper exchange fills offline),
two paper accounts (one switched off), bots in every status, an open and a closed position with their
orders and trades, backtest runs (finished, failed, queued, an optimisation), webhook endpoints (one
revoked) and their events (an accepted alert that traded, a refused one, a test alert).

Used by ``tests/trading_site/test_schemathesis.py`` and by ``benchmarks/api_schema_run.py`` (the same run
through the schemathesis command line against a live server).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone

from accounts import services as account_services
from accounts.models import User
from strategies.models import BacktestRun
from tests.trading.test_api import REPLAY_AT, make_bot, paper_account, position_row, store_market
from trading.bots import services as bot_services
from trading.models import Bot, Order, Position
from webhooks import services as webhook_services

PASSWORD = "correct-horse-battery-9"


@dataclass(frozen=True)
class Trader:
    user: Any
    token: str


def _backtest(user: Any, **fields: Any) -> BacktestRun:
    values = {
        "strategy": "ema_crossover",
        "params": {"fast": 9, "slow": 21},
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "start": REPLAY_AT.replace(day=1, month=2),
        "end": REPLAY_AT,
        "initial_capital": Decimal(10000),
        "fee_rate": Decimal("0.001"),
        "slippage_bps": Decimal(5),
        "leverage": 1,
        "position_size_pct": Decimal(10),
        "stop_loss_pct": Decimal(2),
        "take_profit_pct": None,
    }
    values.update(fields)
    return BacktestRun.objects.create(user=user, **values)


def _alert(secret: str, **fields: Any) -> bytes:
    body = {
        "secret": secret,
        "action": "buy",
        "symbol": "BINANCE:BTCUSDT",
        "exchange": "BINANCE",
        "price": "62000",
        "position": "long",
        "size": "0.01",
        "order_id": "Long",
        "time": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body.update(fields)
    return json.dumps(body).encode()


def build_trader(tmp_dir: Path, *, email: str = "trader@example.com") -> Trader:
    """Create the trader and their rows; return them with an API token."""
    store_market(tmp_dir)
    user = User.objects.create_user(email=email, password=PASSWORD, auto_trading=True)
    account = paper_account(user)
    spare = paper_account(user, label="Spare paper")
    account_services.exchange_account_set_enabled(account=spare, enabled=False)

    running = make_bot(account, name="Runner")
    bot_services.bot_set_status(bot=running, status=Bot.Status.RUNNING)
    make_bot(account, name="Paused", strategy="supertrend")
    stopped = make_bot(account, name="Stopped", daily_loss_limit_pct=Decimal(5), stop_loss_pct=None)
    bot_services.bot_set_status(bot=stopped, status=Bot.Status.STOPPED)
    halted = make_bot(account, name="Halted", direction="short")
    Bot.objects.filter(pk=halted.pk).update(status=Bot.Status.HALTED, status_reason="Daily loss limit reached.")

    closing = position_row(account, "ETH/USDT")
    Position.objects.filter(pk=closing.pk).update(
        status=Position.Status.CLOSED,
        exit_price=Decimal("118.5"),
        realized_pnl=Decimal("4.25"),
        exit_reason="take_profit",
        closed_at=REPLAY_AT,
    )
    Order.objects.create(
        user=user,
        exchange_account=account,
        position=closing,
        symbol="ETH/USDT",
        side="sell",
        type="market",
        purpose=Order.Purpose.EXIT,
        source=Order.Source.MANUAL,
        status=Order.Status.REJECTED,
        amount=Decimal("0.5"),
        client_order_id="schema-rejected",
        note="Insufficient funds.",
    )

    _backtest(user, status=BacktestRun.Status.QUEUED)
    _backtest(user, status=BacktestRun.Status.FAILED, error="Not enough candles.", finished_at=REPLAY_AT)
    _backtest(
        user,
        status=BacktestRun.Status.DONE,
        progress=100,
        metrics={"trades": 2, "net_profit": 12.5, "sharpe": 0.8, "max_drawdown_pct": 3.1},
        result={
            "trades": [{"side": "long", "entry_price": 61000.0, "exit_price": 62000.0, "pnl": 12.5}],
            "equity": [["2024-02-01T00:00:00Z", 10000.0], ["2024-03-01T00:00:00Z", 10012.5]],
            "buy_hold": [["2024-02-01T00:00:00Z", 10000.0], ["2024-03-01T00:00:00Z", 10400.0]],
            "gaps": [],
        },
        started_at=REPLAY_AT,
        finished_at=REPLAY_AT,
    )
    _backtest(
        user,
        kind=BacktestRun.Kind.OPTIMISATION,
        status=BacktestRun.Status.DONE,
        progress=100,
        search={"method": "random", "metric": "sharpe", "samples": 4, "folds": 1, "seed": 7},
        metrics={"sharpe": 1.1},
        result={"best": {"params": {"fast": 8, "slow": 20}, "score": 1.1}, "trials": []},
        finished_at=REPLAY_AT,
    )

    created = webhook_services.endpoint_create(user=user, exchange_account=account, name="TV", bot=running)
    revoked = webhook_services.endpoint_create(user=user, exchange_account=account, name="Old TV")
    webhook_services.endpoint_revoke(endpoint=revoked.endpoint)
    token = created.endpoint.token
    for body, is_test in (
        (_alert(created.secret), False),
        (_alert("not-the-secret"), False),
        (_alert(created.secret, order_id="Test"), True),
        (b"not json at all", False),
    ):
        answer = webhook_services.alert_receive(token=token, body=body, remote_addr="127.0.0.1", is_test=is_test)
        if answer.event_id is not None and 200 <= answer.status < 300:
            webhook_services.event_process(event_id=answer.event_id)
    # The accepted alert opened a long on BTC/USDT for the running bot: the open position, its entry order
    # and fill, and resting stop-loss and take-profit orders.

    issued = account_services.api_token_issue(user=user, name="schemathesis")
    return Trader(user=user, token=issued.key)
