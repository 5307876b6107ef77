"""The creator's form for a listing: what ``marketplace.services.ListingDetails`` holds, with the script chosen from
the creator's own. The service validates; this only shapes the input (tags and markets as comma-separated text)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from market_data.labels import timeframe_label
from market_data.timeframes import TIMEFRAME_MS
from marketplace.models import Listing
from marketplace.services import ListingDetails
from strategies.selectors import pine_script_list


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class ListingForm(forms.Form):
    script = forms.ChoiceField(label=_("Pine script"), help_text=_("Its latest version is offered."))
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Markdown: headings, lists, links, tables. No images or HTML."),
    )
    category = forms.ChoiceField(label=_("Category"), choices=Listing.Category.choices)
    tags = forms.CharField(label=_("Tags"), required=False, max_length=400, help_text=_("Comma-separated."))
    exchange = forms.ChoiceField(label=_("Exchange"), choices=[("binance", "Binance"), ("okx", "OKX")])
    markets = forms.CharField(
        label=_("Markets"), max_length=400, help_text=_("Comma-separated, e.g. BTC/USDT, ETH/USDT.")
    )
    timeframe = forms.ChoiceField(label=_("Timeframe"))
    tier = forms.ChoiceField(label=_("Tier"), choices=Listing.Tier.choices)
    price_usd = forms.CharField(label=_("Price (USD)"), required=False, max_length=20)
    billing = forms.ChoiceField(label=_("Billing"), choices=Listing.Billing.choices, required=False)
    source_to_subscribers = forms.BooleanField(
        label=_("Subscribers may read the script"),
        required=False,
        help_text=_("Off: their backtests and bots run it without showing it."),
    )

    def __init__(self, *args: Any, user: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timeframe"].choices = [(t, timeframe_label(t)) for t in TIMEFRAME_MS]
        scripts = [s for s in pine_script_list(user=user) if s.latest_version is not None]
        self.fields["script"].choices = [(str(s.id), s.name) for s in scripts]
        if editing:  # the script of a listing is chosen once
            del self.fields["script"]

    def details(self) -> ListingDetails:
        data = self.cleaned_data
        return ListingDetails(
            name=data["name"], category=data["category"], timeframe=data["timeframe"],
            markets=_split(data["markets"]), description=data["description"], tags=_split(data["tags"]),
            exchange=data["exchange"], tier=data["tier"], price_usd=data["price_usd"] or None,
            billing=data["billing"] or "", source_to_subscribers=data["source_to_subscribers"],
        )  # fmt: skip

    @staticmethod
    def initial_of(listing: Listing) -> dict[str, Any]:
        return {
            "name": listing.name, "description": listing.description, "category": listing.category,
            "tags": ", ".join(listing.tags), "exchange": listing.exchange, "markets": ", ".join(listing.markets),
            "timeframe": listing.timeframe, "tier": listing.tier,
            "price_usd": listing.price_usd if listing.price_usd is not None else "", "billing": listing.billing,
            "source_to_subscribers": listing.source_to_subscribers,
        }  # fmt: skip
