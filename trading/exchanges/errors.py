"""Our small error hierarchy. Adapters translate every exchange/library error into one of these at
their boundary; callers decide by class what the bot does next (documented on each class).

Reads may be retried automatically (``TemporaryError``); an order create is never blindly re-sent:
after a ``RequestTimeout`` the service looks the order up by its client order id first.
"""

from __future__ import annotations


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


class InsufficientFunds(ExchangeError):
    """Not enough balance or margin: the order is rejected, the user is told."""


class InvalidOrder(ExchangeError):
    """The exchange will never accept this order as it is (size, price, minimum notional, reduce-only
    with nothing to reduce): the order is rejected, not retried."""


class UnknownSymbol(InvalidOrder):
    """The exchange does not list this market."""


class OrderNotFound(ExchangeError):
    """No order with that id (or client order id) on the exchange."""
