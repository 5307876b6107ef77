from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Signed-in traders land on their dashboard; everyone else sees what Trendy is."""
    if request.user.is_authenticated:
        return redirect("trading:dashboard")
    return render(request, "home.html")
