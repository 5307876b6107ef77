"""The wizard's input shapes. The services do the checking that matters (ownership, the exchange's answer,
the risk profile's limits), so the wizard and the other pages say the same things."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import ExchangeAccount
from accounts.risk import RISK_RANGES
from accounts.services import PAPER_BALANCE_DEFAULT
from onboarding.services import QUESTIONS, RISK_LEVELS
from strategies.builtin import REGISTRY
from strategies.labels import strategy_name

EXCHANGE_CHOICES = [
    (ExchangeAccount.PAPER, _("Paper (simulated money)")),
    ("binance", "Binance"),
    ("okx", "OKX"),
]


def _secret_input(autocomplete: str) -> forms.PasswordInput:
    # render_value=False: a form shown again after an error never puts a key back into the page.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": autocomplete, "spellcheck": "false"})


class WizardForm(forms.Form):
    def apply_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        else:
            self.add_error(None, exc.messages)


class ConnectForm(WizardForm):
    action = forms.ChoiceField(choices=[("connect", "connect"), ("existing", "existing"), ("next", "next")])
    # Chosen first, on its own screen (step 1 then shows only that kind's fields), so it travels hidden.
    exchange = forms.ChoiceField(
        label=_("Exchange"),
        choices=EXCHANGE_CHOICES,
        initial=ExchangeAccount.PAPER,
        required=False,
        widget=forms.HiddenInput,
    )
    label = forms.CharField(
        label=_("Name of the account"),
        required=False,
        max_length=200,
        help_text=_("Only for you, to tell your accounts apart."),
    )
    market_type = forms.ChoiceField(
        label=_("Market type"), choices=ExchangeAccount.MarketType.choices, initial="spot", required=False
    )
    testnet = forms.BooleanField(
        label=_("Testnet keys"),
        required=False,
        help_text=_("Tick this if the key was made on the exchange's test network (test funds, no real money)."),
    )
    # strip=False: accounts.services.clean_credential decides what is dropped (ordinary spaces at the ends only).
    api_key = forms.CharField(label=_("API key"), required=False, strip=False, widget=_secret_input("off"))
    secret = forms.CharField(label=_("API secret"), required=False, strip=False, widget=_secret_input("new-password"))
    passphrase = forms.CharField(
        label=_("Passphrase (OKX)"), required=False, strip=False, widget=_secret_input("new-password")
    )
    paper_balance = forms.DecimalField(
        label=_("Starting balance (USDT)"),
        required=False,
        max_digits=20,
        decimal_places=2,
        initial=PAPER_BALANCE_DEFAULT,
        help_text=_("The simulated money the account starts with."),
    )
    account_id = forms.IntegerField(label=_("Your exchange account"), required=False)

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data["action"] != "connect":
            return {"action": data["action"], "account_id": data.get("account_id")}
        if data["exchange"] != ExchangeAccount.PAPER:
            data.pop("paper_balance", None)
        else:
            for name in ("api_key", "secret", "passphrase", "market_type", "testnet"):
                data.pop(name, None)
        data.pop("account_id", None)
        if not data.get("market_type"):
            data.pop("market_type", None)
        return data


class StrategyForm(WizardForm):
    risk_level = forms.ChoiceField(
        label=_("Risk level"),
        required=False,
        choices=[("", "—")] + [(slug, level.label) for slug, level in RISK_LEVELS.items()],
        widget=forms.RadioSelect,
    )
    strategy = forms.ChoiceField(
        label=_("Strategy"),
        choices=lambda: [(slug, strategy_name(slug)) for slug in REGISTRY],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, question, choices in QUESTIONS:
            self.fields[name] = forms.ChoiceField(
                label=question,
                required=False,
                choices=[(str(i), text) for i, text in enumerate(choices)],
                widget=forms.RadioSelect,
            )

    def question_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _question, _choices in QUESTIONS]


def _risk_decimal(name: str, label: Any) -> forms.DecimalField:
    rng = RISK_RANGES[name]
    return forms.DecimalField(
        label=label,
        min_value=rng.low,
        max_value=rng.high,
        max_digits=5,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.5", "min": rng.low, "max": rng.high}),
    )


class RiskForm(WizardForm):
    leverage = forms.IntegerField(
        label=_("Leverage (x)"),
        min_value=int(RISK_RANGES["leverage"].low),
        max_value=int(RISK_RANGES["leverage"].high),
        widget=forms.NumberInput(
            attrs={"step": "1", "min": RISK_RANGES["leverage"].low, "max": RISK_RANGES["leverage"].high}
        ),
    )
    position_size_pct = _risk_decimal("position_size_pct", _("Position size (percent of the balance)"))
    stop_loss_pct = _risk_decimal("stop_loss_pct", _("Stop loss (percent from the entry)"))
    take_profit_pct = _risk_decimal("take_profit_pct", _("Take profit (percent from the entry)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The money explanation follows the values as they change (htmx re-renders its partial).
        live = {
            "hx-get": reverse("onboarding:explanation"),
            "hx-trigger": "input changed delay:300ms",
            "hx-target": "#explanation",
            "hx-swap": "outerHTML",
            "hx-include": "closest form",
        }
        for bound in self.fields.values():
            bound.widget.attrs.update(live)


class WebhookForm(WizardForm):
    action = forms.ChoiceField(choices=[("create", "create"), ("next", "next"), ("skip", "skip")])


class BacktestForm(WizardForm):
    action = forms.ChoiceField(choices=[("backtest", "backtest")])


class FinishForm(WizardForm):
    live = forms.BooleanField(required=False)
    auto_trading = forms.BooleanField(label=_("Turn auto-trading on"), required=False)
    confirm = forms.BooleanField(
        label=_("I understand that this bot places real orders with real money on my exchange account."),
        required=False,
    )


STEP_FORMS: dict[int, type[WizardForm]] = {
    1: ConnectForm,
    2: StrategyForm,
    3: RiskForm,
    4: WebhookForm,
    5: BacktestForm,
}
