from __future__ import annotations

from celery import shared_task


@shared_task(name="marketplace.verify_listing_version", acks_late=True, time_limit=1800, soft_time_limit=1740)
def verify_listing_version(version_id: str) -> str:
    from marketplace.verification import verify

    return verify(version_id=version_id)
