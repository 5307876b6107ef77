"""Market data errors. Pure: no Django import, so the pure helpers can raise them too.

Every message is meant for the person who can act on it (the operator running a command, or
the API client), so it names the file line, the exchange or the parameter that is wrong.
"""

from __future__ import annotations


class MarketDataError(Exception):
    """Base class: something about market data the caller should be told plainly."""


class InvalidMarket(MarketDataError, ValueError):
    """An exchange id, symbol or timeframe that Trendy cannot use."""


class CandleImportError(MarketDataError, ValueError):
    """A candle file that cannot be imported; ``line`` is the 1-based file line when known.

    ``str(exc)`` is the full message, e.g. ``"line 17: high 101.5 is below low 102.0"``.
    """

    def __init__(self, message: str, *, line: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.reason = reason if reason is not None else message


class MarketDataUnavailable(MarketDataError):
    """The exchange cannot be reached (network down, time-out, exchange under maintenance)."""


class ExchangeDataError(MarketDataError):
    """The exchange answered, but with an error or with data Trendy cannot store."""


class UnknownSymbol(ExchangeDataError):
    """The exchange does not list the requested market."""
