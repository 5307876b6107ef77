from __future__ import annotations

from celery import shared_task


@shared_task(name="marketplace.verify_listing_version", acks_late=True, time_limit=1800, soft_time_limit=1740)
def verify_listing_version(version_id: str) -> str:
    from marketplace.verification import verify

    return verify(version_id=version_id)


@shared_task(name="marketplace.expire_subscriptions", time_limit=600, soft_time_limit=540)
def expire_subscriptions() -> dict[str, int]:
    """The beat's: renew test-mode monthly subscriptions that come due, end those whose access is over, drop
    unpaid checkouts, and apply provider events that waited for an earlier one."""
    from marketplace.subscriptions import retry_deferred, subscriptions_expire

    counts = subscriptions_expire()
    counts["deferred_applied"] = retry_deferred()
    return counts
