"""The exchange fault run: bots and TradingView alerts trade through Trendy's real paths against a fleet of fake
Binance accounts (``fault_plan.FakeFleet``) whose requests meet a seeded fault plan (``fault_plan.FaultPlan``),
then every order, position and failure is checked against what the fake exchange holds.

The paths are the production ones: ccxt builds and signs every request; bots tick through the Celery task
``trading.run_bot_tick`` (run eagerly, its retries included) on a closed candle with the signal the loop would hand
in, and a bot whose task gave up is dispatched again by ``loop.catch_up``; alerts go through the receiver's view
(``/webhooks/tv/<token>/``) and its processing task, and alerts whose task gave up are re-enqueued by
``events_sweep``; ``reconcile_all`` runs every few candles as the beat would; a bot halted by a reconciliation is
started again by its user, who has read why.

Only the adapter's waits are shortened (``timeout_ms``; back-off and ``Retry-After`` sleeps are recorded and
scaled down) so that thousands of orders fit in minutes.

Used by ``tests/trading/test_exchange_fault_plan.py`` (a small run in CI) and ``benchmarks/exchange_faults.py``.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.test import Client, TestCase, override_settings
from django.urls import reverse
from django.utils import translation

from tests.trading.fake_exchange import FakeBinance, serving
from tests.trading.fault_plan import OUTSIDE_KINDS, REQUEST_KINDS, FakeFleet, FaultPlan

HOUR = timedelta(hours=1)
PRICE = Decimal(50_000)
SYMBOL = {"swap": "BTC/USDT:USDT", "spot": "BTC/USDT"}


@dataclass
class FaultRunConfig:
    orders: int = 300  # stop once Trendy has placed this many orders (entries, exits, stops, take-profits)
    seed: int = 13
    rate: float = 0.12  # share of exchange requests that meet a fault
    swap_bots: int = 4
    spot_bots: int = 2
    swap_hooks: int = 2
    spot_hooks: int = 1
    outside_rate: float = 0.05  # per account and candle: a change made outside Trendy
    reconcile_every: int = 4  # candles between reconciliations
    timeout_ms: int = 150  # the adapter's HTTP time-out (the fake holds a timed-out request 0.1 s longer)
    sleep_scale: float = 0.01  # back-off and Retry-After waits are recorded, then slept this much of
    settle_rounds: int = 12
    max_rounds: int = 100_000
    progress: bool = False  # a line every 10 candles
    cover_all: bool = True  # every kind of fault at least once: the random ones are topped up early on


@dataclass
class FaultRunReport:
    config: FaultRunConfig
    rounds: int = 0
    wall_s: float = 0.0
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    orders: Counter[str] = field(default_factory=Counter)  # Trendy's orders by purpose
    intents: Counter[str] = field(default_factory=Counter)  # bot ticks and alerts that asked for an order
    outcomes: Counter[str] = field(default_factory=Counter)
    venue_orders: int = 0
    duplicate_client_ids: int = 0
    duplicate_intents: int = 0
    orphans: int = 0  # venue orders with a client id Trendy does not know
    lost: int = 0
    lost_detail: list[str] = field(default_factory=list)
    orders_mismatched: int = 0
    order_detail: list[str] = field(default_factory=list)
    positions_reconciled: int = 0
    positions_mismatched: int = 0
    position_detail: list[str] = field(default_factory=list)
    failures_explained: int = 0
    failures_unexplained: int = 0
    failure_kinds: Counter[str] = field(default_factory=Counter)
    unexplained_detail: list[str] = field(default_factory=list)
    retry_after_waits: int = 0
    settle_rounds: int = 0

    @property
    def orders_total(self) -> int:
        return sum(self.orders.values())

    @property
    def fault_rate(self) -> float:
        return sum(self.faults[k] for k in REQUEST_KINDS) / self.requests if self.requests else 0.0

    def problems(self) -> list[str]:
        found = []
        if self.duplicate_client_ids:
            found.append(f"{self.duplicate_client_ids} client order ids twice on the exchange")
        if self.duplicate_intents:
            found.append(f"{self.duplicate_intents} intents with two exchange orders")
        if self.orphans:
            found.append(f"{self.orphans} exchange orders Trendy does not know")
        if self.lost:
            found.append(f"{self.lost} lost: {self.lost_detail[:5]}")
        if self.orders_mismatched:
            found.append(f"{self.orders_mismatched} orders differ from the exchange: {self.order_detail[:5]}")
        if self.positions_mismatched:
            found.append(f"{self.positions_mismatched} positions differ: {self.position_detail[:5]}")
        if self.failures_unexplained:
            found.append(f"{self.failures_unexplained} failures without a reason: {self.unexplained_detail[:5]}")
        return found

    def lines(self) -> list[str]:
        c = self.config
        faults = ", ".join(f"{k} {self.faults[k]}" for k in (*REQUEST_KINDS, *OUTSIDE_KINDS))
        return [
            f"plan: seed {c.seed}, fault rate {c.rate:.0%} of requests, outside changes {c.outside_rate:.0%} per "
            f"account and candle; {c.swap_bots} perpetual + {c.spot_bots} spot bots, {c.swap_hooks} perpetual + "
            f"{c.spot_hooks} spot webhook endpoints; {self.rounds} candles (+{self.settle_rounds} settling)",
            f"orders intended (Trendy's orders): {self.orders_total} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.orders.items()))})",
            f"intents: {', '.join(f'{k} {v}' for k, v in sorted(self.intents.items()))}; "
            f"outcomes: {', '.join(f'{k} {v}' for k, v in sorted(self.outcomes.items()))}",
            f"venue orders: {self.venue_orders}",
            f"duplicates: by client order id {self.duplicate_client_ids}, by intent {self.duplicate_intents}, "
            f"unknown to Trendy {self.orphans}",
            f"lost: {self.lost}; orders whose state differs from the exchange: {self.orders_mismatched}",
            f"positions: reconciled {self.positions_reconciled}, mismatched {self.positions_mismatched}",
            f"failures shown to users: with an explanation {self.failures_explained}, without "
            f"{self.failures_unexplained} ({', '.join(f'{k} {v}' for k, v in sorted(self.failure_kinds.items()))})",
            f"exchange requests: {self.requests}, faults {sum(self.faults[k] for k in REQUEST_KINDS)} "
            f"({self.fault_rate:.1%}); waits of at least Retry-After: {self.retry_after_waits}",
            f"faults by kind: {faults}",
            f"wall time: {self.wall_s:.1f} s",
        ]


# --- the set-up --------------------------------------------------------------------------------------------


@dataclass
class Actor:
    kind: str  # bot / hook
    market_type: str
    account: Any
    venue: FakeBinance
    bot: Any = None
    endpoint: Any = None
    secret: str = ""


@contextmanager
def _celery_eager() -> Iterator[None]:
    from trading_site.celery import app

    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    # A task that gives up leaves its failure in its result (as a worker would log it), not in the caller.
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def _pinned(candle_open: datetime) -> Any:
    from trading import clock

    return clock.pinned(clock.Pin(time=candle_open + HOUR, price=lambda exchange, symbol: PRICE))


class FaultRun:
    def __init__(self, config: FaultRunConfig, monkeypatch: Any) -> None:
        self.config = config
        self.monkeypatch = monkeypatch
        self.rng = random.Random(config.seed + 1)  # noqa: S311 - a repeatable run, not a secret
        self.report = FaultRunReport(config)
        self.sleeps: list[float] = []
        self.actors: list[Actor] = []
        self.client = Client()
        self.pending_ticks: dict[int, tuple[datetime, dict[str, bool]]] = {}  # bot → the candle its task gave up on
        self.halts_seen: set[tuple[int, str]] = set()
        self.last_reconcile: dict[str, Any] = {}

    # set-up
    def _build(self) -> None:
        from accounts import services as account_services
        from accounts.models import RiskProfile, User
        from trading.bots import services as bot_services
        from trading.models import Direction
        from webhooks import services as webhook_services
        from webhooks.models import WebhookEndpoint

        c = self.config
        layout = (
            [("bot", "swap")] * c.swap_bots
            + [("bot", "spot")] * c.spot_bots
            + [("hook", "swap")] * c.swap_hooks
            + [("hook", "spot")] * c.spot_hooks
        )
        venues = []
        for i in range(len(layout)):
            venue = FakeBinance(api_key=f"faultrun-key-{i:04d}-0123456789", secret=f"faultrun-secret-{i:04d}-abcdef")
            venue.balances = {"USDT": Decimal(10_000), "BTC": Decimal(0)}
            venues.append(venue)
        self.fleet.add(venues)
        for i, ((kind, market_type), venue) in enumerate(zip(layout, venues, strict=True)):
            user = User.objects.create_user(email=f"faultrun{i}@example.com", password="faultrun-pass-0")
            User.objects.filter(pk=user.pk).update(auto_trading=True)
            user.auto_trading = True
            RiskProfile.objects.update_or_create(user=user, defaults={"leverage": 5, "position_size_pct": Decimal(20)})
            account = account_services.exchange_account_create(
                user=user,
                exchange="binance",
                label=f"fault run {i}",
                market_type=market_type,
                api_key=venue.api_key,
                secret=venue.secret,
            )
            actor = Actor(kind, market_type, account, venue)
            if kind == "bot":
                actor.bot = bot_services.bot_create(
                    user=user,
                    exchange_account=account,
                    settings_=bot_services.BotSettings(
                        strategy="ema_crossover",
                        symbol="BTC/USDT",
                        timeframe="1h",
                        leverage=2 if market_type == "swap" else 1,
                        position_size_pct=Decimal(10),
                        max_drawdown_pct=Decimal(50),
                        direction=Direction.BOTH if market_type == "swap" else Direction.LONG,
                    ),
                    start=True,
                )
            else:
                created = webhook_services.endpoint_create(
                    user=user, exchange_account=account, name=f"fault run {i}", live=True
                )
                # Thousands of alerts a minute from one endpoint: the limiter is not what this run measures.
                WebhookEndpoint.objects.filter(pk=created.endpoint.pk).update(max_alerts_per_minute=1_000_000)
                actor.endpoint, actor.secret = created.endpoint, created.secret
            self.actors.append(actor)

    def _adapter_options(self) -> None:
        from trading.exchanges import registry

        build = registry.build_exchange
        timeout_ms, scale, sleeps = self.config.timeout_ms, self.config.sleep_scale, self.sleeps

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            time.sleep(seconds * scale)

        def build_fast(exchange_id: str, **kwargs: Any) -> Any:
            options = {"timeout_ms": timeout_ms, "rate_limit_ms": 0, "sleep": sleep} | kwargs
            return build(exchange_id, **options)

        self.monkeypatch.setattr(registry, "build_exchange", build_fast)

    # one candle
    def _signal(self, actor: Actor) -> dict[str, bool]:
        from trading.models import Position

        held = Position.objects.filter(bot=actor.bot, status=Position.Status.OPEN).first()
        signal = dict.fromkeys(("long_entry", "long_exit", "short_entry", "short_exit"), False)
        if held is not None:
            signal[f"{held.side}_exit"] = True
        elif actor.market_type == "swap" and self.rng.random() < 0.5:
            signal["short_entry"] = True
        else:
            signal["long_entry"] = True
        return signal

    def _tick(self, actor: Actor, candle: datetime, signal: dict[str, bool]) -> None:
        from trading.tasks import run_bot_tick

        done = run_bot_tick.apply(args=(actor.bot.pk, candle.isoformat(), signal))
        if done.failed():  # the task gave up (its retries are spent): the loop catches the candle up later
            self.report.outcomes[f"bot task gave up ({type(done.result).__name__})"] += 1
            self.pending_ticks[actor.bot.pk] = (candle, signal)
            return
        result = done.result
        self.pending_ticks.pop(actor.bot.pk, None)
        self.report.outcomes[f"bot {result['outcome']}"] += 1
        if result["outcome"] == "error":
            self.tick_errors.append((actor, result))

    def _catch_up(self, candle: datetime) -> None:
        from trading.bots import loop

        by_bot = {a.bot.pk: a for a in self.actors if a.kind == "bot"}

        def dispatch(bot_id: int, latest: datetime, _signal: Any) -> None:
            waiting = self.pending_ticks.get(bot_id)
            if waiting is not None and waiting[0] == latest:
                self._tick(by_bot[bot_id], latest, waiting[1])

        with _pinned(candle):
            loop.catch_up(now=candle + HOUR + timedelta(minutes=2), dispatch=dispatch)

    def _alert(self, actor: Actor, candle: datetime, n: int) -> None:
        from trading.models import Position

        held = Position.objects.filter(exchange_account=actor.account, status=Position.Status.OPEN).first()
        if held is not None:
            action, position = ("sell" if held.side == "long" else "buy"), "flat"
        elif actor.market_type == "swap" and self.rng.random() < 0.5:
            action, position = "sell", "short"
        else:
            action, position = "buy", "long"
        body = {
            "secret": actor.secret,
            "action": action,
            "symbol": "BINANCE:BTCUSDT",
            "position": position,
            "size_pct": 10,
            "leverage": 2,
            "stop_loss_pct": 2,
            "take_profit_pct": 4,
            "order_id": f"faultrun-{n}",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        url = reverse("webhooks:receive", args=[actor.endpoint.token])
        with TestCase.captureOnCommitCallbacks(execute=True):
            answer = self.client.post(url, data=json.dumps(body), content_type="application/json")
        self.report.outcomes[f"alert answered {answer.status_code}"] += 1
        if answer.status_code != 200:  # the sender reads the receiver's answer
            explained = (
                bool(answer.json().get("message")) if answer.get("Content-Type") == "application/json" else False
            )
            self._failure("alert refused", explained, f"{answer.status_code} {answer.content[:120]!r}")

    def _sweep(self) -> None:
        from webhooks.services import events_sweep

        try:
            with TestCase.captureOnCommitCallbacks(execute=True):
                events_sweep(older_than=timedelta(0))
        except Exception:  # noqa: BLE001 - an alert's task gave up again: the next sweep takes it
            self.report.outcomes["alert task gave up"] += 1

    def _reconcile(self, candle: datetime) -> None:
        from trading.bots import services as bot_services
        from trading.models import Bot
        from trading.reconciliation.services import reconcile_all

        with _pinned(candle):
            self.last_reconcile = reconcile_all()
            # The owner reads why a reconciliation halted the bot, checks the account, starts it again.
            for bot in Bot.objects.filter(status=Bot.Status.HALTED):
                self._count_halt(bot)
                bot_services.bot_set_status(bot=bot, status=Bot.Status.RUNNING)

    def _count_halt(self, bot: Any) -> None:
        key = (bot.pk, f"{bot.status_changed_at}")
        if key in self.halts_seen:
            return
        self.halts_seen.add(key)
        with translation.override("en"):
            reason = bot.reason_text
        self._failure("bot halted", bool(reason.strip()), f"bot {bot.pk}: {bot.status_detail}")

    def _failure(self, kind: str, explained: bool, detail: str) -> None:
        self.report.failure_kinds[kind] += 1
        if explained:
            self.report.failures_explained += 1
        else:
            self.report.failures_unexplained += 1
            self.report.unexplained_detail.append(f"{kind}: {detail}")

    def _round(self, k: int, candle: datetime, *, trade: bool) -> None:
        if trade:
            with _pinned(candle), _celery_eager():
                for actor in self.actors:
                    if actor.kind == "bot":
                        from trading.models import Bot

                        if not Bot.objects.filter(pk=actor.bot.pk, status=Bot.Status.RUNNING).exists():
                            continue
                        signal = self._signal(actor)
                        self.report.intents["bot signals"] += 1
                        self._tick(actor, candle, signal)
                    else:
                        self.report.intents["alerts"] += 1
                        self._alert(actor, candle, k * 1000 + self.actors.index(actor))
        with _celery_eager():
            self._catch_up(candle)
            with _pinned(candle):
                self._sweep()
        for actor in self.actors if trade else ():  # settling: nobody changes the accounts any more
            if self.rng.random() < self.config.outside_rate:
                self.plan.outside_change(actor.venue, positions=actor.market_type == "swap")
        if trade and self.config.cover_all:
            self._cover()
        if k % self.config.reconcile_every == self.config.reconcile_every - 1 or not trade:
            self._reconcile(candle)

    def _cover(self) -> None:
        """Kinds of fault the dice have not thrown yet: forced on the next request they fit (a change outside
        Trendy on an account that holds a position)."""
        counts, plan = self.plan.counts, self.plan
        waiting = {kind for kind, _method, _path in plan.forced}
        if not counts["duplicate_fill"] and "duplicate_fill" not in waiting:
            plan.force("duplicate_fill", path="/api/v3/order")
        if not counts["partial_fill"] and "partial_fill" not in waiting:
            plan.force("partial_fill", path="/fapi/v1/order")
        for kind in ("position_closed", "position_resized"):
            holding = [a for a in self.actors if a.market_type == "swap" and a.venue.positions]
            if not counts[kind] and holding:
                plan.outside_change(self.rng.choice(holding).venue, kind=kind)
        if not counts["balance_moved"]:
            plan.outside_change(self.actors[0].venue, kind="balance_moved")

    def _unsettled(self) -> int:
        from trading.models import Order
        from webhooks.models import WebhookEvent

        return (
            Order.objects.filter(status=Order.Status.PENDING).count()
            + WebhookEvent.objects.filter(
                outcome=WebhookEvent.Outcome.ACCEPTED,
                status__in=[WebhookEvent.Status.PENDING, WebhookEvent.Status.PROCESSING],
            ).count()
            + len(self.pending_ticks)
            # the last reconciliation still had something to put right, or could not read an account
            + sum(self.last_reconcile.get(k, 0) for k in ("updated", "missing", "changed", "canceled", "unexplained"))
            + len(self.last_reconcile.get("errors", []))
        )

    def run(self) -> FaultRunReport:
        from trading.models import Order

        started = time.perf_counter()
        self.tick_errors: list[tuple[Actor, dict[str, Any]]] = []
        t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + HOUR
        with ExitStack() as stack:
            stack.enter_context(serving(self.fleet_placeholder(), self.monkeypatch))
            stack.enter_context(override_settings(TRENDY_EXCHANGE_API_URLS={"binance": self.fleet.url}))
            self._adapter_options()
            with _pinned(t0 - HOUR), _celery_eager():
                self._build()
            for venue in self.fleet.venues.values():
                venue.url = self.fleet.url
            self.plan = FaultPlan(
                seed=self.config.seed, rate=self.config.rate, hang_s=self.config.timeout_ms / 1000 + 0.1
            ).attach(*self.fleet.venues.values())
            k = 0
            placed = 0
            while k < self.config.max_rounds and placed < self.config.orders:
                self._round(k, t0 + HOUR * k, trade=True)
                k += 1
                placed = Order.objects.count()
                if self.config.progress and k % 10 == 0:
                    elapsed = time.perf_counter() - started
                    print(f"candle {k}: {placed} orders, {self.plan.requests} requests, {elapsed:.0f} s", flush=True)
            self.report.rounds = k
            last = t0 + HOUR * max(k - 1, 0)
            for settle in range(self.config.settle_rounds):
                self._round(k, last, trade=False)
                self.report.settle_rounds = settle + 1
                if not self._unsettled():
                    break
            for venue in self.fleet.venues.values():
                venue.plan = None  # the audit reads the fake's own books, not through faults
            self._audit()
        self.report.wall_s = time.perf_counter() - started
        self.report.requests = self.plan.requests
        self.report.faults = Counter(self.plan.counts)
        self.report.retry_after_waits = sum(1 for s in self.sleeps if s >= self.plan.retry_after_s)
        return self.report

    def fleet_placeholder(self) -> Any:
        """The fleet exists before the accounts (its address goes into the settings they are built with)."""
        if not hasattr(self, "fleet"):
            # Accounts are built after the server starts; the fleet gets its venues then.
            self.fleet = _LateFleet()
        return self.fleet

    # --- the audit -------------------------------------------------------------------------------------------
    def _audit(self) -> None:
        from trading.labels import EXIT_REASONS
        from trading.models import Bot, Order, Position
        from trading.reconciliation.services import OUTSIDE_NOTE
        from webhooks.models import WebhookEvent

        r = self.report
        ours = {
            (o.exchange_account_id, o.client_order_id): o
            for o in Order.objects.select_related("exchange_account").order_by("pk")
        }
        r.orders = Counter(o.purpose for o in ours.values())
        by_venue_account = {a.venue.api_key: a.account for a in self.actors}
        for venue in self.fleet.venues.values():
            account = by_venue_account[venue.api_key]
            seen = Counter(o.client_id for o in venue.orders)
            r.venue_orders += len(venue.orders)
            r.duplicate_client_ids += sum(1 for n in seen.values() if n > 1)
            for fake in venue.orders:
                if (account.pk, fake.client_id) not in ours:
                    r.orphans += 1
                    r.order_detail.append(f"unknown {fake.client_id} {fake.type} {fake.status}")
        # intents: one position's stop loss (or take profit) is one intent, whatever its client ids
        protective: Counter[tuple[int, str]] = Counter()
        for (account_id, client_id), order in ours.items():
            venue = next(a.venue for a in self.actors if a.account.pk == account_id)
            fake = next((o for o in venue.orders if o.client_id == client_id), None)
            if order.purpose in (Order.Purpose.STOP_LOSS, Order.Purpose.TAKE_PROFIT) and fake is not None:
                protective[(order.position_id or 0, order.purpose)] += 1
            expected = {"open": Order.Status.OPEN, "filled": Order.Status.FILLED, "canceled": Order.Status.CANCELED}
            if order.status == Order.Status.PENDING:
                r.lost += 1
                r.lost_detail.append(f"order {client_id} still pending ({'on' if fake else 'not on'} the exchange)")
            elif fake is None:
                if order.status != Order.Status.REJECTED and order.note != OUTSIDE_NOTE:
                    r.orders_mismatched += 1
                    r.order_detail.append(f"{client_id}: ours {order.status}, the exchange has none")
            elif (
                expected[fake.status] != order.status
                or fake.filled * fake.market.contract_size != order.filled
                or (not fake.market.swap and fake.type == "market" and fake.fee != order.fee)
            ):
                r.orders_mismatched += 1
                r.order_detail.append(
                    f"{client_id} {order.purpose}: ours {order.status} {order.filled} fee {order.fee}, "
                    f"the exchange's {fake.status} {fake.filled} fee {fake.fee}"
                )
        r.duplicate_intents = sum(n - 1 for n in protective.values() if n > 1)
        # positions, account by account
        for actor in self.actors:
            open_positions = list(Position.objects.filter(exchange_account=actor.account, status=Position.Status.OPEN))
            ours_signed = sum(
                (p.amount if p.side == Position.Side.LONG else -p.amount for p in open_positions), Decimal(0)
            )
            if actor.market_type == "swap":
                held = actor.venue.positions.get(SYMBOL["swap"])
                theirs = held.amount if held is not None else Decimal(0)
            else:
                theirs = actor.venue.balances.get("BTC", Decimal(0))
            if ours_signed == theirs and len(open_positions) <= 1:
                r.positions_reconciled += 1
            else:
                r.positions_mismatched += 1
                r.position_detail.append(
                    f"account {actor.account.pk} ({actor.market_type}): ours {ours_signed} in "
                    f"{len(open_positions)} positions, the exchange's {theirs}"
                )
        # lost intents: a bot's candle no task finished, an alert never traded
        for bot_id, (candle, _signal) in self.pending_ticks.items():
            r.lost += 1
            r.lost_detail.append(f"bot {bot_id}: the candle of {candle} was never traded nor refused")
        stuck = WebhookEvent.objects.filter(
            outcome=WebhookEvent.Outcome.ACCEPTED,
            status__in=[WebhookEvent.Status.PENDING, WebhookEvent.Status.PROCESSING],
        )
        for event in stuck:
            r.lost += 1
            r.lost_detail.append(f"alert {event.pk} still {event.status}")
        # failures the users see, and whether they say why
        with translation.override("en"):
            for order in ours.values():
                if order.status == Order.Status.REJECTED:
                    self._failure("order rejected", bool(order.note.strip()), f"{order.client_order_id}")
            for event in WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED):
                self._failure("alert failed", bool(event.result.strip()), f"event {event.pk}")
            for bot in Bot.objects.filter(status=Bot.Status.HALTED):
                self._count_halt(bot)
            for order in Order.objects.filter(note=OUTSIDE_NOTE).select_related("position"):
                # the order of the exchange's own says what changed; a closed position's exit reason names it
                position = order.position
                closed = position is not None and position.status == Position.Status.CLOSED
                explained = order.events.filter(kind="outside").exclude(message="").exists() and (
                    not closed or position.exit_reason in EXIT_REASONS
                )
                self._failure("position changed outside Trendy", explained, f"order {order.pk}")
            notes = set(Order.objects.exclude(note="").values_list("note", flat=True))
            for actor, result in self.tick_errors:
                shown = any(result["message"][:300] == note for note in notes)
                self._failure("bot tick refused", shown, f"bot {actor.bot.pk}: {result['message']}")


class _LateFleet(FakeFleet):
    """A fleet whose accounts are added once the server runs (they are built against its address)."""

    def __init__(self) -> None:
        self.venues = {}
        self.first = None  # type: ignore[assignment]
        self.url = ""

    def add(self, venues: list[FakeBinance]) -> None:
        self.venues.update({v.api_key: v for v in venues})
        self.first = self.first or venues[0]

    def handle(self, method: str, target: str, raw_body: str, headers: dict[str, str]) -> Any:
        if self.first is None:
            raise RuntimeError("the fault run's fleet has no accounts yet")
        return super().handle(method, target, raw_body, headers)


def run_faults(config: FaultRunConfig, monkeypatch: Any) -> FaultRunReport:
    """Run the plan (inside a database the caller provides: a pytest-django test or a benchmark's own)."""
    return FaultRun(config, monkeypatch).run()
