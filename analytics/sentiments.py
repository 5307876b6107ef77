"""Sentiment of the stored markets' assets: refresh the snapshots from the configured sources (the one service that
writes them; the beat calls it every 15 minutes) and answer "what is the mood about this market" for the API and
the pages.

- **Sources** come from the settings: ``TRENDY_SENTIMENT_SOURCES`` (``news,reddit`` in the containers; none in a
  plain checkout and in tests, which never reach the internet), the feeds, subreddits and base addresses, and
  ``TRENDY_X_BEARER_TOKEN`` for X (off without it). Nothing configured: the answer says so and carries no number.
- **One refresh** asks each news feed once (entries are matched to assets by the names they mention), and Reddit
  and X once per asset with the asset's query. A source or feed that fails is stored with the snapshot as an
  issue; the others still count. A source that fails as a whole (rate limited, unreachable, timed out) is not
  asked again for the other assets of that refresh; when every source failed the snapshot's status is
  ``unavailable`` (no number, and no part of a baseline).
- **Baseline** for the impact score: the median of the asset's daily volumes over the 30 days before today (UTC;
  one value per day: that day's last snapshot), when there are at least 3 such days.
"""

from __future__ import annotations

import logging
import statistics
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics import sentiment, sources
from analytics.errors import AnalysisError
from analytics.models import SentimentSnapshot
from market_data.selectors import series_list

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
BASELINE_DAYS = 30
MIN_BASELINE_DAYS = 3
HISTORY = 48  # snapshots in an answer's history (12 hours at the beat's pace)


def configured_sources() -> dict[str, sources.Source]:
    names = set(settings.TRENDY_SENTIMENT_SOURCES)
    timeout = float(settings.TRENDY_SENTIMENT_TIMEOUT)
    retries = int(settings.TRENDY_SENTIMENT_RETRIES)
    configs = {
        "reddit": sources.SourceConfig(
            base_url=settings.TRENDY_REDDIT_URL,
            timeout=timeout,
            max_retries=retries,
            min_interval=float(settings.TRENDY_REDDIT_MIN_INTERVAL),
        ),
        "news": sources.SourceConfig(timeout=timeout, max_retries=retries, min_interval=1.0),
        "x": sources.SourceConfig(
            base_url=settings.TRENDY_X_API_URL, timeout=timeout, max_retries=retries, min_interval=1.0
        ),
    }
    feeds = dict(settings.TRENDY_SENTIMENT_FEEDS) or None
    return sources.sources_from_config(
        reddit="reddit" in names,
        subreddits=settings.TRENDY_SENTIMENT_SUBREDDITS or None,
        news="news" in names,
        feeds=feeds,
        x_bearer_token=settings.TRENDY_X_BEARER_TOKEN if "x" in names else None,
        configs=configs,
    )


def sentiment_assets() -> list[str]:
    """TRENDY_SENTIMENT_ASSETS, or the base assets of every stored market (at most 20)."""
    if settings.TRENDY_SENTIMENT_ASSETS:
        return [a.upper() for a in settings.TRENDY_SENTIMENT_ASSETS][:20]
    found: list[str] = []
    for info in series_list():
        try:
            asset = sentiment.base_asset(info.symbol)
        except sentiment.SentimentError:
            continue
        if asset not in found:
            found.append(asset)
    return sorted(found)[:20]


def _baseline(asset: str, now: datetime) -> float | None:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)  # previous days only, not today's snapshots
    rows = SentimentSnapshot.objects.filter(
        asset=asset, status__in=("ok", "no_posts"), as_of__lt=today, as_of__gte=today - timedelta(days=BASELINE_DAYS)
    ).values_list("as_of", "volume", "window_seconds")
    per_day: dict[Any, tuple[datetime, int]] = {}
    for as_of, volume, window in rows:
        if window != int(WINDOW.total_seconds()):
            continue
        day = as_of.date()
        if day not in per_day or as_of > per_day[day][0]:
            per_day[day] = (as_of, volume)
    if len(per_day) < MIN_BASELINE_DAYS:
        return None
    return float(statistics.median(v for _, v in per_day.values()))


def _issue(source: str, exc: sources.SourceError) -> sentiment.SourceIssue:
    return sentiment.SourceIssue(source=source, code=exc.code, message=sources.redacted(str(exc)))


def sentiment_refresh(*, assets: list[str] | None = None, now: datetime | None = None) -> list[SentimentSnapshot]:
    """Fetch the configured sources and store one snapshot per asset (none when no source is configured: the
    answer then says so). Runs once at a time (a cache lock); a second call meanwhile returns []."""
    configured = configured_sources()
    if not configured:
        return []
    assets = assets or sentiment_assets()
    if not cache.add("analytics:sentiment:refresh", 1, timeout=900):
        logger.info("sentiment: a refresh is running; skipped")
        return []
    try:
        now = now or timezone.now()
        since = now - WINDOW
        shared: list[sentiment.Post] = []
        shared_issues: list[sentiment.SourceIssue] = []
        if "news" in configured:
            try:
                got = configured["news"].fetch("", since)
                shared += got.posts
                shared_issues += got.issues
            except sources.SourceError as exc:
                shared_issues.append(_issue("news", exc))
        down: dict[str, sentiment.SourceIssue] = {}  # a source that failed as a whole is not asked again this run
        if "news" in configured and any(i.source == "news" and not i.outlet for i in shared_issues):
            down["news"] = next(i for i in shared_issues if i.source == "news" and not i.outlet)
        rows = []
        for asset in assets:
            posts = list(shared)
            issues = list(shared_issues)
            for name in ("reddit", "x"):
                if name not in configured:
                    continue
                if name in down:
                    issues.append(down[name])
                    continue
                try:
                    got = configured[name].fetch(sources.query_for(asset, name), since)
                    posts += got.posts
                    issues += got.issues
                except sources.SourceError as exc:
                    down[name] = _issue(name, exc)
                    issues.append(down[name])
            snap = sentiment.snapshot(
                posts,
                asset=asset,
                now=now,
                window=WINDOW,
                baseline_volume=_baseline(asset, now),
                sources=list(configured),
                issues=issues,
            )
            payload = snap.as_dict()
            status = snap.status
            if set(configured) <= set(down):  # every source failed: not "no posts", and no part of a baseline
                status = payload["status"] = "unavailable"
                payload["message"] = "Every configured source failed."
            with transaction.atomic():
                row, _created = SentimentSnapshot.objects.update_or_create(
                    asset=asset,
                    as_of=now,
                    defaults={
                        "window_seconds": int(WINDOW.total_seconds()),
                        "status": status,
                        "overall": snap.overall,
                        "volume": snap.volume,
                        "impact": snap.impact,
                        "sources": list(configured),
                        "payload": payload,
                    },
                )
            rows.append(row)
            logger.info(
                "sentiment: %s %s overall=%s posts=%d issues=%d",
                asset,
                snap.status,
                snap.overall,
                snap.volume,
                len(issues),
            )
        return rows
    finally:
        cache.delete("analytics:sentiment:refresh")


def sentiment_prune(*, keep_days: int = 90) -> int:
    """Delete snapshots older than ``keep_days`` (the daily beat)."""
    deleted, _ = SentimentSnapshot.objects.filter(as_of__lt=timezone.now() - timedelta(days=keep_days)).delete()
    return deleted


def _label(score: float | None) -> str | None:
    if score is None:
        return None
    return sentiment.polarity(score)


def market_sentiment(*, symbol: str) -> dict[str, Any]:
    """The seed's sentiment answer for a market's base asset: the newest snapshot and the history of its overall
    score. With no source configured, or none stored yet, the answer says so and has no number."""
    try:
        asset = sentiment.base_asset(symbol)
    except sentiment.SentimentError:
        raise AnalysisError(
            _("%(symbol)s is not a market symbol such as BTCUSDT.") % {"symbol": symbol},
            code="bad_symbol",
            field="symbol",
        ) from None
    configured = list(configured_sources())
    latest = SentimentSnapshot.objects.filter(asset=asset).order_by("-as_of").first()
    base = {"symbol": symbol.replace("/", "").split(":")[0], "asset": asset, "configured_sources": configured}
    if not configured:
        return {
            **base,
            "status": "no_sources",
            "message": _("No sentiment source is configured on this server, so there is no sentiment score."),
            "overall_score": None,
            "sentiment": None,
            "sources": {},
        }
    if latest is None:
        return {
            **base,
            "status": "pending",
            "message": _("No sentiment snapshot of %(asset)s yet: the sources are read every 15 minutes.")
            % {"asset": asset},
            "overall_score": None,
            "sentiment": None,
            "sources": {},
        }
    snap = latest.payload
    history = list(
        SentimentSnapshot.objects.filter(asset=asset)
        .order_by("-as_of")
        .values_list("as_of", "overall", "volume")[:HISTORY]
    )
    stale = timezone.now() - latest.as_of > timedelta(hours=1)
    return {
        **base,
        "status": snap["status"],
        "as_of": latest.as_of.isoformat().replace("+00:00", "Z"),
        "stale": stale,
        "window_hours": latest.window_seconds // 3600,
        "overall_score": latest.overall,
        "sentiment": _label(latest.overall),
        "impact_score": latest.impact,
        "impact_basis": snap["impact_basis"],
        "volume": latest.volume,
        "sources": {
            s["source"]: {
                "score": s["score"],
                "volume": s["volume"],
                "positive": s["positive"],
                "negative": s["negative"],
                "neutral": s["neutral"],
            }
            for s in snap["sources"]
        },
        "trend": snap["trend"],
        "history": [
            {"as_of": a.isoformat().replace("+00:00", "Z"), "overall_score": o, "volume": v}
            for a, o, v in reversed(history)
        ],
        "topics": snap["topics"],
        "headlines": snap["headlines"],
        "issues": snap["issues"],
    }
