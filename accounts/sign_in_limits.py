"""How many password attempts a sign-in gets: one policy for the HTML login (allauth, through
``accounts.adapters.AccountAdapter``) and the API's token endpoint (``accounts.api.TokenObtainApi``).

Every attempt is counted *before* the password is checked, with an atomic increment in the cache (Redis in
production: ``INCR``), and only an attempt whose own increment stays within every limit gets its password
checked. Thirty parallel guesses therefore get at most the limit checked, however they interleave (a check
followed by a separate write would let every request that read the counter before the first write through).
A right password gives its attempt back (the counters go down by one) and marks the address as one the account
signs in from; a wrong one keeps it counted until the window ends.

The limits (each a fixed window that starts with the first attempt it counts):

- per account and address: ``PAIR_LIMIT`` attempts in ``PAIR_WINDOW`` — the attacker who knows an e-mail
  address and guesses from one address stops here, and only this pair is held: the owner, from any other
  address, signs in as usual;
- per address, whatever the account: ``IP_LIMIT`` in ``IP_WINDOW`` — one address spraying many accounts;
- per account, from all addresses: ``ACCOUNT_LIMIT`` in ``ACCOUNT_WINDOW`` — a guess spread over many
  addresses. Beyond it the account is not locked: an address it signed in from successfully in the last
  ``KNOWN_FOR`` seconds still gets its own per-pair attempts; only new addresses wait.

Attempts the limits refuse are not counted against the wider limits (a refused pair does not feed the per
address or per account counters), so hammering from one address can never push the account past its limit.
IPv6 addresses are counted per /64 (one host usually holds the whole prefix).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache

PAIR_LIMIT = 5
PAIR_WINDOW = 15 * 60
IP_LIMIT = 30
IP_WINDOW = 15 * 60
ACCOUNT_LIMIT = 50
ACCOUNT_WINDOW = 60 * 60
KNOWN_FOR = 30 * 24 * 60 * 60

PREFIX = "sign-in"


def request_ip(request: Any) -> str:
    """The client's address: ``REMOTE_ADDR``, or with ``TRENDY_NUM_PROXIES`` trusted proxies in front, the
    address that many hops back in ``X-Forwarded-For`` (never a hop the client could have written)."""
    meta = getattr(request, "META", {})
    remote = meta.get("REMOTE_ADDR", "") or ""
    proxies = getattr(settings, "TRENDY_NUM_PROXIES", 0)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if proxies > 0 and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                return remote
            return candidate
    return remote


def _address_key(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address) + "/64"
    return str(address)


def _account_key(login: str) -> str:
    return hashlib.sha256((login or "").strip().lower().encode()).hexdigest()[:32]


def _incr(key: str, window: int) -> int:
    """Atomic: ``add`` creates the counter with its expiry only if it is absent, ``incr`` is Redis ``INCR``."""
    for _attempt in range(3):
        cache.add(key, 0, timeout=window)
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr: start the window again
            continue
    return int(cache.incr(key))


def _decr(key: str) -> None:
    with contextlib.suppress(ValueError):  # the window ended meanwhile: nothing to give back
        cache.decr(key)


@dataclass
class Attempt:
    """One sign-in attempt: ``allowed`` says whether its password may be checked; ``retry_after`` (seconds)
    when it may not. Call ``succeeded()`` after a right password (and second factor)."""

    allowed: bool
    retry_after: int = 0
    limit: str = ""  # which limit refused it: "pair", "ip" or "account"
    account: str = ""
    address: str = ""
    counted: list[str] = field(default_factory=list)

    def succeeded(self) -> None:
        for key in self.counted:
            _decr(key)
        self.counted = []
        if self.account and self.address:
            cache.set(f"{PREFIX}:known:{self.account}:{self.address}", 1, timeout=KNOWN_FOR)


def attempt(*, login: str, ip: str) -> Attempt:
    """Count one attempt to sign in as ``login`` from ``ip`` and say whether its password may be checked."""
    account, address = _account_key(login), _address_key(ip)
    pair_key = f"{PREFIX}:pair:{account}:{address}"
    if _incr(pair_key, PAIR_WINDOW) > PAIR_LIMIT:
        return Attempt(False, _ttl(pair_key, PAIR_WINDOW), "pair")
    counted = [pair_key]
    ip_key = f"{PREFIX}:ip:{address}"
    if _incr(ip_key, IP_WINDOW) > IP_LIMIT:
        return Attempt(False, _ttl(ip_key, IP_WINDOW), "ip")
    counted.append(ip_key)
    account_key = f"{PREFIX}:account:{account}"
    if _incr(account_key, ACCOUNT_WINDOW) > ACCOUNT_LIMIT and not cache.get(f"{PREFIX}:known:{account}:{address}"):
        _decr(account_key)  # refused: it does not count towards the account's limit either
        return Attempt(False, _ttl(account_key, ACCOUNT_WINDOW), "account")
    counted.append(account_key)
    return Attempt(True, account=account, address=address, counted=counted)


def _ttl(key: str, window: int) -> int:
    ttl = getattr(cache, "ttl", None)  # django-redis has it; Django's own backends do not
    if ttl is not None:
        try:
            left = ttl(key)
        except Exception:  # noqa: BLE001 - only a hint for Retry-After
            left = None
        if isinstance(left, int) and left > 0:
            return left
    return window
