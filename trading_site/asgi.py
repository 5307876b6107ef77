import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
django_application = get_asgi_application()

# TradingView's alerts (POST /webhooks/tv/<token>/) skip the middleware an API answer does not need.
from webhooks.receiver_app import receiver_first_asgi  # noqa: E402

application = receiver_first_asgi(django_application)
