"""Replay stored history through the LIVE path — the loop, the router, the paper exchange and the
database — candle by candle, and print the same JSON as the ``backtest`` command.

Everything runs in one transaction that is rolled back at the end, on an in-process replay clock:
the replay leaves no rows behind and never moves the shared market clock. The paper wallet uses the
backtest's arithmetic (no rounding to the market's size and price steps, ``--precision market`` to
round like the real market) and the backtest's fee and slippage.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from accounts.models import ExchangeAccount, RiskProfile, User
from market_data.timeframes import TIMEFRAME_MS
from strategies import services as backtest_services
from strategies.backtest import BacktestError
from strategies.backtest.metrics import equity_metrics, trade_metrics
from strategies.builtin import get_strategy
from strategies.interface import StrategyError
from strategies.management.commands.backtest import JSON_VERSION
from strategies.management.commands.backtest import Command as BacktestCommand
from strategies.messages import strategy_error_message
from strategies.pine_services import pine_script_create
from trading import clock
from trading.bots import loop, paper_market
from trading.bots import tick as ticks
from trading.execution.adapters import paper_session
from trading.execution.trailing import TRAIL_NOTE
from trading.models import Bot, Order, Position
from trading.paper.store import wallet_for


class Rollback(Exception):
    pass


class Command(BacktestCommand):
    help = "Drive the live trading path over stored candles and print the backtest command's JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--precision",
            choices=["exact", "market"],
            default="exact",
            help="exact: the backtest's unrounded arithmetic; market: the real market's size and price steps",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["csv"]:
            raise CommandError("paper_replay reads stored candles; import the CSV first (import_candles).")
        try:
            strategy = self._pine(options["pine"]) if options["pine"] else get_strategy(options["strategy"])
            params = strategy.validate(self._params(options["param"]))
            risk = self._risk(options)
            backtest_services.validate_settings(risk)
            exchange, symbol, timeframe = self._market(options)
            candles = self._candles(options, exchange, symbol, timeframe)
            if len(candles) >= 2:  # a Pine script's own stop and target, as the backtest command reads them
                risk = backtest_services.with_script_levels(strategy, params, candles, risk)
        except StrategyError as exc:
            raise CommandError(strategy_error_message(exc)) from None
        except (BacktestError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if len(candles) < 2:
            raise CommandError(f"Not enough {timeframe} candles for {symbol} on {exchange} in that period.")
        started = time.perf_counter()
        step = pd.Timedelta(TIMEFRAME_MS[timeframe], "ms")
        intrabar = backtest_services.intrabar_candles(
            exchange, symbol, timeframe, candles.index[0], candles.index[-1] + step
        )
        holder: dict[str, Any] = {}
        try:
            with transaction.atomic():
                holder["document"] = self._replay(
                    options, strategy, params, risk, exchange, symbol, timeframe, candles, intrabar
                )
                raise Rollback
        except Rollback:
            pass
        document = holder["document"]
        if options["json"]:
            self.stdout.write(json.dumps(document, indent=2, sort_keys=False))
            return
        self._summary(document, time.perf_counter() - started)

    def _replay(self, options, strategy, params, risk, exchange, symbol, timeframe, candles, intrabar) -> dict:
        user = User.objects.create_user(
            email=f"replay-{uuid.uuid4().hex[:12]}@replay.invalid", password=None, auto_trading=True
        )
        RiskProfile.objects.update_or_create(
            user=user, defaults={"leverage": 10, "position_size_pct": Decimal(20), "max_drawdown_pct": Decimal(50)}
        )
        account = ExchangeAccount.objects.create(
            user=user, exchange="paper", label="replay", paper_balance=risk.initial_capital
        )
        wallet = wallet_for(account)
        wallet.exact = options["precision"] == "exact"
        wallet.fee_rate = risk.fee_rate
        wallet.slippage_bps = risk.slippage_bps
        wallet.save()
        slug = strategy.slug
        if options.get("pine"):  # the live path reads a stored version, as a user's bot does
            slug = pine_script_create(user=user, name="replay", source=self.pine_source).slug
        bot = Bot.objects.create(
            user=user,
            exchange_account=account,
            name="replay",
            strategy=slug,
            params=params,
            symbol=symbol,
            timeframe=timeframe,
            leverage=risk.leverage,
            position_size_pct=risk.position_size_pct,
            stop_loss_pct=risk.stop_loss_pct,
            take_profit_pct=risk.take_profit_pct,
            trailing_stop_pct=risk.trailing_stop_pct,
            trailing_activation_pct=risk.trailing_activation_pct,
            pyramiding=risk.pyramiding,
            levels_by_bar=risk.levels_by_bar,
            max_drawdown_pct=Decimal(50),
            direction=risk.direction,
            status=Bot.Status.RUNNING,
        )
        index = candles.index
        opens = candles["open"].to_numpy()
        step = timedelta(milliseconds=TIMEFRAME_MS[timeframe])
        times = list(index.to_pydatetime())
        position_of = {t: k for k, t in enumerate(times)}
        source = loop.Candles(frames={(exchange, symbol, timeframe): candles}, history_start=times[0])

        def price_at(_exchange: str, _symbol: str) -> Decimal:
            return Decimal(repr(float(opens[position_of[current["time"]]])))

        def inside(_exchange: str, _symbol: str, start, end) -> list[tuple[Decimal, Decimal]]:
            if intrabar is None:
                return []
            part = intrabar.loc[(intrabar.index >= start) & (intrabar.index < end)]
            return [
                (Decimal(repr(float(h))), Decimal(repr(float(lo))))
                for h, lo in zip(part["high"].to_numpy(), part["low"].to_numpy(), strict=True)
            ]

        def dispatch(bot_id: int, opened, signal) -> None:
            ticks.bot_tick(bot_id=bot_id, candle_open=opened, signal=signal)

        current: dict[str, Any] = {}
        equity = np.empty(len(times))
        for k in range(len(times) - 1):
            # The candle k has closed; candle k+1 opens: its open is the price orders fill at.
            now = times[k + 1]
            current["time"] = now
            with clock.pinned(clock.Pin(time=now, price=price_at)):
                loop.loop_step(
                    now=now, dispatch=dispatch, bots=[bot], candles=source, intrabar=inside, paper_accounts=[account]
                )
            equity[k] = self._equity_at_close(account, symbol, float(candles["close"].iloc[k]))
        # The last candle: its stops and targets, then a position still open is closed at its close.
        last = times[-1]
        current["time"] = last
        with clock.pinned(clock.Pin(time=last + step, price=price_at)):
            row = candles.iloc[-1]
            paper_market.paper_candle(
                account=account,
                symbol=symbol,
                candle={
                    "time": last,
                    "open": row["open"],
                    "high": row["high"],
                    "low": row["low"],
                    "close": row["close"],
                },
                intrabar=inside(exchange, symbol, last, last + step),
            )
            with paper_session(account) as paper:
                paper.settle(symbol, Decimal(repr(float(row["close"]))), int(last.timestamp() * 1000))
        equity[-1] = float(wallet_for(account).balance)
        return self._document(
            strategy, params, risk, exchange, symbol, timeframe, candles, account, equity, position_of
        )

    def _equity_at_close(self, account: ExchangeAccount, symbol: str, close: float) -> float:
        balance = float(wallet_for(account).balance)
        position = Position.objects.filter(exchange_account=account, status=Position.Status.OPEN).first()
        if position is None:
            return balance
        sign = 1.0 if position.side == Position.Side.LONG else -1.0
        return max(balance + sign * float(position.amount) * (close - float(position.entry_price)), 0.0)

    def _document(
        self, strategy, params, risk, exchange, symbol, timeframe, candles, account, equity, position_of
    ) -> dict:
        rows = []
        for p in Position.objects.filter(exchange_account=account).order_by("opened_at", "id"):
            entry_price = float(p.entry_price)
            size = float(sum(t.amount for t in p.trades.all() if t.side == ("buy" if p.side == "long" else "sell")))
            margin = size * entry_price / p.leverage
            rows.append(
                {
                    "side": p.side,
                    "entry_time": pd.Timestamp(p.opened_at),
                    "entry_price": entry_price,
                    "exit_time": pd.Timestamp(p.closed_at),
                    "exit_price": float(p.exit_price),
                    "size": size,
                    "notional": size * entry_price,
                    "fees": float(p.fees),
                    "pnl": float(p.realized_pnl),
                    "return_pct": float(p.realized_pnl) / margin * 100.0 if margin else 0.0,
                    "exit_reason": p.exit_reason,
                    "bars_held": position_of[p.closed_at] - position_of[p.opened_at],
                    "entries": p.entries,
                }
            )
        trades = pd.DataFrame(
            rows, columns=list(backtest_services.TRADE_COLUMNS) if hasattr(backtest_services, "TRADE_COLUMNS") else None
        )
        step_ms = TIMEFRAME_MS[timeframe]
        capital = float(risk.initial_capital)
        metrics: dict[str, Any] = equity_metrics(equity, capital, len(candles) * step_ms, step_ms)
        pnl = trades["pnl"].to_numpy(dtype=float) if len(trades) else np.empty(0)
        fees = trades["fees"].to_numpy(dtype=float) if len(trades) else np.empty(0)
        metrics.update(trade_metrics(pnl, fees))
        payload_trades = [{key: backtest_services._json_value(value) for key, value in row.items()} for row in rows]
        return {
            "version": JSON_VERSION,
            "strategy": strategy.slug,
            "params": params,
            "market": {"exchange": exchange, "symbol": symbol, "timeframe": timeframe},
            "period": {
                "first": candles.index[0].isoformat().replace("+00:00", "Z"),
                "last": candles.index[-1].isoformat().replace("+00:00", "Z"),
                "bars": len(candles),
            },
            "settings": {k: (None if v is None else str(v)) for k, v in vars(risk).items()},
            "metrics": {k: backtest_services._json_value(v) for k, v in metrics.items()},
            "final_equity": round(float(equity[-1]), 8),
            "trails_moved": Order.objects.filter(
                exchange_account=account, purpose=Order.Purpose.STOP_LOSS, note=TRAIL_NOTE, type="stop_market"
            ).count(),
            "trades": payload_trades,
        }
