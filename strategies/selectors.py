from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from strategies.models import BacktestRun, PineScript, PineScriptVersion


def backtest_run_list(*, user: Any) -> QuerySet[BacktestRun]:
    """The user's runs, newest first, without the heavy result JSON."""
    return BacktestRun.objects.filter(user=user).defer("result").order_by("-created_at")


def backtest_run_get_for_user(*, user: Any, run_id: int) -> BacktestRun:
    """The run if it is the user's; 404 otherwise (never another user's row)."""
    return get_object_or_404(BacktestRun, id=run_id, user=user)


def pine_script_list(*, user: Any) -> list[PineScript]:
    """The user's Pine scripts, newest change first, each with ``latest`` (its newest version) set."""
    versions = Prefetch("versions", queryset=PineScriptVersion.objects.defer("source", "report"))
    scripts = list(PineScript.objects.filter(user=user).prefetch_related(versions).order_by("-updated_at"))
    for script in scripts:
        script.latest_version = max(script.versions.all(), key=lambda v: v.number, default=None)
    return scripts
