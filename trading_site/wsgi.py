import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
django_application = get_wsgi_application()

# TradingView's alerts (POST /webhooks/tv/<token>/) skip the middleware an API answer does not need.
from webhooks.receiver_app import receiver_first  # noqa: E402

application = receiver_first(django_application)

# Load the numba kernels (strategies, backtests) now, not inside the first request that needs them.
from django.conf import settings  # noqa: E402

from strategies.warmup import warm_up, warm_up_pine_in_background  # noqa: E402

warm_up()
if settings.TRENDY_PINE_WARM_UP:
    warm_up_pine_in_background()  # pasted scripts are parsed in the web process
