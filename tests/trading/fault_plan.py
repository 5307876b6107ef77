"""A seeded plan of exchange faults for the fake exchanges (``fake_exchange.py``), and a fleet of fake accounts
behind one address.

``FaultPlan`` decides, per request and from its own seeded random generator, whether the request meets a fault
(``rate`` of all requests, 12 % by default) and which one, by weight among the kinds that fit the request:

- ``timeout_applied``: the request is carried out, then the server holds the answer past the client's time-out;
- ``timeout_lost``: the server holds the request past the client's time-out and never carries it out;
- ``error_before``: a bare 5xx before anything is done; ``error_after``: the request is carried out, the answer
  is a 5xx anyway;
- ``rate_limited``: the exchange's 429 with ``Retry-After``;
- ``response_lost``: the request is carried out (an order is stored and filled), then the connection is cut;
- ``partial_fill`` (market order creates): the order fills in pieces, the rest on later polls of its status;
- ``duplicate_fill`` (Binance spot market order creates, whose answer lists its trades, and ``myTrades``): each
  trade reported twice.

Between ticks ``outside_change`` changes an account the way its owner (or the exchange) might without Trendy:
closes or halves an open perpetual position (``position_closed``, ``position_resized``) or moves part of the
USDT balance in or out (``balance_moved``).

Every fault and change is counted in ``counts``; ``requests`` counts what the plan saw. No Django here.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.trading.fake_exchange import DROP, FakeVenue, Reply

REQUEST_KINDS = (
    "timeout_applied",
    "timeout_lost",
    "error_before",
    "error_after",
    "rate_limited",
    "response_lost",
    "partial_fill",
    "duplicate_fill",
)
OUTSIDE_KINDS = ("position_closed", "position_resized", "balance_moved")
DEFAULT_WEIGHTS = {
    "timeout_applied": 1.0,
    "timeout_lost": 1.0,
    "error_before": 2.0,
    "error_after": 1.0,
    "rate_limited": 2.0,
    "response_lost": 1.5,
    "partial_fill": 6.0,  # these two fit market order creates only (a tenth of the requests): weighed up
    "duplicate_fill": 6.0,
}
CREATE_ONLY = {"partial_fill", "duplicate_fill"}
SPOT_CREATES = ("/api/v3/order",)
SPOT_TRADES = ("/api/v3/myTrades",)


@dataclass
class FaultPlan:
    seed: int = 13
    rate: float = 0.12  # share of requests that meet a fault
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    hang_s: float = 0.5  # how long a time-out holds the request: longer than the client's time-out
    retry_after_s: int = 1
    counts: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    creates: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - a repeatable plan, not a secret
        self.lock = threading.Lock()
        self.forced: list[tuple[str, str, str]] = []  # (kind, method, path prefix): the next such request meets it
        unknown = set(self.weights) - set(REQUEST_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")

    def attach(self, *venues: FakeVenue) -> FaultPlan:
        for venue in venues:
            venue.plan = self
        return self

    def force(self, kind: str, *, path: str, method: str = "POST") -> FaultPlan:
        """The next ``method`` request to a path starting with ``path`` meets ``kind`` (for focused tests)."""
        if kind not in REQUEST_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        self.forced.append((kind, method, path))
        return self

    # --- per request -----------------------------------------------------------------------------------
    def kinds_for(self, venue: FakeVenue, method: str, path: str, raw_body: str) -> list[str]:
        create = method == "POST" and path in venue.create_paths
        kinds = [k for k in REQUEST_KINDS if self.weights.get(k, 0) > 0 and k not in CREATE_ONLY]
        if create and _is_market(raw_body):
            if self.weights.get("partial_fill", 0) > 0:
                kinds.append("partial_fill")
            if path in SPOT_CREATES and venue.name == "binance" and self.weights.get("duplicate_fill", 0) > 0:
                kinds.append("duplicate_fill")
        if method == "GET" and path in SPOT_TRADES and self.weights.get("duplicate_fill", 0) > 0:
            kinds.append("duplicate_fill")
        return kinds

    def draw(self, venue: FakeVenue, method: str, path: str, raw_body: str) -> str | None:
        with self.lock:
            self.requests += 1
            if method == "POST" and path in venue.create_paths:
                self.creates += 1
            for forced in self.forced:
                if (
                    forced[1] == method
                    and path.startswith(forced[2])
                    and forced[0] in self.kinds_for(venue, method, path, raw_body)
                ):
                    self.forced.remove(forced)
                    self.counts[forced[0]] += 1
                    return forced[0]
            if self.rng.random() >= self.rate:
                return None
            kinds = self.kinds_for(venue, method, path, raw_body)
            if not kinds:
                return None
            kind = self.rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]
            self.counts[kind] += 1
            return kind

    def serve(self, venue: FakeVenue, method: str, target: str, raw_body: str, headers: dict[str, str]) -> Reply:
        kind = self.draw(venue, method, urlsplit(target).path, raw_body)
        if kind is None:
            return venue.serve(method, target, raw_body, headers)
        if kind == "timeout_lost":
            time.sleep(self.hang_s)
            return DROP
        if kind == "timeout_applied":
            venue.serve(method, target, raw_body, headers)
            time.sleep(self.hang_s)
            return DROP
        if kind == "error_before":
            return Reply(503, "Service Unavailable")
        if kind == "error_after":
            venue.serve(method, target, raw_body, headers)
            return Reply(502, "Bad Gateway")
        if kind == "rate_limited":
            reply = venue.too_many_requests()
            return Reply(reply.status, reply.body, reply.headers | {"Retry-After": str(self.retry_after_s)})
        if kind == "response_lost":
            venue.serve(method, target, raw_body, headers)
            return DROP
        with venue.lock:
            if kind == "partial_fill":
                venue.split_next_fill = self.rng.choice((2, 3))
            else:
                venue.duplicate_next_fills = True
            try:
                return venue.serve(method, target, raw_body, headers)
            finally:
                venue.split_next_fill, venue.duplicate_next_fills = 0, False

    # --- outside Trendy ----------------------------------------------------------------------------------
    def outside_change(self, venue: FakeVenue, *, positions: bool = True, kind: str | None = None) -> str:
        """Change ``venue`` as its owner might between ticks (``kind``, or one drawn); returns the kind (also
        counted)."""
        with venue.lock, self.lock:
            held = [s for s, p in venue.positions.items() if p.amount != 0] if positions else []
            kind = kind or self.rng.choice(OUTSIDE_KINDS if held else ("balance_moved",))
            if kind == "balance_moved":
                share = Decimal(self.rng.choice((-3, -2, -1, 1, 2, 3))) / 100
                venue.balances["USDT"] += (venue.balances["USDT"] * share).quantize(Decimal("0.01"))
            else:
                symbol = self.rng.choice(sorted(held))
                position = venue.positions[symbol]
                market = next(m for m in venue.markets if m.symbol == symbol)
                price = venue.price(market)
                if kind == "position_closed":
                    venue.move_position(symbol, -position.amount, price)
                else:
                    step = market.amount_step * market.contract_size
                    half = (abs(position.amount) / 2 // step) * step
                    if half <= 0:
                        kind = "position_closed"
                        venue.move_position(symbol, -position.amount, price)
                    else:
                        venue.move_position(symbol, -half if position.amount > 0 else half, price)
            self.counts[kind] += 1
            return kind

    @property
    def request_faults(self) -> int:
        return sum(self.counts[k] for k in REQUEST_KINDS)


def _is_market(raw_body: str) -> bool:
    if raw_body.startswith(("{", "[")):
        return '"market"' in raw_body  # OKX: "ordType": "market"
    return dict(parse_qsl(raw_body)).get("type") == "MARKET"


class FakeFleet:
    """Many fake accounts of one exchange behind one address: a request goes to the account whose API key it
    carries (public ones to the first). Each account keeps its own balances, orders and positions."""

    def __init__(self, venues: list[FakeVenue]) -> None:
        if not venues:
            raise ValueError("a fleet needs at least one account")
        self.venues = {v.api_key: v for v in venues}
        self.first = venues[0]
        self.url = ""
        self.lock = threading.RLock()

    def handle(self, method: str, target: str, raw_body: str, headers: dict[str, str]) -> Any:
        key = next((v for k, v in headers.items() if k.lower() in ("x-mbx-apikey", "ok-access-key")), None)
        venue = self.venues.get(key or "", self.first)
        venue.url = self.url
        return venue.handle(method, target, raw_body, headers)
