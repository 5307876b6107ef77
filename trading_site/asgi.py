"""The ASGI application: HTTP (Django, with TradingView's alerts taken first) and the live stream's WebSocket
(``/ws/v1/stream``, Django Channels). Served by ``runserver`` in development (daphne) and by granian
(``--interface asgi``) in the containers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_site.settings")
django_application = get_asgi_application()

# Imported once Django is set up (they read settings and models).
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from notifications.stream import websocket_urlpatterns  # noqa: E402
from webhooks.receiver_app import receiver_first_asgi  # noqa: E402

# TradingView's alerts (POST /webhooks/tv/<token>/) skip the middleware an API answer does not need.
application = ProtocolTypeRouter(
    {
        "http": receiver_first_asgi(django_application),
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
