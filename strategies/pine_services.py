"""Stored Pine scripts: validate, save a script or a new version (nothing half-saved), turn a version's slug into
its Strategy for every caller (registered in ``StrategiesConfig.ready``), and say who may use which.

A version is never edited: a bot keeps the slug of the version it was created with (``pine-<id hex>``) until
its owner moves it to a newer one (``trading.bots.services.bot_move_version``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from strategies.builtin import REGISTRY
from strategies.interface import Strategy, StrategyError
from strategies.labels import strategy_name
from strategies.models import PineScript, PineScriptVersion
from strategies.pine.check import Report, validate
from strategies.pine.source import decode
from strategies.pine.strategy import pine_strategy
from strategies.selectors import pine_script_list

MAX_SCRIPTS_PER_USER = 50
MAX_VERSIONS_PER_SCRIPT = 200
_CACHE_SIZE = 256
_cache: OrderedDict[str, Strategy] = OrderedDict()


def problem_text(problem: dict[str, Any]) -> str:
    """``Line 3, column 9: request.security is not supported …`` in the active language."""
    template = problem.get("template")
    message = _(template) % problem.get("params", {}) if template else problem.get("message", "")
    if problem.get("line"):
        return _("Line %(line)d, column %(column)d: %(message)s") % {
            "line": problem["line"],
            "column": problem.get("column") or 0,
            "message": message,
        }
    return message


def report_payload(report: Report | dict[str, Any]) -> dict[str, Any]:
    """A report for the API: each problem's message in the active language (the English template kept)."""
    found = report.as_dict() if isinstance(report, Report) else dict(report)
    for key in ("errors", "ignored"):
        found[key] = [
            {**p, "message": _(p["template"]) % p.get("params", {}) if p.get("template") else p.get("message", "")}
            for p in found.get(key, [])
        ]
    return found


def pine_validate(*, source: bytes | str) -> Report:
    """The validation report of a pasted or uploaded script (never raises for a bad script)."""
    return validate(source)


def _checked(source: bytes | str) -> tuple[str, Report]:
    report = validate(source)
    if not report.can_run:
        raise ValidationError({"source": [problem_text(p) for p in report.as_dict()["errors"]]})
    return decode(source), report


def _save_version(script: PineScript, text: str, report: Report, number: int) -> PineScriptVersion:
    version = PineScriptVersion(
        script=script,
        number=number,
        source=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        pine_version=report.version or 0,
        title=(report.title or "")[:200],
        report=report.as_dict(),
    )
    version.full_clean(exclude=["script"])
    version.save()
    PineScript.objects.filter(id=script.id).update(updated_at=version.created_at)
    return version


@transaction.atomic
def pine_script_create(*, user: Any, name: str, source: bytes | str) -> PineScriptVersion:
    """A new script with its first version, or ValidationError (``source``: each problem with its line)."""
    text, report = _checked(source)
    name = (name or "").strip() or (report.title or "").strip()[:100]
    if not name:
        raise ValidationError({"name": [_("Give the script a name.")]})
    if len(name) > 100:
        raise ValidationError({"name": [_("At most 100 characters.")]})
    # One create at a time per user (the row lock), so two requests with one name, or past the limit, cannot
    # both pass the checks below (the second would meet the unique constraint as a server error).
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    if PineScript.objects.filter(user=user, name=name).exists():
        raise ValidationError({"name": [_("You already have a script named %(name)s.") % {"name": name}]})
    if PineScript.objects.filter(user=user).count() >= MAX_SCRIPTS_PER_USER:
        raise ValidationError(
            _("You have %(count)d scripts, the most one account keeps.") % {"count": MAX_SCRIPTS_PER_USER}
        )
    script = PineScript.objects.create(user=user, name=name)
    return _save_version(script, text, report, 1)


@transaction.atomic
def pine_version_add(*, user: Any, script_id: uuid.UUID | str, source: bytes | str) -> PineScriptVersion:
    """A new version of one of the user's scripts (bots keep theirs until moved)."""
    script = PineScript.objects.select_for_update().filter(id=script_id, user=user).first()
    if script is None:
        raise ValidationError({"script": [_("No such script.")]})
    text, report = _checked(source)
    last = script.versions.aggregate(last=Max("number"))["last"] or 0
    if last >= MAX_VERSIONS_PER_SCRIPT:
        raise ValidationError(_("This script has %(count)d versions, the most one script keeps.") % {"count": last})
    if script.versions.filter(number=last, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest()).exists():
        raise ValidationError({"source": [_("This text is the same as the latest version.")]})
    return _save_version(script, text, report, last + 1)


# --- slugs ---------------------------------------------------------------------------------------------------


def _version_id(slug: str) -> uuid.UUID | None:
    if not str(slug).startswith(PineScriptVersion.SLUG_PREFIX):
        return None
    text = str(slug).removeprefix(PineScriptVersion.SLUG_PREFIX)
    if len(text) != 32 or text.strip("0123456789abcdef"):
        return None  # only the canonical form (32 lower-case hex digits): one slug per version
    return uuid.UUID(hex=text)


def resolve(slug: str) -> Strategy:
    """The Strategy of a stored version (``get_strategy``'s resolver for ``pine-``), kept per process."""
    found = _cache.get(slug)
    if found is not None:
        _cache.move_to_end(slug)
        return found
    version_id = _version_id(slug)
    version = PineScriptVersion.objects.select_related("script").filter(id=version_id).first() if version_id else None
    if version is None:
        raise StrategyError(gettext_noop("No Pine script version %(slug)s."), {"slug": slug})
    found = pine_strategy(
        slug=slug,
        name=version_name(version),
        text=version.source,
        inputs=version.inputs,
        budget={"max_seconds": settings.TRENDY_PINE_MAX_SECONDS, "max_steps": settings.TRENDY_PINE_MAX_STEPS},
    )
    _cache[slug] = found
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return found


def version_for_slug(*, user: Any, slug: str) -> PineScriptVersion | None:
    """The user's own version behind a slug (None for a built-in, another user's or an unknown one)."""
    version_id = _version_id(slug)
    if version_id is None:
        return None
    return PineScriptVersion.objects.select_related("script").filter(id=version_id, script__user=user).first()


def versions_for_slugs(*, user: Any, slugs: Any) -> dict[str, tuple[PineScriptVersion, PineScriptVersion]]:
    """For each slug naming a version of the user's own scripts: (that version, its script's latest version),
    in two queries whatever the number of slugs (the bots page's rows)."""
    ids = {found for found in (_version_id(slug) for slug in set(slugs)) if found is not None}
    if not ids:
        return {}
    light = PineScriptVersion.objects.defer("source", "report")
    chosen = list(light.select_related("script").filter(id__in=ids, script__user=user))
    latest: dict[Any, PineScriptVersion] = {}
    for version in light.filter(script_id__in={v.script_id for v in chosen}):
        if version.script_id not in latest or version.number > latest[version.script_id].number:
            latest[version.script_id] = version
    return {version.slug: (version, latest[version.script_id]) for version in chosen}


def version_name(version: PineScriptVersion) -> str:
    return f"{version.script.name} · v{version.number}"


class Grant(Protocol):
    """Another app that lets a user run script versions they do not own (the marketplace: a subscriber runs the
    listing's versions). The user never reads such a version's source through this module: only its slug and a name.
    """

    def usable(self, *, user: Any, version_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Of ``version_ids``, those the user may run now, each with the name to show for it."""
        ...

    def offered(self, *, user: Any) -> list[tuple[str, str]]:
        """(slug, name) of the versions to offer the user in strategy choices."""
        ...


_grants: list[Grant] = []


def grant_register(grant: Grant) -> None:
    """Called by the granting app at start (its ``AppConfig.ready``)."""
    if all(type(existing) is not type(grant) for existing in _grants):
        _grants.append(grant)


# Other apps that publish script versions for study (the marketplace: its listings' verified versions). The regime
# evidence backtests them beside the built-ins; each source answers slugs for a timeframe, at most ``limit``.
StudySource = Callable[[str, int], list[str]]
_study_sources: list[StudySource] = []


def study_register(source: StudySource) -> None:
    """Called by the publishing app at start (its ``AppConfig.ready``)."""
    if source not in _study_sources:
        _study_sources.append(source)


def studied_versions(*, timeframe: str, limit: int) -> list[str]:
    """Slugs of published script versions made for ``timeframe`` (at most ``limit``, each source's own order)."""
    found: list[str] = []
    for source in _study_sources:
        for slug in source(timeframe, limit - len(found)):
            if slug not in found:
                found.append(slug)
        if len(found) >= limit:
            break
    return found[:limit]


def granted_names(*, user: Any, slugs: Any) -> dict[str, str]:
    """Of ``slugs``, those naming versions another app lets the user run (not their own), with their names."""
    ids = {found: slug for slug in set(slugs) if (found := _version_id(slug)) is not None}
    if not ids or user is None or not getattr(user, "is_authenticated", False):
        return {}
    names: dict[str, str] = {}
    for grant in _grants:
        for version_id, name in grant.usable(user=user, version_ids=set(ids)).items():
            names[ids[version_id]] = name
    return names


def strategy_usable(*, user: Any, slug: str) -> bool:
    """A built-in, a version of one of the user's own scripts, or one another app lets them run (a subscription)."""
    if slug in REGISTRY or version_for_slug(user=user, slug=slug) is not None:
        return True
    return slug in granted_names(user=user, slugs={slug})


def check_strategy_usable(*, user: Any, slug: str) -> None:
    if not strategy_usable(user=user, slug=slug):
        raise ValidationError(
            {
                "strategy": [
                    _("Unknown strategy %(slug)s; choose a built-in or one of your Pine scripts.") % {"slug": slug}
                ]
            }
        )


def _choice_label(name: str, number: int) -> str:
    return _("%(name)s · v%(number)d (Pine)") % {"name": name, "number": number}


def strategy_choices(*, user: Any, current: str | None = None) -> list[tuple[str, str]]:
    """The built-ins, then the latest version of each of the user's scripts (and ``current``, if it is theirs)."""
    choices = [(slug, strategy_name(slug)) for slug in REGISTRY]
    if user is None or not getattr(user, "is_authenticated", False):
        return choices
    seen = set()
    for script in pine_script_list(user=user):
        if script.latest_version is not None:
            choices.append((script.latest_version.slug, _choice_label(script.name, script.latest_version.number)))
            seen.add(script.latest_version.slug)
    for grant in _grants:
        for slug, name in grant.offered(user=user):
            if slug not in seen:
                choices.append((slug, name))
                seen.add(slug)
    if current and current not in seen and current not in REGISTRY:
        version = version_for_slug(user=user, slug=current)
        if version is not None:
            choices.append((current, _choice_label(version.script.name, version.number)))
        else:
            choices.extend(granted_names(user=user, slugs={current}).items())
    return choices
