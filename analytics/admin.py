"""Staff views of the regime models: every version with its window, scores and the decision that made it live or
not (read-only: versions are made by training), and an action that retrains the selected markets now. And the
language model commentators of the AI signal, configured here (their API keys are write-only), with a test."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from analytics import commentaries, regimes
from analytics.models import Commentator, ForecastModel, RegimeModel, SentimentSnapshot, SignalModel, SignalRecord
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


class CommentatorForm(forms.ModelForm):
    """The commentator's settings; the API key is write-only: never put back into the page, blank keeps it."""

    new_api_key = forms.CharField(
        label=_("API key"),
        required=False,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Write-only: leave it blank to keep the stored key. A local server needs none."),
    )
    clear_api_key = forms.BooleanField(label=_("remove the stored key"), required=False)
    base_url = forms.URLField(
        label=Commentator._meta.get_field("base_url").verbose_name,
        help_text=Commentator._meta.get_field("base_url").help_text,
        max_length=300,
        assume_scheme="https",
    )

    class Meta:
        model = Commentator
        fields = ["name", "provider", "base_url", "model", "enabled", "timeout_seconds", "max_tokens"]

    def clean_base_url(self) -> str:
        try:
            return commentaries.check_base_url(self.cleaned_data["base_url"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["base_url"]) from None

    def _get_validation_exclusions(self) -> set[str]:
        # Enabling one disables the others in commentator_save: the one-enabled constraint is the service's to keep.
        return {*super()._get_validation_exclusions(), "enabled"}


@admin.register(Commentator)
class CommentatorAdmin(admin.ModelAdmin):
    form = CommentatorForm
    list_display = [
        "name", "provider", "model", "base_url", "enabled", "key_state", "timeout_seconds", "last_ok_at",
        "last_error_at",
    ]  # fmt: skip
    list_filter = ["provider", "enabled"]
    search_fields = ["name", "model", "base_url"]
    fields = [
        "name", "provider", "base_url", "model", "new_api_key", "key_state", "clear_api_key", "enabled",
        "timeout_seconds", "max_tokens", "last_ok_at", "last_error_at", "last_error", "created_at", "updated_at",
    ]  # fmt: skip
    readonly_fields = ["key_state", "last_ok_at", "last_error_at", "last_error", "created_at", "updated_at"]
    actions = ["ask_test"]

    @admin.display(description=_("stored API key"))
    def key_state(self, row: Commentator) -> str:
        return str(_("set") if row.api_key else _("not set"))

    def save_model(self, request: HttpRequest, obj: Commentator, form: Any, change: bool) -> None:
        data = form.cleaned_data
        commentaries.commentator_save(
            commentator=obj,
            name=data["name"],
            provider=data["provider"],
            base_url=data["base_url"],
            model=data["model"],
            api_key=data.get("new_api_key") or "",
            clear_key=bool(data.get("clear_api_key")),
            enabled=data["enabled"],
            timeout_seconds=data["timeout_seconds"],
            max_tokens=data["max_tokens"],
        )

    @admin.action(description=_("Ask for a test commentary"), permissions=["change"])
    def ask_test(self, request: HttpRequest, queryset: Any) -> None:
        for row in queryset:
            ok, text = commentaries.commentator_test(commentator=row)
            if ok:
                self.message_user(
                    request, _("%(name)s answered: %(text)s") % {"name": row.name, "text": text}, messages.SUCCESS
                )
            else:
                self.message_user(
                    request, _("%(name)s failed: %(reason)s") % {"name": row.name, "reason": text}, messages.ERROR
                )
