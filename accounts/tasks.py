from celery import shared_task

from accounts import services


@shared_task(name="accounts.purge_expired_api_tokens")
def purge_expired_api_tokens() -> int:
    return services.api_tokens_purge_expired()
