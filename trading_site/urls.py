from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from notifications import settings_views as notification_settings_views
from trading_site import health, views
from trading_site.api import NotFoundApi

DOCS_TITLE = format_lazy("{} · Trendy", _("API documentation"))

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("market_data.api_urls")),
    path("", include("strategies.api_urls")),
    path("", include("trading.api_urls")),
    path("", include("webhooks.api_urls")),
    path("", include("marketplace.api_urls")),
    path("", include("analytics.api_urls")),
    path("", include("notifications.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file ("?script"): no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", title=DOCS_TITLE), name="api-docs"),
    # Last: any other path (``bots/abc/``, a typo) is the API's JSON 404, not the site's HTML page.
    re_path(r"^.*$", NotFoundApi.as_view(), name="api-not-found"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("sw.js", notification_settings_views.service_worker, name="service-worker"),  # web push: scope "/"
    path("metrics", health.metrics, name="prometheus-django-metrics"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("accounts.urls")),
    path("markets/", include("market_data.urls")),
    path("strategies/", include("strategies.urls")),
    path("trading/", include("trading.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("marketplace/", include("marketplace.urls")),
    path("onboarding/", include("onboarding.urls")),
    path("analytics/", include("analytics.urls")),
    path("notifications/", include("notifications.urls")),
    path("api/v1/", include(api_v1)),
]
