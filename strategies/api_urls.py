from django.urls import path

from strategies import api, pine_api

urlpatterns = [
    path("strategies/", api.StrategyListApi.as_view(), name="api-strategy-list"),
    path("strategies/pine/validate", pine_api.PineValidateApi.as_view(), name="api-pine-validate"),
    path("strategies/pine/", pine_api.PineScriptListCreateApi.as_view(), name="api-pine-list"),
    path("strategies/pine/<uuid:script_id>/", pine_api.PineScriptDetailApi.as_view(), name="api-pine-detail"),
    path(
        "strategies/pine/<uuid:script_id>/versions/",
        pine_api.PineVersionCreateApi.as_view(),
        name="api-pine-version-create",
    ),
    path("strategies/<slug:slug>/pine/", api.StrategyPineApi.as_view(), name="api-strategy-pine"),
    path("backtests/", api.BacktestListCreateApi.as_view(), name="api-backtest-list"),
    path("backtests/<int:run_id>/", api.BacktestDetailApi.as_view(), name="api-backtest-detail"),
    path("optimisations/", api.OptimisationCreateApi.as_view(), name="api-optimisation-create"),
]
