from __future__ import annotations

import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import RiskProfile


def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class PreferencesForm(forms.Form):
    timezone = forms.ChoiceField(label=_("Time zone"), choices=_timezone_choices)


class RiskProfileForm(forms.ModelForm):
    class Meta:
        model = RiskProfile
        fields = ["leverage", "position_size_pct", "stop_loss_pct", "take_profit_pct", "max_drawdown_pct"]


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("For example: my phone."))
    ttl_days = forms.IntegerField(label=_("Valid for (days)"), min_value=1, max_value=365, initial=90)
