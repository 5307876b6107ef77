"""``/api/v1/``: exchange accounts, bots, positions, orders, trades, the auto-trading switch and the dashboard's
figures."""

from django.urls import include, path

from trading.bots import api as bot_api
from trading.dashboard import api as dashboard_api
from trading.execution import api as execution_api

urlpatterns = [
    path("accounts-secure/", include("trading.exchange_accounts.api_urls")),
    path("bots/", bot_api.BotListCreateApi.as_view(), name="api-bot-list"),
    path("bots/<int:bot_id>/", bot_api.BotDetailApi.as_view(), name="api-bot-detail"),
    path("bots/<int:bot_id>/start/", bot_api.BotStartApi.as_view(), name="api-bot-start"),
    path("bots/<int:bot_id>/pause/", bot_api.BotPauseApi.as_view(), name="api-bot-pause"),
    path("bots/<int:bot_id>/stop/", bot_api.BotStopApi.as_view(), name="api-bot-stop"),
    path("bots/<int:bot_id>/version/", bot_api.BotMoveApi.as_view(), name="api-bot-move"),
    path("positions/", execution_api.PositionListApi.as_view(), name="api-position-list"),
    path("positions/<int:position_id>/", execution_api.PositionDetailApi.as_view(), name="api-position-detail"),
    path("positions/<int:position_id>/close/", execution_api.PositionCloseApi.as_view(), name="api-position-close"),
    path("orders/", execution_api.OrderListApi.as_view(), name="api-order-list"),
    path("orders/<int:order_id>/cancel/", execution_api.OrderCancelApi.as_view(), name="api-order-cancel"),
    path("trades/", execution_api.TradeListApi.as_view(), name="api-trade-list"),
    path("auto-trading/", bot_api.AutoTradingApi.as_view(), name="api-auto-trading"),
    path("dashboard/stats", dashboard_api.DashboardStatsApi.as_view(), name="api-dashboard-stats"),
]
