"""The one interface every channel implements (no Django import).

``send`` delivers one message or raises ``TransportError``: ``permanent`` when asking again cannot help (a revoked
token, a chat or webhook that no longer exists, a push subscription gone) — the caller disables the channel and
tells the user in-app — and otherwise temporary (a timeout, a 5xx, a rate limit with its ``retry_after``), to be
retried with backoff. Error messages never carry a token, a key or a webhook URL: they are stored and shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

TIMEOUT = 10.0  # seconds for one request to a channel's service


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    url: str = ""  # where the app shows it (absolute)
    severity: str = "info"  # info / warning / critical
    data: dict[str, str] = field(default_factory=dict)  # small key/values for push payloads


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    kind: str

    def send(self, message: Message) -> None: ...


def post_json(
    url: str, payload: Any, *, what: str, headers: dict[str, str] | None = None, timeout: float | None = None
) -> requests.Response:
    """POST JSON; a network failure becomes a temporary TransportError naming ``what`` (never the URL, which may
    hold a token). Redirects are not followed."""
    timeout = TIMEOUT if timeout is None else timeout
    try:
        return requests.post(url, json=payload, headers=headers or {}, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        raise TransportError(f"{what} did not answer within {timeout:g} s.") from None
    except requests.RequestException:
        raise TransportError(f"{what} could not be reached.") from None


def retry_after(response: requests.Response, default: float | None = None) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def status_error(response: requests.Response, *, what: str, permanent: frozenset[int]) -> TransportError:
    """A non-2xx answer as a TransportError: permanent for ``permanent`` statuses, temporary otherwise (429 and 5xx
    with the service's Retry-After)."""
    status = response.status_code
    if status in permanent:
        return TransportError(f"{what} refused the message (HTTP {status}).", permanent=True)
    return TransportError(f"{what} answered HTTP {status}.", retry_after=retry_after(response))
