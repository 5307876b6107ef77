#!/usr/bin/env python
"""Benchmark the marketplace list (issue 16): the page /marketplace/, its htmx partial and the API list
GET /api/v1/marketplace/strategies, with 10,000 published listings and 100,000 reviews on the database of
DATABASE_URL. Target: p95 < 150 ms for filtered, sorted pages, with a bounded number of queries.

Seeding: rows are made with ``bulk_create`` (not the marketplace's services, which verify each version with real
backtests: far too slow for 10,000 listings), all owned by scratch users ``…@marketplace-bench.invalid`` (creators,
reviewers and the signed-in viewer), deleted at the start and at the end, also when the run fails. Each listing is
published, in a realistic spread of categories, tiers and prices, exchanges, timeframes, 1–3 of 30 markets, tags,
a Markdown description of a few hundred characters and a publication date within the last year; it offers its
creator's Pine script (a ``PineScript`` with one ``PineScriptVersion``) as one ``ListingVersion`` verified
("passed") whose ``result`` is shaped as ``marketplace.verification`` writes it: per market the public set and the
out-of-sample backtest, each with its metrics and an equity curve of 1,500 points (the curves are drawn from a pool
of random walks), copied into the listing's ``backtest_results`` as ``listing_evidence_update`` does; the evidence
columns (trades, max drawdown, out-of-sample return) are computed from it. Reviews are spread unevenly (a Pareto
share per listing, a fifth of the listings with none) over one distinct reviewer per review of a listing, out of
a tenth as many reviewers as reviews; 0.5 % are hidden; each listing's ``rating_average``/``rating_count`` are
those of its visible reviews (checked by one query after seeding). Then ANALYZE, as a live database has statistics.
The rows are deleted with the ORM and the tables vacuumed.

Measuring: a signed-in trader (``force_login``) requests the full page and the htmx partial (``HX-Request``)
through Django's test client, and the API list with a real API token through DRF's ``APIClient`` (in this
process: the middleware, the view, the queries, the template or serializer; no network; DEBUG off; the API's
per-user throttle raised, its check still made), for 13 query strings: no filter (newest), each other sort, a
common and a rare search word, category+tier, a market, min_trades+max_drawdown, min_oos_return+min_rating,
price_max, a search with a timeframe sorted by rating, and page 50 (the API: page 50 of 20, the same rows). Each
is requested REPEAT times after two warm-ups, the three endpoints in turn, counting Python's full (generation 2)
garbage collections during them; then three more times with the queries captured: their number (the fewest of
the three: the market clock's 5-second cache adds one now and then; the API token's once-a-minute last-use UPDATE
left out), their time, and that none reads a listing's ``backtest_results`` or a version's ``result``. Prints
p50/p95 per case and endpoint, ``result`` lines, and ``result  target p95 < 150 ms: met|NOT met``. Fails (exit 1)
when the queries are not bounded: more than MAX_QUERIES in a request, page 50 not as page 1, or the count
differing between cases that show listings; or when a list reads the large JSON. ``--strict`` also fails when
the target is missed. A case over the target gets EXPLAIN (ANALYZE, BUFFERS) of its slowest query when the SQL is
a quarter of its time or more, else a line saying where the time went (``--explain``: every case's EXPLAIN).

Full size: 10,000 listings, 100,000 reviews, 30 requests per case and endpoint (about 4–5 minutes on 2 shared
cores, 2–3 of them seeding: 2 GB of evidence JSON). ``--quick`` (``make bench-quick``): 2,000 listings, 20,000
reviews, 10 requests (about 1.5 minutes).

    createdb -h 127.0.0.1 -U postgres trendy_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trendy_bench .venv/bin/python benchmarks/marketplace.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
# The API's per-user throttle (600/min) would answer 429 to a benchmark; its check still runs on every request.
os.environ.setdefault("API_THROTTLE_USER", "1000000/min")
warnings.filterwarnings("ignore", message="TRENDY_ENCRYPTION_KEYS is not set")

import django  # noqa: E402

django.setup()

from _common import percentile, print_header, report  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models.expressions import RawSQL  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import api_token_issue  # noqa: E402
from marketplace.models import Listing, ListingVersion, Review  # noqa: E402
from strategies.models import PineScript, PineScriptVersion  # noqa: E402

DOMAIN = "marketplace-bench.invalid"
TARGET_MS = 150.0
MAX_QUERIES = 8
PAGE_URL = "/marketplace/"
API_URL = "/api/v1/marketplace/strategies"
ENDPOINTS = ("page", "partial", "api")
CHUNK = 250  # listings per transaction while seeding (each carries two copies of its evidence JSON)
CURVE_POINTS = 1500  # strategies.services.EQUITY_POINTS
POOL = 64  # equity curves per timeframe and kind (public set, out of sample)

# The 30 markets and how often a listing names each (the majors far more often).
SYMBOLS = {
    "BTC/USDT": 30, "ETH/USDT": 22, "SOL/USDT": 10, "BNB/USDT": 6, "XRP/USDT": 6, "DOGE/USDT": 5, "ADA/USDT": 4,
    "AVAX/USDT": 4, "LINK/USDT": 4, "DOT/USDT": 3, "MATIC/USDT": 3, "LTC/USDT": 3, "TRX/USDT": 2, "ATOM/USDT": 2,
    "NEAR/USDT": 2, "APT/USDT": 2, "ARB/USDT": 2, "OP/USDT": 2, "INJ/USDT": 1, "SUI/USDT": 2, "FIL/USDT": 1,
    "ETC/USDT": 1, "UNI/USDT": 1, "AAVE/USDT": 1, "XLM/USDT": 1, "TON/USDT": 1, "PEPE/USDT": 2, "SHIB/USDT": 1,
    "BTC/USDC": 2, "ETH/BTC": 1,
}  # fmt: skip
TIMEFRAMES = {"15m": 10, "30m": 5, "1h": 35, "4h": 30, "1d": 20}
TIMEFRAME_SECONDS = {"15m": 900, "30m": 1800, "1h": 3600, "4h": 14_400, "1d": 86_400}
CATEGORIES = {"trend": 35, "mean_reversion": 20, "breakout": 20, "scalping": 10, "other": 15}
TAGS = (
    "momentum", "ema", "sma", "rsi", "macd", "bollinger", "atr", "supertrend", "ichimoku", "vwap", "volume",
    "breakout", "pullback", "reversal", "swing", "scalp", "grid", "dca", "trailing-stop", "low-drawdown", "btc",
    "eth", "altcoins", "majors", "volatility", "channel", "donchian", "keltner", "stochastic", "adx", "hull",
    "heikin-ashi", "long-only", "long-short", "conservative", "aggressive", "daily", "intraday", "range", "trend",
)  # fmt: skip
ADJECTIVES = (
    "Adaptive", "Steady", "Quantum", "Silent", "Rapid", "Golden", "Iron", "Lunar", "Solar", "Polar", "Crimson",
    "Velvet", "Atlas", "Nimbus", "Vector", "Zen", "Alpha", "Delta", "Sigma", "Orbit",
)  # fmt: skip
NOUNS = (
    "Momentum", "Trend Rider", "Breakout", "Reversion", "Scalper", "Channel", "Crossover", "Swing", "Pulse",
    "Volatility Squeeze", "Range Hunter", "Wave", "Compass", "Engine", "Drift",
)  # fmt: skip
SENTENCES = (
    "Enters on a {a} crossover confirmed by rising volume and leaves on the opposite signal.",
    "Built for {tf} candles of the major pairs; it stays flat when the ATR is below its 50-bar average.",
    "The stop sits at {m}× ATR under the entry and trails once the trade is {m}% in profit.",
    "A **momentum** filter (RSI above 55) keeps it out of choppy ranges.",
    "Trades both directions; shorts only below the 200-period EMA.",
    "Back-tested since 2020, including the 2022 drawdown, without re-optimising the inputs.",
    "Position size is 10 % of equity per trade; no pyramiding, no martingale.",
    "Mean reversion inside Bollinger bands of {a} periods, only when the ADX says there is no trend.",
    "Uses the Donchian channel of {a} bars for the breakout and a Keltner channel for the exit.",
    "Inputs: fast and slow lengths, the ATR length and the stop multiple — the defaults are what Trendy verified.",
    "Designed to sit out news spikes: no entry in the candle after a move of more than {m} ATR.",
    "Works best on liquid markets; thin altcoins slip too much for the {tf} timeframe.",
)
REVIEW_TEXTS = (
    "Runs exactly as described on paper for three weeks now.",
    "Good in trends, gives back a lot in ranges. The out-of-sample numbers were honest.",
    "Drawdown was deeper than I hoped but the creator answers questions quickly.",
    "Simple, no magic, and the verification matches what I see live.",
    "Too few trades on my markets to judge yet.",
    "Lost money in the first month; the backtest looked better than this.",
    "Solid risk management, the trailing stop saved me twice.",
    "Clear description and sensible defaults. Would subscribe again.",
)
PINE_TEMPLATE = """//@version=5
strategy("{name}", overlay=true, default_qty_type=strategy.percent_of_equity, default_qty_value=10)
fastLength = input.int({fast}, "Fast EMA", minval=1)
slowLength = input.int({slow}, "Slow EMA", minval=2)
atrLength = input.int(14, "ATR length")
stopMult = input.float({stop}, "Stop (ATR multiple)")
fast = ta.ema(close, fastLength)
slow = ta.ema(close, slowLength)
atr = ta.atr(atrLength)
if ta.crossover(fast, slow)
    strategy.entry("Long", strategy.long)
if ta.crossunder(fast, slow)
    strategy.close("Long")
strategy.exit("Stop", "Long", stop=strategy.position_avg_price - stopMult * atr)
"""
PINE_INPUTS = ((9, 21, 1.5), (12, 26, 2.0), (20, 50, 2.5), (5, 13, 3.0))
SETTINGS_JSON = json.dumps({
    "initial_capital": "10000", "position_size_pct": "10", "leverage": 1, "fee_rate": "0.001", "slippage_bps": "5",
    "direction": "both", "params": {},
})  # fmt: skip

# (name, query string of the page and the partial, extra query of the API). Page 50 of 20 on the page; the API's
# default page is 50 listings, so its deep page asks for page 50 of 20 too: the same rows (981–1,000).
CASES: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("no filter (newest)", {}, {}),
    ("sort=rating", {"sort": "rating"}, {}),
    ("sort=popularity", {"sort": "popularity"}, {}),
    ("sort=oos_return", {"sort": "oos_return"}, {}),
    ("q=momentum", {"q": "momentum"}, {}),
    ("q=ichimoku (rare)", {"q": "ichimoku"}, {}),
    ("category+tier", {"category": "trend", "tier": "premium"}, {}),
    ("market=SOL/USDT", {"market": "SOL/USDT"}, {}),
    ("min_trades+max_drawdown", {"min_trades": "100", "max_drawdown": "20"}, {}),
    ("min_oos_return+min_rating", {"min_oos_return": "5", "min_rating": "4"}, {}),
    ("price_max=25", {"price_max": "25"}, {}),
    ("q+timeframe, sort=rating", {"q": "breakout", "timeframe": "4h", "sort": "rating"}, {}),
    ("page 50", {"page": "50"}, {"page_size": "20"}),
]
FIRST_PAGE, DEEP_PAGE = "no filter (newest)", "page 50"
BIG_COLUMNS = ('"marketplace_listing"."backtest_results"', '"marketplace_listingversion"."result"')


# --- seeding -------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, weights: dict[str, int], size: int | None = None) -> Any:
    keys = list(weights)
    p = np.array(list(weights.values()), dtype=float)
    return rng.choice(keys, size=size, p=p / p.sum())


class Curves:
    """Pre-serialised equity curves of 1,500 points ([unix seconds, equity]) per timeframe and kind, with the
    total return and the maximum drawdown of each, so the metrics stored beside a curve agree with it."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.pool: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
        end = int(datetime(2024, 12, 31, tzinfo=UTC).timestamp())
        for timeframe, seconds in TIMEFRAME_SECONDS.items():
            bars = {"15m": 140_000, "30m": 70_000, "1h": 35_000, "4h": 8_800, "1d": 1_800}[timeframe]
            for kind, share in (("public", 1.0), ("oos", 0.25)):
                span = int(bars * share) * seconds
                times = np.linspace(end - span, end, CURVE_POINTS).astype(np.int64)
                times -= times % seconds
                curves = []
                for _k in range(POOL):
                    drift = rng.normal(0.0002 if kind == "public" else 0.0001, 0.0006)
                    steps = rng.normal(drift, rng.uniform(0.003, 0.02), CURVE_POINTS)
                    equity = np.round(10_000 * np.exp(np.cumsum(steps)), 2)
                    peak = np.maximum.accumulate(equity)
                    drawdown = float(((peak - equity) / peak).max() * 100)
                    text = json.dumps([[int(t), float(v)] for t, v in zip(times, equity, strict=True)])
                    curves.append((text, float(equity[-1] / 10_000 - 1) * 100, drawdown))
                self.pool[timeframe, kind] = curves

    def pick(self, rng: np.random.Generator, timeframe: str, kind: str) -> tuple[str, float, float]:
        return self.pool[timeframe, kind][int(rng.integers(POOL))]


def _summary_json(rng: np.random.Generator, curve: tuple[str, float, float], trades: int, bars: int) -> str:
    text, total_return, drawdown = curve
    metrics = {
        "total_return_pct": round(total_return, 2),
        "cagr_pct": round(total_return / 4, 2),
        "max_drawdown_pct": round(drawdown, 2),
        "sharpe": round(float(rng.normal(0.8, 0.7)), 2),
        "sortino": round(float(rng.normal(1.1, 0.9)), 2),
        "win_rate_pct": round(float(rng.uniform(28, 68)), 2),
        "profit_factor": round(float(rng.uniform(0.7, 2.4)), 2),
        "trades": trades,
        "exposure_pct": round(float(rng.uniform(10, 80)), 2),
    }
    return (
        f'{{"first": "2020-01-01T00:00:00+00:00", "last": "2024-12-31T00:00:00+00:00", "bars": {bars}, '
        f'"metrics": {json.dumps(metrics)}, "equity": {text}}}'
    )


def _evidence(rng: np.random.Generator, curves: Curves, markets: list[str], timeframe: str) -> dict[str, Any]:
    """The verification result's JSON text and the listing's evidence columns computed from it as
    ``listing_evidence_update`` does (trades summed, the worst drawdown, the mean out-of-sample return)."""
    scale = {"15m": 4.0, "30m": 2.5, "1h": 1.5, "4h": 0.6, "1d": 0.15}[timeframe]
    has_oos = rng.random() > 0.06  # a few: "not enough unseen candles yet"
    rows, total_trades, worst, unseen = [], 0, [], []
    for symbol in markets:
        public = curves.pick(rng, timeframe, "public")
        trades = max(1, int(rng.lognormal(4.2, 0.9) * scale))
        total_trades += trades
        worst.append(round(public[2], 2))
        row = f'{{"symbol": {json.dumps(symbol)}, "public": {_summary_json(rng, public, trades, 35_000)}, '
        if has_oos:
            oos = curves.pick(rng, timeframe, "oos")
            unseen.append(round(oos[1], 2))
            row += f'"out_of_sample": {_summary_json(rng, oos, max(0, trades // 4), 8_750)}}}'
        else:
            row += '"out_of_sample": null}'
        rows.append(row)
    text = (
        f'{{"settings": {SETTINGS_JSON}, "unseen_from": "2024-01-01T00:00:00+00:00", '
        f'"markets": [{", ".join(rows)}], "trades": {total_trades}, "min_trades": 30}}'
    )
    oos_mean = (
        (sum((Decimal(str(v)) for v in unseen), Decimal(0)) / len(unseen)).quantize(Decimal("0.01")) if unseen else None
    )
    return {
        "text": text,
        "trades": total_trades,
        "max_drawdown_pct": Decimal(str(max(worst))),
        "oos_return_pct": oos_mean,
    }


def _jsonb(text: str) -> RawSQL:
    """A JSON text stored as it is (the pool's curves are serialised once, not once per row)."""
    return RawSQL("%s::jsonb", (text,))


def _users(prefix: str, count: int, rng: np.random.Generator) -> list[User]:
    first = ("Alex", "Sam", "Jin", "Maria", "Lee", "Noah", "Ava", "Min", "Omar", "Yuki", "Lena", "Ravi")
    last = ("Kim", "Park", "Smith", "Garcia", "Chen", "Müller", "Rossi", "Tanaka", "Nguyen", "Silva")
    users = [
        User(
            email=f"{prefix}-{k:05d}@{DOMAIN}",
            password=make_password(None),  # unusable
            first_name=first[int(rng.integers(len(first)))] if prefix == "creator" else "",
            last_name=last[int(rng.integers(len(last)))] if prefix == "creator" else "",
        )
        for k in range(count)
    ]
    return User.objects.bulk_create(users, batch_size=2000)


def _review_plan(rng: np.random.Generator, listings: int, reviews: int, reviewers: int) -> list[np.ndarray]:
    """How many reviews each listing gets (uneven: a Pareto share, a fifth with none), exactly ``reviews`` in all,
    never more than ``reviewers`` (one review per trader and listing)."""
    cap = min(reviewers, max(50, reviews // 50))
    weights = rng.pareto(1.2, listings) + 0.05
    weights[rng.random(listings) < 0.2] = 0
    counts = np.minimum(np.floor(weights / weights.sum() * reviews).astype(int), cap)
    open_ = np.flatnonzero((weights > 0) & (counts < cap))
    while counts.sum() < reviews:
        k = int(open_[int(rng.integers(len(open_)))])
        if counts[k] < cap:
            counts[k] += 1
    return [rng.choice(reviewers, size=int(n), replace=False) for n in counts]


def _pine_report(name: str, fast: int, slow: int, stop: float) -> dict[str, Any]:
    """The validation report ``strategies.pine.check.validate`` gives PINE_TEMPLATE, as a script's save stores it
    (written out: the first validation in a process takes about 15 s)."""

    def spec(name: str, kind: str, default: Any, title: str, minimum: int | None, line: int) -> dict[str, Any]:
        return {"name": name, "type": kind, "default": default, "title": title, "minimum": minimum, "maximum": None,
                "step": None, "options": None, "line": line}  # fmt: skip

    return {
        "can_run": True, "version": 5, "declaration": "strategy", "title": name,
        "settings": {"default_qty_type": "strategy.percent_of_equity", "default_qty_value": 10},
        "inputs": [
            spec("fastLength", "int", fast, "Fast EMA", 1, 3),
            spec("slowLength", "int", slow, "Slow EMA", 2, 4),
            spec("atrLength", "int", 14, "ATR length", None, 5),
            spec("stopMult", "float", stop, "Stop (ATR multiple)", None, 6),
        ],
        "errors": [], "ignored": [],
    }  # fmt: skip


def seed(listings: int, reviews: int, seed_value: int = 16) -> dict[str, Any]:
    """The scratch users, scripts, listings, versions and reviews; answers the viewer and the figures."""
    rng = np.random.default_rng(seed_value)
    started = time.perf_counter()
    curves = Curves(rng)
    creators = _users("creator", max(20, listings // 7), rng)
    reviewer_users = _users("reviewer", max(200, reviews // 10), rng)
    plan = _review_plan(rng, listings, reviews, len(reviewer_users))
    creator_weights = rng.pareto(1.5, len(creators)) + 0.1
    creator_of = rng.choice(len(creators), size=listings, p=creator_weights / creator_weights.sum())
    now = timezone.now()
    print(f"  users and plans in {time.perf_counter() - started:.1f} s", flush=True)

    review_rows: list[tuple[uuid.UUID, int, int]] = []  # (listing id, reviewer index, stars)
    hidden_at = set(np.flatnonzero(rng.random(reviews) < 0.005).tolist())
    json_bytes = 0
    for start in range(0, listings, CHUNK):
        scripts, script_versions, listing_rows, versions = [], [], [], []
        for k in range(start, min(start + CHUNK, listings)):
            creator = creators[int(creator_of[k])]
            name = f"{ADJECTIVES[k % len(ADJECTIVES)]} {NOUNS[(k // len(ADJECTIVES)) % len(NOUNS)]} {k}"
            timeframe = str(_pick(rng, TIMEFRAMES))
            markets = [str(s) for s in _pick(rng, SYMBOLS, size=int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15])))]
            markets = list(dict.fromkeys(markets))
            fast, slow, stop = PINE_INPUTS[k % len(PINE_INPUTS)]
            source = PINE_TEMPLATE.format(name=name, fast=fast, slow=slow, stop=stop)
            script = PineScript(user=creator, name=name)
            script_version = PineScriptVersion(
                script=script, number=1, source=source, sha256=hashlib.sha256(source.encode()).hexdigest(),
                pine_version=5, title=name, report=_pine_report(name, fast, slow, stop),
            )  # fmt: skip
            evidence = _evidence(rng, curves, markets, timeframe)
            json_bytes += 2 * len(evidence["text"])
            tier = str(rng.choice(["free", "premium", "pro"], p=[0.55, 0.35, 0.10]))
            price, billing = None, ""
            if tier != "free":
                low, high = (5, 99) if tier == "premium" else (49, 499)
                price = Decimal(int(rng.integers(low, high + 1))) - Decimal("0.01")
                billing = "monthly" if rng.random() < 0.7 else "one_off"
            # This listing's reviews: stars around a quality of its own; hidden ones count in no average.
            quality = float(rng.uniform(2.3, 4.9))
            stars = np.clip(np.rint(rng.normal(quality, 0.9, len(plan[k]))), 1, 5).astype(int)
            visible = [int(s) for j, s in enumerate(stars) if len(review_rows) + j not in hidden_at]
            average = (
                (Decimal(sum(visible)) / len(visible)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                if visible
                else Decimal(0)
            )
            published = now - timedelta(seconds=float(rng.uniform(0, 365 * 86_400)))
            words = {"a": int(rng.integers(10, 60)), "m": round(float(rng.uniform(1.5, 3.5)), 1), "tf": timeframe}
            picked = rng.choice(len(SENTENCES), size=int(rng.integers(4, 8)), replace=False)
            description = " ".join(SENTENCES[int(i)].format(**words) for i in picked)
            description = f"## {name}\n\n{description}\n\nMarkets: {', '.join(markets)}."
            listing = Listing(
                id=uuid.uuid4(),
                creator=creator,
                script=script,
                name=name,
                description=description,
                category=str(_pick(rng, CATEGORIES)),
                tags=sorted({str(t) for t in rng.choice(TAGS, size=int(rng.integers(1, 6)), replace=False)}),
                exchange="binance" if rng.random() < 0.85 else "okx",
                markets=markets,
                timeframe=timeframe,
                tier=tier,
                price_usd=price,
                billing=billing,
                status=Listing.Status.PUBLISHED,
                reviewed_at=published,
                published_at=published,
                downloads_count=int(len(plan[k]) * rng.integers(3, 40) + rng.lognormal(3, 1.5)),
                rating_average=average,
                rating_count=len(visible),
                trades=evidence["trades"],
                max_drawdown_pct=evidence["max_drawdown_pct"],
                oos_return_pct=evidence["oos_return_pct"],
            )
            version_id = uuid.uuid4()
            listing.backtest_results = _jsonb(f'{evidence["text"][:-1]}, "version_id": "{version_id}", "version": 1}}')
            versions.append(
                ListingVersion(
                    id=version_id,
                    listing=listing,
                    number=1,
                    script_version=script_version,
                    notes="First release.",
                    verification=ListingVersion.Verification.PASSED,
                    progress=100,
                    result=_jsonb(evidence["text"]),
                    few_trades=evidence["trades"] < 30,
                    verified_at=published,
                )
            )
            review_rows.extend((listing.id, int(r), int(s)) for r, s in zip(plan[k], stars, strict=True))
            scripts.append(script)
            script_versions.append(script_version)
            listing_rows.append(listing)
        with transaction.atomic():
            PineScript.objects.bulk_create(scripts, batch_size=1000)
            PineScriptVersion.objects.bulk_create(script_versions, batch_size=1000)
            Listing.objects.bulk_create(listing_rows, batch_size=50)
            ListingVersion.objects.bulk_create(versions, batch_size=50)
        done = min(start + CHUNK, listings)
        if done % 2000 == 0 or done == listings:
            print(f"  {done:,} listings in {time.perf_counter() - started:.0f} s", flush=True)

    texts = len(REVIEW_TEXTS)
    for start in range(0, len(review_rows), 10_000):
        batch = []
        for j, (listing_id, reviewer, stars) in enumerate(review_rows[start : start + 10_000], start):
            hidden = j in hidden_at
            batch.append(
                Review(
                    listing_id=listing_id,
                    author=reviewer_users[reviewer],
                    rating=stars,
                    text=f"{REVIEW_TEXTS[j % texts]} {REVIEW_TEXTS[(j * 7 + 3) % texts]}",
                    hidden=hidden,
                    hidden_reason="Abusive language." if hidden else "",
                )
            )
        Review.objects.bulk_create(batch, batch_size=5000)
    print(f"  {len(review_rows):,} reviews in {time.perf_counter() - started:.0f} s", flush=True)

    with connection.cursor() as cursor:
        # The averages and counts agree with the visible reviews (what marketplace.reviews keeps).
        cursor.execute(
            """SELECT count(*) FROM marketplace_listing l JOIN accounts_user u ON u.id = l.creator_id
               LEFT JOIN (SELECT listing_id, count(*) AS n, round(avg(rating), 2) AS a FROM marketplace_review
                          WHERE NOT hidden GROUP BY listing_id) r ON r.listing_id = l.id
               WHERE u.email LIKE %s
                 AND (l.rating_count <> coalesce(r.n, 0) OR l.rating_average <> coalesce(r.a, 0))""",
            [f"%@{DOMAIN}"],
        )
        mismatched = cursor.fetchone()[0]
        assert mismatched == 0, f"{mismatched} listings' ratings differ from their reviews"
        for model in SEEDED_MODELS:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        cursor.execute(
            "SELECT pg_total_relation_size('marketplace_listing'), pg_total_relation_size('marketplace_listingversion')"
        )
        sizes = cursor.fetchone()
    viewer = User.objects.create_user(email=f"viewer@{DOMAIN}", password=None)
    return {
        "viewer": viewer,
        "seconds": time.perf_counter() - started,
        "json_mb": json_bytes / 1e6,
        "table_mb": [size / 1e6 for size in sizes],
        "reviews": len(review_rows),
        "reviewers": len(reviewer_users),
        "creators": len(creators),
        "listings_with_reviews": sum(1 for rows in plan if len(rows)),
        "most_reviews": max(len(rows) for rows in plan),
    }


SEEDED_MODELS = (Review, ListingVersion, Listing, PineScriptVersion, PineScript, User)


def cleanup() -> None:
    """Every row this benchmark made, whatever state a failed run left (only ids are read, never the JSON); then
    VACUUM, so that the shared scratch database neither keeps the dead rows (2 GB at full size) nor makes the next
    run's scans walk past them."""
    mine = f"@{DOMAIN}"
    deleted = Review.objects.filter(listing__creator__email__endswith=mine).delete()[0]
    deleted += Review.objects.filter(author__email__endswith=mine).delete()[0]
    deleted += ListingVersion.objects.filter(listing__creator__email__endswith=mine).only("id").delete()[0]
    deleted += Listing.objects.filter(creator__email__endswith=mine).only("id").delete()[0]
    deleted += PineScript.objects.filter(user__email__endswith=mine).only("id").delete()[0]
    deleted += User.objects.filter(email__endswith=mine).only("id").delete()[0]
    if deleted:
        with connection.cursor() as cursor:
            for model in SEEDED_MODELS:
                cursor.execute(f"VACUUM {connection.ops.quote_name(model._meta.db_table)}")


# --- measuring -----------------------------------------------------------------------------------


def _requests(page: Client, api: APIClient, params: dict[str, str], api_extra: dict[str, str]) -> dict[str, Any]:
    query = urlencode(params)
    api_query = urlencode({**params, **api_extra})
    return {
        "page": lambda: page.get(f"{PAGE_URL}?{query}"),
        "partial": lambda: page.get(f"{PAGE_URL}?{query}", HTTP_HX_REQUEST="true"),
        "api": lambda: api.get(f"{API_URL}?{api_query}"),
    }


def _captured(request: Any) -> tuple[Any, list[dict[str, str]]]:
    with CaptureQueriesContext(connection) as captured:
        response = request()
    queries = [q for q in captured.captured_queries if not q["sql"].startswith('UPDATE "accounts_apitoken"')]
    return response, queries


def _explain(sql: str) -> Iterator[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        for (line,) in cursor.fetchall():
            yield line


class GcPauses:
    """Python's full (generation 2) garbage collections while a request runs: their number and time."""

    def __init__(self) -> None:
        self.endpoint: str | None = None
        self.pauses: dict[str, list[float]] = {}
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2 or self.endpoint is None:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.setdefault(self.endpoint, []).append((time.perf_counter() - self._started) * 1000)

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


def _case(name: str, requests: dict[str, Any], repeat: int, gc_pauses: GcPauses) -> dict[str, Any]:
    for request in requests.values():
        for _ in range(2):
            response = request()
            assert response.status_code == 200, (name, response.status_code, response.content[:300])
    times: dict[str, list[float]] = {endpoint: [] for endpoint in ENDPOINTS}
    gc_pauses.pauses = {}
    for _ in range(repeat):
        for endpoint, request in requests.items():
            gc_pauses.endpoint = endpoint
            began = time.perf_counter()
            request()
            times[endpoint].append((time.perf_counter() - began) * 1000)
            gc_pauses.endpoint = None
    row: dict[str, Any] = {"case": name, "times": times, "problems": []}
    for endpoint, request in requests.items():
        # Three captured requests: the market clock's 5-second cache adds a query to an odd one.
        counts, queries = [], []
        for _ in range(3):
            response, queries = _captured(request)
            counts.append(len(queries))
        if endpoint == "api":
            body = response.json()
            row["matches"], row["rows"] = body["count"], len(body["results"])
        pauses = gc_pauses.pauses.get(endpoint, [])
        row[endpoint] = {
            "p50": percentile(times[endpoint], 50),
            "p95": percentile(times[endpoint], 95),
            "queries": min(counts),
            "queries_max": max(counts),
            "sql_ms": sum(float(q["time"]) for q in queries) * 1000,
            "slowest_sql": max(queries, key=lambda q: float(q["time"]))["sql"] if queries else "",
            "gc": len(pauses),
            "gc_ms": max(pauses, default=0.0),
        }
        big = [q["sql"][:200] for q in queries if any(column in q["sql"] for column in BIG_COLUMNS)]
        if big:
            row["problems"].append(f"{name} ({endpoint}) reads the large JSON: {big[0]}…")
    return row


def measure(viewer: User, repeat: int, explain: bool) -> list[dict[str, Any]]:
    page = Client()
    page.force_login(viewer)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_issue(user=viewer, name='marketplace bench').key}")
    gc.collect()  # the seeding's garbage is not the requests' to collect
    gc_pauses = GcPauses()
    rows: list[dict[str, Any]] = []
    try:
        for name, params, api_extra in CASES:
            row = _case(name, _requests(page, api, params, api_extra), repeat, gc_pauses)
            rows.append(row)
            cells = "".join(
                f"{row[e]['p50']:>8.1f}{row[e]['p95']:>8.1f}{row[e]['queries']:>4}{row[e]['sql_ms']:>6.1f}"
                f"{row[e]['gc']:>3}"
                for e in ENDPOINTS
            )
            print(f"{name:<27}{row['matches']:>7,}{cells}", flush=True)
            for endpoint in ENDPOINTS:
                figures = row[endpoint]
                slow_sql = figures["sql_ms"] > 0.25 * figures["p50"]
                if not explain and (figures["p95"] < TARGET_MS or not slow_sql):
                    if figures["p95"] >= TARGET_MS:
                        print(f"    {endpoint}: p95 over {TARGET_MS:.0f} ms with the SQL at {figures['sql_ms']:.1f} ms "
                              f"of a request; {figures['gc']} full garbage collections while timed, the longest "
                              f"{figures['gc_ms']:.0f} ms: the time is not the database's")  # fmt: skip
                    continue
                print(f"    EXPLAIN (ANALYZE, BUFFERS) of the slowest query of {name} ({endpoint}):")
                for line in _explain(figures["slowest_sql"]):
                    print(f"      {line}")
    finally:
        gc_pauses.close()
    return rows


def check_queries(rows: list[dict[str, Any]]) -> list[str]:
    """Bounded: at most MAX_QUERIES per request, page 50 as page 1, and the same count in every case that shows
    listings (so it grows neither with the listings shown nor with those matched)."""
    problems = []
    for endpoint in ENDPOINTS:
        counts = {row["case"]: row[endpoint]["queries"] for row in rows}
        most = max(row[endpoint]["queries_max"] for row in rows)
        if most > MAX_QUERIES:
            problems.append(f"{endpoint}: {most} queries in a request (at most {MAX_QUERIES})")
        if counts[DEEP_PAGE] != counts[FIRST_PAGE]:
            problems.append(f"{endpoint}: page 50 makes {counts[DEEP_PAGE]} queries, page 1 {counts[FIRST_PAGE]}")
        shown = {counts[row["case"]] for row in rows if row["rows"]}
        if len(shown) > 1:
            problems.append(f"{endpoint}: pages make {sorted(shown)} queries depending on the case")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per case and endpoint")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every case's slowest query")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a p95 misses the target too")
    parser.add_argument("--keep", action="store_true", help="leave the rows at the end (the next run deletes them)")
    parser.add_argument("--quick", action="store_true", help="2,000 listings, 20,000 reviews, 10 requests")
    args = parser.parse_args()
    if args.quick:
        args.listings, args.reviews, args.repeat = 2_000, 20_000, 10
    print_header(args, uses_db=True)
    if args.listings < 1000:
        parser.error("--listings: at least 1,000 (the deep case is page 50 of 20 listings)")
    if connection.vendor != "postgresql":
        print("The marketplace benchmark needs PostgreSQL: set DATABASE_URL (see the docstring).", file=sys.stderr)
        return 2
    settings.DEBUG = False  # as in production: no query log, no template debug
    settings.ALLOWED_HOSTS = ["testserver"]

    cleanup()
    try:
        print(f"seeding {args.listings:,} listings and {args.reviews:,} reviews (bulk_create)…", flush=True)
        seeded = seed(args.listings, args.reviews)
        print(
            f"seeded in {seeded['seconds']:.0f} s: {seeded['creators']:,} creators, {seeded['reviewers']:,} reviewers, "
            f"{seeded['listings_with_reviews']:,} listings with reviews (most: {seeded['most_reviews']:,}); "
            f"evidence JSON {seeded['json_mb']:,.0f} MB sent; tables: listings {seeded['table_mb'][0]:,.0f} MB, "
            f"versions {seeded['table_mb'][1]:,.0f} MB; {Listing.objects.filter(status='published').count():,} "
            "published listings in the database",
            flush=True,
        )
        print(f"\n{args.repeat} requests per case and endpoint after 2 warm-ups, times in ms; q: SQL queries of a "
              "request (the fewest of 3: the market clock's 5-second cache adds one now and then), sql: their time "
              "in ms, gc: full garbage collections during the timed requests")  # fmt: skip
        head = "".join(f"{e + ' p50':>11}{'p95':>8}{'q':>4}{'sql':>6}{'gc':>3}" for e in ENDPOINTS)
        print(f"{'case':<27}{'matches':>7}{head}")
        rows = measure(seeded["viewer"], args.repeat, args.explain)
    finally:
        if not args.keep:
            started = time.perf_counter()
            cleanup()
            print(f"deleted the benchmark's rows in {time.perf_counter() - started:.0f} s", flush=True)

    problems = [problem for row in rows for problem in row["problems"]] + check_queries(rows)
    for row in rows:
        for endpoint in ENDPOINTS:
            report(f"{endpoint}: {row['case']}", row["times"][endpoint], "ms")
    worst_p95, worst_case, worst_endpoint = max((row[e]["p95"], row["case"], e) for row in rows for e in ENDPOINTS)
    queries = {e: max(row[e]["queries"] for row in rows) for e in ENDPOINTS}
    bounded = "bounded" if not problems else "NOT bounded"
    print(f"result  SQL queries per request: page {queries['page']}, partial {queries['partial']}, "
          f"api {queries['api']} in every case, page 1 as page 50 (at most {MAX_QUERIES}): {bounded}")  # fmt: skip
    collections = {e: sum(row[e]["gc"] for row in rows) for e in ENDPOINTS}
    longest = max(row[e]["gc_ms"] for row in rows for e in ENDPOINTS)
    print(f"result  full garbage collections while timed: page {collections['page']}, partial "
          f"{collections['partial']}, api {collections['api']} (of {len(rows) * args.repeat} requests each); "
          f"the longest {longest:.0f} ms")  # fmt: skip
    report(f"worst p95 ({worst_endpoint}: {worst_case})", worst_p95, "ms")
    met = worst_p95 < TARGET_MS
    print(f"result  target p95 < {TARGET_MS:.0f} ms: {'met' if met else 'NOT met'} "
          f"({args.listings:,} listings, {seeded['reviews']:,} reviews)")  # fmt: skip
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems or (args.strict and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
