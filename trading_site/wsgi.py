import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
application = get_wsgi_application()

# Load the numba kernels (strategies, backtests) now, not inside the first request that needs them.
from strategies.warmup import warm_up  # noqa: E402

warm_up()
