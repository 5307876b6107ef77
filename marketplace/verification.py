"""Trendy's own evidence for a listing version (issue 16): its numbers come from Trendy's backtest, not from the
creator's claims, and include a period the creator could not tune to.

For each market the listing names, on its exchange and timeframe:

- **public set**: the script as written (its own stops and targets, none added; both directions where it trades
  both; the inputs' defaults; 10,000 USDT, 10 % of equity per position, 1×, 0.1 % fee, 5 bps slippage) over every
  stored candle of the market;
- **out of sample**: the same over the most recent candles none of the creator's own backtests of the script (any
  version) used — after the latest end of those runs; a creator who never backtested it here gets the newest quarter
  of the stored candles. The candles before it only warm the indicators up. Fewer than ``MIN_UNSEEN_BARS`` unseen
  candles: reported as "not enough unseen candles yet", not an error.

A version with fewer than ``MIN_TRADES`` trades on the public set is marked so. A script that fails while running,
or a market without stored candles, fails the verification with the reason the creator reads.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from market_data.exceptions import MarketDataError
from market_data.selectors import load_candles
from marketplace.models import ListingVersion
from marketplace.services import listing_evidence_update
from strategies import services as backtests
from strategies.backtest import BacktestError
from strategies.builtin import get_strategy
from strategies.interface import StrategyError
from strategies.messages import strategy_error_message
from strategies.models import BacktestRun

log = logging.getLogger(__name__)

MIN_TRADES = 30  # on the public set, all markets together
MIN_UNSEEN_BARS = 100
UNSEEN_SHARE = 0.25  # of the stored candles, when the creator never backtested the script here
RISK = backtests.RiskSettings(
    initial_capital=Decimal(10_000), stop_loss_pct=None, take_profit_pct=None, direction="both"
)
SHOWN_METRICS = (
    "total_return_pct", "cagr_pct", "max_drawdown_pct", "sharpe", "sortino", "win_rate_pct", "profit_factor",
    "trades", "exposure_pct",
)  # fmt: skip


def _claim(version_id: Any) -> bool:
    return bool(
        ListingVersion.objects.filter(id=version_id, verification=ListingVersion.Verification.QUEUED).update(
            verification=ListingVersion.Verification.RUNNING, progress=1, error=""
        )
    )


def unseen_from(version: ListingVersion) -> pd.Timestamp | None:
    """The end of the creator's latest backtest of this script (any of its versions), None when there is none."""
    slugs = [v.slug for v in version.script_version.script.versions.all()]
    latest = BacktestRun.objects.filter(user_id=version.listing.creator_id, strategy__in=slugs).aggregate(
        end=Max("end")
    )["end"]
    return None if latest is None else pd.Timestamp(latest)


def _summary(result: Any, candles: pd.DataFrame) -> dict[str, Any]:
    payload = backtests.result_payload(result)
    return {
        "first": candles.index[0].isoformat(),
        "last": candles.index[-1].isoformat(),
        "bars": len(candles),
        "metrics": {key: payload["metrics"].get(key) for key in SHOWN_METRICS},
        "equity": payload["equity"],
    }


def _market(version: ListingVersion, strategy: Any, params: dict[str, Any], symbol: str, since: Any) -> dict:
    listing = version.listing
    candles = load_candles(listing.exchange, symbol, listing.timeframe)
    if len(candles) < strategy.lookback(params):
        raise MarketDataError(
            _("Trendy has too few stored %(timeframe)s candles of %(symbol)s on %(exchange)s to verify the script.")
            % {"timeframe": listing.timeframe, "symbol": symbol, "exchange": listing.exchange}
        )
    public = backtests.backtest_compute(
        strategy=strategy, params=params, candles=candles, risk=RISK, timeframe=listing.timeframe
    )
    start = since if since is not None else candles.index[int(len(candles) * (1 - UNSEEN_SHARE))]
    unseen = candles.loc[start:]
    row: dict[str, Any] = {"symbol": symbol, "public": _summary(public, candles), "out_of_sample": None}
    if len(unseen) >= MIN_UNSEEN_BARS:
        oos = backtests.backtest_window(
            strategy=strategy, params=params, candles=candles, risk=RISK, timeframe=listing.timeframe,
            trade_from=unseen.index[0],
        )  # fmt: skip
        row["out_of_sample"] = _summary(oos, unseen)
    return row


def verify(*, version_id: Any) -> str:
    """Verify a queued listing version once (a second call, or a retry after it ended, does nothing)."""
    if not _claim(version_id):
        return "skipped"
    version = ListingVersion.objects.select_related("listing", "script_version__script").get(id=version_id)
    listing = version.listing
    try:
        strategy = get_strategy(version.script_version.slug)
        params = strategy.validate({})
        since = unseen_from(version)
        markets = []
        for k, symbol in enumerate(listing.markets):
            markets.append(_market(version, strategy, params, symbol, since))
            progress = 5 + int(90 * (k + 1) / len(listing.markets))
            ListingVersion.objects.filter(id=version.id).update(progress=progress)
    except (StrategyError, BacktestError, MarketDataError) as exc:
        message = strategy_error_message(exc) if isinstance(exc, StrategyError) else str(exc)
        ListingVersion.objects.filter(id=version.id).update(
            verification=ListingVersion.Verification.FAILED, error=message, progress=100, verified_at=timezone.now()
        )
        return "failed"
    except Exception:
        log.exception("verification of listing version %s crashed", version.id)
        ListingVersion.objects.filter(id=version.id).update(
            verification=ListingVersion.Verification.FAILED, progress=100, verified_at=timezone.now(),
            error=_("The verification failed unexpectedly; staff have the details."),
        )  # fmt: skip
        raise
    trades = sum(int(row["public"]["metrics"]["trades"] or 0) for row in markets)
    result = {
        "settings": {"initial_capital": "10000", "position_size_pct": "10", "leverage": 1, "fee_rate": "0.001",
                     "slippage_bps": "5", "direction": "both", "params": params},
        "unseen_from": since.isoformat() if since is not None else None,
        "markets": markets,
        "trades": trades,
        "min_trades": MIN_TRADES,
    }  # fmt: skip
    ListingVersion.objects.filter(id=version.id).update(
        verification=ListingVersion.Verification.PASSED, progress=100, result=result, few_trades=trades < MIN_TRADES,
        verified_at=timezone.now(),
    )  # fmt: skip
    listing_evidence_update(listing_id=listing.id)  # the newest verified version's evidence; released if published
    return "passed"
