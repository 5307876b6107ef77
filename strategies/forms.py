from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from market_data.labels import exchange_name, timeframe_label
from market_data.selectors import series_list
from strategies.builtin import REGISTRY
from strategies.interface import ParamSpec, Strategy
from strategies.labels import METRIC_LABELS, param_label, strategy_name
from strategies.models import SETTINGS_FIELDS, BacktestRun
from strategies.optimise import METRICS
from strategies.pine_services import strategy_choices as strategy_choices_for


def market_choices() -> list[tuple[str, str]]:
    return [
        (
            f"{s.exchange}|{s.symbol}|{s.timeframe}",
            f"{s.symbol} · {timeframe_label(s.timeframe)} · {exchange_name(s.exchange)}",
        )
        for s in series_list()
    ]


def strategy_choices() -> list[tuple[str, str]]:
    return [(slug, strategy_name(slug)) for slug in REGISTRY]


def _market_year(value: Any) -> None:
    if value is not None and not 2000 <= value.year < 2100:
        raise ValidationError(_("Choose a date between 2000 and 2100."))


def param_field(spec: ParamSpec, label: str) -> forms.Field:
    """The form field of one strategy parameter: a number in its range, or a choice (a Pine script's bool, text
    and option inputs). The strategy's ``validate`` is still the judge (the service calls it)."""
    if spec.choices:
        return forms.TypedChoiceField(
            label=label, choices=[(str(c), str(c)) for c in spec.choices], initial=str(spec.default), coerce=str
        )
    if spec.kind is str:
        return forms.CharField(label=label, max_length=200, initial=spec.default, required=False)
    field_cls = forms.IntegerField if spec.kind is int else forms.FloatField
    return field_cls(
        label=label,
        min_value=spec.minimum,
        max_value=spec.maximum,
        initial=spec.kind(spec.default),
        widget=forms.NumberInput(attrs={"step": spec.step or "any"}),
    )


class BacktestForm(forms.ModelForm):
    """Market, period, settings and the chosen strategy's parameters (``param_<name>`` fields)."""

    strategy = forms.ChoiceField(label=_("Strategy"), choices=strategy_choices)
    market = forms.ChoiceField(label=_("Market"), choices=market_choices)
    start = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: six months before the end."),
    )
    end = forms.DateField(
        label=_("To (exclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: the last candle closed by the market's now."),
    )

    class Meta:
        model = BacktestRun
        fields = SETTINGS_FIELDS

    def __init__(self, *args: Any, strategy: Strategy, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strategy_obj = strategy
        self.fields["strategy"].choices = strategy_choices_for(user=user, current=strategy.slug)
        self.fields["strategy"].initial = strategy.slug
        for name in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct"):
            self.fields[name].help_text = _("Leave empty for none.")
        self.fields["trailing_activation_pct"].required = False
        self.fields["pyramiding"].required = False
        self.fields["trailing_activation_pct"].help_text = _("Empty or 0: the trail starts at the entry.")
        self.fields["initial_capital"].label = _("Starting capital (USDT)")
        self.fields["fee_rate"].label = _("Fee per fill")
        self.fields["fee_rate"].help_text = _("A fraction of each fill: 0.001 is 0.1%.")
        self.fields["slippage_bps"].label = _("Slippage (basis points)")
        self.fields["slippage_bps"].help_text = _("Against you on every fill: 5 is 0.05%.")
        for spec in strategy.params:
            self.fields[f"param_{spec.name}"] = param_field(spec, param_label(strategy, spec.name))

    def clean_trailing_activation_pct(self) -> Any:
        return self.cleaned_data.get("trailing_activation_pct") or Decimal(0)

    def clean_pyramiding(self) -> Any:
        return self.cleaned_data.get("pyramiding") or 1

    @property
    def strategy_description(self) -> str:
        return str(_(self.strategy_obj.description))

    def param_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("param_")]

    def setting_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in SETTINGS_FIELDS]

    def chosen_params(self) -> dict[str, Any]:
        return {
            name.removeprefix("param_"): value for name, value in self.cleaned_data.items() if name.startswith("param_")
        }

    def chosen_market(self) -> tuple[str, str, str]:
        exchange, symbol, timeframe = self.cleaned_data["market"].split("|")
        return exchange, symbol, timeframe


class OptimiseForm(BacktestForm):
    method = forms.ChoiceField(label=_("Search"), choices=[("random", _("Random")), ("grid", _("Grid"))])
    metric = forms.ChoiceField(label=_("Optimise for"), choices=[(m, METRIC_LABELS[m]) for m in METRICS])
    samples = forms.IntegerField(label=_("Parameter sets (random)"), min_value=1, max_value=500, initial=40)
    points = forms.IntegerField(label=_("Values per parameter (grid)"), min_value=2, max_value=10, initial=4)
    folds = forms.IntegerField(
        label=_("Walk-forward folds"),
        min_value=1,
        max_value=6,
        initial=3,
        help_text=_("The period is cut into folds + 1 windows: optimise on one, report on the next."),
    )

    def search_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("method", "metric", "samples", "points", "folds")]
