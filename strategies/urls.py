from django.urls import path

from strategies import pine_views, views

app_name = "strategies"

urlpatterns = [
    path("", views.strategy_list, name="list"),
    path("backtests/", views.run_list, name="run-list"),
    path("backtests/new/", views.backtest_new, name="backtest-new"),
    path("backtests/compare/", views.run_compare, name="run-compare"),
    path("backtests/<int:run_id>/", views.run_detail, name="run-detail"),
    path("backtests/<int:run_id>/progress/", views.run_progress, name="run-progress"),
    path("optimise/new/", views.optimise_new, name="optimise-new"),
    path("pine/new/", pine_views.pine_new, name="pine-new"),
    path("pine/<uuid:script_id>/", pine_views.pine_detail, name="pine-detail"),
    path("<slug:slug>/pine/", views.pine_download, name="pine"),
]
