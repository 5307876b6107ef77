"""The marketplace's pages: discover published listings (htmx filters, no page reload) and read one listing with
Trendy's own evidence — the public set and the out-of-sample backtest side by side for each market. A listing's
Pine source is never on these pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from market_data.exceptions import InvalidMarket
from market_data.labels import timeframe_label
from market_data.symbols import normalize_symbol
from market_data.timeframes import TIMEFRAME_MS
from marketplace import selectors, verification
from marketplace.models import Listing
from strategies import labels

PER_PAGE = 20
SORT_CHOICES = [("newest", _("Newest")), ("rating", _("Rating")), ("popularity", _("Popularity"))]


class FilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    tier = forms.ChoiceField(label=_("Tier"), required=False)
    timeframe = forms.ChoiceField(label=_("Timeframe"), required=False)
    market = forms.CharField(label=_("Market"), max_length=40, required=False)
    sort = forms.ChoiceField(label=_("Sort by"), choices=SORT_CHOICES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        anything = [("", _("Any"))]
        self.fields["category"].choices = anything + list(Listing.Category.choices)
        self.fields["tier"].choices = anything + list(Listing.Tier.choices)
        self.fields["timeframe"].choices = anything + [(t, timeframe_label(t)) for t in TIMEFRAME_MS]

    def clean_market(self) -> str:
        value = self.cleaned_data.get("market") or ""
        if not value:
            return ""
        try:
            return normalize_symbol(value)
        except InvalidMarket as exc:
            raise forms.ValidationError(str(exc)) from None


@login_required
@require_GET
def listing_list(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    values: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        values = {key: value for key, value in form.cleaned_data.items() if value}
    listings = (
        selectors.listing_search(query=values.pop("q", ""), **values) if not form.errors else Listing.objects.none()
    )
    page = Paginator(listings, PER_PAGE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "query": _query_without_page(request)}
    template = "marketplace/partials/results.html" if request.htmx else "marketplace/list.html"
    return render(request, template, context, status=400 if form.errors else 200)


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _evidence(version: Any) -> list[dict[str, Any]]:
    """Per market, each shown metric of the public set beside the out-of-sample one, formatted."""
    rows = []
    for market in (version.result or {}).get("markets", []):
        public, unseen = market["public"], market.get("out_of_sample")
        metrics = [
            {
                "label": labels.metric_label(key),
                "public": labels.metric_value(key, public["metrics"].get(key)),
                "unseen": labels.metric_value(key, unseen["metrics"].get(key)) if unseen else "–",
            }
            for key in verification.SHOWN_METRICS
        ]
        rows.append({
            "symbol": market["symbol"], "metrics": metrics, "public": _period(public), "unseen": _period(unseen),
        })  # fmt: skip
    return rows


def _period(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if not summary:
        return None
    return {"first": datetime.fromisoformat(summary["first"]), "last": datetime.fromisoformat(summary["last"])}


@login_required
@require_GET
def listing_detail(request: HttpRequest, listing_id: Any) -> HttpResponse:
    listing = selectors.listing_for(user=request.user, listing_id=listing_id)
    if listing is None:
        raise Http404
    versions = list(listing.versions.all())
    current = versions[0] if versions else None
    context = {
        "listing": listing,
        "versions": versions,
        "current": current,
        "evidence": _evidence(current) if current else [],
        "min_trades": verification.MIN_TRADES,
        "mine": listing.creator_id == request.user.pk,
    }
    return render(request, "marketplace/detail.html", context)
