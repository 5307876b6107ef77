"""Staff views of the regime models: every version with its window, scores and the decision that made it live or
not (read-only: versions are made by training), and an action that retrains the selected markets now."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from analytics import regimes
from analytics.models import ForecastModel, RegimeModel, SentimentSnapshot, SignalModel, SignalRecord
from trading_site.admin_filters import ReadOnlyAdmin


@admin.action(description=_("Train a new version of the selected markets now"), permissions=["view"])
def retrain(modeladmin: admin.ModelAdmin, request: Any, queryset: Any) -> None:
    markets = [(row.exchange, row.symbol, row.timeframe) for row in queryset]
    sent = regimes.regime_models_retrain(markets=markets)
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d market sent to the analytics queue.", "%(count)d markets sent to the analytics queue.", sent
        )
        % {"count": sent},
    )


@admin.register(RegimeModel)
class RegimeModelAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "exchange", "symbol", "timeframe", "version", "status", "kind", "validation_score", "baseline_score",
        "train_end", "training_seconds", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "kind", "timeframe", "exchange", "code_version"]
    search_fields = ["symbol"]
    date_hierarchy = "created_at"
    actions = [retrain]
    readonly_fields = [f.name for f in RegimeModel._meta.fields]

    @admin.display(description=_("validation balanced accuracy"))
    def validation_score(self, row: RegimeModel) -> str:
        return f"{(row.validation.get(row.kind) or {}).get('balanced_accuracy', 0):.3f}"

    @admin.display(description=_("baseline balanced accuracy"))
    def baseline_score(self, row: RegimeModel) -> str:
        return f"{row.baseline.get('balanced_accuracy', 0):.3f}"


@admin.register(SentimentSnapshot)
class SentimentSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["id", "asset", "as_of", "status", "overall", "volume", "impact", "created_at"]
    list_filter = ["status", "asset"]
    search_fields = ["asset"]
    date_hierarchy = "as_of"
    readonly_fields = [f.name for f in SentimentSnapshot._meta.fields]


@admin.register(ForecastModel)
class ForecastModelAdmin(ReadOnlyAdmin):
    list_display = ["id", "exchange", "symbol", "version", "live", "source_timeframe", "last_day", "week_coverage"]
    list_filter = ["live", "exchange", "source_timeframe"]
    search_fields = ["symbol"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ForecastModel._meta.fields]

    @admin.display(description=_("7-day interval coverage"))
    def week_coverage(self, row: ForecastModel) -> str:
        return f"{(row.coverage.get('7') or {}).get('coverage', 0):.1%}"


@admin.register(SignalModel)
class SignalModelAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "exchange",
        "symbol",
        "timeframe",
        "version",
        "live",
        "signal_score",
        "votes_score",
        "last_bar",
    ]
    list_filter = ["live", "exchange", "timeframe"]
    search_fields = ["symbol"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in SignalModel._meta.fields]

    @admin.display(description=_("walk-forward balanced accuracy"))
    def signal_score(self, row: SignalModel) -> str:
        return f"{(row.evaluation.get('model') or {}).get('balanced_accuracy', 0):.3f}"

    @admin.display(description=_("the strategies' vote"))
    def votes_score(self, row: SignalModel) -> str:
        return f"{(row.evaluation.get('votes') or {}).get('balanced_accuracy', 0):.3f}"


@admin.register(SignalRecord)
class SignalRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "exchange", "symbol", "timeframe", "bar_close", "signal", "confidence", "price"]
    list_filter = ["signal", "exchange", "timeframe"]
    search_fields = ["symbol"]
    date_hierarchy = "bar_close"
    list_select_related = ["model"]
    readonly_fields = [f.name for f in SignalRecord._meta.fields]
