"""``/trading/``: the API keys page, the dashboard, bots, positions and orders (url names ``trading:…``)."""

from django.urls import include, path

from trading.bots import views as bot_views
from trading.dashboard import views as dashboard_views
from trading.execution import views as execution_views

app_name = "trading"

urlpatterns = [
    path("keys/", include("trading.exchange_accounts.urls")),
    path("dashboard/", dashboard_views.dashboard_page, name="dashboard"),
    path("bots/", bot_views.bot_list, name="bots"),
    path("bots/new/", bot_views.bot_new, name="bot-new"),
    path("bots/<int:bot_id>/move/", bot_views.bot_move, name="bot-move"),
    path("bots/<int:bot_id>/<slug:action>/", bot_views.bot_action, name="bot-action"),
    path("positions/", execution_views.positions, name="positions"),
    path("positions/table/", execution_views.positions_table, name="positions-table"),
    path("positions/<int:position_id>/close/", execution_views.position_close, name="position-close"),
    path("positions/<int:position_id>/stops/", execution_views.position_stops, name="position-stops"),
    path("orders/<int:order_id>/cancel/", execution_views.order_cancel, name="order-cancel"),
    path("auto-trading/", bot_views.auto_trading, name="auto-trading"),
]
