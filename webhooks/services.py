"""Webhook endpoints, the receiver and the processing of accepted alerts.

The receiver (``alert_receive``) answers fast: it checks size, endpoint, source address, JSON, secret
(constant time), schema, age, market, account state, rate limit and duplicates, stores every request as a
``WebhookEvent`` with its outcome, and enqueues accepted events once they are committed. The task
(``event_process``) turns an accepted alert into the same order intent as a strategy signal, through the
same risk envelope and router, with client order ids derived from the event: a redelivered task never
places a second order. ``events_sweep`` re-enqueues accepted events no task picked up.

Why this file is long: the endpoints' lifecycle, the receiver's checks in their order (each refusal stored with
its reason, the door's per-address and per-URL limits, the duplicate window) and the trading of an accepted alert
share the event's row and its states; split, each part would import the others' private helpers. The receiver's
hot-path machinery (compiled query, prepared insert, task push) lives in ``webhooks/hotpath.py``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets as pysecrets
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from accounts import events, secrets
from accounts.crypto import mask
from accounts.models import ExchangeAccount
from trading import clock
from trading.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    InsufficientFunds,
    TemporaryError,
    UnknownSymbol,
)
from trading.execution import equity as equity_services
from trading.execution import positions as position_services
from trading.execution import router
from trading.execution.adapters import exchange_session
from trading.models import Bot, Order, Position
from trading.paper.markets import listed, listed_key
from trading_site import dispatch, metrics
from webhooks import hotpath, validation
from webhooks.models import WebhookEndpoint, WebhookEvent
from webhooks.validation import AlertError

log = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(seconds=30)


# --- endpoints --------------------------------------------------------------------------------------


def _new_secret() -> str:
    return "whs_" + pysecrets.token_urlsafe(24)


def _seal(endpoint: WebhookEndpoint, secret: str) -> None:
    field_ = WebhookEndpoint._meta.get_field("secret")
    endpoint.secret = secrets.encrypt(secret, context=field_.context_for(endpoint.user_id))
    endpoint.secret_hint = secret[-4:]


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    """The opened secret: for the receiver's comparison and an explicit reveal only."""
    field_ = WebhookEndpoint._meta.get_field("secret")
    return secrets.decrypt(endpoint.secret, context=field_.context_for(endpoint.user_id))


def masked_secret(endpoint: WebhookEndpoint) -> str:
    return mask("x" * 12 + endpoint.secret_hint)


def _clean_symbols(symbols: list[str] | str | None) -> list[str]:
    if not symbols:
        return []
    items = symbols.replace("\n", ",").split(",") if isinstance(symbols, str) else list(symbols)
    clean = []
    for item in items:
        if not str(item).strip():
            continue
        try:
            market, _perp = validation.normalise_symbol(str(item))
        except AlertError as exc:
            raise ValidationError({"allowed_symbols": [exc.message]}) from None
        if market not in clean:
            clean.append(market)
    return clean


@dataclass(frozen=True)
class Created:
    endpoint: WebhookEndpoint
    secret: str  # shown once


@transaction.atomic
def endpoint_create(
    *,
    user: Any,
    exchange_account: ExchangeAccount,
    name: str,
    bot: Bot | None = None,
    allowed_symbols: list[str] | str | None = None,
    max_alerts_per_minute: int = 30,
    max_age_seconds: int = 60,
    ip_allowlist: bool = False,
    live: bool = False,
) -> Created:
    """A new endpoint with an unguessable token and a fresh secret (returned once, stored sealed)."""
    if exchange_account.user_id != user.pk:
        raise ValidationError({"exchange_account": [_("Choose one of your exchange accounts.")]})
    if bot is not None and (bot.user_id != user.pk or bot.exchange_account_id != exchange_account.pk):
        raise ValidationError({"bot": [_("Choose one of your bots on this exchange account.")]})
    if live and exchange_account.is_paper:
        raise ValidationError({"live": [_("A paper account cannot trade live.")]})
    endpoint = WebhookEndpoint(
        user=user,
        exchange_account=exchange_account,
        bot=bot,
        name=(name or "").strip() or _("TradingView alerts"),
        token=pysecrets.token_urlsafe(32),
        allowed_symbols=_clean_symbols(allowed_symbols),
        max_alerts_per_minute=max_alerts_per_minute,
        max_age_seconds=max_age_seconds,
        ip_allowlist=ip_allowlist,
        live=live,
    )
    secret = _new_secret()
    _seal(endpoint, secret)
    endpoint.full_clean(exclude=["token", "secret", "secret_hint"])
    endpoint.save()
    return Created(endpoint, secret)


@transaction.atomic
def endpoint_rotate(*, endpoint: WebhookEndpoint) -> str:
    """A new secret (returned once); the old one stops working at once."""
    if endpoint.revoked_at is not None:
        raise ValidationError(_("This endpoint is revoked."))
    secret = _new_secret()
    _seal(endpoint, secret)
    endpoint.save(update_fields=["secret", "secret_hint"])
    return secret


def endpoint_revoke(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Revoked for good: its URL answers 404 like an unknown one. The event log stays."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, revoked_at=timezone.now())
    endpoint.refresh_from_db()
    return endpoint


def endpoint_set_active(*, endpoint: WebhookEndpoint, active: bool) -> WebhookEndpoint:
    if endpoint.revoked_at is not None and active:
        raise ValidationError(_("A revoked endpoint cannot be turned on again; create a new one."))
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=active)
    endpoint.refresh_from_db()
    return endpoint


# --- receiving --------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    payload: dict[str, Any]
    event_id: int | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    code: str = ""  # the refusal's own code where the answer hides it (a bad secret answers as an unknown URL)


def _reject(status: int, code: str, message: str, details: dict[str, Any] | None = None, **event: Any) -> Answer:
    """Store the refusal (its code, its English message and its figures for the pages) and answer it. Beyond
    the hourly cap of refused rows per webhook the refusal is answered alike and only counted."""
    stored = None
    if _row_allowed(event.get("endpoint"), event["received_at"]):
        stored = WebhookEvent.objects.create(
            outcome=WebhookEvent.Outcome.REJECTED,
            reason=code,
            message=message[:300],
            details=_jsonable(details or {}),
            **event,
        )
    pk = stored.pk if stored is not None else None
    _tell_refused(event.get("endpoint"), code, message, event["received_at"])
    return Answer(status, {"status": "rejected", "reason": code, "message": message, "event": pk}, pk)


NOT_FOUND = {"status": "rejected", "reason": "not_found", "message": "No such webhook."}


def alert_receive(
    *,
    token: str,
    body: bytes,
    remote_addr: str,
    forwarded_for: str | None = None,
    is_test: bool = False,
    now: Any = None,
) -> Answer:
    """Check and store one request; never answer 2xx for an alert that was not stored. ``now`` is the wall
    clock (the alert's age, the rate limit, ``received_at``); the event's ``market_time`` is the market clock's
    ``trading.clock.now()``, read from the cache (no query while it is warm)."""
    try:
        answer = _receive(token, body, remote_addr, forwarded_for, is_test, now or timezone.now())
    except (DatabaseError, RedisError):
        log.exception("webhook receiver: the database or the cache is unavailable")
        unavailable = {"status": "unavailable", "message": "Try again later."}
        answer = Answer(503, unavailable, extra_headers={"Retry-After": "5"})
    metrics.WEBHOOK_ALERTS.labels(answer.payload["status"], answer.code or answer.payload.get("reason", "")).inc()
    return answer


def _receive(token: str, body: bytes, remote_addr: str, forwarded_for: str | None, is_test: bool, now: Any) -> Answer:
    ip = validation.client_ip(remote_addr, forwarded_for, settings.TRENDY_NUM_PROXIES)
    # An address that sent too many requests that did not authenticate this minute: refused from Redis,
    # before the database is touched. TradingView's own addresses carry every trader's alerts: never held.
    # One cache round trip before the database: this counter, the market clock and the paper exchange's
    # listed markets (for either market type: the account is not known yet).
    ip_key = None if ip in validation.TRADINGVIEW_IPS else f"webhooks:refused-ip:{ip}:{_minute(now)}"
    listed_keys = {kind: listed_key(settings.TRENDY_PAPER_DATA_EXCHANGE, kind) for kind in _MARKET_TYPES}
    market_time, cached = clock.now_with([*listed_keys.values(), *([ip_key] if ip_key else [])])
    if ip_key is not None and _as_count(cached.get(ip_key)) >= settings.TRENDY_WEBHOOK_REFUSED_PER_IP:
        return _too_many(now)
    listed_cached = {kind: cached.get(key) for kind, key in listed_keys.items()}
    common: dict[str, Any] = {
        "source_ip": ip,
        "body_size": len(body),
        "is_test": is_test,
        "received_at": now,
        "market_time": market_time,
    }
    door = _Door(token=token, body=body, ip_key=ip_key, now=now, common=common)
    endpoint = _endpoint_for(token) if token and len(token) <= 64 else None
    if endpoint is None or not endpoint.active:
        # Unknown and revoked tokens answer alike: the URL cannot be probed.
        if endpoint:
            return door.refuse(404, "revoked", "This endpoint is revoked or paused.", endpoint=endpoint)
        return door.refuse(404, "unknown_token", "No endpoint has this URL.", endpoint=None)
    common["endpoint"] = endpoint
    if len(body) > validation.MAX_BODY_BYTES:
        kb = validation.MAX_BODY_BYTES // 1024
        return door.refuse(413, "too_large", f"The body is larger than {kb} KB.", {"kb": kb}, endpoint=endpoint)
    if endpoint.ip_allowlist and ip not in validation.TRADINGVIEW_IPS:
        message = f"{ip} is not one of TradingView's addresses."
        return door.refuse(403, "ip_not_allowed", message, endpoint=endpoint)
    try:
        data = validation.parse_body(body)
    except AlertError as exc:
        return door.refuse(400, exc.code, exc.message, exc.params, endpoint=endpoint)
    try:
        secret = endpoint_secret(endpoint)
    except Exception:  # noqa: BLE001 - a secret that cannot be opened is a wrong secret to the sender
        log.error("webhook secret cannot be opened", extra={"endpoint_id": endpoint.pk})
        secret = ""
    if not validation.secret_matches(data.get("secret"), secret):
        if data.get("secret"):
            return door.refuse(404, "bad_secret", "The secret is wrong.", endpoint=endpoint)  # like an unknown token
        return door.refuse(404, "missing_secret", "The body has no secret.", endpoint=endpoint)
    common["body"] = _jsonable(validation.redact(data))
    try:
        alert = validation.parse_alert(data)
    except AlertError as exc:
        return _reject(exc.status, exc.code, exc.message, exc.params, **common)
    common["symbol"], common["action"] = alert.market, alert.action
    try:
        validation.check_age(alert.time, now, endpoint.max_age_seconds)
    except AlertError as exc:
        return _reject(422, exc.code, exc.message, exc.params, **common)
    problem, figures = _market_problem(endpoint, alert, listed_cached)
    if problem:
        return _reject(422, "unknown_symbol", problem, figures, **common)
    account = endpoint.exchange_account
    if not account.enabled:
        message = _("The exchange account %(label)s is disabled.") % {"label": account.label}
        return _reject(409, "account_paused", message, {"account": account.label}, **common)
    if not endpoint.user.auto_trading:
        return _reject(409, "auto_trading_off", _("Auto-trading is off for this user."), **common)
    if not account.is_paper and not endpoint.live:
        return _reject(409, "paper_only", _("This endpoint is not allowed to trade live."), **common)
    bot = endpoint.bot
    if alert.bot is not None:
        bot = Bot.objects.filter(pk=alert.bot, user=endpoint.user, exchange_account=account).first()
        if bot is None:
            message = _("No bot %(id)s on this endpoint's account.") % {"id": alert.bot}
            return _reject(422, "unknown_bot", message, {"bot": alert.bot}, **common)
    window = None
    if not alert.order_id and not alert.time:
        # No order id and no time: the same bytes are the same alert within a window only (the bot's candle,
        # else 60 s), so that the same alert next week trades again.
        window = _dedupe_window(bot)
        start = validation.window_start(now, window)
        if bot is None and (original := _recent_copy(endpoint, alert, body, start, window, now)) is not None:
            return _duplicate(original, common)
        key = validation.dedupe_key(alert, body, start)
    else:
        key = validation.dedupe_key(alert, body)
    # No look-up first: the unique index on the accepted events' keys decides, in the insert itself.
    try:
        with transaction.atomic():
            # The insert comes first: a concurrent copy of this alert waits on the unique index and is told it
            # is a duplicate, so copies never use up the rate limit of genuine alerts.
            event = WebhookEvent.objects.create(
                outcome=WebhookEvent.Outcome.ACCEPTED,
                status=WebhookEvent.Status.PENDING,
                dedupe_key=key,
                enqueued_at=now,
                **common,
            )
            if not _within_rate(endpoint, now):
                message = _("More than %(n)d alerts in a minute.") % {"n": endpoint.max_alerts_per_minute}
                WebhookEvent.objects.filter(pk=event.pk).update(
                    outcome=WebhookEvent.Outcome.REJECTED,
                    status="",
                    reason="rate_limited",
                    message=message,
                    details={"limit": endpoint.max_alerts_per_minute},
                    dedupe_key=None,
                )
                _tell_refused(endpoint, "rate_limited", message, now)
                return Answer(
                    429,
                    {"status": "rejected", "reason": "rate_limited", "message": message, "event": event.pk},
                    event.pk,
                )
    except IntegrityError:  # a concurrent copy of the same alert won the race
        original = WebhookEvent.objects.get(endpoint=endpoint, dedupe_key=key, outcome=WebhookEvent.Outcome.ACCEPTED)
        return _duplicate(original, common)
    _enqueue(event.pk)
    return Answer(200, {"status": "accepted", "event": event.pk}, event.pk)


DEFAULT_DEDUPE_WINDOW = 60  # seconds: an endpoint bound to no bot
_MARKET_TYPES = tuple(ExchangeAccount.MarketType.values)


def _dedupe_window(bot: Bot | None) -> int:
    """The duplicate window of an alert without order id and time: the bot's candle, else 60 s."""
    if bot is None:
        return DEFAULT_DEDUPE_WINDOW
    from market_data.timeframes import timeframe_ms

    try:
        return max(1, timeframe_ms(bot.timeframe) // 1000)
    except (KeyError, ValueError, TypeError):
        return DEFAULT_DEDUPE_WINDOW


def _recent_copy(
    endpoint: WebhookEndpoint, alert: validation.Alert, body: bytes, start: Any, window: int, now: Any
) -> WebhookEvent | None:
    """Without a bot the window slides: a copy in the next minute within 60 s of the first is a duplicate
    too (the unique index catches copies within the same minute)."""
    previous = validation.dedupe_key(alert, body, start - timedelta(seconds=window))
    return (
        WebhookEvent.objects.filter(
            endpoint=endpoint,
            dedupe_key=previous,
            outcome=WebhookEvent.Outcome.ACCEPTED,
            received_at__gt=now - timedelta(seconds=window),
        )
        .order_by()
        .first()
    )


def _duplicate(original: WebhookEvent, common: dict[str, Any]) -> Answer:
    stored = WebhookEvent.objects.create(
        outcome=WebhookEvent.Outcome.DUPLICATE,
        reason="duplicate",
        message=f"The same alert as event {original.pk}.",
        details={"original": original.pk},
        **common,
    )
    return Answer(200, {"status": "duplicate", "event": original.pk}, stored.pk)


def _enqueue(event_id: int) -> None:
    """After the commit. A broker that is down does not lose the alert: it is stored, and the sweeper
    enqueues it again within a minute."""

    def send() -> None:
        try:
            # One LPUSH of the task's message onto a Redis broker's queue; Celery's full publish otherwise.
            process = dispatch.task("webhooks.process_event")
            if not hotpath.publish(process, event_id):
                process.delay(event_id)
        except Exception:  # noqa: BLE001 - any broker failure: the event waits for the sweeper
            log.warning("webhook event not enqueued: the broker is unavailable", extra={"event_id": event_id})

    transaction.on_commit(send)


# What the receiver reads of an endpoint, its account and its user, in one query (the rest stays deferred).
_RECEIVER_FIELDS = (
    "user_id",
    "exchange_account_id",
    "bot_id",
    "name",
    "token",
    "secret",
    "allowed_symbols",
    "max_alerts_per_minute",
    "max_age_seconds",
    "ip_allowlist",
    "live",
    "active",
    "revoked_at",
    "exchange_account__exchange",
    "exchange_account__label",
    "exchange_account__enabled",
    "exchange_account__market_type",
    "user__auto_trading",
    "bot__timeframe",
)


# Never evaluated: the compiled query's base (its database and its joins), built once rather than per alert.
_ENDPOINTS_WITH_OWNERS = WebhookEndpoint.objects.select_related("exchange_account", "user", "bot")
_ENDPOINT_BY_TOKEN = hotpath.CompiledSelect(
    lambda base, token: base.only(*_RECEIVER_FIELDS).filter(token=token).order_by()[:1]
)


def _endpoint_for(token: str) -> WebhookEndpoint | None:
    """The endpoint with its account, user and bot: the ORM's select_related query, compiled once per process
    and run as a prepared statement (``webhooks.hotpath``)."""
    return _ENDPOINT_BY_TOKEN.first(_ENDPOINTS_WITH_OWNERS, token)


def _redis_client_and_key(key: str) -> tuple[Any, str]:
    """The cache's own Redis connection and full key when the cache is Redis (django-redis, or Django's own
    RedisCache that settings use whenever REDIS_URL is set); else (None, key) and the cache's add/incr serve."""
    client = getattr(cache, "client", None)
    if client is not None and hasattr(client, "get_client"):
        return client.get_client(write=True), str(client.make_key(key))
    raw = getattr(cache, "_cache", None)
    if raw is not None and hasattr(raw, "get_client") and hasattr(cache, "make_and_validate_key"):
        full_key = cache.make_and_validate_key(key)
        return raw.get_client(full_key, write=True), full_key
    return None, key


# INCR, and the expiry when the counter was created: one command, atomic on the server.
_COUNT_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_count_script: Any = None


def _count(key: str, ttl: int) -> int:
    """An atomic counter that expires ``ttl`` seconds after its first count (Redis: one EVALSHA of a script
    that runs INCR and, on the first, EXPIRE; the server runs a script whole, so a counter never lives on
    without its expiry)."""
    global _count_script
    redis_client, full_key = _redis_client_and_key(key)
    if redis_client is not None:
        if _count_script is None:
            _count_script = redis_client.register_script(_COUNT_LUA)
        return int(_count_script(keys=[full_key], args=[ttl], client=redis_client))
    cache.add(key, 0, timeout=ttl)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=ttl)
        return 1


def _peek(key: str) -> int:
    redis_client, full_key = _redis_client_and_key(key)
    return _as_count(redis_client.get(full_key) if redis_client is not None else cache.get(key))


def _as_count(value: Any) -> int:
    """A counter of ``_count`` as ``cache.get_many`` returns it (an int, bytes, or None when missing)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _minute(now: Any) -> int:
    return int(now.timestamp()) // 60


def _too_many(now: Any) -> Answer:
    """429 for a sender past a limit of refused requests: nothing stored, Retry-After the minute's end."""
    wait = 60 - int(now.timestamp()) % 60
    message = f"Too many refused requests; try again in {wait} s."
    return Answer(
        429,
        {"status": "rejected", "reason": "rate_limited", "message": message},
        extra_headers={"Retry-After": str(wait)},
    )


def _rows_key(endpoint_id: int | None, now: Any) -> str:
    return f"webhooks:refused-rows:{endpoint_id or 'none'}:{int(now.timestamp()) // 3600}"


def _row_allowed(endpoint: WebhookEndpoint | None, now: Any) -> bool:
    """Whether one more refused row may be stored for this webhook this hour (unknown URLs share one cap)."""
    cap = settings.TRENDY_WEBHOOK_REFUSED_ROWS_PER_HOUR
    count = _count(_rows_key(endpoint.pk if endpoint else None, now), 2 * 3600)
    if count == cap + 1:
        log.warning(
            "webhook: more than %d refused requests this hour; the rest are counted, not stored",
            cap,
            extra={"endpoint_id": endpoint.pk if endpoint else None},
        )
    return count <= cap


def refused_not_stored(*, endpoint_id: int | None, now: Any = None) -> int:
    """Refused requests to this webhook this hour that were counted but not stored (beyond the hourly cap)."""
    count = _peek(_rows_key(endpoint_id, now or timezone.now()))
    return max(0, count - settings.TRENDY_WEBHOOK_REFUSED_ROWS_PER_HOUR)


@dataclass
class _Door:
    """A request that did not authenticate: counted per URL and per address before anything is stored, kept
    (within the hourly cap) as a short masked prefix of its body and its hash, never its body."""

    token: str
    body: bytes
    ip_key: str | None
    now: Any
    common: dict[str, Any]

    def refuse(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        endpoint: WebhookEndpoint | None,
    ) -> Answer:
        token_hash = hashlib.sha256(self.token.encode(errors="replace")).hexdigest()[:32]
        if _count(f"webhooks:refused-url:{token_hash}:{_minute(self.now)}", 120) > (
            settings.TRENDY_WEBHOOK_REFUSED_PER_URL
        ):
            return _too_many(self.now)
        if self.ip_key is not None and _count(self.ip_key, 120) > settings.TRENDY_WEBHOOK_REFUSED_PER_IP:
            return _too_many(self.now)
        stored = None
        if _row_allowed(endpoint, self.now):
            event = {k: v for k, v in self.common.items() if k not in ("body", "endpoint")}
            stored = WebhookEvent.objects.create(
                endpoint=endpoint,
                outcome=WebhookEvent.Outcome.REJECTED,
                reason=code,
                message=message[:300],
                details=_jsonable(details or {}),
                body_prefix=validation.body_prefix(self.body),
                body_sha256=validation.body_hash(self.body),
                **event,
            )
        pk = stored.pk if stored is not None else None
        if endpoint is not None and code != "revoked":  # the owner may know; the sender learns nothing more
            _tell_refused(endpoint, code, message, self.now)
        if status == 404:
            return Answer(404, NOT_FOUND, pk, code=code)
        return Answer(status, {"status": "rejected", "reason": code, "message": message, "event": pk}, pk)


def _tell_refused(endpoint: WebhookEndpoint | None, code: str, message: str, now: Any) -> None:
    """The webhook's owner told that an alert was refused (``webhook_rejected``), at most once a minute per webhook
    (a flood of bad alerts is one notification a minute, not thousands): the first refusal of a minute is told, with
    how many of the minute before were not. One cache round trip per refusal; the rest only on the told one."""
    if endpoint is None:
        return
    minute = _minute(now)
    if _count(f"webhooks:refused-told:{endpoint.pk}:{minute}", 120) != 1:
        return
    more = max(0, _peek(f"webhooks:refused-told:{endpoint.pk}:{minute - 1}") - 1)
    events.emit(
        endpoint.user_id, "webhook_rejected", webhook=endpoint.pk, name=endpoint.name, reason=code,
        message=message[:300], more=more,
    )  # fmt: skip


def _within_rate(endpoint: WebhookEndpoint, now: Any) -> bool:
    """An atomic per-minute counter in the cache (Redis in production: INCR is atomic across workers)."""
    return _count(f"webhooks:rate:{endpoint.pk}:{_minute(now)}", 120) <= endpoint.max_alerts_per_minute


def _market_problem(
    endpoint: WebhookEndpoint, alert: validation.Alert, cached: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """Why the alert's market cannot be traded here ("" if it can), with the figures for the pages. ``cached``:
    the paper exchange's listed markets by market type, as read from the cache (None: missing)."""
    if endpoint.allowed_symbols and alert.market not in endpoint.allowed_symbols:
        message = _("%(symbol)s is not among this endpoint's allowed symbols (%(allowed)s).") % {
            "symbol": alert.market,
            "allowed": ", ".join(endpoint.allowed_symbols),
        }
        return message, {"symbol": alert.market, "allowed": list(endpoint.allowed_symbols)}
    account = endpoint.exchange_account
    if account.is_paper:
        source = clock.data_exchange(account.exchange)
        found = (cached or {}).get(account.market_type) if source == settings.TRENDY_PAPER_DATA_EXCHANGE else None
        if _unified(alert.market, account) not in listed(source, market_type=account.market_type, cached=found):
            message = _("The paper exchange does not list %(symbol)s.") % {"symbol": alert.market}
            return message, {"symbol": alert.market}
    return "", {}  # a real exchange's market list is checked when the alert is traded


def _unified(market: str, account: ExchangeAccount) -> str:
    if account.market_type == ExchangeAccount.MarketType.SWAP:
        return f"{market}:{market.split('/')[1]}"
    return market


def _jsonable(value: Any) -> Any:
    """The parsed body as the event log stores it: fractions (read as ``Decimal``) as text at any depth, and
    NUL characters, which PostgreSQL's jsonb refuses, replaced with U+FFFD."""
    if isinstance(value, dict):
        return {_jsonable(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


# --- processing -------------------------------------------------------------------------------------


def event_process(*, event_id: int) -> str:
    """Trade one accepted alert. The claim (pending → processing, a conditional update) keeps two workers
    apart; the client order ids come from the event, so a re-run after a crash never orders twice."""
    claimed = WebhookEvent.objects.filter(
        pk=event_id, outcome=WebhookEvent.Outcome.ACCEPTED, status=WebhookEvent.Status.PENDING
    ).update(status=WebhookEvent.Status.PROCESSING, processed_at=timezone.now())
    if not claimed:
        return "skipped"
    event = WebhookEvent.objects.select_related("endpoint__exchange_account", "endpoint__user", "endpoint__bot").get(
        pk=event_id
    )
    try:
        traded = _trade(event)
    except TemporaryError:
        WebhookEvent.objects.filter(pk=event_id).update(status=WebhookEvent.Status.PENDING)
        raise  # the task retries with backoff; the sweeper is the second line
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=traded.status,
        result=traded.result[:300],
        order=traded.order,
        adjustments=traded.adjustments,
        details=_jsonable(traded.details),
        processed_at=timezone.now(),
    )
    if traded.status == WebhookEvent.Status.FAILED:  # refused when traded: the risk envelope, the exchange
        _tell_refused(event.endpoint, str(traded.details.get("failure") or "failed"), traded.result, timezone.now())
    metrics.WEBHOOK_TRADED.labels(traded.status).inc()
    if traded.order is not None and traded.order.status == Order.Status.FILLED and not event.is_test:
        exchange = event.endpoint.exchange_account.exchange
        metrics.ALERT_TO_FILL.labels(exchange).observe((timezone.now() - event.received_at).total_seconds())
    return traded.status


@dataclass(frozen=True)
class Traded:
    """What an accepted alert became: its status, the English summary (the API's ``result``), its order, the
    risk envelope's adjustments, and for a failure its kind and code (``details``) for the pages."""

    status: str
    result: str
    order: Order | None = None
    adjustments: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _failure(exc: ExchangeError) -> dict[str, Any]:
    """A failure's kind for the pages: the router's refusals and the exchange's, by class and code."""
    if isinstance(exc, router.RouterError):
        kind = "router"
    elif isinstance(exc, InsufficientFunds):
        kind = "insufficient_funds"
    elif isinstance(exc, UnknownSymbol):
        kind = "unknown_symbol"
    elif isinstance(exc, AuthenticationError):
        kind = "keys_rejected"
    else:
        kind = "exchange"
    return {"failure": kind, "code": exc.code}


def _trade(event: WebhookEvent) -> Traded:
    endpoint = event.endpoint
    account = endpoint.exchange_account
    data = dict(event.body or {})
    try:
        alert = validation.parse_alert(data)
    except AlertError as exc:
        return Traded(WebhookEvent.Status.FAILED, exc.message, details={"failure": "alert", "code": exc.code})
    if not account.enabled or not endpoint.user.auto_trading:
        message = _("The account is disabled or auto-trading is off.")
        return Traded(WebhookEvent.Status.FAILED, message, details={"failure": "trading_off"})
    bot = endpoint.bot
    if alert.bot is not None:
        bot = Bot.objects.filter(pk=alert.bot, user=endpoint.user, exchange_account=account).first()
    symbol = _unified(alert.market, account)
    scope = f"webhook:{event.pk}"
    order: Order | None = None
    adjustments: list[dict[str, str]] = []
    try:
        with exchange_session(account) as exchange:
            exchange.market(symbol)  # UnknownSymbol for a real exchange that does not list it
            current = Position.objects.filter(
                exchange_account=account, symbol=symbol, status=Position.Status.OPEN
            ).first()
            target = alert.target
            spot = account.market_type == ExchangeAccount.MarketType.SPOT and not account.is_paper
            if target == "short" and spot:
                target = "flat"  # a spot account cannot short: a sell closes the long
            close = current is not None and (
                (alert.close_side is not None and current.side == alert.close_side)
                or (target is not None and target != current.side)
            )
            if close:
                order = position_services.close_position(
                    exchange, current, client_id=router.client_order_id(scope, 0, "exit"),
                    note="tradingview", source=Order.Source.WEBHOOK,
                )  # fmt: skip
                current = None
            if target in ("long", "short") and current is None:
                capped = _capped(alert, bot, endpoint.user, exchange, account, symbol)
                adjustments = [asdict(a) for a in capped.adjustments]
                order = position_services.position_open(
                    exchange=exchange, account=account, symbol=symbol, side=target, capped=capped,
                    client_id=router.client_order_id(scope, 0, "entry"), bot=bot, source=Order.Source.WEBHOOK,
                    note=f"TradingView {alert.action}",
                )  # fmt: skip
    except TemporaryError:
        raise
    except (router.RouterError, ExchangeError) as exc:
        if isinstance(exc, AuthenticationError) and not account.is_paper:  # the keys stopped working: say so
            from trading.exchange_accounts.connection import account_keys_failing
            from trading_site.redact import redact

            account_keys_failing(account=account, code="keys_rejected", reason=redact(exc.message)[:200])
        return Traded(WebhookEvent.Status.FAILED, exc.message, order, adjustments, _failure(exc))
    if order is None:
        # A re-run (the worker died before recording): the orders this event placed are known by their ids.
        earlier = {
            o.client_order_id: o
            for o in Order.objects.filter(
                exchange_account=account,
                client_order_id__in=[router.client_order_id(scope, 0, leg) for leg in ("entry", "exit")],
            )
        }
        order = earlier.get(router.client_order_id(scope, 0, "entry")) or earlier.get(
            router.client_order_id(scope, 0, "exit")
        )
    if order is None:
        return Traded(WebhookEvent.Status.NOTHING, _("Nothing to do: the position is already what the alert asks."))
    order.refresh_from_db()
    summary = _("%(side)s %(amount)s %(symbol)s: %(status)s") % {
        "side": order.side,
        "amount": order.amount.normalize(),
        "symbol": order.symbol,
        "status": order.get_status_display(),
    }
    if order.average_price is not None:
        summary += f" @ {order.average_price:.2f}"
    return Traded(WebhookEvent.Status.DONE, summary, order, adjustments)


def _capped(
    alert: validation.Alert, bot: Bot | None, user: Any, exchange: Any, account: ExchangeAccount, symbol: str
) -> router.Capped:
    """The alert's size, leverage, stop loss and take profit are requests; absent ones take the bot's (or
    the risk profile's) settings; the user's limits cap them all."""
    leverage = alert.leverage if alert.leverage is not None else (bot.leverage if bot else None)
    size_pct = alert.size_pct if alert.size_pct is not None else (bot.position_size_pct if bot else None)
    if alert.size is not None and alert.size_pct is None:
        # An amount of the base currency: as a share of the balance at the current price.
        balance, _equity = equity_services.account_equity(exchange, account)
        price = alert.price or exchange.fetch_ticker(symbol).last
        # The leverage the envelope will allow, so that margin × leverage buys the asked amount.
        lev = Decimal(
            router.apply_envelope(
                router.Request(leverage=leverage, position_size_pct=Decimal(1)), position_services.risk_envelope(user)
            ).leverage
        )
        size_pct = (alert.size * price / (balance * lev) * 100) if balance > 0 else Decimal(0)
        if size_pct <= 0:
            raise router.RouterError(_("There is no balance to trade with."), code="no_balance")
    stop_loss = alert.stop_loss_pct if alert.stop_loss_pct is not None else (bot.stop_loss_pct if bot else None)
    take_profit = alert.take_profit_pct if alert.take_profit_pct is not None else (bot.take_profit_pct if bot else None)
    return router.apply_envelope(
        router.Request(
            leverage=leverage,
            position_size_pct=size_pct,
            stop_loss_pct=stop_loss,
            take_profit_pct=take_profit,
            use_default_stops=bot is None,
        ),
        position_services.risk_envelope(user),
    )


def events_sweep(*, older_than: timedelta = SWEEP_AFTER) -> int:
    """Accepted events no task picked up (the broker lost them): enqueue them again."""
    cutoff = timezone.now() - older_than
    # A worker that died while trading one leaves it "processing": back to pending after a while (safe: the
    # client order ids come from the event).
    WebhookEvent.objects.filter(
        outcome=WebhookEvent.Outcome.ACCEPTED,
        status=WebhookEvent.Status.PROCESSING,
        processed_at__lt=cutoff - older_than * 3,
    ).update(status=WebhookEvent.Status.PENDING)
    stuck = list(
        WebhookEvent.objects.filter(
            outcome=WebhookEvent.Outcome.ACCEPTED, status=WebhookEvent.Status.PENDING, enqueued_at__lt=cutoff
        ).values_list("pk", flat=True)[:500]
    )
    if stuck:
        WebhookEvent.objects.filter(pk__in=stuck).update(enqueued_at=timezone.now())
        for pk in stuck:
            _enqueue(pk)
    return len(stuck)


def refused_events_prune(*, now: Any = None) -> int:
    """Delete refused events received more than TRENDY_WEBHOOK_REFUSED_RETENTION_DAYS ago, in batches (the
    accepted and duplicate ones stay: they are the trading record). Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRENDY_WEBHOOK_REFUSED_RETENTION_DAYS)
    deleted = 0
    while True:
        batch = list(
            WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.REJECTED, received_at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:5000]
        )
        if not batch:
            return deleted
        deleted += WebhookEvent.objects.filter(pk__in=batch).delete()[0]
