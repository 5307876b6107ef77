from django.urls import include, path

from trading import dashboard_views, views

app_name = "trading"

urlpatterns = [
    path("keys/", include("trading.exchange_accounts_urls")),
    path("dashboard/", dashboard_views.dashboard_page, name="dashboard"),
    path("bots/", views.bot_list, name="bots"),
    path("bots/new/", views.bot_new, name="bot-new"),
    path("bots/<int:bot_id>/<slug:action>/", views.bot_action, name="bot-action"),
    path("positions/", views.positions, name="positions"),
    path("positions/table/", views.positions_table, name="positions-table"),
    path("positions/<int:position_id>/close/", views.position_close, name="position-close"),
    path("positions/<int:position_id>/stops/", views.position_stops, name="position-stops"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order-cancel"),
    path("auto-trading/", views.auto_trading, name="auto-trading"),
]
