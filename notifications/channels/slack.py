"""Slack: an incoming webhook (no Django import). The webhook's URL is its secret.

Slack answers 404 ``no_service``, 410 ``channel_is_archived`` or 403 ``invalid_token`` when the webhook is gone:
permanent. 429 carries Retry-After.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from notifications.channels.base import Message, TransportError, post_json, status_error

SLACK_HOSTS = ("hooks.slack.com",)
GONE = frozenset({400, 403, 404, 410})


def is_slack_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.hostname in SLACK_HOSTS and parts.path.startswith("/services/")


class SlackTransport:
    kind = "slack"

    def __init__(self, *, webhook_url: str) -> None:
        self._url = webhook_url

    def __repr__(self) -> str:  # never the URL
        return "SlackTransport()"

    def send(self, message: Message) -> None:
        text = f"*{message.title}*\n{message.body}"
        if message.url:
            text += f"\n<{message.url}>"
        response = post_json(self._url, {"text": text}, what="Slack")
        if response.status_code == 200:
            return
        error = status_error(response, what="Slack", permanent=GONE)
        if error.permanent:
            reason = response.text[:80].strip()
            raise TransportError(f"Slack refused the message (HTTP {response.status_code}: {reason}).", permanent=True)
        raise error
