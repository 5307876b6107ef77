"""Our small error hierarchy. Adapters translate every exchange/library error into one of these at
their boundary; callers decide by class what the bot does next (documented on each class).

Reads may be retried automatically (``TemporaryError``); an order create is never blindly re-sent:
after a ``RequestTimeout`` the service looks the order up by its client order id first.

Two kinds, and what a bot does with each (``is_permanent``, ``retry_delay``):

- **transient** (``TemporaryError``: time-outs, network, 5xx, maintenance, 429/418): try again later, waiting
  longer each time (1 s, 2 s, 4 s … capped at 5 minutes, with jitter, never sooner than the exchange's
  ``Retry-After``), and give up after a bounded number of failures in a row;
- **permanent** (everything else: keys refused or unusable, a missing permission, an unknown market, an order
  the exchange will never take, not enough funds): the same request would fail the same way, so the bot stops
  and the user is told what to fix.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class ExchangeError(Exception):
    """Anything that went wrong talking to an exchange. Requires a person when not a subclass."""

    retryable = False

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TemporaryError(ExchangeError):
    """Usually resolves itself (network, maintenance, 5xx): retry a read; look a create up first."""

    retryable = True


class RequestTimeout(TemporaryError):
    """No answer in time: the request may or may not have reached the exchange."""


class RateLimited(TemporaryError):
    """The exchange asked us to slow down (HTTP 429/418): back off for ``retry_after`` seconds."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class AuthenticationError(ExchangeError):
    """The keys were rejected or lack a permission: the bot halts until the user fixes the keys."""


class CredentialsUnusable(AuthenticationError):
    """The stored key, secret or passphrase cannot even be sent (a character outside printable ASCII, such as a
    zero-width space pasted with it): the same keys never work; the user must enter them again."""


class InsufficientFunds(ExchangeError):
    """Not enough balance or margin: the order is rejected, the user is told."""


class InvalidOrder(ExchangeError):
    """The exchange will never accept this order as it is (size, price, minimum notional, reduce-only
    with nothing to reduce): the order is rejected, not retried."""


class UnknownSymbol(InvalidOrder):
    """The exchange does not list this market."""


class OrderNotFound(ExchangeError):
    """No order with that id (or client order id) on the exchange."""


def is_permanent(exc: BaseException) -> bool:
    """True when trying again cannot help (see the module's docstring); a ``UnicodeError`` raised while
    sending is the credentials' characters (an adapter that did not translate it)."""
    if isinstance(exc, TemporaryError):
        return False
    return isinstance(exc, ExchangeError | UnicodeError)


RETRY_BASE_S = 1.0
RETRY_CAP_S = 300.0
RETRY_AFTER_CAP_S = 3600.0  # an exchange asking for more than an hour is treated as asking for an hour


def retry_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = RETRY_BASE_S,
    cap: float = RETRY_CAP_S,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 0): ``base * 2**attempt`` capped at
    ``cap``, drawn between half and all of it (so that many bots do not retry in step), and never less than
    the exchange's ``Retry-After``."""
    ceiling = min(cap, base * 2 ** max(0, min(attempt, 32)))
    delay = max(base, ceiling / 2 + rand() * ceiling / 2)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(float(retry_after), RETRY_AFTER_CAP_S))
    return delay
