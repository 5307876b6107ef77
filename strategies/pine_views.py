"""The Pine Script pages: paste or upload a script, see its validation report, save it, add versions, and go on
to a backtest or a bot with it (the same pages as the built-ins'). A user sees only their own scripts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from strategies import pine_services
from strategies.models import PineScript
from strategies.pine.check import Report

MAX_UPLOAD_BYTES = 1024 * 1024  # read at most this much of an upload; the engine's own limit is far lower


class PineSourceForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, required=False, help_text=_("Empty: the title in strategy(…).")
    )
    source = forms.CharField(
        label=_("Pine Script"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code", "wrap": "off"}),
    )
    upload = forms.FileField(label=_("Or upload a .pine file"), required=False)

    def text(self) -> bytes | str:
        upload = self.cleaned_data.get("upload")
        if upload is not None:
            return upload.read(MAX_UPLOAD_BYTES + 1)
        return self.cleaned_data.get("source") or ""


INPUT_TYPES = {
    "int": _("Whole number"),
    "float": _("Number"),
    "bool": _("Yes or no"),
    "string": _("Text"),
    "source": _("Price source"),
}


def report_context(report: Report | dict[str, Any]) -> dict[str, Any]:
    """The validation report as the report partial shows it (the script pages, and a marketplace listing)."""
    found = report.as_dict() if isinstance(report, Report) else report
    return {
        "report": found,
        "inputs": [{**i, "type_label": INPUT_TYPES.get(i.get("type"), i.get("type"))} for i in found.get("inputs", [])],
        "errors": [pine_services.problem_text(p) for p in found.get("errors", [])],
        "ignored": [pine_services.problem_text(p) for p in found.get("ignored", [])],
        "settings_found": sorted(found.get("settings", {}).items()),
    }


def _apply(form: forms.Form, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for field, messages in errors.items():
        form.add_error(field if field in form.fields else None, messages)


@login_required
@require_http_methods(["GET", "POST"])
def pine_new(request: HttpRequest) -> HttpResponse:
    """Paste or upload; "Check" shows the report without saving, "Save" keeps the script (only if it can run)."""
    context: dict[str, Any] = {}
    status = 200
    form = PineSourceForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        text = form.text()
        context.update(report_context(pine_services.pine_validate(source=text)))
        if request.POST.get("action") == "save":
            try:
                version = pine_services.pine_script_create(
                    user=request.user, name=form.cleaned_data["name"], source=text
                )
            except ValidationError as exc:
                _apply(form, exc)
                status = 400
            else:
                return redirect("strategies:pine-detail", script_id=version.script_id)
        elif not context["report"]["can_run"]:
            status = 400
    elif request.method == "POST":
        status = 400
    if request.htmx and request.POST.get("action") == "check":
        # Only the report is swapped in: a field's error (a name too long, a file too big) is shown in it.
        context["form_errors"] = [
            f"{form.fields[field].label}: {message}" if field in form.fields else message
            for field, messages in form.errors.items()
            for message in messages
        ]
        return render(request, "strategies/partials/pine_report.html", context, status=status)
    return render(request, "strategies/pine_form.html", {"form": form, **context}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def pine_detail(request: HttpRequest, script_id: Any) -> HttpResponse:
    """One of the user's scripts: its versions, the latest one's report and text, a form for a new version."""
    script = get_object_or_404(PineScript, id=script_id, user=request.user)
    form = PineSourceForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                pine_services.pine_version_add(user=request.user, script_id=script.id, source=form.text())
            except ValidationError as exc:
                _apply(form, exc)
            else:
                return redirect("strategies:pine-detail", script_id=script.id)
        status = 400
    versions = list(script.versions.order_by("-number"))
    latest = versions[0] if versions else None
    context: dict[str, Any] = {"script": script, "versions": versions, "latest": latest, "form": form}
    if latest is not None:
        context.update(report_context(latest.report))
    return render(request, "strategies/pine_detail.html", context, status=status)
