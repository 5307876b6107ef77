"""The language model commentators of the AI signal: the one write path of their configuration (the admin calls it),
the connection test, and the commentary beside a market's signal.

Off unless staff enabled a commentator (at most one is). The commentary is asked once per bar: the text is cached
per (commentator and its last change, market, timeframe, the signal's bar, language) for one bar, and a failure for
``FAILURE_SECONDS``, so a language model that is down is not asked again on every page view. A failure of the
language model is an answer (``status: unavailable`` with a translated reason), never an exception: the signal
stands on its own. Definitions of the prompt and the providers: ``analytics/commentary.py`` (pure).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import secrets
from accounts.crypto import CryptoError
from analytics import commentary
from analytics.commentary import CommentaryError
from analytics.models import Commentator
from market_data.timeframes import TIMEFRAME_MS
from trading_site import redact

logger = logging.getLogger(__name__)

LANGUAGES = ("en", "ko")
FAILURE_SECONDS = 60  # a failed ask is not repeated for this long
TEST_SECONDS = 60  # the longest wait of the admin's connection test


def _context() -> str:
    return Commentator._meta.get_field("api_key").context  # type: ignore[attr-defined]


def commentator_key(row: Commentator) -> str:
    """The opened API key, for the request only: never log, render or return it."""
    return secrets.decrypt(row.api_key, context=_context()) if row.api_key else ""


def check_base_url(url: str) -> str:
    """The base URL without its trailing slash; a ValidationError on ``base_url`` for one that is not http(s), that
    carries credentials, or (unless TRENDY_LLM_ALLOW_PRIVATE) that resolves to a loopback or private address."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"base_url": [_("Give an http:// or https:// URL.")]})
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError(
            {"base_url": [_("Give the URL without a user, a query or a fragment: the key goes in the API key field.")]}
        )
    if not settings.TRENDY_LLM_ALLOW_PRIVATE and commentary.private_host(url):
        raise ValidationError(
            {
                "base_url": [
                    _(
                        "This address is on a loopback or private network, which this server does not ask; set "
                        "TRENDY_LLM_ALLOW_PRIVATE=1 to allow a local language model."
                    )
                ]
            }
        )
    return url.rstrip("/")


@transaction.atomic
def commentator_save(
    *,
    commentator: Commentator | None = None,
    name: str,
    provider: str,
    base_url: str,
    model: str,
    api_key: str = "",
    clear_key: bool = False,
    enabled: bool = False,
    timeout_seconds: int = 8,
    max_tokens: int = 400,
) -> Commentator:
    """Create or change a commentator. A blank ``api_key`` keeps the stored one (``clear_key`` removes it); a new
    one is sealed. Enabling one disables the others (one answers)."""
    row = commentator if commentator is not None else Commentator()
    row.name = (name or "").strip()
    row.provider = provider
    row.base_url = check_base_url(base_url)
    row.model = (model or "").strip()
    key = (api_key or "").strip()
    if key:
        row.api_key = secrets.encrypt(key, context=_context())
    elif clear_key:
        row.api_key = ""
    row.enabled = bool(enabled)
    row.timeout_seconds = timeout_seconds
    row.max_tokens = max_tokens
    if row.enabled:
        others = Commentator.objects.select_for_update().filter(enabled=True)
        if row.pk is not None:
            others = others.exclude(pk=row.pk)
        others.update(enabled=False)
    row.full_clean(exclude=["api_key"])
    row.save()
    return row


def enabled_commentator() -> Commentator | None:
    return Commentator.objects.filter(enabled=True).first()


def _client(row: Commentator) -> commentary.Commentator:
    try:
        key = commentator_key(row)
    except CryptoError:  # sealed with a key that left the keyring: staff must enter it again
        raise CommentaryError("unauthorized", "The stored API key cannot be opened; enter it again.") from None
    return commentary.commentator(
        row.provider,
        base_url=row.base_url,
        api_key=key,
        model=row.model,
        max_tokens=row.max_tokens,
        allow_private=settings.TRENDY_LLM_ALLOW_PRIVATE,
    )


def _note_ok(row: Commentator) -> None:
    # update(): the row's updated_at (part of the cache key) stays as staff left it
    Commentator.objects.filter(pk=row.pk).update(last_ok_at=timezone.now())


def _note_error(row: Commentator, exc: CommentaryError) -> None:
    message = redact.redact(exc.message)[:500]
    Commentator.objects.filter(pk=row.pk).update(last_error=message, last_error_at=timezone.now())
    logger.warning("commentary: %s (%s, %s) failed: %s", row.name, row.provider, row.model, message)


def reason_text(reason: str, *, status: int | None = None, seconds: float | None = None) -> str:
    """The failure in the reader's language."""
    if reason == "timeout":
        return _("The language model did not answer within %(seconds)s s.") % {"seconds": f"{seconds or 0:g}"}
    if reason == "unauthorized":
        return _("The language model's API refused the configured key.")
    if reason == "http_error":
        return _("The language model's API answered with an error (HTTP %(status)s).") % {"status": status or "?"}
    if reason in ("bad_response", "empty"):
        return _("The language model's answer could not be read.")
    if reason == "private_address":
        return _("The language model's address is on a private network, which this server does not ask.")
    return _("The language model could not be reached.")


def commentator_test(*, commentator: Commentator) -> tuple[bool, str]:
    """Ask the commentator a tiny question (the admin's test): (True, its answer) or (False, why not)."""
    try:
        client = _client(commentator)
        text = client.comment(commentary.TEST_PROMPT, timeout=float(min(commentator.timeout_seconds, TEST_SECONDS)))
    except CommentaryError as exc:
        _note_error(commentator, exc)
        return False, reason_text(exc.reason, status=exc.status, seconds=commentator.timeout_seconds)
    _note_ok(commentator)
    return True, commentary.clean_text(text, 200)


def _language(language: str | None) -> str:
    language = (language or "").split("-")[0].lower()
    return language if language in LANGUAGES else "en"


def signal_commentary(*, exchange: str, symbol: str, timeframe: str = "1h", language: str = "en") -> dict[str, Any]:
    """A language model's commentary on the market's signal, in ``language`` (en or ko).

    ``{"status": "off"}`` when no commentator is enabled; otherwise the signal's bar and verdict with ``status``
    ``ok`` (and ``text``), ``unavailable`` (and a ``reason``: the language model failed or timed out) or ``pending``
    (another request is asking it now). AnalysisError of the signal itself (no model, unknown market) propagates."""
    from analytics.signals import market_signal

    row = enabled_commentator()
    if row is None:
        return {"status": "off"}
    language = _language(language)
    with translation.override(language):
        answer = market_signal(exchange=exchange, symbol=symbol, timeframe=timeframe)
        base = {
            "symbol": answer["symbol"],
            "timeframe": timeframe,
            "as_of": answer["as_of"],
            "signal": answer["signal"],
            "provider": row.provider,
            "model": row.model,
            "language": language,
        }
        key = cache_key(row, exchange=exchange, answer=answer, language=language)
        outcome = cache.get(key)
        if outcome is None:
            if not cache.add(f"{key}:asking", 1, row.timeout_seconds + 5):
                return {
                    **base,
                    "status": "pending",
                    "reason": _("The commentary is being written; ask again in a few seconds."),
                }
            try:
                outcome = _ask(row, answer, language)
            finally:
                cache.delete(f"{key}:asking")
            bar_seconds = TIMEFRAME_MS[timeframe] // 1000
            cache.set(key, outcome, max(60, bar_seconds) if "text" in outcome else FAILURE_SECONDS)
        if "text" in outcome:
            return {
                **base,
                "status": "ok",
                "text": outcome["text"],
                "note": _(
                    "Written by a language model from the signal's own figures: it explains the signal and does not "
                    "change it. Not financial advice."
                ),
            }
        return {
            **base,
            "status": "unavailable",
            "reason_code": outcome["reason"],
            "reason": reason_text(outcome["reason"], status=outcome.get("status"), seconds=row.timeout_seconds),
        }


def cache_key(row: Commentator, *, exchange: str, answer: dict[str, Any], language: str) -> str:
    """One commentary per commentator (as staff last left it), market, bar and language."""
    market = f"{exchange}:{answer['market']}:{answer['timeframe']}"
    return f"analytics:commentary:{row.pk}:{row.updated_at.timestamp()}:{market}:{answer['as_of']}:{language}"


def _ask(row: Commentator, answer: dict[str, Any], language: str) -> dict[str, Any]:
    """What the commentator said, as facts to cache: {"text": …} or {"reason": …, "status": …}."""
    try:
        client = _client(row)
        text = client.comment(commentary.prompt(answer, language), timeout=float(row.timeout_seconds))
    except CommentaryError as exc:
        _note_error(row, exc)
        return {"reason": exc.reason, "status": exc.status}
    _note_ok(row)
    return {"text": text}
