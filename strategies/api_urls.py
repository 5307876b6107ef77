from django.urls import path

from strategies import api

urlpatterns = [
    path("strategies/", api.StrategyListApi.as_view(), name="api-strategy-list"),
    path("strategies/<slug:slug>/pine/", api.StrategyPineApi.as_view(), name="api-strategy-pine"),
    path("backtests/", api.BacktestListCreateApi.as_view(), name="api-backtest-list"),
    path("backtests/<int:run_id>/", api.BacktestDetailApi.as_view(), name="api-backtest-detail"),
    path("optimisations/", api.OptimisationCreateApi.as_view(), name="api-optimisation-create"),
]
