import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
django_application = get_wsgi_application()

# TradingView's alerts (POST /webhooks/tv/<token>/) skip the middleware an API answer does not need.
from webhooks.receiver_app import receiver_first  # noqa: E402

application = receiver_first(django_application)

# Load the numba kernels (strategies, backtests) now, not inside the first request that needs them.
from strategies.warmup import warm_up  # noqa: E402

warm_up()
