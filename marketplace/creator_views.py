"""The creator's pages of the marketplace: their listings (create, change, send for review, offer a new version,
unlist and list again), and their earnings — each month's share of payments less refunds, subscribers per listing,
what Trendy owes them and the payouts recorded. Each write goes through ``marketplace.services``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace import earnings, ledger, selectors, services
from marketplace.forms import ListingForm
from marketplace.models import Listing

ACTIONS = {
    "submit": (services.listing_submit, lambda: _("Sent for review. Trendy backtests it first; staff then decide.")),
    "version": (services.listing_version_add, lambda: _("The script's latest version is offered.")),
    "relist": (services.listing_relist, lambda: _("Listed again.")),
}


def percent() -> str:
    """The creator's share in force, as a percentage to show."""
    return f"{float(ledger.creator_share() * 100):g}"


def _add_errors(form: ListingForm, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@login_required
@require_GET
def my_listings(request: HttpRequest) -> HttpResponse:
    listings = list(selectors.listings_of(creator=request.user))
    return render(request, "marketplace/my_listings.html", {"listings": listings, "editable": services.EDITABLE})


@login_required
@require_http_methods(["GET", "POST"])
def listing_new(request: HttpRequest) -> HttpResponse:
    form = ListingForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            listing = services.listing_create(
                creator=request.user, script_id=form.cleaned_data["script"], details=form.details()
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Draft saved. Send it for review when it is ready."))
            return redirect("marketplace:detail", listing.id)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "listing": None, "creator_percent": percent()}
    return render(request, "marketplace/listing_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def listing_edit(request: HttpRequest, listing_id: Any) -> HttpResponse:
    listing = Listing.objects.filter(id=listing_id, creator=request.user).first()
    if listing is None:
        raise Http404
    data = request.POST or None
    form = ListingForm(data, user=request.user, editing=True, initial=ListingForm.initial_of(listing))
    if request.method == "POST" and form.is_valid():
        try:
            services.listing_update(creator=request.user, listing_id=listing.id, details=form.details())
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("marketplace:detail", listing.id)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "listing": listing, "creator_percent": percent()}
    return render(request, "marketplace/listing_form.html", context, status=status)


@login_required
@require_POST
def listing_action(request: HttpRequest, listing_id: Any, action: str) -> HttpResponse:
    """Send for review, offer the script's latest version, unlist or list again."""
    if not Listing.objects.filter(id=listing_id, creator=request.user).exists() or action not in (*ACTIONS, "unlist"):
        raise Http404
    try:
        if action == "unlist":
            services.listing_unlist(user=request.user, listing_id=listing_id)
            done = _("Unlisted: nobody new can take it; subscribers keep it.")
        else:
            act, said = ACTIONS[action]
            extra = {"notes": request.POST.get("notes", "")[:2000]} if action == "version" else {}
            act(creator=request.user, listing_id=listing_id, **extra)
            done = said()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect("marketplace:mine")


@login_required
@require_GET
def creator_earnings(request: HttpRequest) -> HttpResponse:
    return render(request, "marketplace/earnings.html", earnings.of_creator(request.user))
