"""Trendy's own ``manage.py check --deploy`` checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def metrics_token(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.TRENDY_METRICS_TOKEN:
        return []
    return [
        checks.Warning(
            "TRENDY_METRICS_TOKEN is not set: /metrics answers 404 with DJANGO_DEBUG=0.",
            hint="Set TRENDY_METRICS_TOKEN and give Prometheus the same value as its bearer token.",
            id="trendy.W001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def test_mode_payments(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.TRENDY_PAYMENTS != "test":
        return []
    return [
        checks.Warning(
            "TRENDY_PAYMENTS=test: marketplace purchases go through the test-mode provider, and no money moves.",
            hint="Set TRENDY_PAYMENTS=stripe with STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or off.",
            id="trendy.W002",
        )
    ]
