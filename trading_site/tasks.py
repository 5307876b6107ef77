"""Trendy's own periodic work that belongs to no app."""

from __future__ import annotations

from celery import shared_task

from trading_site import metrics_state


@shared_task(name="trading_site.refresh_portfolio_metrics", ignore_result=True)
def refresh_portfolio_metrics() -> int:
    """The portfolio figures of /metrics (value and drawdown per exchange), computed once for every scrape."""
    return len(metrics_state.portfolio_refresh())
