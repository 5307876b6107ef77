"""Settings pages: preferences, default risk settings and API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors, services
from accounts.forms import ApiTokenForm, PreferencesForm, RiskProfileForm
from accounts.models import ApiToken


def _apply_errors(form: Any, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _settings_page(request: HttpRequest, *, status: int = 200, new_key: str = "", **forms: Any) -> HttpResponse:
    user = request.user
    context = {
        "new_key": new_key,
        "preferences_form": forms.get("preferences_form") or PreferencesForm(initial={"timezone": user.timezone}),
        "risk_form": forms.get("risk_form") or RiskProfileForm(instance=user.risk_profile),
        "token_form": forms.get("token_form") or ApiTokenForm(),
        "tokens": selectors.api_token_list(user=user),
        "two_factor_enabled": user.authenticator_set.filter(type="totp").exists(),
    }
    return render(request, "accounts/settings.html", context, status=status)


@login_required
@require_GET
def settings_view(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


@login_required
@require_POST
def preferences_update(request: HttpRequest) -> HttpResponse:
    form = PreferencesForm(request.POST)
    if form.is_valid():
        try:
            services.user_update_settings(user=request.user, timezone_name=form.cleaned_data["timezone"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Your preferences are saved."))
            return redirect("accounts:settings")
    return _settings_page(request, status=400, preferences_form=form)


@login_required
@require_POST
def risk_profile_update(request: HttpRequest) -> HttpResponse:
    form = RiskProfileForm(request.POST, instance=request.user.risk_profile)
    if form.is_valid():
        try:
            services.risk_profile_update(
                user=request.user, **{name: form.cleaned_data[name] for name in services.RISK_FIELDS}
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Your risk settings are saved."))
            return redirect("accounts:settings")
    # ModelForm validation wrote the bad values onto the cached profile; the page shows the form.
    request.user.risk_profile.refresh_from_db()
    return _settings_page(request, status=400, risk_form=form)


def _tokens_partial(request: HttpRequest, *, form: ApiTokenForm, new_key: str = "", status: int = 200) -> HttpResponse:
    context = {"token_form": form, "tokens": selectors.api_token_list(user=request.user), "new_key": new_key}
    return render(request, "accounts/partials/api_tokens.html", context, status=status)


@never_cache
@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return _tokens_partial(request, form=form, status=400)
        return _settings_page(request, status=400, token_form=form)
    issued = services.api_token_issue(
        user=request.user, name=form.cleaned_data["name"], ttl_days=form.cleaned_data["ttl_days"]
    )
    if request.htmx:
        return _tokens_partial(request, form=ApiTokenForm(), new_key=issued.key)
    return _settings_page(request, new_key=issued.key)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        services.api_token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        return HttpResponse(_("No such token."), status=404)
    if request.htmx:
        return _tokens_partial(request, form=ApiTokenForm())
    messages.success(request, _("Token revoked."))
    return redirect("accounts:settings")
